"""Workflows in Gorgon's YAML shape, converted to the native format before validation.

Gorgon's YAML workflow is ``{name, version, description, inputs, outputs, steps,
token_budget, timeout_seconds, metadata, settings}`` with steps ``{id, type, params,
outputs, condition, on_failure, max_retries, timeout_seconds, depends_on}``. ``convert``
is pure, like ``gorgon_json.convert``: data in, native data out, with each native path
sent to the line it came from. Every problem is collected into one ``WorkflowError``.

Top level: ``id`` from ``name`` ("Feature Build" -> ``feature_build``); ``inputs`` as a
mapping or a list of ``{name, type, ...}``; the list of ``outputs`` becomes the native
``outputs`` (each name's value at the end of the run); ``token_budget`` ->
``budget.max_tokens``; ``timeout_seconds`` -> ``timeout``; ``metadata`` is dropped.

Order: Gorgon ran the steps in list order, each step whatever happened to the one before
(a skipped step skips only itself). So each step depends on the one before it and has
``when: true``, or its condition. With ``settings.auto_parallel`` the steps run by their
``depends_on`` (and what they read) instead.

Outputs: Gorgon's context was flat: a step's first output name took its text (an AI
step's response, an MCP tool's answer, a shell step's stdout), a name equal to a key of
its result took that key (a shell step's ``stderr``, ``returncode``), others stayed unset.
``${name}`` reads that context (see ``gorgon_text``).

Steps::

    claude_code  agent: ROLE (data_analyst -> analyst, security_analyst -> security_auditor),
                 task: prompt; with system_prompt an llm step. Roles that write files in Gorgon
                 get the files tools (and shell, when the workflow has shell steps anyway),
                 working in the workflow's folder: ``workspace`` is a literal folder, so an
                 input naming the codebase cannot set it; ``gorgon convert`` says so
    openai       llm: prompt (model gpt-4 -> openai:gpt-4)
    shell        shell: command, each ${value} quoted; capture: all; allow_failure
    checkpoint   checkpoint: message
    approval     approval: prompt, preview: the outputs of preview_from
    parallel     its steps, at once, after the step before; the next step waits for all
    fan_out      step_template as a step with for_each: items, max_parallel: max_concurrent;
                 the native for_each fails when an item fails, so fail_fast: false is not kept.
                 Its first output is the list of the items' results (Gorgon, by its own rule,
                 left it unset, which no fan_in reading it could have meant)
    fan_in       an agent (or llm) step whose task holds the items, joined by ---;
                 aggregation concat: ``builtins:str`` of the items joined
    map_reduce   ID_map (for_each of map_step) and ID (reduce_step over the map's results)
    mcp_tool     mcp: SERVER/TOOL with: arguments

``on_failure``: abort -> fail, skip -> skip, continue_with_default / fallback with a
default value -> continue with that default, retry -> fail after the retries. Every step
is tried ``max_retries`` + 1 times (Gorgon's default: 3 retries), as Gorgon did.
A file with shell steps gives its consent to run code (``allow_code: true``); the caller's
is still needed. Where Gorgon substituted only string values into a prompt, any value is
written here (a list or mapping as JSON); defaults of optional inputs apply (Gorgon's
executor applied only those of required ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gorgon_nb.model.gorgon_yaml_steps import StepConverter
from gorgon_nb.model.gorgon_yaml_top import GORGON_KEYS, ROLES, STEP_TYPES, slug
from gorgon_nb.model.source import Locations, SourceText

__all__ = ["ROLES", "STEP_TYPES", "convert", "is_gorgon_yaml", "slug"]


def is_gorgon_yaml(data: Any) -> bool:
    """True for Gorgon's YAML shape: a Gorgon-only key, or no ``id`` but a name and typed steps."""
    if not isinstance(data, Mapping):
        return False
    steps = data.get("steps")
    typed = isinstance(steps, list) and any(isinstance(s, Mapping) and "type" in s for s in steps)
    if GORGON_KEYS & set(data) and (typed or "id" not in data):
        return True
    return "id" not in data and "name" in data and typed


def convert(data: Mapping[str, Any], source: SourceText | None) -> tuple[dict[str, Any], SourceText | None]:
    """The native workflow for Gorgon YAML ``data``; raise ``WorkflowError`` listing every problem."""
    converter = StepConverter(data, source)
    native = converter.run()
    if source is None:
        return native, None
    return native, SourceText(source.text, source.format, source.path, Locations(converter.lines))

"""How the values inside a Gorgon step become native values.

Placeholders: each ``{{name}}`` / ``{{ name.path.0 }}`` in a string becomes a native
Jinja expression, ``name`` resolved the way Gorgon's run context held it:

* ``<step>_output``  -> ``steps.<step>.output``
* a variable         -> ``inputs.<name>``
* ``current_date``   -> ``today()``
* a bare step id     -> ``steps.<step>.output`` (the README style ``{{fetch_email.body}}``)
* anything else      -> ``inputs.<name>``, so the native checker reports it by name

Path parts follow as ``.field``, ``[0]`` for a number, or ``["items"]`` where an
attribute would reach a method of the value (``dict.items``) or is no identifier. Text
outside placeholders is kept; only Jinja openers (``{{``, ``{%``, ``{#``) that are not
placeholders are written ``{{ '{%' }}`` so they render as themselves. A string that is one
placeholder becomes one ``{{ expression }}``, which keeps the value's type.

Also here: model names with a provider prefix, Gorgon's fixed ``summarize`` and
``generate_sop`` prompts, and the arguments of the ``transform`` builtins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIXED_PROMPTS",
    "Names",
    "extract_args",
    "fixed_prompt",
    "format_args",
    "model_ref",
    "reference",
    "rewrite",
    "rewrite_all",
]

_PLACEHOLDER = r"\{\{\s*(?P<name>[A-Za-z_][\w-]*)(?P<path>(?:\.[\w-]+)*)\s*\}\}"
_TOKEN = re.compile(rf"{_PLACEHOLDER}|(?P<opener>\{{[{{%#])")
_SOLE = re.compile(rf"^{_PLACEHOLDER}$")
# An attribute of these names would reach a method of the value rather than its key.
_ROOT_SHADOWED = frozenset(dir(dict))
_SHADOWED = frozenset(name for kind in (dict, list, str) for name in dir(kind))
_OPENAI_MODELS = ("gpt", "o1", "o3", "o4", "chatgpt", "text-", "davinci")

# action: (the param it reads, Gorgon's prompt before it, Gorgon's system prompt)
FIXED_PROMPTS = {
    "summarize": (
        "text",
        "Please provide a concise summary (max 500 words) of the following text:\n\n",
        "You are a helpful assistant that creates clear, concise summaries.",
    ),
    "generate_sop": (
        "task_description",
        "Create a detailed Standard Operating Procedure (SOP) for: ",
        "You are an expert at creating clear, detailed Standard Operating Procedures.",
    ),
}


@dataclass(frozen=True)
class Names:
    """What a Gorgon run context could hold, by kind of name."""

    variables: frozenset[str]
    steps: frozenset[str]
    # Steps whose Gorgon output was {success, output, ...} and whose native output is the text.
    text_outputs: frozenset[str] = frozenset()


def _member(part: str, shadowed: frozenset[str] = _SHADOWED) -> str:
    if part.isdigit():
        return f"[{int(part)}]"
    if part.isidentifier() and part not in shadowed:
        return f".{part}"
    return f'["{part}"]'


def _resolve(name: str, path: tuple[str, ...], names: Names) -> tuple[str, tuple[str, ...]]:
    """The root expression for ``name`` and the path parts still to apply to it."""
    if name.endswith("_output") and name[: -len("_output")] in names.steps:
        step = name[: -len("_output")]
    elif name in names.variables:
        return f"inputs{_member(name, _ROOT_SHADOWED)}", path
    elif name == "current_date":
        return "today()", path
    elif name in names.steps:
        step = name
    else:
        return f"inputs{_member(name, _ROOT_SHADOWED)}", path
    if step in names.text_outputs and path[:1] == ("output",):
        path = path[1:]
    return f"steps{_member(step, _ROOT_SHADOWED)}.output", path


def _path(match: re.Match[str]) -> tuple[str, ...]:
    return tuple(part for part in match["path"].split(".") if part)


def reference(name: str, path: tuple[str, ...], names: Names) -> str:
    """The native expression (without braces) for the Gorgon reference ``name.path``."""
    root, rest = _resolve(name, path, names)
    return root + "".join(_member(part) for part in rest)


def _escape(opener: str) -> str:
    return "{{ '" + opener + "' }}"


def rewrite(text: str, names: Names) -> str:
    """``text`` with each Gorgon placeholder turned into a native ``{{ expression }}``."""

    def replace(match: re.Match[str]) -> str:
        if match["opener"]:
            return _escape(match["opener"])
        return "{{ " + reference(match["name"], _path(match), names) + " }}"

    return _TOKEN.sub(replace, text)


def rewrite_all(value: Any, names: Names) -> Any:
    """``rewrite`` applied to every string inside ``value``, through dicts and lists."""
    if isinstance(value, str):
        return rewrite(value, names)
    if isinstance(value, Mapping):
        return {key: rewrite_all(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_all(item, names) for item in value]
    return value


def model_ref(value: Any, step_type: str) -> str | None:
    """``gpt-4o-mini`` -> ``openai:gpt-4o-mini``; None when ``value`` is no model name."""
    if not isinstance(value, str) or not value.strip() or "{{" in value:
        return None
    if ":" in value:
        return value
    if value.startswith("claude"):
        return f"anthropic:{value}"
    if value.startswith(_OPENAI_MODELS) or step_type == "openai":
        return f"openai:{value}"
    return f"anthropic:{value}"


def fixed_prompt(action: str, params: Mapping[str, Any], names: Names) -> dict[str, Any]:
    """An ``llm`` step with Gorgon's own prompt for ``summarize`` or ``generate_sop``."""
    param, prompt, system = FIXED_PROMPTS[action]
    value = params.get(param, "")
    text = value if isinstance(value, str) else str(value)  # Gorgon put it in an f-string
    return {"llm": prompt + rewrite(text, names), "system": system}


def extract_args(source: Any, key: Any, names: Names) -> dict[str, Any] | None:
    """Arguments of ``gorgon_nb.functions:extract``; None when ``source`` names nothing."""
    value: Any = {}  # no source: Gorgon read from an empty mapping
    if source:
        match = None
        if isinstance(source, str):  # a context name; a placeholder means the same
            match = _SOLE.match(source) or _SOLE.match("{{" + source + "}}")
        if match is None:
            return None
        value = "{{ " + reference(match["name"], _path(match), names) + " }}"
    return {"value": value, "key": rewrite_all(key, names)}


def format_args(
    template: str, names: Names, variables: list[str], earlier: list[str]
) -> dict[str, Any]:
    """Arguments of ``gorgon_nb.functions:format_text``.

    Gorgon ran ``template.format(**context)``. ``values`` holds that context: every
    variable and every earlier ``<step>_output``, each as a sole native expression.
    Placeholders become ``str.format`` fields (``{{x_output.id}}`` -> ``{x_output[id]}``),
    so a value holding braces is formatted once only; Jinja openers are escaped, so
    templating hands the template over unchanged.
    """
    names_used = [*variables, *(f"{step}_output" for step in earlier)]
    values = {name: "{{ " + reference(name, (), names) + " }}" for name in names_used}

    def replace(match: re.Match[str]) -> str:
        if match["opener"]:
            return _escape(match["opener"])
        name = match["name"]
        root, rest = _resolve(name, _path(match), names)
        values.setdefault(name, "{{ " + root + " }}")
        return "{" + name + "".join(f"[{part}]" for part in rest) + "}"

    return {"template": _TOKEN.sub(replace, template), "values": values}

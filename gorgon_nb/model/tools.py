"""The registry of tool sets: the tools an agent may call, and what each of them does.

A step (or a role) lists tools by reference::

    tools: [files, kernel, "github.create_issue", "mcp:fs", "mcp:fs/read_text_file", "python:mymod:func"]

A reference names a tool set and, optionally, a selector inside it: ``files`` is every
tool of the ``files`` set, ``files.read_file`` one of them; a set whose tools have names
of their own (``mcp``, ``python``) takes its selector after a colon: ``mcp:fs`` is every
tool of the MCP server ``fs``, ``mcp:fs/read_text_file`` one of them.

Each tool set is one module that declares a ``ToolSet``: how it lists its tools for a
selector (``tools``, given the call's ``engine.tools.ToolContext``, which may start an
MCP server or a kernel for it), and what can be checked before a run (``check``, given the
config). A ``Tool`` declares its JSON schema, whether it writes (a call then waits for a
person's approval, its exact arguments or ``preview`` shown) and whether it runs code
(the step then needs both consents of ``engine.trust``).

The tool sets that come with gorgon-nb are the modules of ``gorgon_nb.tools``; a package
of someone else's adds sets through the ``gorgon_nb.tools`` entry point group, naming a
``ToolSet`` (or a module whose ``TOOLSETS`` lists several)::

    [project.entry-points."gorgon_nb.tools"]
    jira = "my_package.jira_tools:TOOLSET"
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gorgon_nb.plugins import PluginProblem, Registry

__all__ = ["BUILTIN_PACKAGE", "ENTRY_POINT_GROUP", "Tool", "ToolRef", "ToolSet", "all_toolsets", "find_toolset",
           "parse_tool_ref", "plugin_problems", "register", "wire_name"]

BUILTIN_PACKAGE = "gorgon_nb.tools"
ENTRY_POINT_GROUP = "gorgon_nb.tools"
_WIRE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Tool:
    """One tool. ``run(arguments, ctx)`` returns what the model reads: text, or anything
    JSON can hold; an exception it raises is the model's to read too (as an error result),
    unless it is a ``gorgon_nb.errors.GorgonError`` marked ``fatal`` (see ``ToolFailed``).

    ``name`` is its reference (``files.write_file``, ``mcp:fs/read_text_file``); the name
    the model sees is made from it by ``wire_name``.
    """

    name: str
    description: str
    schema: Mapping[str, Any]  # the JSON schema of its arguments: {"type": "object", ...}
    run: Callable[[dict[str, Any], Any], Awaitable[Any]]
    writes: bool = False  # it changes something outside the run: a call waits for approval
    idempotent: bool = False  # calling it twice leaves things as calling it once: safe to repeat
    runs_code: bool = False  # it runs code on this machine: needs both consents
    preview: Callable[[dict[str, Any], Any], Awaitable[str]] | None = None  # Markdown for its approval
    timeout: float | None = None  # seconds a call may take (None: the default of engine.tools)


@dataclass(frozen=True)
class ToolSet:
    """A family of tools, listed by ``tools(selector, ctx)``.

    ``selector`` is what follows the set's key in a reference (None for the whole set).
    ``check(selector, config)`` says before a run what is wrong with a reference (an
    unknown tool, an MCP server the config does not declare), or None. ``runs_code``
    says whether a reference runs code (the step then needs both consents of
    ``engine.trust``); ``writes`` whether it may write, for the listings.
    """

    key: str
    description: str
    tools: Callable[[str | None, Any], Awaitable[list[Tool]]]
    check: Callable[[str | None, Any], str | None] | None = None
    runs_code: Callable[[str | None], bool] = lambda selector: False
    separator: Literal[".", ":"] = "."  # what comes between the key and a selector
    origin: str = field(default="gorgon-nb", compare=False)


@dataclass(frozen=True)
class ToolRef:
    """A parsed reference: the set's key and the selector (None: every tool of the set)."""

    text: str
    toolset: str
    selector: str | None


def parse_tool_ref(text: str) -> ToolRef:
    """``files`` -> (files, None); ``github.create_issue`` -> (github, create_issue);
    ``mcp:fs/read_text_file`` -> (mcp, fs/read_text_file)."""
    text = text.strip()
    colon, dot = text.find(":"), text.find(".")
    if colon > 0 and (dot < 0 or colon < dot):
        key, selector = text[:colon], text[colon + 1:]
    elif dot > 0:
        key, selector = text[:dot], text[dot + 1:]
    else:
        key, selector = text, None
    return ToolRef(text, key, selector or None)


def wire_name(name: str, taken: set[str] | None = None) -> str:
    """A tool's name as the APIs accept it (``^[A-Za-z0-9_-]{1,64}$``), unique among ``taken``."""
    base = _WIRE.sub("_", name).strip("_")[:64] or "tool"
    candidate, n = base, 2
    while taken is not None and candidate in taken:
        suffix = f"_{n}"
        candidate, n = base[:64 - len(suffix)] + suffix, n + 1
    return candidate


_registry: Registry[ToolSet] = Registry("tool set", ToolSet, BUILTIN_PACKAGE, ENTRY_POINT_GROUP, "TOOLSET", "TOOLSETS")


def register(toolset: ToolSet) -> ToolSet:
    """Add ``toolset``; a second set with the same key is refused."""
    return _registry.register(toolset)


def plugin_problems() -> list[PluginProblem]:
    """The tool-set plugins that failed to load (loading them all first)."""
    return _registry.problems()


def all_toolsets() -> Mapping[str, ToolSet]:
    """Every tool set by key: the built-in ones, then those of plugins."""
    return dict(_registry.load_plugins())


def find_toolset(key: str) -> ToolSet | None:
    return _registry.find(key)

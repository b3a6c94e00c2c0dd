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

import dataclasses
import importlib
import pkgutil
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gorgon_nb.plugins import PluginProblem, load_group

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


_sets: dict[str, ToolSet] = {}
_lock = threading.RLock()
_builtins_loaded = False
_plugins_loaded = False
_plugin_problems: list[PluginProblem] = []


def register(toolset: ToolSet) -> ToolSet:
    """Add ``toolset``; a second set with the same key is refused."""
    with _lock:
        known = _sets.get(toolset.key)
        if known is not None and known is not toolset:
            raise ValueError(f"tool set '{toolset.key}' is already registered (by {known.origin})")
        _sets[toolset.key] = toolset
    return toolset


def _sets_of(module: Any) -> list[ToolSet]:
    found = getattr(module, "TOOLSETS", None) or ([module.TOOLSET] if hasattr(module, "TOOLSET") else [])
    return [toolset for toolset in found if isinstance(toolset, ToolSet)]


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        package = importlib.import_module(BUILTIN_PACKAGE)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                for toolset in _sets_of(importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")):
                    register(toolset)
        _builtins_loaded = True


def _load_plugins() -> None:
    global _plugins_loaded
    _load_builtins()
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return

        def accept(loaded: Any) -> list[ToolSet]:
            return [loaded] if isinstance(loaded, ToolSet) else _sets_of(loaded)

        found, problems = load_group(ENTRY_POINT_GROUP, accept)
        for point, toolset in found:
            origin = point.dist.name if point.dist else point.value
            try:
                register(dataclasses.replace(toolset, origin=origin))
            except ValueError as exc:  # a key taken already: the first one keeps it
                problems.append(PluginProblem(ENTRY_POINT_GROUP, point.name, point.value, str(exc)))
        _plugin_problems.extend(problems)
        _plugins_loaded = True


def plugin_problems() -> list[PluginProblem]:
    """The tool-set plugins that failed to load (loading them all first)."""
    _load_plugins()
    return list(_plugin_problems)


def all_toolsets() -> Mapping[str, ToolSet]:
    """Every tool set by key: the built-in ones, then those of plugins."""
    _load_plugins()
    return dict(_sets)


def find_toolset(key: str) -> ToolSet | None:
    _load_builtins()
    if key not in _sets:
        _load_plugins()
    return _sets.get(key)

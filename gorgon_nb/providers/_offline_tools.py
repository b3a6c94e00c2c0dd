"""How the offline provider uses tools: which it calls, with what arguments, and how it
words an answer from their results. Everything is read from the prompt, so the same
request always makes the same calls (see ``offline``'s docstring for the rules).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from gorgon_nb.model.tools import wire_name
from gorgon_nb.providers.base import LLMRequest, Message, ToolCall, ToolSpec

__all__ = ["RESULT_PREVIEW", "from_the_tools", "has_results", "plan_calls", "without_tool_turns"]

RESULT_PREVIEW = 200  # characters of each tool result quoted in the answer
# A tool named in the prompt: a reference (files.write_file, mcp:fs/read_text_file) or a wire name.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*[A-Za-z0-9_]")
_FILE = re.compile(r"(?<![\w./-])([\w][\w./-]*\.[A-Za-z0-9]{1,5})(?![\w/-])")
_TICKED = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_COMMANDS = frozenset(["ls", "pwd", "cat", "echo", "head", "tail", "grep", "find", "wc", "python", "python3", "pytest", "pip", "git", "make", "npm", "node", "ruff", "mypy", "uv", "sh", "bash", "cargo", "go"])
_EMPTY: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [],
                          "object": {}, "null": None}


def has_results(request: LLMRequest) -> bool:
    """Whether the conversation already holds a tool result."""
    return any(m.role == "tool" for m in request.messages)


def _prompt(request: LLMRequest) -> str:
    return "\n\n".join(m.content for m in request.messages if m.role == "user")


def plan_calls(request: LLMRequest, answer_text: Callable[[], str]) -> tuple[ToolCall, ...]:
    """The calls the offline model makes: every offered tool the prompt names, in the order
    first named, with the arguments written after its name or filled from its schema.
    ``answer_text`` gives the text the role would answer (for a ``content`` argument)."""
    if not request.tools or request.tool_choice == "none" or has_results(request):
        return ()
    prompt = _prompt(request)
    offered = {spec.name: spec for spec in request.tools}
    named: list[tuple[ToolSpec, int]] = []
    for match in _NAME.finditer(prompt):
        spec = offered.get(wire_name(match.group()))
        if spec is not None and all(spec is not seen for seen, _ in named):
            named.append((spec, match.end()))
    seed = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    filler = _Filler(prompt, offered, answer_text)
    calls = []
    for number, (spec, end) in enumerate(named, 1):
        written = _written_after(prompt, end) or {}
        calls.append(ToolCall(f"offline-{seed}-{number}", spec.name, filler.arguments(spec, written)))
    return tuple(calls)


def _written_after(prompt: str, end: int) -> dict[str, Any] | None:
    """The JSON object written right after a tool's name (past spaces, a backtick, a colon)."""
    rest = prompt[end:]
    start = len(rest) - len(rest.lstrip(" \t`:"))
    if not rest[start:].startswith("{"):
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(rest, start)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_PATH_KEYS = ("path", "file", "filename", "file_path", "filepath")
_CONTENT_KEYS = frozenset({"content", "text", "body"})
_CODE_SUFFIXES = (".py", ".js", ".ts", ".sh", ".sql", ".r", ".jl", ".go", ".rs", ".java", ".c", ".cpp", ".rb")


class _Filler:
    """Arguments for a tool's required properties, each found in the prompt by its name."""

    def __init__(self, prompt: str, offered: dict[str, ToolSpec], answer_text: Callable[[], str]) -> None:
        self.prompt = prompt
        self.offered = offered
        self.answer_text = answer_text

    def _is_tool(self, text: str) -> bool:
        """Whether ``text`` names an offered tool (or a set of them), so it is no argument."""
        name = wire_name(text)
        return name in self.offered or any(n.startswith(name + "_") for n in self.offered)

    def arguments(self, spec: ToolSpec, written: dict[str, Any]) -> dict[str, Any]:
        """``written`` (what the prompt wrote after the tool's name), with each required
        property it leaves out filled in. Content written to a code file (``feature.py``)
        is the first code block of the answer, when it has one."""
        properties = spec.schema.get("properties") or {}
        required = [k for k in spec.schema.get("required") or [] if isinstance(k, str) and k not in written]
        found = {key: self.value(key, properties.get(key) if isinstance(properties, dict) else None)
                 for key in required}
        arguments = {**found, **written}
        path = next((str(arguments[k]) for k in _PATH_KEYS if isinstance(arguments.get(k), str)), "")
        for key in _CONTENT_KEYS & found.keys():
            code = _FENCE.search(str(arguments[key])) if path.endswith(_CODE_SUFFIXES) else None
            if code is not None:
                arguments[key] = code.group(1).strip("\n") + "\n"
        return arguments

    def value(self, key: str, schema: Any) -> Any:
        schema = schema if isinstance(schema, dict) else {}
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        lowered = key.lower()
        if kind in (None, "string"):
            if lowered in _PATH_KEYS:
                return self.file_name()
            if lowered in ("name", "variable", "var"):
                return self.identifier()
            if lowered == "code":
                fenced = _FENCE.search(self.prompt)
                return fenced.group(1).strip("\n") if fenced else 'print("hello")'
            if lowered in ("command", "cmd"):
                return self.command()
            if lowered in _CONTENT_KEYS:
                return self.answer_text()
        if "default" in schema:
            return schema["default"]
        if schema.get("enum"):
            return schema["enum"][0]
        return _EMPTY.get(str(kind or "string"), "")

    def file_name(self) -> str:
        for match in _FILE.finditer(self.prompt):
            if not self._is_tool(match.group(1)):
                return match.group(1)
        return "notes.md"

    def identifier(self) -> str:
        for match in _TICKED.finditer(self.prompt):
            text = match.group(1).strip()
            if _IDENT.fullmatch(text) and not self._is_tool(text):
                return text
        return ""

    def command(self) -> str:
        for match in _TICKED.finditer(self.prompt):
            text = match.group(1).strip()
            first = text.split()[0] if text.split() else ""
            if first in _COMMANDS or (" " in text and re.fullmatch(r"[a-z][\w.-]*", first)
                                      and not self._is_tool(first)):
                return text
        return "ls"


def without_tool_turns(request: LLMRequest) -> LLMRequest:
    """``request`` without its tool calls and results: what it asked before any tool ran."""
    kept = [m for m in request.messages if m.role != "tool" and not (m.role == "assistant" and m.tool_calls)]
    return dataclasses.replace(request, messages=kept, tools=())


def from_the_tools(messages: list[Message]) -> str:
    """The short list of tool results that ends an answer given after tools ran."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    lines = []
    for m in messages:
        if m.role != "tool":
            continue
        text = " ".join(m.content.split())
        if len(text) > RESULT_PREVIEW:
            text = text[:RESULT_PREVIEW].rstrip() + "…"
        failed = " (error)" if m.is_error else ""
        lines.append(f"- {names.get(m.tool_call_id or '', m.tool_call_id or 'tool')}{failed}: {text}")
    return "From the tools:\n" + "\n".join(lines)

"""``files``: list, read, search, write and edit files inside the step's workspace.

The workspace is the step's ``workspace`` folder (relative to the workflow's), else the
workflow's or notebook's folder. Nothing outside it is read or written, whichever way a
path tries to leave (``..``, an absolute path, a symlink pointing out); ``.git``,
``node_modules``, ``.venv`` and tools' caches are never listed or searched, and nothing
is written into ``.git`` (its hooks would run code). Files over ``MAX_FILE_BYTES`` are refused whole.

``write_file`` and ``edit_file`` write, so each call waits for approval (unless
``auto_approve`` says otherwise); the approval shows the unified diff of the file before
and after. Writing a file is idempotent: writing the same content twice leaves the same
file, so a write cut off by a crash is simply done again on resume. An edit is not: done
twice, a replacement whose new text contains the old one would apply twice, so an edit
cut off mid-flight stops its step for a person to check.
"""

from __future__ import annotations

import asyncio
import difflib
import fnmatch
import re
from pathlib import Path
from typing import Any

from gorgon_nb.errors import ToolError, did_you_mean
from gorgon_nb.integrations.text import fenced
from gorgon_nb.model.tools import Tool, ToolSet
from gorgon_nb.tools._workspace import MAX_FILE_BYTES, is_text, read_text, relative, resolve, walk

__all__ = ["LIST_LIMIT", "MAX_FILE_BYTES", "READ_LINES", "SEARCH_LIMIT", "TOOLSET"]

LIST_LIMIT = 1000  # entries a listing shows
READ_LINES = 2000  # lines a read returns unless it asks for fewer
SEARCH_LIMIT = 200  # matching lines a search returns
LINE_CUT = 400  # characters of a matching line shown
DIFF_CUT = 40_000  # characters of a diff an approval shows


def _text(arguments: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = arguments.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ToolError(f"'{name}' must be a string" + ("" if value is not None else ", and it is required"))
    return value


def _number(arguments: dict[str, Any], name: str, default: int) -> int:
    value = arguments.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"'{name}' must be a whole number of at least 1, not {value!r}")
    return value


# -- reading -------------------------------------------------------------------------------


def _list(workspace: Path, path: str, pattern: str) -> str:
    top = resolve(workspace, path or ".")
    if top == workspace.resolve() and not top.exists():
        return "the workspace is empty (its folder is made by the first file written)"
    if not top.is_dir():
        raise ToolError(f"'{path}' is not a folder in the workspace" if top.exists() else
                        f"there is no folder '{path}' in the workspace")
    lines: list[str] = []
    more = 0
    for entry, folder in walk(workspace, top):
        shown = relative(workspace, entry)
        if pattern and not (fnmatch.fnmatch(shown, pattern) or fnmatch.fnmatch(entry.name, pattern)):
            continue
        if len(lines) >= LIST_LIMIT:
            more += 1
            continue
        lines.append(shown + "/" if folder else f"{shown} ({_size(entry)})")
    if not lines:
        return "no files match" if pattern else "the folder is empty"
    if more:
        lines.append(f"[{more} more not shown; list a subfolder or give a pattern]")
    return "\n".join(lines)


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "unreadable"
    return f"{size} bytes" if size < 10_000 else f"{size / 1000:.0f} kB"


def _read(workspace: Path, path: str, offset: int, limit: int) -> str:
    real = resolve(workspace, path)
    lines = read_text(real, path).splitlines(keepends=True)
    chosen = lines[offset - 1:offset - 1 + limit]
    if not lines:
        return "(the file is empty)"
    if not chosen:
        raise ToolError(f"'{path}' has {len(lines)} lines, so there is no line {offset}")
    text = "".join(chosen)
    last = offset - 1 + len(chosen)
    if offset > 1 or last < len(lines):
        text += f"\n[lines {offset}-{last} of {len(lines)}" + (
            f"; read on with offset={last + 1}]" if last < len(lines) else "]")
    return text


def _search(workspace: Path, pattern: str, path: str) -> str:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"'{pattern}' is not a valid regular expression: {exc}") from None
    top = resolve(workspace, path or ".")
    entries = [(top, False)] if top.is_file() else walk(workspace, top)
    found: list[str] = []
    more = 0
    for entry, folder in entries:
        if folder or not is_text(entry):
            continue
        try:
            text = entry.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if regex.search(line):
                if len(found) >= SEARCH_LIMIT:
                    more += 1
                    continue
                cut = line if len(line) <= LINE_CUT else line[:LINE_CUT] + "…"
                found.append(f"{relative(workspace, entry)}:{number}: {cut}")
    if not found:
        return f"no line matches {pattern!r}"
    if more:
        found.append(f"[{more} more matches not shown; narrow the pattern or the path]")
    return "\n".join(found)


# -- writing -------------------------------------------------------------------------------


def _writable(workspace: Path, path: str) -> Path:
    real = resolve(workspace, path)
    parts = real.relative_to(workspace.resolve()).parts
    if ".git" in parts:
        raise ToolError(f"'{path}' is inside .git, which the file tools do not write (its hooks would run code)")
    if real.is_dir():
        raise ToolError(f"'{path}' is a folder; give the path of a file")
    return real


def _current(real: Path, path: str) -> str | None:
    return read_text(real, path) if real.exists() else None


def _edited(before: str, old: str, new: str, path: str) -> str:
    if not old:
        raise ToolError("'old' is empty; give the exact text to replace (read the file first)")
    count = before.count(old)
    if count == 0:
        raise ToolError(f"the text to replace was not found in '{path}'; read the file and give its exact text, "
                        "whitespace included")
    if count > 1:
        raise ToolError(f"the text to replace occurs {count} times in '{path}'; give more of the text around it "
                        "so that it occurs once")
    return before.replace(old, new, 1)


def _write(workspace: Path, path: str, content: str) -> str:
    if len(content) > MAX_FILE_BYTES:
        raise ToolError(f"the content is {len(content):,} characters, more than the {MAX_FILE_BYTES:,} a file "
                        "written by the file tools may have")
    real = _writable(workspace, path)
    before = _current(real, path)
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(content, encoding="utf-8", newline="")
    if before == content:
        return f"'{path}' already had this content; nothing changed"
    return f"{'created' if before is None else 'wrote'} '{path}' ({len(content.splitlines())} lines)"


def _edit(workspace: Path, path: str, old: str, new: str) -> str:
    real = _writable(workspace, path)
    before = read_text(real, path)
    real.write_text(_edited(before, old, new, path), encoding="utf-8", newline="")
    return f"edited '{path}': replaced {len(old.splitlines()) or 1} line(s) with {len(new.splitlines())}"


def _diff(path: str, before: str | None, after: str) -> str:
    lines = difflib.unified_diff((before or "").splitlines(keepends=True), after.splitlines(keepends=True),
                                 "/dev/null" if before is None else f"a/{path}", f"b/{path}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    if len(text) > DIFF_CUT:
        text = text[:DIFF_CUT] + f"\n… ({len(text) - DIFF_CUT:,} more characters of the diff not shown)\n"
    return text


def _write_preview(workspace: Path, arguments: dict[str, Any]) -> str:
    path, content = _text(arguments, "path"), _text(arguments, "content")
    real = _writable(workspace, path)
    before = _current(real, path)
    what = "create" if before is None else "overwrite"
    diff = _diff(path, before, content) or "(no change: the file already has this content)\n"
    return f"`files.write_file` will {what} `{path}` in the workspace:\n\n{fenced(diff, 'diff')}"


def _edit_preview(workspace: Path, arguments: dict[str, Any]) -> str:
    path = _text(arguments, "path")
    real = _writable(workspace, path)
    before = read_text(real, path)
    after = _edited(before, _text(arguments, "old"), _text(arguments, "new"), path)
    return f"`files.edit_file` will change `{path}` in the workspace:\n\n{fenced(_diff(path, before, after), 'diff')}"


# -- the tool set ----------------------------------------------------------------------------


async def _run_list(arguments: dict[str, Any], ctx: Any) -> str:
    return await asyncio.to_thread(_list, ctx.workspace, _text(arguments, "path", required=False),
                                   _text(arguments, "pattern", required=False))


async def _run_read(arguments: dict[str, Any], ctx: Any) -> str:
    return await asyncio.to_thread(_read, ctx.workspace, _text(arguments, "path"), _number(arguments, "offset", 1),
                                   _number(arguments, "limit", READ_LINES))


async def _run_search(arguments: dict[str, Any], ctx: Any) -> str:
    return await asyncio.to_thread(_search, ctx.workspace, _text(arguments, "pattern"),
                                   _text(arguments, "path", required=False))


async def _run_write(arguments: dict[str, Any], ctx: Any) -> str:
    return await asyncio.to_thread(_write, ctx.workspace, _text(arguments, "path"), _text(arguments, "content"))


async def _run_edit(arguments: dict[str, Any], ctx: Any) -> str:
    return await asyncio.to_thread(_edit, ctx.workspace, _text(arguments, "path"), _text(arguments, "old"),
                                   _text(arguments, "new"))


async def _preview_write(arguments: dict[str, Any], ctx: Any) -> str:
    return await _previewed("files.write_file", _write_preview, arguments, ctx)


async def _preview_edit(arguments: dict[str, Any], ctx: Any) -> str:
    return await _previewed("files.edit_file", _edit_preview, arguments, ctx)


async def _previewed(name: str, make: Any, arguments: dict[str, Any], ctx: Any) -> str:
    """The diff, or what will stop the call: the reviewer sees that it writes nothing."""
    try:
        return str(await asyncio.to_thread(make, ctx.workspace, arguments))
    except ToolError as exc:
        return f"`{name}` will write nothing: {exc}"


def _schema(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_PATH = {"type": "string", "description": "a path relative to the workspace, such as 'src/app.py'"}
_FOLDER = {"type": "string", "description": "a folder relative to the workspace (default: the whole workspace)"}
TOOLS: dict[str, Tool] = {tool.name.partition(".")[2]: tool for tool in (
    Tool("files.list_files", "List the files and folders under a folder of the workspace (recursively; .git, "
         "node_modules and .venv left out), with their sizes.",
         _schema({"path": _FOLDER, "pattern": {"type": "string", "description": "a glob the names must match, "
                                                                                "such as '*.py'"}}, []),
         _run_list),
    Tool("files.read_file", f"Read a text file of the workspace: up to {READ_LINES} lines from line 'offset'.",
         _schema({"path": _PATH, "offset": {"type": "integer", "minimum": 1, "description": "first line (1: the "
                                                                                            "first)"},
                  "limit": {"type": "integer", "minimum": 1, "description": "how many lines at most"}}, ["path"]),
         _run_read),
    Tool("files.search", f"Search the text files of the workspace for lines matching a regular expression (at "
         f"most {SEARCH_LIMIT} lines, as path:line: text).",
         _schema({"pattern": {"type": "string", "description": "a Python regular expression"},
                  "path": {"type": "string", "description": "a folder or file to search (default: everything)"}},
                 ["pattern"]),
         _run_search),
    Tool("files.write_file", "Write a text file of the workspace (created with its folders, or overwritten) with "
         "exactly this content.",
         _schema({"path": _PATH, "content": {"type": "string", "description": "the whole new content"}},
                 ["path", "content"]),
         _run_write, writes=True, idempotent=True, preview=_preview_write),
    Tool("files.edit_file", "Replace one exact piece of text in a file of the workspace: 'old' must occur "
         "exactly once (read the file first).",
         _schema({"path": _PATH, "old": {"type": "string", "description": "the exact text to replace"},
                  "new": {"type": "string", "description": "the text to put in its place"}},
                 ["path", "old", "new"]),
         _run_edit, writes=True, preview=_preview_edit),
)}


async def _tools(selector: str | None, ctx: Any) -> list[Tool]:
    if selector is None:
        return list(TOOLS.values())
    if selector not in TOOLS:
        raise ToolError(f"the files tools have no '{selector}'; {did_you_mean(selector, TOOLS)}", fatal=True)
    return [TOOLS[selector]]


def _check(selector: str | None, config: Any) -> str | None:
    if selector is None or selector in TOOLS:
        return None
    return f"the files tools have no '{selector}'; {did_you_mean(selector, TOOLS)}"


TOOLSET = ToolSet("files", "Files of the step's workspace: list, read, search, write and edit (writes approved).",
                  _tools, _check)

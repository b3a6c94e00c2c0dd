"""What the ``kernel`` tools do inside a Python namespace: list, describe, read, run.

This module is the part of the ``kernel`` tool set that runs *inside* the kernel. In a
notebook its functions are called on the notebook's own namespace; in a kernel a run
started for itself, its source is sent to that kernel once and installed there as a
module (``_gorgon_kernel_probe``, never a name of the user's namespace). So it imports
nothing but the standard library at the top, and nothing of gorgon-nb at all: it must
work in any Python kernel, pandas or not.

Every tool answers with ``{"ok": bool, "text": str}``: the text the model reads, and
whether it is an error.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import io
import json
import linecache
import sys
import threading
import traceback
import types
from typing import Any

NAME = "_gorgon_kernel_probe"
SENTINEL = "@@gorgon-kernel-probe@@ "  # starts the line that carries an answer out of a kernel
MAX_VARIABLES = 200
HEAD_ROWS = 5
READ_LIMIT = 2000  # characters of a value's repr by default
READ_CEILING = 20000
OUTPUT_LIMIT = 4000  # characters of each of stdout, stderr and the last value of run_code
TRACEBACK_LINES = 12
CODE_FILE = "<kernel.run_code>"
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_run_lock = threading.Lock()  # one run_code at a time: they share stdout and the namespace
_runs = 0


class ProbeError(Exception):
    """What the model did wrong or what went wrong (an unknown name, code that failed)."""


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _hidden() -> dict[str, Any]:
    """The names IPython itself put in the namespace, with their values (``user_ns_hidden``)."""
    return dict(getattr(_shell(), "user_ns_hidden", None) or {})


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: {len(text)} characters in all]"


def _is_user_variable(name: str, value: Any, hidden: dict[str, Any]) -> bool:
    if name.startswith("_") or name in _IPYTHON_NAMES or (name in hidden and hidden[name] is value):
        return False  # a name IPython defined is the user's once they give it a value of their own
    return not (isinstance(value, types.ModuleType | type) or inspect.isroutine(value))


def user_variables(ns: dict[str, Any]) -> list[tuple[str, Any]]:
    """The user's variables of ``ns``, by name: no modules, functions, classes, private or IPython names."""
    hidden = _hidden()
    items = list(ns.items())  # a copy: the notebook may change the namespace meanwhile
    return sorted((name, value) for name, value in items if _is_user_variable(name, value, hidden))


def shape_of(value: Any) -> str:
    """``12 rows x 4 columns``, ``shape (3, 2)``, ``len 5``, or ``""``."""
    try:
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
            if len(shape) == 2 and hasattr(value, "columns"):
                return f"{shape[0]} rows x {shape[1]} columns"
            if len(shape) == 1 and hasattr(value, "index"):
                return f"{shape[0]} rows"
            return f"shape {shape}"
        if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
            return ""
        return f"len {len(value)}"
    except Exception:  # a value whose shape or len fails is still listed
        return ""


def _summary(value: Any) -> str:
    """A short look at a scalar (numbers, short strings), which is often all the model needs."""
    if isinstance(value, bool | int | float | complex) or value is None:
        return repr(value)
    if isinstance(value, str | bytes):
        shown = repr(value)
        return shown if len(shown) <= 60 else shown[:57] + "..."
    return ""


def list_variables(ns: dict[str, Any]) -> str:
    found = user_variables(ns)
    if not found:
        return "The namespace holds no variables yet (modules, functions, classes and _names are not listed)."
    rows = [(name, type(value).__name__, shape_of(value), _summary(value)) for name, value in found[:MAX_VARIABLES]]
    widths = [max(len(row[i]) for row in [("name", "type", "shape", "value"), *rows]) for i in range(3)]
    lines = [f"{len(found)} variable{'s' if len(found) != 1 else ''}:",
             f"{'name':<{widths[0]}}  {'type':<{widths[1]}}  {'shape':<{widths[2]}}  value"]
    lines += [f"{n:<{widths[0]}}  {t:<{widths[1]}}  {s:<{widths[2]}}  {v}".rstrip() for n, t, s, v in rows]
    if len(found) > MAX_VARIABLES:
        lines.append(f"... and {len(found) - MAX_VARIABLES} more, not listed")
    return "\n".join(lines)


def lookup(ns: dict[str, Any], name: Any) -> Any:
    """The variable ``name``, or a ``ProbeError`` naming the close ones."""
    if not isinstance(name, str) or not name.strip():
        raise ProbeError("give the variable's name as 'name', a string (kernel.list_variables lists them)")
    name = name.strip()
    if name in ns and not name.startswith("_"):
        return ns[name]
    known = [n for n, _ in user_variables(ns)]
    close = difflib.get_close_matches(name, known, n=3)
    hint = (f"did you mean {', '.join(repr(n) for n in close)}?" if close
            else "known: " + ", ".join(known[:30]) if known else "the namespace holds no variables")
    raise ProbeError(f"there is no variable '{name}' in the kernel; {hint}")


def describe_dataframe(ns: dict[str, Any], name: Any) -> str:
    frame = lookup(ns, name)
    if not all(hasattr(frame, attr) for attr in ("columns", "dtypes", "shape", "head")):
        raise ProbeError(f"'{name}' is a {type(frame).__name__}, not a DataFrame; use kernel.read_value to see it")
    rows, columns = frame.shape[0], frame.shape[1] if len(frame.shape) > 1 else 1
    try:
        nulls = {str(k): int(v) for k, v in frame.isna().sum().items()}
    except Exception:  # an object with the DataFrame API but no isna
        nulls = {}
    dtypes = [(str(column), str(dtype)) for column, dtype in frame.dtypes.items()]
    width = max([len("column")] + [len(c) for c, _ in dtypes])
    dwidth = max([len("dtype")] + [len(d) for _, d in dtypes])
    lines = [f"DataFrame '{name}': {rows} rows x {columns} columns", "",
             f"{'column':<{width}}  {'dtype':<{dwidth}}  nulls"]
    lines += [f"{c:<{width}}  {d:<{dwidth}}  {nulls.get(c, '?')}" for c, d in dtypes[:MAX_VARIABLES]]
    if len(dtypes) > MAX_VARIABLES:
        lines.append(f"... and {len(dtypes) - MAX_VARIABLES} more columns")
    lines += ["", f"First {min(HEAD_ROWS, rows)} rows:", _table(frame.head(HEAD_ROWS))]
    try:
        numbers = frame.describe()
        lines += ["", "Summary of the numeric columns:", _table(numbers)]
    except Exception:  # no numeric columns, or no describe: the rest still helps
        pass
    return "\n".join(lines)


def _table(frame: Any) -> str:
    text = frame.to_string() if hasattr(frame, "to_string") else repr(frame)
    return _cut(text, OUTPUT_LIMIT)


def read_value(ns: dict[str, Any], name: Any, max_chars: Any = None) -> str:
    value = lookup(ns, name)
    if max_chars is None:
        limit = READ_LIMIT
    elif isinstance(max_chars, int) and not isinstance(max_chars, bool) and max_chars > 0:
        limit = min(max_chars, READ_CEILING)
    else:
        raise ProbeError(f"max_chars must be a whole number above 0 (at most {READ_CEILING}), not {max_chars!r}")
    try:
        shown = repr(value)
    except Exception as exc:
        raise ProbeError(f"the repr of '{name}' failed: {type(exc).__name__}: {exc}") from None
    shape = shape_of(value)
    return f"'{name}' ({type(value).__name__}{', ' + shape if shape else ''}):\n{_cut(shown, limit)}"


class _Routed(io.TextIOBase):
    """``sys.stdout`` (or stderr) while code runs: what the running thread writes goes to a
    buffer, what any other thread writes goes where it always went."""

    def __init__(self, original: Any, thread: int) -> None:
        self.original = original
        self.thread = thread
        self.buffer_ = io.StringIO()
        self.active = True

    def write(self, text: str) -> int:
        if self.active and threading.get_ident() == self.thread:
            return self.buffer_.write(text)
        return int(self.original.write(text) or 0)

    def flush(self) -> None:
        if not (self.active and threading.get_ident() == self.thread):
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


def _split(code: str, filename: str) -> tuple[ast.Module, ast.Expression | None]:
    """The code's statements, and its last one apart when it is an expression (its value is shown)."""
    tree = ast.parse(code, filename, "exec")
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        return tree, ast.Expression(last.value)
    return tree, None


def run_code(ns: dict[str, Any], code: Any) -> dict[str, Any]:
    """Run ``code`` in ``ns`` with its stdout and stderr captured; the value of its last expression."""
    global _runs
    if not isinstance(code, str) or not code.strip():
        raise ProbeError("give the code to run as 'code', a string of Python")
    shell = _shell()
    if shell is not None and hasattr(shell, "transform_cell"):
        code = shell.transform_cell(code)  # %magics and !commands, as a cell would allow them
    with _run_lock:
        _runs += 1
        filename = f"{CODE_FILE[:-1]}-{_runs}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        out, err = _Routed(sys.stdout, threading.get_ident()), _Routed(sys.stderr, threading.get_ident())
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        value: Any = None
        last: ast.Expression | None = None
        error = ""
        try:
            body, last = _split(code, filename)
            exec(compile(body, filename, "exec"), ns)
            if last is not None:
                value = eval(compile(last, filename, "eval"), ns)
        except BaseException as exc:  # the code's error is the answer (KeyboardInterrupt: it was stopped)
            error = _short_traceback(exc, filename)
        finally:
            out.active = err.active = False
            if sys.stdout is out:
                sys.stdout = saved[0]
            if sys.stderr is err:
                sys.stderr = saved[1]
    parts = []
    for title, text in (("stdout", out.buffer_.getvalue()), ("stderr", err.buffer_.getvalue())):
        if text:
            parts.append(f"{title}:\n{_cut(text.rstrip(), OUTPUT_LIMIT)}")
    if error:
        parts.append(error)
    elif last is not None and value is not None:  # as a cell shows it: None is not shown
        try:
            parts.append(f"value:\n{_cut(repr(value), OUTPUT_LIMIT)}")
        except Exception as exc:
            parts.append(f"value: (its repr failed: {type(exc).__name__}: {exc})")
    return {"ok": not error, "text": "\n\n".join(parts) or "(ran; no output and no value)"}


def _short_traceback(exc: BaseException, filename: str) -> str:
    """The error's last line, and the frames of the code that ran (not this module's)."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__
              and frame.filename != "<gorgon kernel probe>"]
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return f"error: {last} (line {exc.lineno}: {(exc.text or '').strip()})"
    shown = "\n".join(line.rstrip() for line in traceback.format_list(frames))
    shown_lines = shown.splitlines()
    if len(shown_lines) > TRACEBACK_LINES:
        shown = "...\n" + "\n".join(shown_lines[-TRACEBACK_LINES:])
    return f"error: {last}" + (f"\ntraceback (most recent call last):\n{shown}" if shown else "")


def call(ns: dict[str, Any], tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run the tool ``tool`` (``list_variables``, ...) on ``ns``: ``{"ok": ..., "text": ...}``."""
    try:
        if tool == "list_variables":
            return {"ok": True, "text": list_variables(ns)}
        if tool == "describe_dataframe":
            return {"ok": True, "text": describe_dataframe(ns, arguments.get("name"))}
        if tool == "read_value":
            return {"ok": True, "text": read_value(ns, arguments.get("name"), arguments.get("max_chars"))}
        if tool == "run_code":
            return run_code(ns, arguments.get("code"))
        raise ProbeError(f"the kernel has no tool '{tool}'")
    except ProbeError as exc:
        return {"ok": False, "text": str(exc)}
    except Exception as exc:  # a value that breaks an introspection is reported, not raised
        return {"ok": False, "text": f"{tool} failed: {type(exc).__name__}: {exc}"}


def emit(tool: str, arguments: str) -> None:
    """``call`` on the kernel's own namespace, the answer printed as one line after ``SENTINEL``."""
    shell = _shell()
    ns = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    answer = call(ns, tool, json.loads(arguments))
    sys.stdout.write("\n" + SENTINEL + json.dumps(answer) + "\n")
    sys.stdout.flush()

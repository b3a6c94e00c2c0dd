"""``python:MODULE:FUNCTION``: a Python function as a tool, and ``@gorgon_nb.tool`` to mark one.

The tool's arguments are the function's parameters: their type hints and defaults make
the JSON schema the model is offered (through pydantic), the docstring's first paragraph
its description and its ``Args:`` section (or ``:param x:`` lines) the parameters'.
What the model sends is validated before the function is called; a mismatch is the
model's to read. A sync function runs in a worker thread, an async one is awaited; the
return value goes back to the model as JSON (or its text).

Importing a module runs it, so a step that offers ``python:`` tools needs both consents
of ``engine.trust``; a ``%%gorgon`` cell's ``python:__main__:NAME`` (a function of the
notebook itself) needs none, as its ``python`` steps do not.

Which calls wait for approval: a function we know nothing of may do anything, so it
counts as a write (each call approved, its arguments shown). ``@gorgon_nb.tool`` says
what a function does: marked plainly it only reads (its calls run freely);
``@gorgon_nb.tool(writes=True)`` writes, ``idempotent=True`` when calling it twice
leaves things as calling it once (a call cut off by a crash is then repeated on resume)::

    import gorgon_nb

    @gorgon_nb.tool
    def lookup(city: str, days: int = 3) -> dict:
        \"\"\"The weather forecast of a city.

        Args:
            city: the city's name, such as "Lyon"
            days: how many days ahead
        \"\"\"
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from gorgon_nb.engine.references import FunctionNotFound, import_function
from gorgon_nb.engine.trust import SAFE_FUNCTIONS, notebook_function
from gorgon_nb.errors import GorgonError, ToolError
from gorgon_nb.model.tools import Tool, ToolSet
from gorgon_nb.tools._signature import arguments_of, summary

__all__ = ["MARK", "TOOLSET", "ToolMark", "tool"]

MARK = "__gorgon_tool__"  # the attribute @tool sets on a function
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolMark:
    """What ``@gorgon_nb.tool`` says of a function."""

    name: str | None = None  # the tool is then python:MODULE:NAME
    writes: bool = False
    idempotent: bool = False
    description: str | None = None


@overload
def tool(function: F, /) -> F: ...
@overload
def tool(*, name: str | None = None, writes: bool = False, idempotent: bool = False,
         description: str | None = None) -> Callable[[F], F]: ...
def tool(function: Any = None, /, *, name: str | None = None, writes: bool = False, idempotent: bool = False,
         description: str | None = None) -> Any:
    """Mark a function as a tool for ``python:MODULE:FUNCTION`` (in a notebook,
    ``python:__main__:FUNCTION``). Plainly marked, it only reads: its calls need no
    approval. ``writes=True``: each call waits for approval. ``idempotent=True``: calling
    it twice is the same as once. ``name`` names the tool instead of the function's name;
    ``description`` replaces the docstring's first paragraph. The function is unchanged."""
    if name is not None and not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"a tool's name is letters, digits and _, not {name!r}")

    def mark(marked: F) -> F:
        setattr(marked, MARK, ToolMark(name, writes, idempotent, description))
        return marked

    return mark(function) if function is not None else mark


def _import(ref: str, base_dir: Path | None) -> Callable[..., Any]:
    try:
        return import_function(ref, base_dir)
    except FunctionNotFound as exc:
        raise ToolError(f"{exc} (for the tool python:{ref})", fatal=True) from None


def function_tool(ref: str, function: Callable[..., Any]) -> Tool:
    """The tool calling ``function``, named by ``ref`` (``MODULE:FUNCTION``)."""
    mark = getattr(function, MARK, None)
    mark = mark if isinstance(mark, ToolMark) else None
    module, _, own = ref.partition(":")
    name = f"python:{module}:{mark.name if mark and mark.name else own}"
    arguments = arguments_of(function, name)
    is_async = inspect.iscoroutinefunction(function)

    async def run(given: dict[str, Any], ctx: Any) -> Any:
        args, kwargs = arguments.bind(given, name)
        try:
            if is_async:
                value = await function(*args, **kwargs)
            else:  # a thread keeps the event loop (and every other step) moving meanwhile
                value = await asyncio.to_thread(function, *args, **kwargs)
        except GorgonError:
            raise
        except Exception as exc:
            raise ToolError(f"{name} raised {type(exc).__name__}: {exc}") from exc
        return _jsonable(value)

    description = (mark.description if mark and mark.description else summary(function.__doc__)) \
        or f"Calls {module}.{own}."
    writes = mark.writes if mark else ref not in SAFE_FUNCTIONS
    return Tool(name, description, arguments.schema, run, writes=writes,
                idempotent=bool(mark and mark.idempotent) or not writes, runs_code=ref not in SAFE_FUNCTIONS)


def _jsonable(value: Any) -> Any:
    """A return value as JSON can hold it (models, dataclasses, dates); what it cannot, as its repr."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)


def _problem(selector: str | None) -> str | None:
    if selector is None:
        return "the python tool set needs a function: python:MODULE:FUNCTION, such as python:mymod:lookup"
    if not _REF.match(selector):
        return (f"'python:{selector}' does not name a function: write python:MODULE:FUNCTION, such as "
                "python:mymod:lookup (python:__main__:NAME for a function of the notebook)")
    return None


async def _tools(selector: str | None, ctx: Any) -> list[Tool]:
    if selector is None:  # nothing to list without a function named (a step naming none is refused by _check)
        return []
    problem = _problem(selector)
    if problem is not None:
        raise ToolError(problem, fatal=True)
    function = _import(selector, ctx.base_dir)
    origin = getattr(function, "__module__", None)
    if notebook_function(selector) and not ctx.allow_code and origin != "__main__":
        # a cell may offer the notebook's own functions with no consent, not what it imported
        raise ToolError(f"python:{selector} is not a function defined in this notebook (it comes from "
                        f"{origin or 'elsewhere'}), so it runs only with code allowed", fatal=True)
    return [function_tool(selector, function)]


def _check(selector: str | None, config: Any) -> str | None:
    """A malformed reference; ``python`` alone is refused in a workflow (checked with no
    config) but not in a listing of every set (checked with one), where it lists nothing."""
    return _problem(selector) if selector is not None or config is None else None


TOOLSET = ToolSet("python", "A Python function as a tool: python:MODULE:FUNCTION (its schema from its signature).",
                  _tools, _check,
                  runs_code=lambda selector: selector not in SAFE_FUNCTIONS, separator=":")

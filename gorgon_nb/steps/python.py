"""``python: module:function``: calls a function with ``args``; its return value is the output."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.engine.answers import parse_json_answer
from gorgon_nb.engine.references import FunctionNotFound, import_function
from gorgon_nb.engine.trust import SAFE_FUNCTIONS, notebook_function
from gorgon_nb.errors import GorgonError, StepError
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "PythonStep"]


class PythonStep(StepBase):
    """Calls ``module:function`` with ``args``; its return value is the output."""

    python: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    args: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["python"] = "python"


async def run(step: PythonStep, ctx: StepContext) -> Any:
    import asyncio  # where steps run: checking a workflow loads every kind, and should not pay for it

    function = _import_function(step.python, ctx.base_dir)
    if notebook_function(step.python) and not ctx.allow_code \
            and getattr(function, "__module__", None) != "__main__":
        raise StepError(f"{step.python} is not a function defined in this notebook (it comes from "
                        f"{getattr(function, '__module__', None) or 'elsewhere'}), so it runs only with code allowed")
    args = ctx.value("args")
    try:
        if inspect.iscoroutinefunction(function):
            value = await function(**args)
        else:  # a thread keeps the event loop (and every other step) moving meanwhile
            value = await asyncio.to_thread(function, **args)
    except GorgonError:
        raise
    except Exception as exc:
        raise StepError(f"{step.python} raised {type(exc).__name__}: {exc}") from exc
    if step.output == "json" and isinstance(value, str):
        value = parse_json_answer(value, step.schema_)
    return value


# Where functions of gorgon-nb's own lived before: the stored source of an older run still
# names them, and resuming, replaying or forking that run must still find them.
MOVED = {
    "gorgon_nb.tools:profile_csv": "gorgon_nb.functions:profile_csv",
    "gorgon_nb.model.gorgon_builtins:extract": "gorgon_nb.functions:extract",
    "gorgon_nb.model.gorgon_builtins:format_text": "gorgon_nb.functions:format_text",
}


def _import_function(ref: str, base_dir: Path | None) -> Callable[..., Any]:
    try:
        return import_function(MOVED.get(ref, ref), base_dir)
    except FunctionNotFound as exc:
        raise StepError(f"{exc}.") from None


def code_use(step: PythonStep, base_dir: Path | None, cell: bool) -> str | None:
    if MOVED.get(step.python, step.python) in SAFE_FUNCTIONS or (cell and notebook_function(step.python)):
        return None
    return f"calls {step.python}"


def preview(step: PythonStep, ctx: StepContext) -> str:
    return f"`{step.python}` will be called with:\n\n```json\n{json.dumps(ctx.value('args'), indent=2, default=str)}\n```"


KIND = StepKind(
    key="python", model=PythonStep, run=run, code_use=code_use, preview=preview,
    templates=lambda step: {"args": step.args},
)

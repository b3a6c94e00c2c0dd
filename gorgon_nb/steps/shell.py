"""``shell: COMMAND``: runs a command; stdout is the output. Off unless the workflow and the caller allow code.

``capture: all`` makes the output ``{stdout, stderr, returncode}`` instead (Gorgon's shape);
``allow_failure: true`` lets a command that exits with a non-zero status succeed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from gorgon_nb.engine.answers import parse_json_answer
from gorgon_nb.errors import StepError
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "ShellStep"]


class ShellStep(StepBase):
    """Runs a command; stdout is the output. Off unless the workflow and the caller allow it."""

    shell: str
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    capture: Literal["stdout", "all"] = "stdout"
    allow_failure: StrictBool = False
    kind: Literal["shell"] = "shell"


async def run(step: ShellStep, ctx: StepContext) -> Any:
    import asyncio  # where steps run: checking a workflow loads every kind, and should not pay for it

    if not ctx.allow_code:  # checked before the run started; this is a second lock
        raise StepError("shell steps run only when the run is started with code allowed")
    command = ctx.text("shell")
    cwd = ctx.text("cwd") or None
    base = ctx.base_dir
    if cwd and base is not None and not os.path.isabs(cwd):
        cwd = str(base / cwd)
    env = {**os.environ, **{k: str(v) for k, v in ctx.value("env").items()}}
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd or base, env=env)
    try:
        out, err = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0 and not step.allow_failure:
        tail = err.decode(errors="replace").strip()[-600:]
        raise StepError(f"command exited with status {process.returncode}" + (f": {tail}" if tail else ""))
    if step.capture == "all":
        return {"stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"),
                "returncode": process.returncode}
    text = out.decode(errors="replace").rstrip("\n")
    return parse_json_answer(text, step.schema_) if step.output == "json" else text


def preview(step: ShellStep, ctx: StepContext) -> str:
    where = f" in `{ctx.text('cwd')}`" if ctx.text("cwd") else ""
    return f"This command will run{where}:\n\n```sh\n{ctx.text('shell')}\n```"


def code_use(step: ShellStep, base_dir: Path | None, cell: bool) -> str | None:
    line = " ".join(step.shell.split())
    return f"runs the shell command {line if len(line) <= 60 else line[:59] + '…'!r}"


KIND = StepKind(
    key="shell", model=ShellStep, run=run, preview=preview, code_use=code_use,
    templates=lambda step: {"shell": step.shell, "cwd": step.cwd or "", "env": step.env},
)

"""``checkpoint: NAME``: a named marker in the run, optionally where a person approves going on.

It does no work: the run notes that it got here (a notice, and a step in the graph), and
its output is ``{"checkpoint": NAME, "at": ISO time}``. With ``approval: before`` the run
waits for a person there, with ``description`` (or the name) as what they read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "CheckpointStep"]


class CheckpointStep(StepBase):
    """A named marker in the run; with ``approval: before``, a person's go-ahead."""

    checkpoint: str
    kind: Literal["checkpoint"] = "checkpoint"


async def run(step: CheckpointStep, ctx: StepContext) -> Any:
    name = ctx.text("checkpoint")
    ctx.notice(f"{ctx.key}: reached checkpoint '{name}'")
    return {"checkpoint": name, "at": datetime.now().isoformat(timespec="seconds")}


def preview(step: CheckpointStep, ctx: StepContext) -> str:
    return step.description or f"The run has reached the checkpoint '{ctx.text('checkpoint')}'."


KIND = StepKind(
    key="checkpoint", model=CheckpointStep, run=run, preview=preview,
    templates=lambda step: {"checkpoint": step.checkpoint}, replay="rerun", attempts="own",
)

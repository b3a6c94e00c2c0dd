"""``approval: TITLE``: a gate of its own; the run waits here until a person approves."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.model.approval import rejection
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "ApprovalStep"]


class ApprovalStep(StepBase):
    """A gate of its own: the run waits here until a person approves ``approval`` (the title).

    Its output is the decision: ``{approved, by, comment, at}``; a rejection fails the step
    (``on_failure`` decides what then). ``timeout`` bounds the wait, ``on_timeout`` decides.
    """

    approval: str  # type: ignore[assignment]
    preview: str = ""
    approvers: list[str] = Field(default_factory=list)
    on_timeout: Literal["approve", "reject"] = "reject"
    kind: Literal["approval"] = "approval"


async def run(step: ApprovalStep, ctx: StepContext) -> Any:
    decision = await ctx.approval("gate", 1, ctx.text("approval"), ctx.text("preview"), approvers=step.approvers,
                                  timeout=step.timeout, on_timeout=step.on_timeout)
    if not decision.approved:
        raise rejection(decision)
    at = datetime.fromtimestamp(decision.decided_at).isoformat(timespec="seconds") if decision.decided_at else None
    return {"approved": True, "by": decision.decided_by, "comment": decision.comment, "at": at}


KIND = StepKind(
    key="approval", model=ApprovalStep, run=run,
    templates=lambda step: {"approval": step.approval, "preview": step.preview},
    approval=lambda step, config: None,  # it is the approval: no second one around it
    replay="rerun", attempts="own", only_alone=True,
)

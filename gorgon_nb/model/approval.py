"""Approvals: a person's yes or no on a step, recorded in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from gorgon_nb.errors import ApprovalRejectedError

__all__ = ["COMMENT_LIMIT", "ApprovalRequest", "ApprovalStatus", "GateKind", "rejection"]

GateKind = Literal["before", "after", "gate", "tool"]
COMMENT_LIMIT = 5000  # characters of a decision's comment (the widget's script repeats it)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the run ended before anyone decided


@dataclass
class ApprovalRequest:
    """One decision asked of a person.

    ``kind`` says what is being approved: ``before`` a step runs (the preview shows what it
    is about to do), ``after`` it ran (the preview is its output; ``round`` counts the
    revisions sent back), a ``gate`` step of its own, or a ``tool`` call that writes (its
    ``step_key`` is the call's: ``build/tool-2``). ``approvers`` lists who may
    decide (empty: anyone). A request can time out into ``on_timeout``; ``timed_out`` is
    then true and ``decided_by`` is "timeout".
    """

    id: str
    run_id: str
    step_key: str
    kind: GateKind
    title: str
    preview: str = ""
    round: int = 1
    approvers: list[str] = field(default_factory=list)
    status: ApprovalStatus = ApprovalStatus.PENDING
    requested_at: float = 0.0
    timeout_at: float | None = None
    on_timeout: Literal["approve", "reject"] = "reject"
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    timed_out: bool = False

    @property
    def pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING

    @property
    def approved(self) -> bool:
        return self.status is ApprovalStatus.APPROVED

    def may_decide(self, who: str) -> bool:
        return not self.approvers or who in self.approvers


def rejection(request: ApprovalRequest) -> ApprovalRejectedError:
    """The error that fails a step whose approval was rejected (by a person, or by its timeout)."""
    who = "the timeout" if request.timed_out else request.decided_by or "someone"
    comment = f": {request.comment}" if request.comment and not request.timed_out else ""
    return ApprovalRejectedError(f"'{request.title}' was rejected by {who}{comment}")

"""Events: every state change of a run, in order.

The executor emits them; the store appends them (with a per-run sequence number); the
CLI, widgets and server render them. ``data`` holds, by ``kind``:

==================  ==================================================================
run_started         workflow_id, name, inputs, graph (list of {key, id, kind, role, deps}); replay_of/fork_of
run_resumed         workflow_id, name, inputs, graph, restored ({key: status} of the steps done before)
step_started        attempt, model (LLM steps), items (for_each)
text_delta          text, item (for_each index), delegation (a supervisor's delegate) — streamed; not persisted
step_retry          attempt, delay, error, error_type, delegation (a delegate's call)
step_finished       status ("succeeded" | "skipped"), output, usage, model, reason (skips)
step_failed         error, error_type, usage
delegation_started  index, role, task — a supervisor asked a role (its text_delta carry "delegation": index)
delegation_finished index, role, output (or error)
approval_requested  approval ({id, kind, round, title, preview, approvers, status, timeout_at, ...})
approval_decided    approval (the same, with status, decided_by, decided_at, comment, timed_out)
notice              message, level ("info" | "warning")
run_finished        status, error, error_type, usage, outputs
==================  ==================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["EPHEMERAL_EVENTS", "Event", "EventKind"]

EventKind = Literal[
    "run_started",
    "run_resumed",
    "step_started",
    "text_delta",
    "step_retry",
    "step_finished",
    "step_failed",
    "delegation_started",
    "delegation_finished",
    "approval_requested",
    "approval_decided",
    "notice",
    "run_finished",
]

EPHEMERAL_EVENTS: frozenset[str] = frozenset({"text_delta"})


@dataclass(slots=True)
class Event:
    kind: EventKind
    run_id: str
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "step": self.step,
                "data": self.data, "seq": self.seq, "ts": self.ts}

"""The tool calls of one step as its events arrive: pure Python, no widgets.

A step that asks a model may call tools; its card in the run view lists them in the order
the model asked for them. Each call shows its tool, its arguments (compact JSON, cut), the
start of its result and its status: ``running``, ``waiting`` (for a person's approval: a
call that writes), ``ok``, ``error``, ``rejected`` or ``cancelled`` (the run ended first);
``recorded`` says its result came from the record (a resume or a replay).

A call that writes asks an approval of kind ``tool``; the approval's own key (``build/tool-2``,
``build[1]/d0/tool-3``) says which call it is, so the approval hangs under that call, where
the view offers Approve and Reject like a step's. Bounded: a step keeps its last
``CALLS_KEPT`` calls and says how many earlier ones it left out; a decided approval drops its
preview (the call's arguments stay).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gorgon_nb.model.events import ToolCallFinished, ToolCallStarted
from gorgon_nb.secrets import redact

__all__ = ["ARGUMENTS_LIMIT", "CALLS_KEPT", "RESULT_LIMIT", "StepToolCalls", "ToolCallState", "compact_arguments"]

CALLS_KEPT = 40
"""How many of a step's latest tool calls its state keeps and sends."""

ARGUMENTS_LIMIT = 300
"""Characters of a call's arguments shown."""

RESULT_LIMIT = 300
"""Characters of a call's result shown."""

FINISHED = ("ok", "error", "rejected", "cancelled")

# what follows the step key in a tool call's approval key: [item], /conversation, /tool-N
_APPROVAL_TAIL = re.compile(r"^(?:\[(?P<item>\d+)\])?(?:/(?P<conversation>[^/]+))?/tool-(?P<number>\d+)$")
_DELEGATE = re.compile(r"^d(?P<delegation>\d+)")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_arguments(arguments: Mapping[str, Any], limit: int = ARGUMENTS_LIMIT) -> str:
    """A call's arguments on one line, as JSON, secrets scrubbed, cut to ``limit`` characters."""
    text = json.dumps(dict(arguments), ensure_ascii=False, default=str, separators=(", ", ": "))
    return _cut(redact(text), limit)


@dataclass
class ToolCallState:
    """One tool call as the view shows it."""

    index: int
    tool: str
    arguments: str
    writes: bool = False
    item: int | None = None
    delegation: int | None = None
    status: str = "running"
    result: str = ""
    recorded: bool = False
    approval: dict[str, Any] | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def awaiting_decision(self) -> bool:
        return self.approval is not None and self.approval.get("status") == "pending"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tool": self.tool,
            "arguments": self.arguments,
            "writes": self.writes,
            "item": self.item,
            "delegation": self.delegation,
            "status": self.status,
            "result": self.result,
            "recorded": self.recorded,
            "approval": dict(self.approval) if self.approval is not None else None,
            "started": self.started,
            "ended": self.ended,
        }


class StepToolCalls:
    """The tool calls of one step, in the order they started (the latest ``CALLS_KEPT``)."""

    def __init__(self) -> None:
        self.calls: list[ToolCallState] = []
        self.dropped = 0  # earlier calls left out to keep the state bounded

    def __len__(self) -> int:
        return len(self.calls) + self.dropped

    def clear(self) -> None:
        self.calls, self.dropped = [], 0

    def pending_approvals(self) -> list[dict[str, Any]]:
        return [call.approval for call in self.calls if call.awaiting_decision and call.approval is not None]

    def started(self, payload: ToolCallStarted, ts: float) -> ToolCallState:
        call = ToolCallState(payload.index, payload.tool, compact_arguments(payload.arguments), payload.writes,
                             payload.item, payload.delegation, started=ts)
        self.calls.append(call)
        while len(self.calls) > CALLS_KEPT:
            # the oldest finished call makes room; one still open stays while it can be decided
            at = next((i for i, c in enumerate(self.calls) if c.finished), 0)
            del self.calls[at]
            self.dropped += 1
        return call

    def finished(self, payload: ToolCallFinished, ts: float) -> ToolCallState:
        call = self._find(payload.index, payload.item, payload.delegation)
        if call is None:  # its start was left out, or came before the events we were given
            call = ToolCallState(payload.index, payload.tool, "", item=payload.item,
                                 delegation=payload.delegation, started=ts)
            self.calls.append(call)
        call.status = payload.status if payload.status in FINISHED else "error"
        call.result = _cut(redact(payload.result or ""), RESULT_LIMIT)
        call.recorded, call.ended = payload.recorded, ts
        if call.approval is not None and call.approval.get("status") != "pending":
            call.approval = {**call.approval, "preview_html": ""}
        return call

    def take_approval(self, step_key: str, approval: Mapping[str, Any]) -> ToolCallState | None:
        """Hang a tool call's approval (its ``approval_view``) under its call; None when it
        is no tool call's or the call is not known."""
        if approval.get("kind") != "tool":
            return None
        call = self._call_of(step_key, approval)
        if call is None:
            return None
        status = str(approval.get("status") or "pending")
        if status == "pending":
            call.approval = dict(approval)
            if not call.finished:
                call.status = "waiting"
        else:
            call.approval = {**approval, "preview_html": ""}  # decided: the arguments say enough
            if call.status == "waiting":
                call.status = "running"  # it runs now, or its rejection is its result next
        return call

    def cancel_open(self, ts: float) -> None:
        """The run ended: no call outlives it, no approval stays open."""
        for call in self.calls:
            if call.awaiting_decision and call.approval is not None:
                call.approval = {**call.approval, "status": "cancelled", "preview_html": ""}
            if not call.finished:
                call.status, call.ended = "cancelled", ts

    def to_list(self) -> list[dict[str, Any]]:
        return [call.to_dict() for call in self.calls]

    # -- finding a call ----------------------------------------------------------------------

    def _find(self, index: int, item: int | None, delegation: int | None) -> ToolCallState | None:
        """The latest call with this place, an open one first (a revision numbers its calls anew)."""
        same = [c for c in self.calls if (c.index, c.item, c.delegation) == (index, item, delegation)]
        return next((c for c in reversed(same) if not c.finished), same[-1] if same else None)

    def _call_of(self, step_key: str, approval: Mapping[str, Any]) -> ToolCallState | None:
        key = str(approval.get("step_key") or "")
        if key.startswith(step_key) and (match := _APPROVAL_TAIL.match(key[len(step_key):])):
            item = int(match["item"]) if match["item"] is not None else None
            delegate = _DELEGATE.match(match["conversation"] or "")
            delegation = int(delegate["delegation"]) if delegate else None
            return self._find(int(match["number"]) - 1, item, delegation)
        # an approval stored without its key: the call it was hung under, else the first open
        # write of the tool its title names
        known = [c for c in self.calls if c.approval is not None and c.approval.get("id") == approval.get("id")]
        if known:
            return known[-1]
        title = str(approval.get("title") or "")
        return next((c for c in self.calls if c.writes and not c.finished and c.approval is None
                     and title.startswith(f"{c.tool} (")), None)

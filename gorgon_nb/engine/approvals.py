"""Approval gates in a run: ask, wait (without blocking anything else), and decide what follows.

A waiting step polls its approval row in the store every ``POLL_SECONDS``: a decision
taken anywhere (the notebook widget through the Jupyter server, ``gorgon approve`` in a
terminal, another kernel) is seen within that time, and a run resumed after its process
died finds the decisions taken meanwhile. Other steps keep running while one waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import ApprovalError, ExecutionError
from gorgon_nb.model.approval import ApprovalRequest, GateKind
from gorgon_nb.model.events import ApprovalData, ApprovalDecided, ApprovalRequested
from gorgon_nb.model.run import StepStatus

if TYPE_CHECKING:
    from gorgon_nb.engine.run_state import StepRun

__all__ = ["POLL_SECONDS", "approval_data", "preview_of_output", "wait_for_approval"]

POLL_SECONDS = 0.3
PREVIEW_LIMIT = 20_000  # characters: enough to judge, bounded for the store and the UI


def approval_data(request: ApprovalRequest) -> ApprovalData:
    return {"id": request.id, "kind": request.kind, "round": request.round, "title": request.title,
            "preview": request.preview, "approvers": request.approvers, "status": str(request.status),
            "timeout_at": request.timeout_at, "on_timeout": request.on_timeout,
            "decided_by": request.decided_by, "decided_at": request.decided_at, "comment": request.comment,
            "timed_out": request.timed_out, "step_key": request.step_key}


async def wait_for_approval(run: StepRun, kind: GateKind, round_: int, title: str, preview: str, *,
                            approvers: list[str], timeout: float | None, on_timeout: str,
                            key: str | None = None) -> ApprovalRequest:
    """The decision on this step and round: asked now, or found from before a resume.
    ``key``: the approval's own key when a step asks several (a tool call's ``build/tool-2``)."""
    ex, result = run.state, run.result
    store = ex.runtime.store
    if store is None:
        raise ExecutionError("approvals need the store: run with a store to use 'approval'")
    key = key or result.key
    if ex.replaying:
        return ex.replayed_decision(key, round_)
    request, _ = store.approvals.request(ApprovalRequest(
        id="", run_id=ex.result.run_id, step_key=key, kind=kind, title=title, round=round_,
        preview=preview[:PREVIEW_LIMIT], approvers=approvers, on_timeout=on_timeout,  # type: ignore[arg-type]
        timeout_at=time.time() + timeout if timeout else None))
    if request.pending:
        result.status = StepStatus.WAITING
        ex.waiting(+1)
        ex.emit(ApprovalRequested(approval=approval_data(request)), result.key, save=result)
        try:
            request = await _until_decided(store, request)
        finally:
            ex.waiting(-1)
        result.status = StepStatus.RUNNING
    ex.emit(ApprovalDecided(approval=approval_data(request)), result.key, save=result)
    return request


async def _until_decided(store: Any, request: ApprovalRequest) -> ApprovalRequest:
    while request.pending:
        left = None if request.timeout_at is None else request.timeout_at - time.time()
        if left is not None and left <= 0:
            try:
                return store.approvals.decide(request.id, approve=request.on_timeout == "approve", by="timeout",
                                              comment="no decision before the timeout", timed_out=True)
            except ApprovalError:  # a person decided in the last instant: theirs stands
                return store.approvals.get(request.id)
        await asyncio.sleep(POLL_SECONDS if left is None else min(POLL_SECONDS, left))
        request = store.approvals.get(request.id)
    return request


def preview_of_output(output: Any) -> str:
    if isinstance(output, str):
        return output
    return f"```json\n{json.dumps(output, indent=2, default=str, ensure_ascii=False)}\n```"

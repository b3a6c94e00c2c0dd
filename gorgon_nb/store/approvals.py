"""Approvals: asked once per step and round, decided exactly once.

Transaction rules:
- Asking is a read and an insert in one transaction: a resumed run that asks again for
  the same step and round gets the row it asked for before, with any decision since.
- Anyone allowed may decide (a person, or the run itself when the approval times out).
  Deciding is a single ``UPDATE ... WHERE status = 'pending'``: when two processes decide
  the same approval at the same moment, exactly one update changes the row and the other
  is told who decided first.
- A run that ends closes its pending approvals as cancelled; a cancel of a run nobody runs
  does it in the transaction that ends the run (``store.control``). A resumed run opens
  them again, once it has claimed the run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gorgon_nb.errors import Advice, ApprovalError, NotFoundError
from gorgon_nb.model.approval import ApprovalRequest, ApprovalStatus
from gorgon_nb.model.text import format_time
from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database, new_id, newest
from gorgon_nb.store.runs import RunStore

__all__ = ["ApprovalStore"]

_COLUMNS = ("id", "run_id", "step_key", "round", "kind", "title", "preview", "approvers", "status",
            "requested_at", "timeout_at", "on_timeout", "decided_by", "decided_at", "comment", "timed_out")


def _from_row(row: dict[str, Any]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"], run_id=row["run_id"], step_key=row["step_key"], round=row["round"], kind=row["kind"],
        title=row["title"], preview=row["preview"] or "", approvers=json.loads(row["approvers"] or "[]"),
        status=ApprovalStatus(row["status"]), requested_at=row["requested_at"], timeout_at=row["timeout_at"],
        on_timeout=row["on_timeout"], decided_by=row["decided_by"], decided_at=row["decided_at"],
        comment=row["comment"], timed_out=bool(row["timed_out"]),
    )


class ApprovalStore:
    """``store.approvals``: the approvals of every run."""

    def __init__(self, db: Database, runs: RunStore) -> None:
        self._db, self._runs = db, runs

    def request(self, request: ApprovalRequest) -> tuple[ApprovalRequest, bool]:
        """The approval for the request's step and round, created if new; and whether it was new.

        A resumed run asks again for a step it already asked about, and gets the same row,
        with any decision taken meanwhile.
        """
        with self._db.transaction():
            existing = self._db.query("SELECT * FROM approvals WHERE run_id = ? AND step_key = ? AND round = ?",
                                         (request.run_id, request.step_key, request.round))
            if existing:
                return _from_row(existing[0]), False
            request.id = request.id or new_id()
            request.requested_at = request.requested_at or time.time()
            self._db.conn.execute(
                f"INSERT INTO approvals ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (request.id, request.run_id, request.step_key, request.round, request.kind, request.title,
                 redact(request.preview), json.dumps(request.approvers), str(request.status), request.requested_at,
                 request.timeout_at, request.on_timeout, None, None, None, 0),
            )
        return request, True

    def get(self, approval_id: str) -> ApprovalRequest:
        rows = self._db.query("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        if not rows:
            raise NotFoundError(f"no approval '{approval_id}'. ", Advice(
                python="Runner().approvals() lists the pending ones.",
                notebook="Run %gorgon approvals to list the pending ones.",
                cli="Run 'gorgon approvals' to list the pending ones."))
        return _from_row(rows[0])

    def recent(self, *, status: str | None = "pending", run_id: str | None = None,
               limit: int = 100) -> list[ApprovalRequest]:
        """Approvals, newest first: the pending ones unless ``status`` names another (None: all)."""
        sql, params = newest("approvals", "requested_at", {"status": status, "run_id": run_id}, limit)
        return [_from_row(row) for row in self._db.query(sql, params)]

    def find(self, ref: str, step: str | None = None) -> ApprovalRequest:
        """An approval from its id, or the pending one of a run (``step`` picks among several)."""
        rows = self._db.query("SELECT * FROM approvals WHERE id = ?", (ref,))
        if rows:
            return _from_row(rows[0])
        run_id = self._runs.resolve_id(ref)
        pending = [a for a in self.recent(run_id=run_id) if step is None or a.step_key == step]
        if len(pending) == 1:
            return pending[0]
        if not pending:
            decided = self.recent(status=None, run_id=run_id, limit=1)
            if decided and step is None:
                last = decided[0]
                raise ApprovalError(f"run {run_id} has nothing waiting for approval; the last one ('{last.title}') "
                                    f"was {last.status} by {last.decided_by} at {format_time(last.decided_at)}")
            raise ApprovalError(f"run {run_id} has no pending approval" + (f" for step '{step}'" if step else ""))
        steps = ", ".join(a.step_key for a in pending)
        raise ApprovalError(f"run {run_id} waits for several approvals ({steps}); name one with --step STEP")

    def decide(self, approval_id: str, *, approve: bool, by: str,
               comment: str | None = None, timed_out: bool = False) -> ApprovalRequest:
        """Record a decision; raise ``ApprovalError`` if someone decided first or ``by`` may not."""
        request = self.get(approval_id)
        if not timed_out and not request.may_decide(by):
            raise ApprovalError(f"'{by}' may not decide '{request.title}'; its approvers are "
                                f"{', '.join(request.approvers)}")
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        now = time.time()
        with self._db.transaction():
            changed = self._db.conn.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, comment = ?, timed_out = ? "
                "WHERE id = ? AND status = 'pending'",
                (str(status), by, now, redact(comment) if comment else None, int(timed_out), approval_id),
            ).rowcount
        decided = self.get(approval_id)
        if not changed:
            raise ApprovalError(f"'{decided.title}' was already {decided.status} by {decided.decided_by} at "
                                f"{format_time(decided.decided_at)}; your decision was not recorded")
        return decided

    def cancel_pending(self, run_id: str) -> int:
        """Close the pending approvals of a run that ended without them."""
        with self._db.transaction():
            return self._db.conn.execute(
                "UPDATE approvals SET status = 'cancelled', decided_at = ? WHERE run_id = ? AND status = 'pending'",
                (time.time(), run_id)).rowcount

    def reopen_cancelled(self, run_id: str) -> int:
        """The approvals a run's ending closed undecided (``cancelled``) ask again when it goes on."""
        with self._db.transaction():
            return self._db.conn.execute(
                "UPDATE approvals SET status = 'pending', decided_at = NULL WHERE run_id = ? AND status = 'cancelled'",
                (run_id,)).rowcount

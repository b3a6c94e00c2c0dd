"""The outbox of notifications: every message to every target, until it is sent or given up.

A notification is added ``pending`` (due now) and sent by whoever is alive: the process
of the run that made it, or a scheduler's tick. A send that fails is retried later with
a doubling backoff, and marked ``failed`` after ``MAX_ATTEMPTS``; the error says why.

Transaction rules: a sender first *claims* a due notification (one ``UPDATE`` that moves
its next try past the send's lease, only if it is still due and pending), so two
processes never send one message twice; it then marks it ``sent``, or pending again with
its next try, or ``failed``. What is kept holds the target's name, never its settings:
no password, signing secret or token reaches the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database, new_id, newest

__all__ = ["CLAIM_SECONDS", "MAX_ATTEMPTS", "Notification", "Outbox"]

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 300.0  # a claimed send not marked by then (its process died) is due again
ERROR_LIMIT = 1000


@dataclass
class Notification:
    """A message to one target about one event of a run or a job."""

    id: str
    target: str
    event: str
    title: str
    message: str
    run_id: str | None = None
    job_id: str | None = None
    state: Literal["pending", "sent", "failed"] = "pending"
    attempts: int = 0
    next_try_at: float = 0.0
    error: str | None = None
    created_at: float = 0.0
    sent_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(**row)


class Outbox:
    """``store.notifications``: the outbox of notifications."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, target: str, event: str, title: str, message: str, *, run_id: str | None = None,
            job_id: str | None = None) -> Notification:
        note = Notification(new_id(), target, event, redact(title), redact(message), run_id, job_id,
                            created_at=time.time())
        self._db.write("INSERT INTO notifications (id, target, event, run_id, job_id, title, message, state, attempts, "
                       "next_try_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, 0, ?)",
                       (note.id, target, event, run_id, job_id, note.title, note.message, note.created_at))
        return note

    def get(self, note_id: str) -> Notification:
        rows = self._db.query("SELECT * FROM notifications WHERE id = ?", (note_id,))
        if not rows:
            raise KeyError(note_id)
        return _notification(rows[0])

    def claim(self, note_id: str, now: float | None = None) -> Notification | None:
        """The notification, claimed for one send; None when it is not due or another claimed it."""
        now = time.time() if now is None else now
        with self._db.transaction():
            taken = self._db.conn.execute(
                "UPDATE notifications SET next_try_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND state = 'pending' AND next_try_at <= ?", (now + CLAIM_SECONDS, note_id, now)).rowcount
        return self.get(note_id) if taken else None

    def due(self, now: float | None = None, limit: int = 20) -> list[Notification]:
        """Pending notifications whose next try has come, the oldest first."""
        now = time.time() if now is None else now
        return [_notification(r) for r in self._db.query(
            "SELECT * FROM notifications WHERE state = 'pending' AND next_try_at <= ? ORDER BY created_at LIMIT ?",
            (now, limit))]

    def sent(self, note_id: str) -> None:
        self._db.write("UPDATE notifications SET state = 'sent', sent_at = ?, error = NULL WHERE id = ?",
                       (time.time(), note_id))

    def failed(self, note_id: str, error: str, retry_at: float | None) -> None:
        """A send failed: due again at ``retry_at``, or given up (``failed``) when None."""
        error = redact(error)[:ERROR_LIMIT]
        if retry_at is None:
            self._db.write("UPDATE notifications SET state = 'failed', error = ? WHERE id = ?", (error, note_id))
        else:
            self._db.write("UPDATE notifications SET error = ?, next_try_at = ? WHERE id = ?",
                           (error, retry_at, note_id))

    def recent(self, limit: int = 20, *, state: str | None = None, run_id: str | None = None,
               job_id: str | None = None) -> list[Notification]:
        """Notifications, the newest first; in one state, or of one run or job, when given."""
        sql, params = newest("notifications", "created_at", {"state": state, "run_id": run_id, "job_id": job_id},
                             limit)
        return [_notification(r) for r in self._db.query(sql, params)]

"""Who runs a run: its owning process, heartbeats, claims on resume, and cancel requests.

The process running a run writes a heartbeat every ``HEARTBEAT_SECONDS``. A run is
orphaned when its owner is gone: on the same host its pid no longer exists, elsewhere
its heartbeat is older than ``STALE_SECONDS``.

Transaction rules:
- Only the owner writes its run (status, heartbeat); anyone may ask it to stop by setting
  ``cancel_requested``, which the owner reads back with each heartbeat.
- Only an orphaned run can be resumed, and a resume claims it with one compare-and-set
  ``UPDATE`` on the old owner, so of two processes resuming the same run at once exactly
  one wins.
- Cancelling a run nobody runs ends it here: the run, its unfinished steps and its pending
  approvals change in one transaction, so no reader sees a cancelled run still waiting.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from gorgon_nb.errors import UsageError
from gorgon_nb.store.approvals import ApprovalStore
from gorgon_nb.store.database import Database
from gorgon_nb.store.runs import RunStore

__all__ = ["HEARTBEAT_SECONDS", "STALE_SECONDS", "Owner", "RunControl"]

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0
HOST = socket.gethostname()


@dataclass(frozen=True)
class Owner:
    status: str
    pid: int | None
    host: str | None
    heartbeat_at: float | None
    cancel_requested: bool

    @property
    def alive(self) -> bool:
        """Whether the process that runs the run is still there."""
        if self.status not in ("running", "waiting") or self.pid is None:
            return False
        fresh = self.heartbeat_at is not None and time.time() - self.heartbeat_at < STALE_SECONDS
        if self.host != HOST:
            return fresh
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return fresh
        return (fresh or self.pid == os.getpid()) and not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class RunControl:
    """``store.control``: who owns each run, and the requests to stop one."""

    def __init__(self, db: Database, runs: RunStore, approvals: ApprovalStore) -> None:
        self._db, self._runs, self._approvals = db, runs, approvals

    def owner(self, run_id: str) -> Owner:
        row = self._db.query("SELECT status, pid, host, heartbeat_at, cancel_requested FROM runs WHERE id = ?",
                             (self._runs.resolve_id(run_id),))[0]
        return Owner(row["status"], row["pid"], row["host"], row["heartbeat_at"], bool(row["cancel_requested"]))

    def claim(self, run_id: str, previous: Owner) -> None:
        """Become the run's owner, if nobody claimed it since ``previous`` was read."""
        with self._db.transaction():
            changed = self._db.conn.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ?, heartbeat_at = ?, cancel_requested = 0, "
                "error = NULL, error_type = NULL, ended_at = NULL "
                "WHERE id = ? AND pid IS ? AND host IS ? AND heartbeat_at IS ?",
                (os.getpid(), HOST, time.time(), run_id, previous.pid, previous.host, previous.heartbeat_at),
            ).rowcount
        if not changed:
            raise UsageError(f"run {run_id} was resumed by another process just now")

    def heartbeat(self, run_id: str) -> bool:
        """Say this process still runs ``run_id``; return whether a cancel was requested."""
        with self._db.transaction():
            self._db.conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))
            row = self._db.conn.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def set_status(self, run_id: str, status: str) -> None:
        """Move an unfinished run between running and waiting (a run that ended stays ended)."""
        self._db.write("UPDATE runs SET status = ? WHERE id = ? AND status IN ('running', 'waiting')",
                       (status, run_id))

    def request_cancel(self, run_id: str) -> str:
        """Ask a run to stop: ``"requested"`` when its owner will see it, ``"cancelled"`` when
        nobody runs it (it is marked cancelled here and now)."""
        run_id = self._runs.resolve_id(run_id)
        owner = self.owner(run_id)
        if owner.status not in ("running", "waiting"):
            raise UsageError(f"run {run_id} already ended ({owner.status}); there is nothing to cancel")
        if owner.alive:
            self._db.write("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            return "requested"
        with self._db.transaction():
            self._db.conn.execute("UPDATE runs SET status = 'cancelled', error = ?, error_type = 'Cancelled', "
                                  "ended_at = ? WHERE id = ?", ("cancelled while no process was running it",
                                                               time.time(), run_id))
            self._db.conn.execute("UPDATE steps SET status = 'cancelled' WHERE run_id = ? AND status IN "
                                  "('running', 'waiting')", (run_id,))
            self._approvals.cancel_pending(run_id)
        return "cancelled"

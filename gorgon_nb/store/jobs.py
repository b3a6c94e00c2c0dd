"""Schedules, jobs and the scheduler's lease, in the store every scheduler shares.

Transaction rules: every change that must happen once happens in one transaction, and
checks in its ``WHERE`` clause that nobody did it first:
- a schedule's firing: its jobs queued and its next time moved on together, only if the
  next time is still the one this scheduler read;
- a job's claim: the oldest due job, queued to running, by one owner;
- a cancel: a queued job is cancelled, a running one asked to stop, never both;
- the lease: taken only when free, expired or already held by the same owner.
So two schedulers on one store never start the same job twice. Only the scheduler that
runs a job writes it while it runs (its heartbeat, its end); a scheduler holding the lease
requeues the jobs of one that stopped beating.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gorgon_nb.errors import Advice, NotFoundError, UsageError
from gorgon_nb.model.jobs import Job, JobState, Schedule
from gorgon_nb.store.database import Database, new_id

__all__ = ["JobStore"]

_SCHEDULE_FIELDS = ("id", "name", "root", "notebook", "parameters", "cron", "timezone", "every", "at", "retries", "backoff",
                    "timeout", "missed", "overlap", "keep", "paused", "next_run_at", "created_at", "allow_code",
                    "description", "notify")
_JOB_FIELDS = ("id", "schedule_id", "root", "notebook", "parameters", "state", "attempt", "max_attempts", "backoff", "timeout",
               "scheduled_for", "not_before", "queued_at", "started_at", "ended_at", "owner", "heartbeat_at",
               "cancel_requested", "output_path", "error", "failed_cell", "exception", "run_ids", "cost_usd", "allow_code")


def _schedule_row(schedule: Schedule) -> tuple[Any, ...]:
    values = {**schedule.__dict__, "parameters": json.dumps(schedule.parameters), "paused": int(schedule.paused),
              "allow_code": int(schedule.allow_code), "notify": json.dumps(schedule.notify)}
    return tuple(values[name] for name in _SCHEDULE_FIELDS)


def _schedule(row: dict[str, Any]) -> Schedule:
    return Schedule(**{**row, "parameters": json.loads(row["parameters"]), "paused": bool(row["paused"]),
                       "allow_code": bool(row["allow_code"]), "notify": json.loads(row.get("notify") or "[]")})


def _job_row(job: Job) -> tuple[Any, ...]:
    values = {**job.__dict__, "parameters": json.dumps(job.parameters), "state": str(job.state),
              "cancel_requested": int(job.cancel_requested), "run_ids": json.dumps(job.run_ids),
              "allow_code": int(job.allow_code)}
    return tuple(values[name] for name in _JOB_FIELDS)


def _job(row: dict[str, Any]) -> Job:
    return Job(**{**row, "parameters": json.loads(row["parameters"]), "state": JobState(row["state"]),
                  "cancel_requested": bool(row["cancel_requested"]), "run_ids": json.loads(row["run_ids"]),
                  "allow_code": bool(row["allow_code"])})


def _insert(table: str, fields: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' for _ in fields)})"


def _update(table: str, fields: tuple[str, ...]) -> str:
    return f"UPDATE {table} SET {', '.join(f'{name} = ?' for name in fields[1:])} WHERE id = ?"


class JobStore:
    """``store.jobs``: schedules, their jobs, and the lease of the scheduler that runs them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- schedules ------------------------------------------------------------------------

    def create_schedule(self, schedule: Schedule) -> Schedule:
        """Add a schedule. A name is a handle to refer to it by, so no two schedules share one."""
        schedule.id = schedule.id or new_id()
        schedule.created_at = schedule.created_at or time.time()
        with self._db.transaction():
            if self._db.conn.execute("SELECT 1 FROM schedules WHERE id = ?", (schedule.id,)).fetchone():
                raise UsageError(f"a schedule with the id '{schedule.id}' exists already; delete it first "
                                 f"(gorgon schedules delete {schedule.id}) to import it again")
            taken = self._db.conn.execute("SELECT id FROM schedules WHERE name = ? AND name != ''",
                                          (schedule.name,)).fetchone()
            if taken:
                raise UsageError(f"a schedule named '{schedule.name}' exists already ({taken[0]}); give this one "
                                 "another name, or delete that one first: ", Advice(
                                     python=f"Runner().store.jobs.delete_schedule('{taken[0]}')",
                                     notebook=f"%gorgon schedules delete {taken[0]}",
                                     cli=f"gorgon schedules delete {taken[0]}"))
            self._db.conn.execute(_insert("schedules", _SCHEDULE_FIELDS), _schedule_row(schedule))
        return schedule

    def get_schedule(self, ref: str) -> Schedule:
        """A schedule by its id, its name, or the start of its id. A ``ref`` that fits several
        (schedules that share a name from before names were unique, or a short id) is refused."""
        if not ref.strip():
            raise UsageError("a schedule id or name is needed")
        for where, value in (("id = ?", ref), ("name = ?", ref), ("id LIKE ?", ref.replace("%", "") + "%")):
            rows = self._db.query(f"SELECT * FROM schedules WHERE {where} ORDER BY created_at LIMIT 6", (value,))
            if len(rows) == 1:
                return _schedule(rows[0])
            if rows:
                found = [_schedule(r) for r in rows]
                what = "schedules are named" if where.startswith("name") else "schedule ids start with"
                raise UsageError(f"{len(found)} {what} '{ref}': "
                                 + "; ".join(f"{s.id} ({s.notebook}, {s.trigger})" for s in found)
                                 + ". Name the one you mean by its id.")
        raise NotFoundError(f"no schedule '{ref}'. ", Advice(
            python="Runner().store.jobs.schedules() lists them.",
            notebook="Run %gorgon schedules to list them.", cli="Run 'gorgon schedules' to list them."))

    def schedules(self) -> list[Schedule]:
        return [_schedule(r) for r in self._db.query("SELECT * FROM schedules ORDER BY created_at")]

    def update_schedule(self, schedule: Schedule) -> Schedule:
        row = _schedule_row(schedule)
        self._db.write(_update("schedules", _SCHEDULE_FIELDS), (*row[1:], row[0]))
        return schedule

    def delete_schedule(self, ref: str) -> Schedule:
        schedule = self.get_schedule(ref)
        self._db.write("DELETE FROM schedules WHERE id = ?", (schedule.id,))
        return schedule

    def due_schedules(self, now: float) -> list[Schedule]:
        return [_schedule(r) for r in self._db.query(
            "SELECT * FROM schedules WHERE paused = 0 AND next_run_at IS NOT NULL AND next_run_at <= ? "
            "ORDER BY next_run_at", (now,))]

    def fire(self, schedule: Schedule, jobs: list[Job], next_run_at: float | None) -> bool:
        """Queue ``jobs`` for ``schedule`` and move it on to ``next_run_at``, once: False when
        another scheduler fired it first (its next time moved already)."""
        with self._db.transaction():
            moved = self._db.conn.execute(
                "UPDATE schedules SET next_run_at = ? WHERE id = ? AND next_run_at IS ?",
                (next_run_at, schedule.id, schedule.next_run_at)).rowcount
            if not moved:
                return False
            for job in jobs:
                self._add_job(job)
        schedule.next_run_at = next_run_at
        return True

    # -- jobs -----------------------------------------------------------------------------

    def _add_job(self, job: Job) -> Job:
        job.id = job.id or new_id()
        job.queued_at = job.queued_at or time.time()
        job.scheduled_for = job.scheduled_for or job.queued_at
        self._db.conn.execute(_insert("jobs", _JOB_FIELDS), _job_row(job))
        return job

    def enqueue(self, job: Job) -> Job:
        """Queue one job now, outside any firing (``gorgon schedules run``)."""
        with self._db.transaction():
            return self._add_job(job)

    def get(self, ref: str) -> Job:
        """A job by its id or an unambiguous start of one."""
        if not ref.strip():
            raise UsageError("a job id is needed")
        rows = self._db.query("SELECT * FROM jobs WHERE id = ? OR id LIKE ? ORDER BY id = ? DESC LIMIT 3",
                              (ref, ref.replace("%", "") + "%", ref))
        if not rows:
            raise NotFoundError(f"no job '{ref}'. ", Advice(
                python="Runner().store.jobs.recent() lists recent jobs.",
                notebook="Run %gorgon jobs to list recent jobs.", cli="Run 'gorgon jobs' to list recent jobs."))
        if len(rows) > 1 and rows[0]["id"] != ref:
            raise UsageError(f"'{ref}' matches several jobs ({', '.join(r['id'] for r in rows)}); give more of the id")
        return _job(rows[0])

    def recent(self, limit: int = 50, *, schedule_id: str | None = None, state: str | None = None) -> list[Job]:
        """Jobs, the last queued first; of one schedule, or in one state, when given."""
        where, params = [], []
        for column, value in (("schedule_id", schedule_id), ("state", state)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [_job(r) for r in self._db.query(f"SELECT * FROM jobs{clause} ORDER BY queued_at DESC LIMIT ?",
                                                (*params, limit))]

    def count_active(self, schedule_id: str) -> int:
        """Jobs of the schedule queued or running."""
        rows = self._db.query("SELECT COUNT(*) AS n FROM jobs WHERE schedule_id = ? AND state IN ('queued', 'running')",
                              (schedule_id,))
        return int(rows[0]["n"])

    def claim(self, owner: str, now: float | None = None) -> Job | None:
        """The oldest job due to start, now running for ``owner``; None when none is due."""
        now = time.time() if now is None else now
        with self._db.transaction():
            row = self._db.conn.execute(
                "SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ? ORDER BY scheduled_for, queued_at "
                "LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            self._db.conn.execute("UPDATE jobs SET state = 'running', owner = ?, started_at = ?, heartbeat_at = ? "
                                  "WHERE id = ? AND state = 'queued'", (owner, now, now, row[0]))
        return self.get(row[0])

    def heartbeat(self, job_id: str, owner: str) -> bool:
        """Say ``owner`` still runs the job; return whether a cancel was requested."""
        with self._db.transaction():
            self._db.conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND owner = ?",
                                  (time.time(), job_id, owner))
            row = self._db.conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def save(self, job: Job) -> Job:
        """Rewrite a job whole: its scheduler does, as the job runs and ends."""
        row = _job_row(job)
        self._db.write(_update("jobs", _JOB_FIELDS), (*row[1:], row[0]))
        return job

    def request_cancel(self, ref: str) -> str:
        """``"cancelled"`` for a queued job (it never starts), ``"requested"`` for a running
        one (its scheduler stops its kernel within seconds)."""
        job = self.get(ref)
        with self._db.transaction():
            if self._db.conn.execute("UPDATE jobs SET state = 'cancelled', ended_at = ?, error = ? "
                                     "WHERE id = ? AND state = 'queued'",
                                     (time.time(), "cancelled before it started", job.id)).rowcount:
                return "cancelled"
            if self._db.conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'",
                                     (job.id,)).rowcount:
                return "requested"
        raise UsageError(f"job {job.id} already ended ({job.state}); there is nothing to cancel")

    def requeue_stale(self, stale_before: float) -> list[str]:
        """Running jobs whose scheduler stopped beating before ``stale_before``: queued again
        (the same attempt), so the scheduler that holds the lease now runs them."""
        with self._db.transaction():
            rows = self._db.conn.execute("SELECT id FROM jobs WHERE state = 'running' AND heartbeat_at < ?",
                                         (stale_before,)).fetchall()
            for (job_id,) in rows:
                self._db.conn.execute("UPDATE jobs SET state = 'queued', owner = NULL, started_at = NULL, "
                                      "heartbeat_at = NULL WHERE id = ?", (job_id,))
        return [r[0] for r in rows]

    # -- the lease ------------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl: float, now: float | None = None) -> bool:
        """Hold (or keep holding) ``name`` for ``ttl`` seconds: True when ``owner`` has it."""
        now = time.time() if now is None else now
        with self._db.transaction():
            self._db.conn.execute("INSERT OR IGNORE INTO leases (name, owner, expires_at) VALUES (?, ?, 0)",
                                  (name, owner))
            return bool(self._db.conn.execute(
                "UPDATE leases SET owner = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)",
                (owner, now + ttl, name, owner, now)).rowcount)

    def release_lease(self, name: str, owner: str) -> None:
        self._db.write("UPDATE leases SET expires_at = 0 WHERE name = ? AND owner = ?", (name, owner))

    def lease_holder(self, name: str) -> tuple[str, float] | None:
        rows = self._db.query("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
        return (rows[0]["owner"], rows[0]["expires_at"]) if rows else None

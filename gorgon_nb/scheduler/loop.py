"""The scheduler: fires schedules, runs their jobs, and never runs a job twice.

Every ``tick`` seconds it takes (or keeps) the lease ``scheduler`` in the store. Only the
holder fires schedules and starts jobs; another scheduler on the same store waits and
takes over when the lease expires (``lease_ttl`` after its holder stopped renewing it),
queueing again the jobs the dead one was running (their heartbeats stopped), so none is
lost. Firing and claiming are single transactions in the store, so even two holders by
mistake could not start one job twice.

A due schedule queues a job; one fired late by more than ``grace`` seconds (the
scheduler was down) follows its ``missed`` policy: ``skip`` it, or ``catch_up`` with one
job. A schedule whose last job still runs follows its ``overlap`` policy: ``skip`` or
``queue``. At most ``concurrency`` jobs run at once. A failed or timed-out job with
attempts left is queued again after its backoff (doubling each time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol

from gorgon_nb.model.jobs import Job, JobState, Schedule
from gorgon_nb.notify import deliver_due, notify_job_end
from gorgon_nb.scheduler.service import job_for
from gorgon_nb.scheduler.triggers import next_fire
from gorgon_nb.store import Store

__all__ = ["LEASE", "Backend", "LocalBackend", "Scheduler", "backend_for", "scheduler_holder"]

LEASE = "scheduler"
log = logging.getLogger(__name__)


def scheduler_holder(store: Store) -> str | None:
    """Which scheduler holds the lease now (and so starts queued jobs), or None."""
    holder = store.jobs.lease_holder(LEASE)
    return holder[0] if holder is not None and holder[1] > time.time() else None


class Backend(Protocol):
    async def start(self) -> None: ...

    async def execute(self, job: Job, cancelled: Any) -> Any: ...

    async def close(self) -> None: ...


class LocalBackend:
    """Jobs on this machine: a notebook in a fresh kernel from a pool started ahead, a
    workflow in a child process of its own. ``store_path`` is the store workflow runs are
    kept in (the scheduler's, set by ``Scheduler``)."""

    def __init__(self, pool_size: int = 2) -> None:
        self.pool_size = pool_size
        self.pool: Any = None
        self.store_path: Path | None = None

    async def start(self) -> None:
        from gorgon_nb.scheduler.pool import KernelPool

        self.pool = KernelPool(self.pool_size)
        await self.pool.start()

    async def execute(self, job: Job, cancelled: Any) -> Any:
        if job.kind == "workflow":
            from gorgon_nb.scheduler.workflow_run import execute_workflow_job

            return await execute_workflow_job(job, Path(job.root), db_path=self.store_path, cancelled=cancelled)
        from gorgon_nb.scheduler.execute import execute_job

        return await execute_job(job, Path(job.root), pool=self.pool, cancelled=cancelled)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def backend_for(dask: str | None, pool: int) -> Backend:
    """Jobs on the Dask cluster at ``dask``, or in local kernels with ``pool`` started ahead."""
    if dask:
        from gorgon_nb.scheduler.dask_backend import DaskBackend

        return DaskBackend(dask)
    return LocalBackend(pool)


class Scheduler:
    def __init__(self, store: Store, *, backend: Backend | None = None, concurrency: int = 2, tick: float = 1.0,
                 lease_ttl: float = 15.0, grace: float = 60.0, owner: str | None = None) -> None:
        self.store, self.backend = store, backend or LocalBackend()
        self.concurrency, self.tick_seconds, self.lease_ttl, self.grace = concurrency, tick, lease_ttl, grace
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.running: dict[str, asyncio.Task[None]] = {}
        self.leader = False
        if getattr(self.backend, "store_path", False) is None:  # a backend that runs workflow jobs
            self.backend.store_path = store.path  # type: ignore[attr-defined]

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick until ``stop`` is set (or the task is cancelled); running jobs are stopped then."""
        stop = stop or asyncio.Event()
        await self.backend.start()
        try:
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.tick_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        if self.leader:
            await asyncio.to_thread(self.store.jobs.release_lease, LEASE, self.owner)
        await self.backend.close()

    async def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.leader = await asyncio.to_thread(self.store.jobs.acquire_lease, LEASE, self.owner, self.lease_ttl, now)
        if not self.leader:
            return
        for job_id in await asyncio.to_thread(self.store.jobs.requeue_stale, now - self.lease_ttl):
            log.warning("job %s: its scheduler stopped; queued again", job_id)
        await asyncio.to_thread(deliver_due, self.store)  # notifications whose targets failed before
        for schedule in await asyncio.to_thread(self.store.jobs.due_schedules, now):
            await asyncio.to_thread(self._fire, schedule, now)
        while len(self.running) < self.concurrency:
            job = await asyncio.to_thread(self.store.jobs.claim, self.owner, now)
            if job is None:
                break
            self.running[job.id] = asyncio.create_task(self._run(job))

    def _fire(self, schedule: Schedule, now: float) -> None:
        due = schedule.next_run_at
        assert due is not None
        late = now - due > self.grace
        jobs = []
        if late and schedule.missed == "skip":
            log.info("schedule %s: the run due at %s was missed; skipped", schedule.id, time.ctime(due))
        elif schedule.overlap == "skip" and self.store.jobs.count_active(schedule.id):
            log.info("schedule %s: its last job still runs; this one is skipped", schedule.id)
        else:
            jobs.append(job_for(schedule, due))
        self.store.jobs.fire(schedule, jobs, next_fire(schedule, now))

    async def _run(self, job: Job) -> None:
        cancel = False

        def cancelled() -> bool:
            return cancel

        async def beat() -> None:
            nonlocal cancel
            while True:
                await asyncio.sleep(min(self.lease_ttl / 3, 2.0))
                cancel = await asyncio.to_thread(self.store.jobs.heartbeat, job.id, self.owner) or cancel

        heart = asyncio.create_task(beat())
        try:
            if job.kind == "workflow":  # its run id is known (and shown) before the run starts
                from gorgon_nb.scheduler.workflow_run import assign_run

                await asyncio.to_thread(assign_run, self.store, job)
            outcome = await self.backend.execute(job, cancelled)
        except asyncio.CancelledError:  # the scheduler stops: the job goes back to the queue
            await asyncio.to_thread(self._requeue, job)
            raise
        except Exception as exc:  # a bug or a broken backend: the job fails with the reason
            log.exception("job %s failed in the scheduler", job.id)
            outcome = None
            job.state, job.error, job.ended_at = JobState.FAILED, f"the scheduler failed: {exc}", time.time()
        finally:
            heart.cancel()
            self.running.pop(job.id, None)
        await asyncio.to_thread(self._record, job, outcome)

    def _requeue(self, job: Job) -> None:
        job.state, job.owner, job.started_at, job.heartbeat_at = JobState.QUEUED, None, None, None
        self.store.jobs.save(job)

    def _record(self, job: Job, outcome: Any) -> None:
        if outcome is not None:
            job.state, job.output_path, job.error = outcome.state, outcome.output_path, outcome.error
            job.failed_cell, job.exception = outcome.failed_cell, outcome.exception
            job.started_at = outcome.started_at or job.started_at
            job.ended_at = outcome.ended_at or time.time()
            if outcome.run_ids is not None:
                job.run_ids = list(dict.fromkeys([*job.run_ids, *outcome.run_ids]))
                costs = [self._run_cost(run_id) for run_id in job.run_ids]
                known = [c for c in costs if c is not None]
                job.cost_usd = sum(known) if known else None
            elif outcome.kernel_pid is not None:
                job.run_ids = self.store.runs.started_by(outcome.kernel_host, outcome.kernel_pid,
                                                         job.started_at or 0.0, job.ended_at + 1)
                costs = [self.store.runs.get(run_id).usage.cost for run_id in job.run_ids]
                job.cost_usd = sum(c for c in costs if c is not None) if job.run_ids else None
        job.cancel_requested = job.cancel_requested or self.store.jobs.get(job.id).cancel_requested
        if job.state in (JobState.FAILED, JobState.TIMED_OUT) and job.attempt < job.max_attempts \
                and not job.cancel_requested:
            log.info("job %s: attempt %d of %d %s; trying again", job.id, job.attempt, job.max_attempts, job.state)
            job.not_before = time.time() + job.backoff * 2 ** (job.attempt - 1)
            job.attempt += 1
            job.state, job.owner, job.heartbeat_at = JobState.QUEUED, None, None
        self.store.jobs.save(job)
        notify_job_end(self.store, job)  # when it ended for good: its schedule's targets are told
        if job.schedule_id and job.state != JobState.QUEUED:
            self._prune(job.schedule_id)

    def _run_cost(self, run_id: str) -> float | None:
        try:
            return self.store.runs.get(run_id).usage.cost
        except Exception:  # a run that never started (its workflow was refused) costs nothing
            return None

    def _prune(self, schedule_id: str) -> None:
        """Executed notebooks beyond the schedule's ``keep`` newest are deleted."""
        try:
            keep = self.store.jobs.get_schedule(schedule_id).keep
        except Exception:  # the schedule was deleted: its jobs keep what they have
            return
        done = [j for j in self.store.jobs.recent(1000, schedule_id=schedule_id) if j.output_path]
        for old in done[keep:]:
            with contextlib.suppress(OSError):
                (Path(old.root) / str(old.output_path)).unlink()
            old.output_path = None
            self.store.jobs.save(old)

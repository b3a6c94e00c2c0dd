"""Jobs on a Dask cluster: each one a task that runs ``execute_job`` in a worker.

The worker starts a fresh kernel for the job there (the kernel's host and pid in the
``Outcome`` are the worker's), so the notebook's root must be the same path on every
worker (a shared filesystem); the executed notebook is written there too.

A running Dask task cannot be cancelled from outside, so the job owns its kernel and stops
it itself: the scheduler side sets the ``distributed.Event`` ``gorgon-cancel-<job id>`` when
``cancelled()`` turns true, and the task, watching that event, kills its kernel and returns
a CANCELLED outcome. Timeouts are the job's own, kept in the worker.

A workflow job runs the same way: its task starts the workflow's child process in the
worker (see ``workflow_run``), which keeps its run in the store at ``store_path``, so the
store too must be at the same path on every worker.

Dask is an optional extra: ``pip install 'gorgon-nb[dask]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import UsageError
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.execute import Outcome, execute_job

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskBackend", "run_job_on_worker"]

POLL_SECONDS = 0.3
WATCH_SECONDS = 0.5  # how long the worker's watcher waits on the event per call


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError("the Dask backend needs dask's distributed scheduler; install it with "
                         "pip install 'gorgon-nb[dask]'") from None
    return distributed


def cancel_event_name(job: Job) -> str:
    return f"gorgon-cancel-{job.id}"


def _never() -> bool:
    return False


class DaskBackend:
    """Run jobs on the Dask cluster at ``address`` (``tcp://host:8786``), or through a
    ``distributed.Client`` you made. Each job is one task; a worker's threads bound how
    many of its jobs run at once."""

    def __init__(self, address: str | Client) -> None:
        distributed = _distributed()
        self._owned = True
        self._client: Client | None = None
        self.store_path: Path | None = None  # where workflow jobs keep their runs (set by the Scheduler)
        if isinstance(address, distributed.Client):
            if address.asynchronous:
                self._client, self._owned = address, False
                self.address = str(address.scheduler.address)
            else:  # a blocking client cannot be awaited: open an asynchronous one beside it
                self.address = str(address.scheduler.address)
        elif isinstance(address, str) and address:
            self.address = address
        else:
            raise UsageError("DaskBackend needs a scheduler address (tcp://host:8786) or a distributed.Client")

    def __repr__(self) -> str:
        return f"<DaskBackend {self.address}>"

    async def start(self) -> None:
        await self._connect()

    async def close(self) -> None:
        if self._client is not None and self._owned:
            await self._client.close()
            self._client = None

    async def _connect(self) -> Client:
        if self._client is None:
            distributed = _distributed()
            try:
                self._client = await distributed.Client(self.address, asynchronous=True)
            except OSError as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {self.address}: {exc}; check the "
                                 "address and that the scheduler runs") from None
        return self._client

    async def execute(self, job: Job, cancelled: Callable[[], bool] = _never, *,
                      root: Path | str | None = None) -> Outcome:
        """Run the job in a worker and return its ``Outcome``; ``root`` defaults to ``job.root``."""
        distributed = _distributed()
        client = await self._connect()
        started = time.time()
        event = distributed.Event(cancel_event_name(job), client=client)
        await event.clear()  # a cancel left over from an earlier try of this job does not count
        # a key of its own each time: a task left running by a scheduler that died is not this one
        key = f"gorgon-job-{job.id}-{job.attempt}-{uuid.uuid4().hex[:8]}"
        store_path = str(self.store_path) if self.store_path is not None else None
        future = client.submit(run_job_on_worker, job, str(root or job.root), event.name, store_path, key=key,
                               pure=False, retries=0)
        told = False
        try:
            while not future.done():
                if not told and cancelled():
                    await event.set()
                    told = True
                await asyncio.sleep(POLL_SECONDS)
            outcome: Outcome = await future
            return outcome
        except asyncio.CancelledError:
            if not told:
                with contextlib.suppress(Exception):
                    await asyncio.shield(event.set())
            raise
        except Exception as exc:  # the worker died, the connection dropped: the job failed here
            return Outcome(JobState.FAILED, None, error=f"the Dask task failed: {type(exc).__name__}: {exc}",
                           exception=f"{type(exc).__name__}: {exc}", started_at=started, ended_at=time.time())
        finally:
            future.release()
            with contextlib.suppress(Exception):
                await event.clear()


def run_job_on_worker(job: Job, root: str, event_name: str, store_path: str | None = None) -> Outcome:
    """The Dask task: ``execute_job`` on a fresh kernel here (a workflow job: its child
    process), stopped when the event is set."""
    distributed = _distributed()
    event = distributed.Event(event_name, client=distributed.get_client())
    stop, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if event.wait(timeout=WATCH_SECONDS):
                    stop.set()
                    return
            except Exception:  # the scheduler went away: nobody is left to cancel us
                return

    watcher = threading.Thread(target=watch, name=f"gorgon-cancel-{job.id}", daemon=True)
    watcher.start()
    try:
        if job.kind == "workflow":
            from gorgon_nb.scheduler.workflow_run import execute_workflow_job

            return asyncio.run(execute_workflow_job(job, Path(root), db_path=store_path, cancelled=stop.is_set))
        return asyncio.run(execute_job(job, Path(root), cancelled=stop.is_set))
    finally:
        done.set()
        watcher.join(timeout=WATCH_SECONDS * 2)

"""Running one workflow job: the workflow in a child process of its own, as a durable run.

``execute_workflow_job`` starts ``python -m gorgon_nb.workflow_jobs`` in a new process
group (as a notebook job gets a kernel of its own: a crash, a leak or a hung call in one
job cannot reach the scheduler or another job), telling it on its standard input the store, the workflow, its
inputs, the caller's consent to code, and the run id the scheduler chose for it
(``assign_run``). The child checks the workflow again, runs it (or resumes the run, when
a scheduler that stopped left it unfinished) and exits; the run is a normal run in the
store, shown in the Runs tab and by ``gorgon show RUN``. The child ends itself when its
parent dies, so a job taken over from a scheduler that died resumes its run, whose
finished steps are not run again.

A run that waits for an approval keeps its job running until someone decides, or the
job's timeout ends it. A cancel or a timeout first asks the run to stop through the store
(it records itself cancelled, and stays resumable), then kills the child's process group
if it has not exited within ``STOP_GRACE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gorgon_nb.errors import GorgonError
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.model.run import RunResult, RunStatus
from gorgon_nb.scheduler.execute import Outcome, watch
from gorgon_nb.store import Store
from gorgon_nb.store.database import new_id

__all__ = ["CHILD_MODULE", "STOP_GRACE_SECONDS", "assign_run", "execute_workflow_job", "run_error"]

CHILD_MODULE = "gorgon_nb.workflow_jobs"
STOP_GRACE_SECONDS = 10.0  # for the run to notice a cancel (it checks every 2 s) and record it
OUTPUT_LIMIT = 64 * 1024  # bytes of the child's stderr kept for an error message


def _never() -> bool:
    return False


def assign_run(store: Store, job: Job) -> str:
    """The run id this attempt of ``job`` runs as: the last one again when that run is
    unfinished (its scheduler stopped: the run resumes), else a new one, appended to
    ``job.run_ids`` and saved so every surface links to the run while it goes on."""
    if job.run_ids:
        try:
            last = store.runs.get(job.run_ids[-1])
        except (GorgonError, IndexError):
            last = None
        if last is not None and not last.status.finished:
            return job.run_ids[-1]
    job.run_ids.append(new_id())
    store.jobs.save(job)
    return job.run_ids[-1]


def run_error(run: RunResult) -> tuple[str | None, str | None]:
    """A failed run's error for a person ("step 'fetch' failed: ...") and as recorded."""
    failed = [step for step in run.steps.values() if step.status == "failed" and step.error]
    if not failed:
        return run.error, run.error
    step = failed[0]
    if run.error and f"'{step.key}'" in run.error:  # the run's error names the step already
        return run.error, step.error
    return f"step '{step.key}' failed: {step.error}", step.error


async def execute_workflow_job(job: Job, root: Path, *, db_path: str | Path | None,
                               cancelled: Callable[[], bool] = _never) -> Outcome:
    """Run the workflow job ``job`` (its last ``run_ids`` entry is the run id to use) and
    return how it ended; never raises for the workflow's own failures."""
    started = time.time()
    run_id = job.run_ids[-1] if job.run_ids else new_id()

    def ended(state: JobState, error: str | None = None, exception: str | None = None) -> Outcome:
        return Outcome(state, None, error=error, exception=exception, started_at=started, ended_at=time.time(),
                       run_ids=[run_id])

    if db_path is None:
        return ended(JobState.FAILED, "a workflow job needs a store in a file (its run is kept there); this "
                                      "scheduler's store is in memory")
    if not Path(root).is_dir():
        return ended(JobState.FAILED, f"the job's folder {root} does not exist (a workflow job runs in its root); "
                                      "schedule it again from a folder that does")
    spec = {"db": str(db_path), "root": str(root), "workflow": job.notebook, "inputs": job.parameters,
            "allow_code": job.allow_code, "run_id": run_id}
    # the spec goes through stdin, not the command line, which every user of the machine can read
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CHILD_MODULE, cwd=str(root), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    talking = asyncio.ensure_future(process.communicate(json.dumps(spec).encode()))
    deadline = started + job.timeout if job.timeout else None
    stop: JobState | None = None
    try:
        stop = await watch(talking, cancelled, deadline)
        if stop is not None:
            await asyncio.to_thread(_ask_to_stop, db_path, run_id)
            done, _ = await asyncio.wait({talking}, timeout=STOP_GRACE_SECONDS)
            if not done:
                _kill(process.pid)
                await asyncio.wait({talking}, timeout=STOP_GRACE_SECONDS)
    except asyncio.CancelledError:  # the scheduler stops: the child goes with it; its run stays resumable
        _kill(process.pid)
        raise
    out, err = talking.result() if talking.done() and not talking.cancelled() else (b"", b"")
    report = _last_json(out)
    run = await asyncio.to_thread(_stored_run, db_path, run_id)
    if stop is not None:
        why = f"timed out after {job.timeout:g}s" if stop is JobState.TIMED_OUT else "cancelled"
        return ended(stop, f"{why}; the run {run_id} was stopped (resume it with: gorgon resume {run_id})"
                     if run is not None else f"{why} before its run started")
    if run is None:  # it never started: the workflow or its inputs were refused, or the child crashed
        error = report.get("error") or _tail(err) or f"the workflow's process exited with {process.returncode}"
        return ended(JobState.FAILED, str(error), exception=str(report.get("error_type") or "") or None)
    if run.status is RunStatus.SUCCEEDED:
        return ended(JobState.SUCCEEDED)
    if run.status is RunStatus.CANCELLED:
        return ended(JobState.CANCELLED, f"its run {run_id} was cancelled")
    error, exception = run_error(run)
    if run.status is RunStatus.FAILED:
        return ended(JobState.FAILED, error or "the workflow failed", exception=exception)
    detail = _tail(err) or f"exit code {process.returncode}"
    return ended(JobState.FAILED, f"the workflow's process ended while its run was {run.status} ({detail}); "
                                  f"resume the run with: gorgon resume {run_id}")


def _ask_to_stop(db_path: str | Path, run_id: str) -> None:
    """Ask the run to stop through the store (as ``gorgon cancel`` does); nothing when it has
    not started yet (then the process group is killed)."""
    with contextlib.suppress(GorgonError, IndexError):
        store = Store(db_path)
        try:
            store.control.request_cancel(run_id)
        finally:
            store.close()


def _stored_run(db_path: str | Path, run_id: str) -> RunResult | None:
    store = Store(db_path)
    try:
        return store.runs.get(run_id)
    except (GorgonError, IndexError):
        return None
    finally:
        store.close()


def _kill(pid: int) -> None:
    sig = getattr(signal, "SIGKILL", signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(pid, sig)  # the child leads a session of its own: its group has its pid
        else:
            os.kill(pid, sig)


def _last_json(out: bytes) -> dict[str, Any]:
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            if isinstance(found, dict):
                return found
    return {}


def _tail(err: bytes) -> str:
    text = err[-OUTPUT_LIMIT:].decode("utf-8", "replace").strip()
    return " ".join(text.splitlines()[-3:])[-500:]

"""What people do with schedules and jobs, the same from the terminal, the notebook, the
server and Python: schedule a notebook, list, pause, resume, delete, run now, cancel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gorgon_nb.errors import UsageError
from gorgon_nb.scheduler.model import Job, Schedule
from gorgon_nb.scheduler.triggers import check_cron, next_fire, parse_at, parse_duration, zone
from gorgon_nb.store import Store

__all__ = ["job_for", "parse_parameter", "pause", "resume", "run_now", "schedule_notebook", "scheduler_holder",
           "split_parameter", "without_jupyterlab"]

MISSED = ("skip", "catch_up")
OVERLAP = ("skip", "queue")


def parse_parameter(text: str) -> Any:
    """A parameter's value typed as papermill's ``-p`` types it: int, float, bool, None, else text.
    JSON lists and objects are read too."""
    lowered = text.strip()
    for kind in (int, float):
        try:
            return kind(lowered)
        except ValueError:
            pass
    if lowered in ("True", "true", "False", "false"):
        return lowered.lower() == "true"
    if lowered in ("None", "null"):
        return None
    if lowered[:1] in "[{":
        try:
            return json.loads(lowered)
        except ValueError:
            pass
    return text


def split_parameter(text: str) -> tuple[str, Any]:
    """``key=value`` as a parameter name and its typed value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise UsageError(f"'{text}' is not key=value (for example -p region=EU -p days=7)")
    return key.strip(), parse_parameter(value)


def _relative_notebook(root: Path, notebook: str) -> str:
    """The notebook's path relative to ``root``, once it is known to be there, to be a
    notebook, and to name a kernel this environment can start."""
    from gorgon_nb.scheduler.execute import notebook_kernel, resolve_notebook
    from gorgon_nb.scheduler.pool import kernel_problem

    path = resolve_notebook(root, notebook)
    try:
        kernel_name, _ = notebook_kernel(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the notebook '{notebook}': {exc}") from None
    if problem := kernel_problem(kernel_name):
        raise UsageError(problem[0].upper() + problem[1:])
    return path.relative_to(root.resolve()).as_posix()


def schedule_notebook(store: Store, notebook: str, *, root: str | Path | None = None, cron: str | None = None,
                      timezone: str = "UTC", every: str | float | None = None, at: str | None = None,
                      parameters: dict[str, Any] | None = None, retries: int = 0, backoff: str | float = 60,
                      timeout: str | float | None = None, missed: str = "skip", overlap: str = "skip",
                      keep: int = 20, name: str = "") -> Schedule:
    """A new schedule for ``notebook`` (relative to ``root``, default the current folder)."""
    triggers = [t for t in (cron, every, at) if t is not None]
    if len(triggers) != 1:
        raise UsageError("give one of --cron, --every or --at")
    missed = missed.replace("-", "_")
    if missed not in MISSED or overlap not in OVERLAP:
        raise UsageError(f"missed is skip or catch-up, overlap is skip or queue (got {missed}, {overlap})")
    if retries < 0 or keep < 1:
        raise UsageError("retries must be 0 or more and keep 1 or more")
    zone(timezone)
    base = Path(root or Path.cwd()).resolve()
    schedule = Schedule(
        id="", root=str(base), notebook=_relative_notebook(base, notebook), parameters=dict(parameters or {}),
        cron=check_cron(cron) if cron else None, timezone=timezone,
        every=parse_duration(every) if every is not None else None,
        at=parse_at(at, timezone) if at is not None else None, retries=retries, backoff=parse_duration(backoff),
        timeout=parse_duration(timeout) if timeout is not None else None, missed=missed,  # type: ignore[arg-type]
        overlap=overlap, keep=keep, name=name, created_at=time.time())  # type: ignore[arg-type]
    schedule.next_run_at = next_fire(schedule, schedule.created_at)
    if schedule.next_run_at is None:
        raise UsageError(f"{at} is in the past: the schedule would never run")
    return store.create_schedule(schedule)


def job_for(schedule: Schedule, due: float) -> Job:
    return Job(id="", root=schedule.root, notebook=schedule.notebook, schedule_id=schedule.id,
               parameters=dict(schedule.parameters), max_attempts=schedule.retries + 1, backoff=schedule.backoff,
               timeout=schedule.timeout, scheduled_for=due)


def run_now(store: Store, ref: str) -> Job:
    """Queue a job of the schedule now, whatever its trigger says."""
    return store.enqueue_job(job_for(store.get_schedule(ref), time.time()))


def pause(store: Store, ref: str) -> Schedule:
    schedule = store.get_schedule(ref)
    schedule.paused = True
    return store.update_schedule(schedule)


def resume(store: Store, ref: str) -> Schedule:
    """Fire again from now on: what fell due while paused is not run."""
    schedule = store.get_schedule(ref)
    schedule.paused = False
    schedule.next_run_at = next_fire(schedule, time.time())
    return store.update_schedule(schedule)


def scheduler_holder(store: Store) -> str | None:
    """Which scheduler holds the lease now (and so starts queued jobs), or None."""
    from gorgon_nb.scheduler.loop import LEASE

    holder = store.lease_holder(LEASE)
    return holder[0] if holder is not None and holder[1] > time.time() else None


def without_jupyterlab() -> bool:
    """Whether JupyterLab (the lab extra), where the Jupyter server can run the scheduler, is missing."""
    import importlib.util

    return importlib.util.find_spec("jupyterlab") is None

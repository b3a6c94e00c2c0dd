"""What people do with schedules and jobs, the same from the terminal, the notebook, the
server and Python: schedule a notebook, list, pause, resume, delete, run now, cancel.
(A workflow is scheduled through ``gorgon_nb.workflow_jobs``, which checks the workflow
with the runner, then makes its schedule here with ``new_schedule``.)

What a schedule may hold is checked here, once for every front door: its triggers (see
``triggers``), its texts (one line, no control characters), its numbers (retries up to
``RETRIES_LIMIT``, keep up to ``KEEP_LIMIT``) and its parameters (JSON values with finite
numbers, nested at most ``PARAMETERS_DEPTH`` deep, at most ``PARAMETERS_LIMIT`` bytes as
JSON), and that executed notebooks can be kept under its root.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gorgon_nb.errors import UsageError
from gorgon_nb.model.jobs import Job, Schedule
from gorgon_nb.scheduler.execute import notebook_kernel, output_folder_problem, resolve_notebook
from gorgon_nb.scheduler.pool import kernel_problem
from gorgon_nb.scheduler.triggers import (
    check_cron,
    next_fire,
    parse_at,
    parse_duration,
    parse_every,
    plain_text,
    zone,
)
from gorgon_nb.store import Store

__all__ = ["KEEP_LIMIT", "NAME_LIMIT", "NOTEBOOK_LIMIT", "PARAMETERS_DEPTH", "PARAMETERS_LIMIT", "RETRIES_LIMIT",
           "check_parameters", "job_for", "new_schedule", "parse_parameter", "pause", "resume", "run_now",
           "schedule_notebook", "split_parameter", "without_jupyterlab"]

MISSED = ("skip", "catch_up")
OVERLAP = ("skip", "queue")
PARAMETERS_LIMIT = 64 * 1024  # bytes of a schedule's parameters as JSON; every job and the feed carry them
PARAMETERS_DEPTH = 32  # lists and objects in one another
RETRIES_LIMIT = 100
KEEP_LIMIT = 10_000
NOTEBOOK_LIMIT = 1024  # characters of a notebook's path
NAME_LIMIT = 200
DESCRIPTION_LIMIT = 1000


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
        except RecursionError:  # far deeper than check_parameters would take
            raise UsageError(f"the value {_short(lowered)} is nested more than {PARAMETERS_DEPTH} deep; "
                             "pass a path to a file with the data instead") from None
        except ValueError:
            pass
    return text


def split_parameter(text: str) -> tuple[str, Any]:
    """``key=value`` as a parameter name and its typed value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise UsageError(f"'{text}' is not key=value (for example -p region=EU -p days=7)")
    return key.strip(), parse_parameter(value)


def _short(text: str) -> str:
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:40])
    return repr(shown if len(shown) <= 40 else shown[:39] + "…")


def _json_problem(value: Any) -> str | None:
    """Why ``value`` is not a JSON value that can be stored and shown, or None.

    Walked without recursion, so neither a deep value nor one that holds itself can exhaust
    the stack: either is deeper than ``PARAMETERS_DEPTH``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > PARAMETERS_DEPTH:
            return f"is nested more than {PARAMETERS_DEPTH} deep; pass a path to a file with the data instead"
        if isinstance(item, float) and not math.isfinite(item):
            return f"holds {item}, which JSON cannot hold; give finite numbers (or the text 'nan' and convert it)"
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return "holds an object whose keys are not all text"
            stack.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((inner, depth + 1) for inner in item)
        elif not isinstance(item, str | int | float | bool | None):
            return f"holds a {type(item).__name__}, which is not a JSON value; pass text, a number, true/false, " \
                   "null, a list or an object"
    return None


def check_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """papermill parameters a schedule can keep: Python names mapped to JSON values (finite
    numbers, nested at most ``PARAMETERS_DEPTH`` deep), ``PARAMETERS_LIMIT`` bytes as JSON at most.

    Every job of the schedule copies them, and the Jobs tab's feed carries them to every
    browser, so data belongs in a file the notebook reads; its path is the parameter."""
    if parameters is not None and not isinstance(parameters, Mapping):
        raise UsageError("parameters must be a mapping of names to values, such as {\"region\": \"EU\"}")
    checked = dict(parameters or {})
    bad = [name for name in checked if not isinstance(name, str) or not name.isidentifier()]
    if bad:
        raise UsageError(f"parameter names must be Python names, not {', '.join(_short(str(b)) for b in bad[:5])}")
    for name, value in checked.items():
        if problem := _json_problem(value):
            raise UsageError(f"the parameter {name} {problem}")
    size = len(json.dumps(checked, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > PARAMETERS_LIMIT:
        raise UsageError(f"the parameters take {size:,} bytes as JSON; the most is {PARAMETERS_LIMIT:,} (64 KiB), "
                         "as every job and the Jobs tab carry them: write the data to a file under the root and "
                         "pass its path")
    return checked


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not plain_text(value):
        raise UsageError(f"the {what} must be one line of at most {limit} characters, without control characters "
                         f"(got {_short(str(value))})")
    return value


def _count(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{what} must be a whole number from {low} to {high:,}, not {_short(str(value))}")
    return value


def _relative_notebook(root: Path, notebook: str) -> str:
    """The notebook's path relative to ``root``, once it is known to be there, to be a
    notebook, and to name a kernel this environment can start."""
    try:
        path = resolve_notebook(root, notebook)
    except OSError as exc:  # a name too long for the file system, say
        raise UsageError(f"cannot read the notebook '{_short(notebook)[1:-1]}': {exc.strerror or exc}") from None
    try:
        kernel_name, _ = notebook_kernel(path)
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: a file nested too deep to be one
        raise UsageError(f"cannot read the notebook '{notebook}': {exc}") from None
    if problem := kernel_problem(kernel_name):
        raise UsageError(problem[0].upper() + problem[1:])
    return path.relative_to(root.resolve()).as_posix()


def schedule_notebook(store: Store, notebook: str, *, root: str | Path | None = None,
                      **options: Any) -> Schedule:
    """A new schedule for ``notebook`` (relative to ``root``, default the current folder);
    the options are ``new_schedule``'s."""
    notebook = _text(notebook, "notebook's path", NOTEBOOK_LIMIT)
    base = Path(root or Path.cwd()).resolve()
    return new_schedule(store, _relative_notebook(base, notebook), base, **options)


def new_schedule(store: Store, target: str, root: Path, *, cron: str | None = None, timezone: str = "UTC",
                 every: str | float | None = None, at: str | None = None, parameters: dict[str, Any] | None = None,
                 retries: int = 0, backoff: str | float = 60, timeout: str | float | None = None,
                 missed: str = "skip", overlap: str = "skip", keep: int = 20, name: str = "",
                 allow_code: bool = False, description: str = "", schedule_id: str = "",
                 paused: bool = False, notify: list[str] | None = None) -> Schedule:
    """A new schedule of ``target`` (a notebook or a workflow, already found under the
    absolute folder ``root``), its options checked as every front door checks them;
    ``notify``: the targets its jobs tell, rules already checked against the config."""
    triggers = [t for t in (cron, every, at) if t is not None]
    if len(triggers) != 1:
        raise UsageError("give one of --cron, --every or --at")
    missed = str(missed).replace("-", "_")
    if missed not in MISSED or overlap not in OVERLAP:
        raise UsageError(f"missed is skip or catch-up, overlap is skip or queue (got {_short(missed)}, "
                         f"{_short(str(overlap))})")
    retries = _count(retries, "retries", 0, RETRIES_LIMIT)
    keep = _count(keep, "keep", 1, KEEP_LIMIT)
    target = _text(target, "notebook's or workflow's path", NOTEBOOK_LIMIT)
    name = _text(name, "name", NAME_LIMIT)
    schedule_id = _text(schedule_id, "schedule's id", NAME_LIMIT)
    description = " ".join(str(description).split())[:DESCRIPTION_LIMIT]  # one line, as the lists show it
    if not plain_text(description):
        raise UsageError("the description must be text without control characters")
    zone(timezone)
    checked = check_parameters(parameters)
    if problem := output_folder_problem(root):
        raise UsageError(problem)
    schedule = Schedule(
        id=schedule_id, root=str(root), notebook=target, parameters=checked,
        cron=check_cron(cron, timezone) if cron is not None else None, timezone=timezone,
        every=parse_every(every) if every is not None else None,
        at=parse_at(at, timezone) if at is not None else None, retries=retries, backoff=parse_duration(backoff),
        timeout=parse_duration(timeout) if timeout is not None else None, missed=missed,  # type: ignore[arg-type]
        overlap=overlap, keep=keep, name=name, created_at=time.time(),  # type: ignore[arg-type]
        allow_code=bool(allow_code), description=description, paused=bool(paused), notify=list(notify or []))
    schedule.next_run_at = next_fire(schedule, schedule.created_at)
    if schedule.next_run_at is None:
        raise UsageError(f"{at} is in the past: the schedule would never run")
    return store.jobs.create_schedule(schedule)


def job_for(schedule: Schedule, due: float) -> Job:
    return Job(id="", root=schedule.root, notebook=schedule.notebook, schedule_id=schedule.id,
               parameters=dict(schedule.parameters), max_attempts=schedule.retries + 1, backoff=schedule.backoff,
               timeout=schedule.timeout, scheduled_for=due, allow_code=schedule.allow_code)


def run_now(store: Store, ref: str) -> Job:
    """Queue a job of the schedule now, whatever its trigger says."""
    schedule = store.jobs.get_schedule(ref)
    if problem := output_folder_problem(schedule.root):
        raise UsageError(problem)
    return store.jobs.enqueue(job_for(schedule, time.time()))


def pause(store: Store, ref: str) -> Schedule:
    schedule = store.jobs.get_schedule(ref)
    schedule.paused = True
    return store.jobs.update_schedule(schedule)


def resume(store: Store, ref: str) -> Schedule:
    """Fire again from now on: what fell due while paused is not run."""
    schedule = store.jobs.get_schedule(ref)
    schedule.paused = False
    schedule.next_run_at = next_fire(schedule, time.time())
    return store.jobs.update_schedule(schedule)


def without_jupyterlab() -> bool:
    """Whether JupyterLab (the lab extra), where the Jupyter server can run the scheduler, is missing."""
    import importlib.util

    return importlib.util.find_spec("jupyterlab") is None

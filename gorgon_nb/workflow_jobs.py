"""Workflows as scheduled jobs: scheduling them, importing Gorgon's schedule files, and
the process each job runs its workflow in (``python -m gorgon_nb.workflow_jobs``).

A workflow job's target (the ``notebook`` field of its schedule and job, see
``model.jobs.job_kind``) is either a workflow file relative to the root (.yaml, .yml,
.json), which like a notebook can never be outside it, or the name of a bundled or user
workflow (``GORGON_HOME/workflows``), found as ``gorgon run NAME`` finds it. The same
checks run when the workflow is scheduled and again when each job starts: it loads and
compiles, its inputs bind (a missing required input is named), and code-running steps
have the caller's consent (``allow_code``, see ``engine.trust``).

This module sits above the runner (it loads and checks workflows), so the scheduler, which
sits below it, reaches it only as a child process (see ``scheduler.workflow_run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import GorgonError, NotFoundError, UsageError
from gorgon_nb.model.jobs import WORKFLOW_SUFFIXES, job_kind

if TYPE_CHECKING:
    from gorgon_nb.model.jobs import Schedule
    from gorgon_nb.store import Store

__all__ = ["check_workflow", "dropped_notice", "import_gorgon_schedule", "is_workflow_name", "main",
           "resolve_workflow", "schedule", "schedule_target", "schedule_workflow", "workflow_target"]


def is_workflow_name(target: str) -> bool:
    """A workflow's name (``dev_plan_build_test_review``) rather than a path to a file."""
    path = Path(target)
    return len(path.parts) == 1 and not path.suffix and not target.startswith(("~", "."))


def resolve_workflow(root: str | Path, target: str) -> Path:
    """The workflow file a job's ``target`` names: a file under ``root``, or a bundled or user
    workflow's file by name. ``UsageError`` or ``NotFoundError`` say what is wrong."""
    from gorgon_nb.scheduler.service import NOTEBOOK_LIMIT
    from gorgon_nb.scheduler.triggers import plain_text
    from gorgon_nb.workflow import find_workflow, list_workflows

    if not isinstance(target, str) or not target.strip():
        raise UsageError("no workflow given; name a workflow file (.yaml, .yml or .json) relative to the root, "
                         "or a bundled or user workflow (gorgon workflows lists them)")
    if len(target) > NOTEBOOK_LIMIT or not plain_text(target):
        raise UsageError(f"a workflow's path must be one line of at most {NOTEBOOK_LIMIT} characters, without "
                         "control characters")
    if is_workflow_name(target):
        known = list_workflows()
        if target in known:
            return known[target]
        return find_workflow(target)  # raises, with the names that come close
    base = Path(root).resolve()
    given = Path(target).expanduser()
    try:
        path = (given if given.is_absolute() else base / given).resolve()
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, say
        raise UsageError(f"cannot read the workflow '{target[:80]}': {exc.strerror or exc}") from None
    if not path.is_relative_to(base):
        raise UsageError(f"'{target}' is outside the scheduler's root {base}; only workflows under it (or bundled "
                         "and user workflows, by name) can be scheduled. Move or copy the file into that folder "
                         "and give its path relative to it.")
    if path.suffix.lower() not in WORKFLOW_SUFFIXES:
        raise UsageError(f"'{target}' is not a notebook (.ipynb) or a workflow (.yaml, .yml or .json)")
    if not found:
        raise NotFoundError(f"no workflow at '{target}' under {base}; check the path (it is relative to that "
                            "folder) and that the file still exists")
    return path


def workflow_target(root: str | Path, target: str) -> str:
    """What a schedule keeps of ``target``: a name as given, a file as its path relative to
    ``root`` (checked to be there)."""
    path = resolve_workflow(root, target)
    if is_workflow_name(target):
        return target
    return path.relative_to(Path(root).resolve()).as_posix()


def check_workflow(root: str | Path, target: str, inputs: Mapping[str, Any] | None, *,
                   allow_code: bool = False) -> Path:
    """The workflow's file, once it loads, compiles, takes ``inputs`` and, when it runs code,
    has ``allow_code``; otherwise the error ``gorgon run`` would give. Keys and tokens are
    not required here (the scheduler's environment is where the jobs run)."""
    from gorgon_nb.errors import ConfigError
    from gorgon_nb.runner import Runner

    path = resolve_workflow(root, target)
    # an API key or a service's token missing here is no refusal: the scheduler's environment
    # may have it, and each job checks again before its first step (failing with the same message)
    with contextlib.suppress(ConfigError):
        Runner(store=False).prepare(path, dict(inputs or {}), allow_code=allow_code)
    return path


def schedule_workflow(store: Store, workflow: str, *, root: str | Path | None = None,
                      inputs: Mapping[str, Any] | None = None, allow_code: bool = False,
                      **options: Any) -> Schedule:
    """A new schedule for ``workflow`` (a file relative to ``root``, default the current
    folder, or a workflow's name) with ``inputs``, once the workflow loads and takes them;
    the other options are ``scheduler.service.new_schedule``'s."""
    from gorgon_nb.scheduler.service import check_parameters, new_schedule

    base = Path(root or Path.cwd()).resolve()
    checked = check_parameters(inputs)
    target = workflow_target(base, workflow)
    check_workflow(base, target, checked, allow_code=allow_code)
    return new_schedule(store, target, base, parameters=checked, allow_code=allow_code, **options)


def schedule_target(store: Store, target: str, *, parameters: Mapping[str, Any] | None = None,
                    **options: Any) -> Schedule:
    """A notebook (``.ipynb``) or a workflow on a schedule; ``parameters`` are the notebook's
    papermill parameters or the workflow's inputs."""
    from gorgon_nb.scheduler.service import schedule_notebook

    if not isinstance(target, str):
        raise UsageError("name a notebook (.ipynb) or a workflow (a .yaml, .yml or .json file, or a name)")
    if job_kind(target) == "notebook":
        if options.pop("allow_code", False):
            raise UsageError("--allow-code is for workflows; a notebook's code runs in its own kernel anyway")
        return schedule_notebook(store, target, parameters=dict(parameters or {}), **options)
    return schedule_workflow(store, target, inputs=parameters, **options)


def schedule(target: str, **options: Any) -> Schedule:
    """Schedule a notebook or a workflow in the default store; the options are ``gorgon
    schedule``'s: ``cron`` (with ``timezone``), ``every`` or ``at``; ``parameters`` (a
    notebook's) or ``inputs`` (a workflow's), ``allow_code``, ``retries``, ``backoff``,
    ``timeout``, ``missed``, ``overlap``, ``keep``, ``name``, ``root``."""
    from gorgon_nb.config import load_config
    from gorgon_nb.store import Store

    if "inputs" in options:
        options["parameters"] = options.pop("inputs")
    return schedule_target(Store(load_config().db_path), target, **options)


# -- Gorgon's schedule files -------------------------------------------------------------------

def _find_gorgon_workflow(workflow_id: str, file: Path, root: Path) -> str:
    """The target of the workflow a Gorgon schedule names: a file named after it beside the
    schedule file, in the root or its ``workflows/`` folder (as its path relative to the
    root), else a bundled or user workflow of that name."""
    from gorgon_nb.scheduler.triggers import plain_text
    from gorgon_nb.workflow import list_workflows

    if len(workflow_id) > 200 or not plain_text(workflow_id) or not is_workflow_name(workflow_id):
        raise UsageError(f"{file.name}: workflow_id {workflow_id[:80]!r} is not a workflow's name")
    folders = list(dict.fromkeys([file.parent.resolve(), root, root / "workflows"]))
    for folder in folders:
        for suffix in WORKFLOW_SUFFIXES:
            candidate = (folder / f"{workflow_id}{suffix}").resolve()
            if candidate.is_file():
                if not candidate.is_relative_to(root):
                    raise UsageError(f"{file.name}: its workflow {candidate} is outside the root {root}; run the "
                                     "import from a folder that holds both (or give --root)")
                return candidate.relative_to(root).as_posix()
    if workflow_id in list_workflows():
        return workflow_id
    searched = [f"{folder}/{workflow_id}{{{','.join(WORKFLOW_SUFFIXES)}}}" for folder in folders]
    raise NotFoundError(f"{file.name} names the workflow '{workflow_id}', which was not found; searched "
                        + "; ".join(searched) + " and the bundled and user workflows (gorgon workflows lists them). "
                        "Put the workflow's file beside the schedule file, named after its id.")


def _declared(root: Path, target: str, variables: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The variables the workflow declares as inputs, and the names of the others. Gorgon
    merged a schedule's variables into the workflow's context, so one the workflow never
    declared was never read; gorgon-nb refuses unknown inputs, so those are left out."""
    from gorgon_nb.workflow import Workflow

    try:
        declared = Workflow.from_file(resolve_workflow(root, target)).spec.inputs
    except GorgonError:  # a workflow that does not load keeps them all; its check says why
        return variables, []
    kept = {name: value for name, value in variables.items() if name in declared}
    return kept, [name for name in variables if name not in declared]


def import_gorgon_schedule(store: Store, path: str | Path, *, root: str | Path | None = None,
                           timezone: str = "UTC", allow_code: bool = False, check: bool = True,
                           **options: Any) -> tuple[Schedule, list[str]]:
    """Gorgon's schedule file at ``path`` as a schedule, and the names of the variables left
    out (the workflow does not declare them: Gorgon never read them). The schedule takes
    the file's id and name, its trigger (cron in ``timezone``, or every so often), its
    variables as the workflow's inputs, and is paused when the file says so. ``check=False``
    schedules a workflow that does not validate yet (each job checks it again, and fails
    with the reason while it does not)."""
    from gorgon_nb.scheduler.gorgon_schedules import read_gorgon_schedule
    from gorgon_nb.scheduler.service import check_parameters, new_schedule

    file = Path(path).expanduser()
    base = Path(root or Path.cwd()).resolve()
    gorgon = read_gorgon_schedule(file)
    target = _find_gorgon_workflow(gorgon.workflow_id, file, base)
    inputs, dropped = _declared(base, target, check_parameters(gorgon.variables))
    if check:
        check_workflow(base, target, inputs, allow_code=allow_code)
    schedule = new_schedule(store, target, base, cron=gorgon.cron, every=gorgon.every, timezone=timezone,
                            parameters=inputs, allow_code=allow_code, name=options.pop("name", "") or gorgon.name,
                            schedule_id=gorgon.id, description=gorgon.description, paused=gorgon.paused, **options)
    return schedule, dropped


def dropped_notice(workflow: str, dropped: list[str]) -> str:
    """What to tell a person about variables an import left out, or ''."""
    if not dropped:
        return ""
    several = len(dropped) > 1
    return (f"left out the variable{'s' if several else ''} {', '.join(dropped)}: the workflow {workflow} does "
            f"not declare {'them' if several else 'it'} as an input, so Gorgon never read {'them' if several else 'it'}"
            "; declare an input of that name in the workflow to use it")


# -- the process a workflow job runs in ---------------------------------------------------------

PREVIOUS_OWNER_WAIT = 30.0  # seconds for the process of a run being taken over to be gone


def _exit_with_parent() -> None:
    """End this process soon after the one that started it (the scheduler or the Dask worker)
    dies: the run is left as a stopped run, which the scheduler that takes the job over
    resumes, rather than going on where nobody records its job."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, name="gorgon-parent-watch", daemon=True).start()


def _run_job(spec: dict[str, Any]) -> dict[str, Any]:
    from gorgon_nb.runner import Runner
    from gorgon_nb.store import Store

    store = Store(spec["db"])
    runner = Runner(store=store)
    run_id = spec["run_id"]
    try:
        existing = store.runs.get(run_id)
    except (GorgonError, IndexError):
        existing = None
    if existing is not None and not existing.status.finished:  # its scheduler stopped: go on with it
        deadline = time.monotonic() + PREVIOUS_OWNER_WAIT
        while store.control.owner(run_id).alive and time.monotonic() < deadline:
            time.sleep(0.5)  # the previous process notices its scheduler is gone within a second
        result = runner.resume(run_id, allow_code=spec["allow_code"])
    else:
        path = check_workflow(spec["root"], spec["workflow"], spec["inputs"], allow_code=spec["allow_code"])
        result = runner.run(path, spec["inputs"], allow_code=spec["allow_code"], run_id=run_id)
    return {"run_id": result.run_id, "status": str(result.status), "error": result.error}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one workflow job: ``python -m gorgon_nb.workflow_jobs`` with its spec on standard
    input (or as the argument): JSON with ``db``, ``root``, ``workflow``, ``inputs``,
    ``allow_code`` and ``run_id``. Prints one JSON line: the run's status, or the error that
    kept it from starting."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        _exit_with_parent()
    try:
        spec = json.loads(args[0] if args else sys.stdin.read())
        report = _run_job(spec)
    except GorgonError as exc:
        print(json.dumps({"error": exc.for_surface("cli"), "error_type": type(exc).__name__}), flush=True)
        return 2
    print(json.dumps(report), flush=True)
    return 0 if report["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())

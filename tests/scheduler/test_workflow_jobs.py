"""Workflows as scheduled jobs: scheduled from the terminal, the notebook and Python, checked
when scheduled and when run, each job a durable run in a child process of its own (offline
provider), its run, state, error and cost recorded; retries, cancel, timeout, approvals."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from IPython.core.interactiveshell import InteractiveShell

from gorgon_nb.errors import InputError, NotFoundError, UsageError
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.model.jobs import FINISHED, Job, JobState
from gorgon_nb.model.run import RunStatus
from gorgon_nb.scheduler import service
from gorgon_nb.scheduler.loop import Scheduler
from gorgon_nb.store import Store
from gorgon_nb.workflow_jobs import schedule_target

WAIT = 90.0

HELLO = """\
id: hello
inputs:
  topic: {type: string, required: true}
steps:
  - id: plan
    agent: planner
    task: "Plan {{ inputs.topic }}"
"""
BROKEN = """\
id: broken
steps:
  - id: plan
    agent: planner
    task: Plan it.
  - id: convert
    python: builtins:int
    args: {x: "abc"}
    depends_on: plan
"""
SLOW = """\
id: slow
steps:
  - id: nap
    python: asyncio:sleep
    args: {delay: 120}
"""
GATED = """\
id: gated
steps:
  - id: draft
    agent: planner
    task: Draft it.
    approval: after
"""
CODE = """\
id: code
allow_code: true
steps:
  - id: hello
    shell: echo hello
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "flows").mkdir(parents=True)
    for name, text in (("hello", HELLO), ("broken", BROKEN), ("slow", SLOW), ("gated", GATED), ("code", CODE)):
        (folder / "flows" / f"{name}.yaml").write_text(text)
    return folder


def run_until(store: Store, done: Callable[[], bool], *, during: Callable[[], None] | None = None) -> None:
    """A real scheduler loop on ``store`` until ``done()``; ``during()`` is called on each look."""
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(Scheduler(store, tick=0.2, lease_ttl=15).run(stop))
        deadline = time.monotonic() + WAIT
        try:
            while not await asyncio.to_thread(done):
                assert time.monotonic() < deadline, "timed out waiting for the jobs"
                if during is not None:
                    await asyncio.to_thread(during)
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await loop

    asyncio.run(go())


def finished(store: Store, *jobs: Job) -> Callable[[], bool]:
    return lambda: all(store.jobs.get(job.id).state in FINISHED for job in jobs)


# -- scheduling -------------------------------------------------------------------------------


def test_scheduling_a_workflow_checks_it_and_its_inputs(store: Store, root: Path) -> None:
    made = schedule_target(store, "flows/hello.yaml", root=root, every="1h", parameters={"topic": "CSV export"},
                           retries=2, timeout="10m", name="hello")
    assert (made.kind, made.notebook, made.parameters) == ("workflow", "flows/hello.yaml", {"topic": "CSV export"})
    assert store.jobs.get_schedule("hello").to_dict()["kind"] == "workflow"
    job = service.job_for(made, time.time())
    assert job.kind == "workflow" and job.max_attempts == 3 and job.timeout == 600
    with pytest.raises(InputError, match="missing required input 'topic'"):
        schedule_target(store, "flows/hello.yaml", root=root, every="1h")
    with pytest.raises(UsageError, match="outside the scheduler's root"):
        schedule_target(store, "../elsewhere.yaml", root=root, every="1h")
    with pytest.raises(NotFoundError, match=r"no workflow at 'flows/missing\.yaml'"):
        schedule_target(store, "flows/missing.yaml", root=root, every="1h")
    with pytest.raises(NotFoundError, match="no workflow named 'helo'"):
        schedule_target(store, "helo", root=root, every="1h")
    with pytest.raises(UsageError, match="runs code on this machine") as refused:
        schedule_target(store, "flows/code.yaml", root=root, every="1h")
    assert "--allow-code" in refused.value.for_surface("cli")
    allowed = schedule_target(store, "flows/code.yaml", root=root, every="1h", allow_code=True)
    assert store.jobs.get_schedule(allowed.id).allow_code and service.job_for(allowed, 0).allow_code
    assert [s.name for s in store.jobs.schedules()] == ["hello", ""]


def test_a_user_workflow_is_scheduled_by_name(home: Path, store: Store, root: Path) -> None:
    (home / "workflows").mkdir()
    (home / "workflows" / "greet.yaml").write_text(HELLO.replace("id: hello", "id: greet"))
    made = schedule_target(store, "greet", root=root, every="1h", parameters={"topic": "names"})
    assert made.notebook == "greet" and made.kind == "workflow"
    job = service.run_now(store, made.id)
    run_until(store, finished(store, job))
    ran = store.jobs.get(job.id)
    assert ran.state is JobState.SUCCEEDED, ran.error
    assert store.runs.get(ran.run_ids[0]).workflow_id == "greet"


def gorgon(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("gorgon")), *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, "GORGON_HOME": str(home), "COLUMNS": "200"},
                          timeout=60)


def test_the_commands_as_a_user_types_them(home: Path, root: Path) -> None:
    made = gorgon(home, root, "schedule", "flows/hello.yaml", "--every", "1h", "-v", "topic=CSV export",
                  "--retries", "1", "--name", "hello")
    assert made.returncode == 0, made.stderr
    assert "scheduled the workflow flows/hello.yaml (every 3600s)" in made.stdout
    listed = gorgon(home, root, "schedules")
    assert "hello" in listed.stdout and "workflow" in listed.stdout and "flows/hello.yaml" in listed.stdout
    missing = gorgon(home, root, "schedule", "flows/hello.yaml", "--every", "1h")
    assert missing.returncode == 2 and "missing required input 'topic'" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong_flag = gorgon(home, root, "schedule", "flows/hello.yaml", "--every", "1h", "-p", "topic=x")
    assert wrong_flag.returncode == 2 and "give a workflow's inputs with -v" in wrong_flag.stderr
    code = gorgon(home, root, "schedule", "flows/code.yaml", "--every", "1h")
    assert code.returncode == 2 and "--allow-code" in code.stderr
    assert gorgon(home, root, "schedule", "flows/code.yaml", "--every", "1h", "--allow-code").returncode == 0
    no_when = gorgon(home, root, "schedule", "flows/hello.yaml", "-v", "topic=x")
    assert no_when.returncode == 2 and "--cron, --every or --at" in no_when.stderr
    queued = gorgon(home, root, "schedules", "run", "hello", "--json")
    job = json.loads(queued.stdout)
    assert job["kind"] == "workflow" and job["parameters"] == {"topic": "CSV export"} and job["allow_code"] is False


def test_the_jobs_list_links_a_workflow_job_to_its_run(home: Path, root: Path) -> None:
    store = Store(home / "gorgon.db")  # the store the gorgon command opens
    job = store.jobs.enqueue(Job("", str(root), "flows/hello.yaml", parameters={"topic": "links"}))
    run_until(store, finished(store, job))
    [run_id] = store.jobs.get(job.id).run_ids
    listed = gorgon(home, root, "jobs")
    assert job.id in listed.stdout and "workflow" in listed.stdout and run_id in listed.stdout
    shown = gorgon(home, root, "jobs", "show", job.id)
    assert f"gorgon show {run_id}" in shown.stdout
    run = gorgon(home, root, "show", run_id)
    assert run.returncode == 0 and "succeeded" in run.stdout and "topic=links" in run.stdout


def test_the_magic_schedules_a_workflow(ip: InteractiveShell, home: Path, root: Path) -> None:
    shown = ip.run_line_magic("gorgon", f"schedule flows/hello.yaml --every 2h -v topic=Reports --root {root}")
    assert "Scheduled the workflow `flows/hello.yaml` (every 7200s)" in shown._repr_markdown_()
    store = Store(home / "gorgon.db")
    [made] = store.jobs.schedules()
    assert made.kind == "workflow" and made.parameters == {"topic": "Reports"}
    listed = ip.run_line_magic("gorgon", "schedules")._repr_markdown_()
    assert "workflow" in listed and "flows/hello.yaml" in listed
    with pytest.raises(MagicError, match="missing required input 'topic'"):
        ip.run_line_magic("gorgon", f"schedule flows/hello.yaml --every 1h --root {root}")
    assert store.jobs.schedules() == [made]
    fixtures = Path(__file__).parent / "gorgon_fixtures"
    for name in ("schedule_hourly_report.json", "simple_ai_completion.json"):
        (root / name).write_bytes((fixtures / name).read_bytes())
    imported = ip.run_line_magic("gorgon", f"schedule --from {root / 'schedule_hourly_report.json'} --root {root}")
    assert "Scheduled the workflow `simple_ai_completion.json` (every 3600s) as `hourly_ai_report`" in \
        imported._repr_markdown_()
    assert store.jobs.get_schedule("Hourly AI Report").id == "hourly_ai_report"


# -- running ----------------------------------------------------------------------------------


def test_a_workflow_job_runs_as_a_durable_run(store: Store, root: Path) -> None:
    """The webhook front door's contract: a Job naming a workflow file, its inputs as parameters."""
    job = store.jobs.enqueue(Job("", str(root), "flows/hello.yaml", parameters={"topic": "a CSV loader"}))
    run_until(store, finished(store, job))
    ran = store.jobs.get(job.id)
    assert ran.state is JobState.SUCCEEDED, ran.error
    [run_id] = ran.run_ids
    run = store.runs.get(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.inputs == {"topic": "a CSV loader"}
    assert "a CSV loader" in str(run.steps["plan"].output)  # the offline answer echoes its task
    assert ran.cost_usd == run.usage.cost and ran.duration is not None and ran.output_path is None
    pid = store.control.owner(run_id).pid
    assert pid is not None and pid != os.getpid() and not psutil.pid_exists(pid)  # a process of its own, ended


def test_a_failing_workflow_fails_its_job_naming_the_step_and_retries(store: Store, root: Path) -> None:
    made = schedule_target(store, "flows/broken.yaml", root=root, every="1h", retries=1, backoff=0.5)
    job = service.run_now(store, made.id)
    run_until(store, finished(store, job))
    ran = store.jobs.get(job.id)
    assert ran.state is JobState.FAILED and ran.attempt == 2
    assert ran.error is not None and "step 'convert'" in ran.error and "int" in ran.error
    assert len(ran.run_ids) == 2  # one run per attempt, each a failed run in the store
    assert [store.runs.get(r).status for r in ran.run_ids] == [RunStatus.FAILED] * 2


def test_a_workflow_that_no_longer_takes_its_inputs_fails_when_it_runs(store: Store, root: Path) -> None:
    made = schedule_target(store, "flows/hello.yaml", root=root, every="1h", parameters={"topic": "x"})
    (root / "flows" / "hello.yaml").write_text(HELLO.replace("topic:", "subject:").replace("inputs.topic",
                                                                                        "inputs.subject"))
    job = service.run_now(store, made.id)
    run_until(store, finished(store, job))
    ran = store.jobs.get(job.id)
    assert ran.state is JobState.FAILED and ran.error is not None and "subject" in ran.error


def running_step(store: Store, job: Job, step: str) -> Callable[[], bool]:
    def check() -> bool:
        now = store.jobs.get(job.id)
        if now.state is not JobState.RUNNING or not now.run_ids:
            return False
        try:
            return step in store.runs.get(now.run_ids[-1]).steps
        except Exception:
            return False
    return check


def test_cancelling_a_running_workflow_job_stops_its_run(store: Store, root: Path) -> None:
    job = store.jobs.enqueue(Job("", str(root), "flows/slow.yaml"))
    asked: list[str] = []

    def cancel_once_napping() -> None:
        if not asked and running_step(store, job, "nap")():
            asked.append(store.jobs.request_cancel(job.id))

    began = time.monotonic()
    run_until(store, finished(store, job), during=cancel_once_napping)
    ran = store.jobs.get(job.id)
    assert asked == ["requested"] and ran.state is JobState.CANCELLED, ran.error
    assert time.monotonic() - began < 100  # not the two minutes of its nap
    assert store.runs.get(ran.run_ids[0]).status is RunStatus.CANCELLED
    pid = store.control.owner(ran.run_ids[0]).pid
    assert pid is not None and not psutil.pid_exists(pid)


def test_a_workflow_job_that_overruns_its_timeout_is_timed_out(store: Store, root: Path) -> None:
    # long enough for the run to start on a busy machine, far shorter than the nap
    job = store.jobs.enqueue(Job("", str(root), "flows/slow.yaml", timeout=20.0))
    run_until(store, finished(store, job))
    ran = store.jobs.get(job.id)
    assert ran.state is JobState.TIMED_OUT and ran.error is not None and "timed out after 20s" in ran.error
    assert f"gorgon resume {ran.run_ids[0]}" in ran.error
    assert store.runs.get(ran.run_ids[0]).status is RunStatus.CANCELLED


def test_a_run_waiting_for_approval_keeps_its_job_running_until_decided(store: Store, root: Path) -> None:
    job = store.jobs.enqueue(Job("", str(root), "flows/gated.yaml"))
    decided: list[str] = []

    def approve_when_waiting() -> None:
        now = store.jobs.get(job.id)
        if decided or not now.run_ids:
            return
        pending = store.approvals.recent(status="pending", run_id=now.run_ids[-1])
        if pending:
            assert now.state is JobState.RUNNING  # waiting for a person is still running
            store.approvals.decide(pending[0].id, approve=True, by="tester", comment=None)
            decided.append(pending[0].id)

    run_until(store, finished(store, job), during=approve_when_waiting)
    ran = store.jobs.get(job.id)
    assert decided and ran.state is JobState.SUCCEEDED, ran.error
    assert store.runs.get(ran.run_ids[0]).status is RunStatus.SUCCEEDED


def test_the_python_api_schedules_a_workflow(home: Path, root: Path) -> None:
    import gorgon_nb

    made = gorgon_nb.schedule("flows/hello.yaml", root=root, every="1h", inputs={"topic": "sales"})
    stored = Store(home / "gorgon.db").jobs.get_schedule(made.id)
    assert (stored.kind, stored.parameters) == ("workflow", {"topic": "sales"})
    with pytest.raises(UsageError, match="--allow-code is for workflows"):
        gorgon_nb.schedule("report.ipynb", root=root, every="1h", allow_code=True)

"""Real ``gorgon scheduler`` processes on one store, running real notebooks in real kernels.

Two schedulers over a burst of due jobs: each job runs exactly once. A scheduler killed
with SIGKILL while its job runs: the other takes the lease over and the job is not lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from gorgon_nb.model.jobs import FINISHED, Job, JobState
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook

WAIT = 90.0
LEASE_TTL = 2.0


JOB = ("import time, pathlib\ntime.sleep(pause)\n"
       "with pathlib.Path('ran.log').open('a') as log:\n    log.write(label + '\\n')")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    write_notebook(folder / "job.ipynb", JOB, parameters='label = "none"\npause = 0.0')
    return folder


@pytest.fixture
def schedulers(home: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def start_scheduler(home: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    log = (home / f"scheduler-{len(started)}.log").open("wb")  # read it when a test fails
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gorgon")), "scheduler", "--tick", "0.2", "--lease-ttl", str(LEASE_TTL),
         "--pool", "1", "--concurrency", "2"],
        # the home fixture took the API keys out of os.environ
        env={**os.environ, "GORGON_HOME": str(home)}, stdout=log, stderr=log)
    started.append(process)
    return process


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_two_schedulers_run_a_burst_of_jobs_exactly_once(
        home: Path, root: Path, schedulers: list[subprocess.Popen[bytes]]) -> None:
    store = Store(home / "gorgon.db")
    jobs = [store.jobs.enqueue(Job("", str(root), "job.ipynb", parameters={"label": f"job{i}"})) for i in range(6)]
    start_scheduler(home, schedulers)
    start_scheduler(home, schedulers)
    wait_for(lambda: all(store.jobs.get(j.id).state in FINISHED for j in jobs), "every job to finish")
    finished = [store.jobs.get(j.id) for j in jobs]
    assert [j.state for j in finished] == [JobState.SUCCEEDED] * 6, [j.error for j in finished]
    assert sorted((root / "ran.log").read_text().split()) == sorted(f"job{i}" for i in range(6))
    for job in finished:
        assert job.output_path and (root / job.output_path).is_file()
        executed = nbformat.read(root / job.output_path, as_version=4)
        assert any(f'label = "{job.parameters["label"]}"' in c.source for c in executed.cells)
    for process in schedulers:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    # The kernels talk over Unix sockets, so ipykernel has no plain-TCP warning to print.
    logs = [(home / f"scheduler-{n}.log").read_text() for n in range(len(schedulers))]
    assert not any("without encryption" in log for log in logs), logs


def test_a_killed_schedulers_job_is_taken_over(
        home: Path, root: Path, schedulers: list[subprocess.Popen[bytes]]) -> None:
    store = Store(home / "gorgon.db")
    job = store.jobs.enqueue(Job("", str(root), "job.ipynb", parameters={"label": "slow", "pause": 3.0}))
    first = start_scheduler(home, schedulers)
    wait_for(lambda: store.jobs.get(job.id).state == JobState.RUNNING, "the job to start")
    owner = store.jobs.get(job.id).owner
    start_scheduler(home, schedulers)
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: store.jobs.get(job.id).state in FINISHED, "the job to finish elsewhere")
    done = store.jobs.get(job.id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.owner != owner and done.attempt == 1
    assert "slow" in (root / "ran.log").read_text().split()


async def test_the_loop_records_runs_retries_and_cancels(home: Path, root: Path) -> None:
    import asyncio

    from gorgon_nb.scheduler.loop import LocalBackend, Scheduler

    store = Store(home / "gorgon.db")
    workflow = write_notebook(root / "workflow.ipynb", "import gorgon_nb\nresult = gorgon_nb.run({'id': 'nightly', 'steps': "
                        "[{'id': 'plan', 'agent': 'planner', 'task': 'Plan the night'}]})\nassert result.ok").name
    failing = write_notebook(root / "failing.ipynb", "x = 1", "raise ValueError('bad input')").name
    slow = write_notebook(root / "slow.ipynb", "import time\ntime.sleep(30)").name
    ran = store.jobs.enqueue(Job("", str(root), workflow))
    retried = store.jobs.enqueue(Job("", str(root), failing, max_attempts=2, backoff=0.1))
    stopped = store.jobs.enqueue(Job("", str(root), slow))
    scheduler = Scheduler(store, backend=LocalBackend(2), concurrency=3, tick=0.1, lease_ttl=3)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(scheduler.run(stop))
    try:
        deadline = time.monotonic() + WAIT
        while store.jobs.get(stopped.id).state != JobState.RUNNING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert store.jobs.request_cancel(stopped.id) == "requested"
        while not all(store.jobs.get(j.id).state in FINISHED for j in (ran, retried, stopped)):
            assert time.monotonic() < deadline, [store.jobs.get(j.id).state for j in (ran, retried, stopped)]
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await loop_task
    done = store.jobs.get(ran.id)
    assert done.state == JobState.SUCCEEDED and len(done.run_ids) == 1
    assert store.runs.get(done.run_ids[0]).workflow_id == "nightly" and done.cost_usd == 0.0
    failed = store.jobs.get(retried.id)
    assert (failed.state, failed.attempt) == (JobState.FAILED, 2)
    assert failed.exception and "ValueError: bad input" in failed.exception
    assert failed.failed_cell == 2 and failed.output_path  # counted from 1 in the notebook as written
    cancelled = store.jobs.get(stopped.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.duration is not None and cancelled.duration < 20


async def test_only_the_newest_executed_notebooks_are_kept(home: Path, root: Path) -> None:
    import asyncio

    from gorgon_nb.scheduler import service
    from gorgon_nb.scheduler.loop import LocalBackend, Scheduler

    store = Store(home / "gorgon.db")
    schedule = service.schedule_notebook(store, "job.ipynb", root=root, every="1d", keep=2)
    jobs = []
    scheduler = Scheduler(store, backend=LocalBackend(1), concurrency=1, tick=0.1)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(scheduler.run(stop))
    try:
        for _ in range(3):  # one after another, so "newest" is clear
            jobs.append(service.run_now(store, schedule.id))
            deadline = time.monotonic() + WAIT
            while store.jobs.get(jobs[-1].id).state not in FINISHED:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await loop_task
    first, *newest = [store.jobs.get(j.id) for j in jobs]
    assert first.output_path is None and all(j.output_path and (root / j.output_path).is_file() for j in newest)
    assert len(list((root / "gorgon-jobs" / schedule.id).glob("*.ipynb"))) == 2


FLOW = "id: flow\nsteps:\n  - id: plan\n    agent: planner\n    task: Plan the week.\n"


def test_a_scheduled_workflow_fires_once_under_two_schedulers(
        home: Path, root: Path, schedulers: list[subprocess.Popen[bytes]]) -> None:
    from gorgon_nb.workflow_jobs import schedule_target

    (root / "flow.yaml").write_text(FLOW)
    store = Store(home / "gorgon.db")
    made = schedule_target(store, "flow.yaml", root=root, every="1h")
    store.jobs.fire(made, [], time.time() + 3)  # due in 3 s, while both schedulers look at it
    start_scheduler(home, schedulers)
    start_scheduler(home, schedulers)
    wait_for(lambda: [j.state for j in store.jobs.recent()] == [JobState.SUCCEEDED], "the workflow's job to succeed")
    time.sleep(3 * LEASE_TTL)  # long enough for a second firing, were there one
    [job] = store.jobs.recent()
    assert job.schedule_id == made.id and len(job.run_ids) == 1
    assert [r.run_id for r in store.runs.recent(10)] == job.run_ids
    assert store.jobs.get_schedule(made.id).next_run_at == pytest.approx(made.created_at + 3600, abs=5)


NAPPING = ("id: napping\nsteps:\n  - id: plan\n    agent: planner\n    task: Plan the night.\n"
           "  - id: nap\n    python: asyncio:sleep\n    args: {delay: 5}\n    depends_on: plan\n"
           "  - id: report\n    agent: reporter\n    task: Report.\n    depends_on: nap\n")


def test_a_killed_schedulers_workflow_job_resumes_its_run(
        home: Path, root: Path, schedulers: list[subprocess.Popen[bytes]]) -> None:
    from gorgon_nb.errors import NotFoundError
    from gorgon_nb.model.run import RunStatus

    (root / "napping.yaml").write_text(NAPPING)
    store = Store(home / "gorgon.db")
    job = store.jobs.enqueue(Job("", str(root), "napping.yaml"))
    first = start_scheduler(home, schedulers)

    def napping() -> bool:
        now = store.jobs.get(job.id)
        try:  # the run id is the job's a moment before the run is stored
            return bool(now.run_ids) and "nap" in store.runs.get(now.run_ids[0]).steps
        except NotFoundError:
            return False

    wait_for(napping, "the workflow's nap to start")
    [run_id] = store.jobs.get(job.id).run_ids
    plan_finished = store.runs.get(run_id).steps["plan"].ended_at
    start_scheduler(home, schedulers)
    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: store.jobs.get(job.id).state in FINISHED, "the job to finish elsewhere")
    done = store.jobs.get(job.id)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.run_ids == [run_id] and done.attempt == 1  # the same run, resumed
    run = store.runs.get(run_id)
    assert run.status is RunStatus.SUCCEEDED and set(run.steps) == {"plan", "nap", "report"}
    assert run.steps["plan"].ended_at == plan_finished  # done before the kill, not run again

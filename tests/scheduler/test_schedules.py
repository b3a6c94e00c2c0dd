"""Triggers, the schedule service, and the store's once-only firing, claims and lease."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from gorgon_nb.errors import UsageError
from gorgon_nb.model.jobs import Job, JobState, Schedule
from gorgon_nb.scheduler import service
from gorgon_nb.scheduler.triggers import next_fire, parse_at, parse_duration, zone
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "reports").mkdir(parents=True)
    write_notebook(folder / "reports" / "weekly.ipynb", "x = 1")
    return folder


def test_durations_and_times() -> None:
    assert [parse_duration(t) for t in ("90", "30s", "15m", "2h", "1d", 5)] == [90, 30, 900, 7200, 86400, 5]
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(UsageError):
            parse_duration(bad)
    assert parse_at("2026-12-01T09:00", "Europe/Paris") == datetime(2026, 12, 1, 8, 0, tzinfo=zone("UTC")).timestamp()
    with pytest.raises(UsageError, match="IANA"):
        zone("Mars/Olympus")


def test_cron_fires_in_its_time_zone() -> None:
    schedule = Schedule("", "/", "a.ipynb", cron="0 8 * * MON", timezone="Europe/Paris")
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=zone("Europe/Paris")).timestamp()
    fired = datetime.fromtimestamp(next_fire(schedule, sunday) or 0, zone("Europe/Paris"))
    assert (fired.weekday(), fired.hour, fired.minute, fired.day) == (0, 8, 0, 30)


def test_intervals_keep_their_rhythm_and_once_is_once() -> None:
    every = Schedule("", "/", "a.ipynb", every=900, created_at=1000.0)
    assert [next_fire(every, t) for t in (1000.0, 1899.0, 1900.0, 5000.0)] == [1900.0, 1900.0, 2800.0, 5500.0]
    once = Schedule("", "/", "a.ipynb", at=2000.0)
    assert next_fire(once, 1000.0) == 2000.0 and next_fire(once, 2000.0) is None


def test_scheduling_checks_the_notebook_and_the_options(store: Store, root: Path) -> None:
    made = service.schedule_notebook(store, "reports/weekly.ipynb", root=root, every="15m",
                                     parameters={"region": "EU"}, retries=2, timeout="10m", missed="catch-up")
    assert (made.notebook, made.every, made.timeout, made.missed) == ("reports/weekly.ipynb", 900, 600, "catch_up")
    assert made.next_run_at == pytest.approx(time.time() + 900, abs=5)
    assert store.jobs.get_schedule(made.id).parameters == {"region": "EU"}
    for kwargs, says in [({"every": "1h", "cron": "* * * * *"}, "one of"), ({}, "one of"),
                         ({"cron": "every monday"}, "not a cron"), ({"at": "2001-01-01T00:00"}, "in the past"),
                         ({"every": "1h", "missed": "later"}, "missed is skip or catch-up")]:
        with pytest.raises(UsageError, match=says):
            service.schedule_notebook(store, "reports/weekly.ipynb", root=root, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("notebook", ["../outside.ipynb", "/etc/passwd", "reports/missing.ipynb"])
def test_notebooks_outside_the_root_or_missing_are_refused(store: Store, root: Path, notebook: str) -> None:
    (root.parent / "outside.ipynb").write_text("{}")
    with pytest.raises(UsageError):
        service.schedule_notebook(store, notebook, root=root, every="1h")
    assert store.jobs.schedules() == []


def test_a_notebook_whose_kernel_is_not_installed_is_refused_naming_the_installed_ones(
        store: Store, root: Path) -> None:
    import nbformat

    notebook = nbformat.read(root / "reports" / "weekly.ipynb", as_version=4)
    notebook.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nbformat.write(notebook, root / "reports" / "in_r.ipynb")
    (root / "reports" / "broken.ipynb").write_text("{not json")
    with pytest.raises(UsageError) as refused:
        service.schedule_notebook(store, "reports/in_r.ipynb", root=root, every="1h")
    assert "kernel 'ir' is not installed" in str(refused.value) and "python3" in str(refused.value)
    with pytest.raises(UsageError, match=r"cannot read the notebook 'reports/broken\.ipynb'"):
        service.schedule_notebook(store, "reports/broken.ipynb", root=root, every="1h")
    assert store.jobs.schedules() == []


def test_parameters_are_typed_as_papermill_types_them() -> None:
    assert [service.parse_parameter(v) for v in ("7", "2.5", "True", "None", "[1, 2]", "EU")] == \
        [7, 2.5, True, None, [1, 2], "EU"]
    assert service.split_parameter("days=7") == ("days", 7)
    with pytest.raises(UsageError, match="key=value"):
        service.split_parameter("7 days")


def test_pause_resume_run_now_and_delete(store: Store, root: Path) -> None:
    made = service.schedule_notebook(store, "reports/weekly.ipynb", root=root, every="1h", name="weekly")
    assert service.pause(store, "weekly").paused
    resumed = service.resume(store, made.id[:5])
    assert not resumed.paused and resumed.next_run_at and resumed.next_run_at > time.time()
    job = service.run_now(store, "weekly")
    assert (job.state, job.schedule_id, job.root, job.notebook) == (JobState.QUEUED, made.id, str(root),
                                                                    "reports/weekly.ipynb")
    store.jobs.delete_schedule("weekly")
    assert store.jobs.schedules() == [] and store.jobs.get(job.id).schedule_id is None  # the job's record stays


def test_a_firing_happens_once_even_when_two_schedulers_try(home: Path, root: Path) -> None:
    path = home / "shared.db"
    first, second = Store(path), Store(path)
    schedule = first.jobs.create_schedule(Schedule("", str(root), "reports/weekly.ipynb", every=60, next_run_at=100.0,
                                                   created_at=40.0))
    results: list[bool] = []
    # each saw the schedule due at 100 before any of them fired it
    seen = [(store, store.jobs.get_schedule(schedule.id)) for store in (first, second, first, second)]

    def fire(store: Store, due: Schedule) -> None:
        results.append(store.jobs.fire(due, [service.job_for(due, 100.0)], 160.0))

    threads = [threading.Thread(target=fire, args=pair) for pair in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert len(first.jobs.recent()) == 1 and first.jobs.get_schedule(schedule.id).next_run_at == 160.0


def test_a_job_is_claimed_by_one_owner_and_cancelled_once(store: Store, root: Path) -> None:
    for _ in range(3):
        store.jobs.enqueue(Job("", str(root), "reports/weekly.ipynb"))
    claimed = [store.jobs.claim(owner) for owner in ("a", "b", "a", "b")]
    assert len({j.id for j in claimed if j}) == 3 and claimed[3] is None
    queued = store.jobs.enqueue(Job("", str(root), "reports/weekly.ipynb"))
    assert store.jobs.request_cancel(queued.id) == "cancelled"
    assert store.jobs.claim("a") is None  # a cancelled job never starts
    running = claimed[0]
    assert running is not None
    assert store.jobs.request_cancel(running.id) == "requested" and store.jobs.heartbeat(running.id, "a")
    with pytest.raises(UsageError, match="already ended"):
        store.jobs.request_cancel(queued.id)


def test_the_lease_has_one_holder_until_it_expires(store: Store) -> None:
    assert store.jobs.acquire_lease("scheduler", "a", ttl=10, now=0)
    assert not store.jobs.acquire_lease("scheduler", "b", ttl=10, now=5)
    assert store.jobs.acquire_lease("scheduler", "a", ttl=10, now=9)  # renewed: now until 19
    assert not store.jobs.acquire_lease("scheduler", "b", ttl=10, now=15)
    assert store.jobs.acquire_lease("scheduler", "b", ttl=10, now=20)  # a stopped renewing
    store.jobs.release_lease("scheduler", "b")
    assert store.jobs.acquire_lease("scheduler", "a", ttl=10, now=21)


def test_stale_running_jobs_go_back_to_the_queue(store: Store, root: Path) -> None:
    job = store.jobs.enqueue(Job("", str(root), "reports/weekly.ipynb"))
    claimed = store.jobs.claim("dead", now=100.0)
    assert claimed is not None and claimed.id == job.id
    assert store.jobs.requeue_stale(stale_before=50.0) == []
    assert store.jobs.requeue_stale(stale_before=200.0) == [job.id]
    assert store.jobs.claim("alive") is not None


def _due(store: Store, root: Path, **options: object) -> Schedule:
    return store.jobs.create_schedule(Schedule("", str(root), "reports/weekly.ipynb", every=3600, created_at=3600.0,
                                               next_run_at=3600.0 * 100, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(("missed", "jobs"), [("skip", 0), ("catch_up", 1)])
async def test_runs_missed_while_down_follow_the_policy(store: Store, root: Path, missed: str, jobs: int) -> None:
    from gorgon_nb.scheduler.loop import Scheduler

    schedule = _due(store, root, missed=missed)
    down_until = 3600.0 * 103 + 120  # three more firings passed while no scheduler ran
    await Scheduler(store, concurrency=0, grace=60).tick(now=down_until)
    assert len(store.jobs.recent()) == jobs
    assert store.jobs.get_schedule(schedule.id).next_run_at == 3600.0 * 104  # on with the rhythm, once
    await Scheduler(store, concurrency=0, grace=60).tick(now=down_until + 1)
    assert len(store.jobs.recent()) == jobs


@pytest.mark.parametrize(("overlap", "jobs"), [("skip", 1), ("queue", 2)])
async def test_a_firing_while_the_last_job_runs_follows_the_overlap_policy(
        store: Store, root: Path, overlap: str, jobs: int) -> None:
    from gorgon_nb.scheduler.loop import Scheduler

    schedule = _due(store, root, overlap=overlap)
    scheduler = Scheduler(store, concurrency=0)
    await scheduler.tick(now=3600.0 * 100 + 1)
    await scheduler.tick(now=3600.0 * 101 + 1)  # the first job is still queued
    assert len(store.jobs.recent(schedule_id=schedule.id)) == jobs


async def test_a_paused_schedule_does_not_fire(store: Store, root: Path) -> None:
    from gorgon_nb.scheduler.loop import Scheduler

    schedule = _due(store, root, paused=True)
    await Scheduler(store, concurrency=0).tick(now=3600.0 * 100 + 1)
    assert store.jobs.recent() == [] and store.jobs.get_schedule(schedule.id).next_run_at == 3600.0 * 100


async def test_only_the_lease_holder_fires(store: Store, root: Path) -> None:
    from gorgon_nb.scheduler.loop import Scheduler

    _due(store, root)
    holder, other = Scheduler(store, concurrency=0, lease_ttl=30), Scheduler(store, concurrency=0, lease_ttl=30)
    await holder.tick(now=3600.0 * 100 - 5)  # holds the lease for 30 s, just before the firing is due
    await other.tick(now=3600.0 * 100 + 1)
    assert store.jobs.recent() == [] and not other.leader


def test_the_commands_as_a_user_types_them(home: Path, root: Path) -> None:
    import os
    import subprocess
    import sys

    def gorgon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).with_name("gorgon")), *args], cwd=root, text=True,
                              capture_output=True, env={**os.environ, "GORGON_HOME": str(home), "COLUMNS": "200"},
                              timeout=60)

    made = gorgon("schedule", "reports/weekly.ipynb", "--every", "15m", "-p", "region=EU", "-p", "days=7",
                  "--name", "weekly")
    assert made.returncode == 0 and "every 900s" in made.stdout and "[scheduler] enabled" in made.stdout
    listed = gorgon("schedules")
    assert "weekly" in listed.stdout and "reports/weekly.ipynb" in listed.stdout
    assert gorgon("schedules", "run", "weekly").returncode == 0
    jobs = gorgon("jobs", "--json")
    [job] = __import__("json").loads(jobs.stdout)
    assert job["parameters"] == {"region": "EU", "days": 7} and job["state"] == "queued"
    assert "cancelled" in gorgon("jobs", "cancel", job["id"]).stdout
    outside = gorgon("schedule", "../elsewhere.ipynb", "--every", "1h")
    assert outside.returncode == 2 and "outside" in outside.stderr and "Traceback" not in outside.stderr
    bad = gorgon("schedule", "reports/weekly.ipynb", "--every", "1h", "-p", "7days")
    assert bad.returncode == 2 and "key=value" in bad.stderr
    assert "paused" in gorgon("schedules", "pause", "weekly").stdout


def test_the_python_api(home: Path, root: Path) -> None:
    import gorgon_nb

    made = gorgon_nb.schedule("reports/weekly.ipynb", root=root, every="1h", parameters={"region": "EU"})
    assert Store(home / "gorgon.db").jobs.get_schedule(made.id).parameters == {"region": "EU"}

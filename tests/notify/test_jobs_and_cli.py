"""Scheduled jobs tell their schedule's targets when they end for good; the commands of notifications."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from notify_support import Receiver, free_port, write_config

from gorgon_nb.model.jobs import FINISHED
from gorgon_nb.notify import wait_for_sends
from gorgon_nb.scheduler.loop import LocalBackend, Scheduler
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook


def gorgon(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("gorgon")), *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, "GORGON_HOME": str(home), "COLUMNS": "200"},
                          timeout=120)


def test_schedule_notify_is_checked_and_kept(home: Path, tmp_path: Path, hook: Receiver) -> None:
    write_config(home, f'[notifications.targets.ops]\nwebhook = "{hook.url}"\n')
    write_notebook(tmp_path / "report.ipynb", "x = 1")
    made = gorgon(home, tmp_path, "schedule", "report.ipynb", "--every", "1h", "--notify", "ops:failed,succeeded",
                  "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["notify"] == ["ops:failed,succeeded"]
    with Store(home / "gorgon.db") as store:
        (schedule,) = store.jobs.schedules()
        assert schedule.notify == ["ops:failed,succeeded"]
    unknown = gorgon(home, tmp_path, "schedule", "report.ipynb", "--every", "1h", "--notify", "pager")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "notifies 'pager', which is not a notification target" in unknown.stderr
    wrong = gorgon(home, tmp_path, "schedule", "report.ipynb", "--every", "1h", "--notify", "ops:exploded")
    assert wrong.returncode == 2 and "'exploded' is not an event" in wrong.stderr
    with Store(home / "gorgon.db") as store:
        assert len(store.jobs.schedules()) == 1  # the refused ones stored nothing


async def test_a_scheduled_job_notifies_once_when_its_last_attempt_ends(home: Path, tmp_path: Path,
                                                                        hook: Receiver) -> None:
    write_config(home, f'[notifications.targets.ops]\nwebhook = "{hook.url}"\n')
    write_notebook(tmp_path / "report.ipynb", "raise RuntimeError('the data is not there')")
    made = gorgon(home, tmp_path, "schedule", "report.ipynb", "--every", "1h", "--name", "nightly", "--retries", "1",
                  "--backoff", "0.1", "--notify", "ops:failed", "--json")
    assert made.returncode == 0, made.stderr
    with Store(home / "gorgon.db") as store:
        schedule = store.jobs.get_schedule("nightly")
        schedule.next_run_at = time.time() - 1  # due now
        store.jobs.update_schedule(schedule)
        stop = asyncio.Event()
        scheduler = Scheduler(store, backend=LocalBackend(pool_size=0), tick=0.2)
        task = asyncio.create_task(scheduler.run(stop))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = store.jobs.recent(schedule_id=schedule.id)
            if jobs and jobs[0].state in FINISHED:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await task
        (job,) = store.jobs.recent(schedule_id=schedule.id)
        assert (str(job.state), job.attempt) == ("failed", 2)  # the first attempt was retried, quietly
        assert wait_for_sends()
        (note,) = store.notifications.recent()
        assert (note.job_id, note.state) == (job.id, "sent")
    (request,) = hook.received
    payload = json.loads(request.body)
    assert (payload["kind"], payload["event"], payload["job_id"]) == ("job", "failed", job.id)
    assert payload["title"] == f"nightly: job {job.id} failed"
    assert "the data is not there" in payload["error"] and "(attempt 2 of 2)" in payload["text"]
    assert payload["link"] == f"gorgon jobs show {job.id}"


def test_notify_test_and_the_outbox_listing(home: Path, tmp_path: Path, hook: Receiver) -> None:
    down = free_port()
    write_config(home, f"""
[notifications.targets.ops]
webhook = "{hook.url}"

[notifications.targets.down]
webhook = "http://127.0.0.1:{down}/hook"
""")
    sent = gorgon(home, tmp_path, "notify", "test", "ops")
    assert sent.returncode == 0 and "sent a test message to ops (webhook http://127.0.0.1:" in sent.stdout
    assert json.loads(hook.received[0].body)["title"] == "A test message to ops from gorgon"
    failed = gorgon(home, tmp_path, "notify", "test", "down")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "notification target 'down'" in failed.stderr and "cannot reach it" in failed.stderr
    several = gorgon(home, tmp_path, "notify", "test", "webhook")
    assert several.returncode == 2 and "2 notification targets are webhook (ops, down)" in several.stderr
    unknown = gorgon(home, tmp_path, "notify", "test", "opz")
    assert unknown.returncode == 2 and "did you mean 'ops'?" in unknown.stderr

    with Store(home / "gorgon.db") as store:
        first = store.notifications.add("down", "failed", "report: run r1 failed", "{}", run_id="r1")
        store.notifications.failed(first.id, "cannot reach it", time.time() + 60)
        store.notifications.add("ops", "waiting", "deploy: run r2 waits", "{}", run_id="r2")
    listed = gorgon(home, tmp_path, "notifications")
    assert listed.returncode == 0
    assert "report: run r1 failed" in listed.stdout and "cannot reach it (next try" in listed.stdout
    only = json.loads(gorgon(home, tmp_path, "notifications", "--state", "pending", "--json").stdout)
    assert sorted(n["target"] for n in only) == ["down", "ops"]


def test_an_empty_outbox_says_where_targets_are_set(home: Path, tmp_path: Path) -> None:
    listed = gorgon(home, tmp_path, "notifications")
    assert listed.returncode == 0, listed.stderr
    assert "no notifications yet; targets are set under [notifications.targets.NAME] in the config file" in \
        " ".join(listed.stdout.split())

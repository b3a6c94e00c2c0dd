"""Ctrl-C during ``gorgon run``: the run is cancelled, recorded as such, and what finished is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gorgon_nb.model.run import RunStatus, StepStatus
from gorgon_nb.store import Store

GORGON = str(Path(sys.executable).with_name("gorgon"))


def test_ctrl_c_cancels_and_records_the_run(home: Path) -> None:
    (home / "config.toml").write_text("[offline]\ndelay = 0.05\n")  # slow enough to interrupt mid-run
    env = {**os.environ, "GORGON_HOME": str(home), "COLUMNS": "200"}
    process = subprocess.Popen(
        [GORGON, "run", "dev_plan_build_test_review", "-v", "feature_request=Add a CSV export"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        # A background test runner may ignore SIGINT; the user's terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    store = Store(home / "gorgon.db")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _building(store):  # plan done, build under way
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130, output
    run = store.runs.get(store.runs.recent(1)[0].run_id)
    assert run.status is RunStatus.CANCELLED
    assert run.steps["plan"].status is StepStatus.SUCCEEDED and run.steps["plan"].output
    assert run.steps["build"].status is StepStatus.CANCELLED
    assert f"run {run.run_id} cancelled" in output and "Traceback" not in output
    assert f"Go on with: gorgon resume {run.run_id}" in " ".join(output.split())


def test_resume_goes_on_after_ctrl_c_without_paying_again(home: Path) -> None:
    """The advice after Ctrl-C works: the run goes on, finished steps and answers kept."""
    (home / "config.toml").write_text("[offline]\ndelay = 0.05\n")
    env = {**os.environ, "GORGON_HOME": str(home), "COLUMNS": "200"}
    process = subprocess.Popen(
        [GORGON, "run", "dev_plan_build_test_review", "-v", "feature_request=Add a CSV export"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    store = Store(home / "gorgon.db")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _building(store):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130, output
    run_id = store.runs.recent(1)[0].run_id
    before = store.runs.get(run_id)
    assert before.status is RunStatus.CANCELLED
    calls_before = _calls(store, run_id)
    assert calls_before.get("plan") == 1

    resumed = subprocess.run([GORGON, "resume", run_id, "--json"], capture_output=True, text=True, env=env,
                             timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["run_id"] == run_id
    after = store.runs.get(run_id)
    assert after.status is RunStatus.SUCCEEDED and after.error is None
    assert [s.status for s in after.steps.values()] == [StepStatus.SUCCEEDED] * 4
    plan, kept = before.steps["plan"], after.steps["plan"]
    assert (kept.started_at, kept.ended_at, kept.output) == (plan.started_at, plan.ended_at, plan.output)
    calls_after = _calls(store, run_id)
    assert calls_after["plan"] == 1  # the finished step's answer was not asked for again
    assert calls_after["test"] == calls_after["review"] == 1
    again = subprocess.run([GORGON, "resume", run_id], capture_output=True, text=True, env=env, timeout=60,
                           check=False)
    assert again.returncode == 2 and "succeeded, so there is nothing to resume" in " ".join(again.stderr.split())
    assert f"gorgon fork {run_id} --from STEP" in " ".join(again.stderr.split())


def _calls(store: Store, run_id: str) -> dict[str, int]:
    rows = store.conn.execute("SELECT step_key, COUNT(*) FROM usage WHERE run_id = ? GROUP BY step_key", (run_id,))
    return dict(rows.fetchall())


def _building(store: Store) -> bool:
    runs = store.runs.recent(1)
    build = store.runs.get(runs[0].run_id).steps.get("build") if runs else None
    return build is not None and build.status is StepStatus.RUNNING

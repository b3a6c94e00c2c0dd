"""Ctrl-C during ``gorgon run``: the run is cancelled, recorded as such, and what finished is kept."""

from __future__ import annotations

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
    run = store.get_run(store.list_runs(1)[0].run_id)
    assert run.status is RunStatus.CANCELLED
    assert run.steps["plan"].status is StepStatus.SUCCEEDED and run.steps["plan"].output
    assert run.steps["build"].status is StepStatus.CANCELLED
    assert f"run {run.run_id} cancelled" in output and "Traceback" not in output


def _building(store: Store) -> bool:
    runs = store.list_runs(1)
    build = store.get_run(runs[0].run_id).steps.get("build") if runs else None
    return build is not None and build.status is StepStatus.RUNNING

"""One word per run status, in the CLI, the server API, the widgets and the sidebar.

A run whose process was killed (``kill -9``) reads ``stopped`` in ``gorgon runs``, in
``gorgon show``, in the API and in the widgets, and every status a table shows filters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ipython
from test_cli import FEATURE, GORGON, REPO, env_without_keys, gorgon

from gorgon_nb.cli.records import RunReader, store_path
from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunStatus, StepStatus
from gorgon_nb.model.text import STATUS_LABELS
from gorgon_nb.server.runs import RUN_STATUSES, recent_runs, run_detail
from gorgon_nb.store import Store
from gorgon_nb.widgets import HistoryView, RunView

GATED = """id: gated
name: Gated
steps:
  - id: draft
    agent: planner
    task: Plan a picnic
  - id: sign_off
    approval: Send the plan?
    preview: "{{ steps.draft.output }}"
    depends_on: draft
"""


@dataclass
class Killed:
    home: Path
    run_id: str
    was: str  # the status it had while its process lived


def _wait_for(home: Path, status: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = json.loads(gorgon(home, "runs", "--json", "--status", status).out)
        if listed:
            return str(listed[0]["run_id"])
        time.sleep(0.2)
    raise AssertionError(f"no run became {status}")


@pytest.fixture(params=["running", "waiting"])
def killed(request: pytest.FixtureRequest, home: Path, tmp_path: Path) -> Iterator[Killed]:
    """A `gorgon run` killed with SIGKILL while running (a slow offline model) or waiting (an approval)."""
    if request.param == "running":
        (home / "config.toml").write_text("[offline]\ndelay = 0.2\n")
        args = ["run", "dev_plan_build_test_review", "-q", "-v", FEATURE]
    else:
        (tmp_path / "gated.yaml").write_text(GATED)
        args = ["run", str(tmp_path / "gated.yaml"), "-q"]
    env = {**env_without_keys(), "GORGON_HOME": str(home), "COLUMNS": "200"}
    process = subprocess.Popen([str(GORGON), *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        run_id = _wait_for(home, request.param)
        alive = gorgon(home, "show", run_id, "--brief")
        assert f"· {'◐' if request.param == 'running' else '⏸'} {request.param}" in alive.out.splitlines()[0]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        yield Killed(home, run_id, request.param)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_run_reads_stopped_in_runs_and_in_show(killed: Killed) -> None:
    home, run_id = killed.home, killed.run_id
    runs = gorgon(home, "runs")
    assert re.search(rf"^{run_id}\s+\S+\s+⚠ stopped\s", runs.out, re.M), runs.out
    assert f"go on with: gorgon resume {run_id}" in runs.out
    shown = gorgon(home, "show", run_id, "--brief")
    assert shown.out.splitlines()[0].endswith(f"run {run_id} · ⚠ stopped")
    shown_json = json.loads(gorgon(home, "show", run_id, "--json").out)
    assert shown_json["status"] == "stopped"
    assert _left_by_the_process(shown_json["steps"])
    assert re.search(r"\s⚠ stopped\s", "\n".join(shown.out.splitlines()[1:]))  # the step it left, too
    assert [r["status"] for r in json.loads(gorgon(home, "runs", "--json").out)] == ["stopped"]


def _left_by_the_process(steps: list[dict[str, object]]) -> bool:
    """A killed run's steps: the one its process was in reads stopped, none running or waiting."""
    statuses = [step["status"] for step in steps]
    return "stopped" in statuses and not {"running", "waiting"} & set(statuses)


def test_every_status_a_table_shows_filters(killed: Killed) -> None:
    home, run_id = killed.home, killed.run_id
    stopped = json.loads(gorgon(home, "runs", "--status", "stopped", "--json").out)
    assert [r["run_id"] for r in stopped] == [run_id]
    assert json.loads(gorgon(home, "runs", "--status", killed.was, "--json").out) == []  # it is not that any more
    assert gorgon(home, "runs", "--status", killed.was).out.strip() == "no runs match"


def test_the_api_and_the_widgets_say_stopped_too(killed: Killed) -> None:
    with Store(killed.home / "gorgon.db") as store:
        [summary] = recent_runs(store)
        assert (summary["run_id"], summary["status"], summary["stopped"]) == (killed.run_id, "stopped", True)
        assert [r["run_id"] for r in recent_runs(store, status="stopped")] == [killed.run_id]
        assert recent_runs(store, status=killed.was) == []
        detail = run_detail(store, killed.run_id)
        assert detail["status"] == "stopped" and detail["stopped"] is True
        assert _left_by_the_process(detail["steps"])

        history = HistoryView.from_runs(store.runs.recent(), owners=store.control)
        assert [row["status"] for row in history.runs] == ["stopped"]
        assert "stopped" in history.to_text().splitlines()[1]
        run = store.runs.get(killed.run_id)
        view = RunView.from_result(run, store.runs.events(killed.run_id), owners=store.control)
        assert view.status == "stopped"
        assert _left_by_the_process(view.steps)
        assert view.to_text().splitlines()[0].split(" · ")[2] == "stopped"


def test_the_magics_say_stopped_too(killed: Killed) -> None:
    shell = ipython()
    listed = repr(shell.run_line_magic("gorgon", "runs"))
    assert re.search(rf"{killed.run_id}`?\s*\|?\s*\S+\s*\|?\s*stopped", listed), listed
    only = repr(shell.run_line_magic("gorgon", "runs --status stopped"))
    assert killed.run_id in only
    assert killed.run_id not in repr(shell.run_line_magic("gorgon", f"runs --status {killed.was}"))
    assert shell.run_line_magic("gorgon", "runs --widget").runs[0]["status"] == "stopped"
    assert shell.run_line_magic("gorgon", f"show {killed.run_id}").status == "stopped"


def test_a_live_run_is_not_stopped(home: Path, tmp_path: Path) -> None:
    """The other side: while its process waits, every surface says waiting."""
    (tmp_path / "gated.yaml").write_text(GATED)
    env = {**env_without_keys(), "GORGON_HOME": str(home)}
    process = subprocess.Popen([str(GORGON), "run", str(tmp_path / "gated.yaml"), "-q"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = _wait_for(home, "waiting")
        assert re.search(rf"^{run_id}\s+gated\s+⏸ waiting\s", gorgon(home, "runs").out, re.M)
        with Store(home / "gorgon.db") as store:
            assert recent_runs(store)[0]["status"] == "waiting"
            assert HistoryView.from_runs(store.runs.recent(), owners=store.control).runs[0]["status"] == "waiting"
        assert gorgon(home, "runs", "--status", "stopped").out.strip() == "no runs match"
    finally:
        process.kill()
        process.wait()


# -- the words themselves ------------------------------------------------------------------


def test_the_words_are_the_enum_values_everywhere() -> None:
    for status in [*RunStatus, *StepStatus]:
        assert STATUS_LABELS[str(status)] == str(status)
    assert set(RUN_STATUSES) == {str(s) for s in RunStatus}
    for script in ("run_view.js", "history.js"):
        text = (REPO / "gorgon_nb" / "widgets" / "static" / script).read_text()
        block = re.search(r"const LABELS = \{(.*?)\};", text, re.S)
        assert block is not None, script
        labels = dict(re.findall(r"(\w+): \"([^\"]+)\"", block.group(1)))
        assert {s: labels[s] for s in map(str, RunStatus)} == {s: s for s in map(str, RunStatus)}, script
    api = (REPO / "labextension" / "src" / "api.ts").read_text()
    union = re.search(r"export type RunStatus = ([^;]+);", api)
    assert union is not None
    assert set(re.findall(r"'(\w+)'", union.group(1))) == {str(s) for s in RunStatus}
    runs_tab = sorted((REPO / "labextension" / "src" / "runs").glob("*.tsx"))
    assert runs_tab
    assert not any("shownStatus" in path.read_text() for path in runs_tab)  # the API's word is shown


def test_a_succeeded_run_reads_succeeded_in_every_surface(home: Path) -> None:
    ran = json.loads(gorgon(home, "run", "dev_plan_build_test_review", "--json", "-v", FEATURE).out)
    assert ran["status"] == "succeeded"
    assert re.search(rf"^{ran['run_id']}\s+\S+\s+✓ succeeded\s", gorgon(home, "runs").out, re.M)
    assert "✓ succeeded" in gorgon(home, "show", ran["run_id"], "--brief").out.splitlines()[0]
    with Store(home / "gorgon.db") as store:
        assert recent_runs(store)[0]["status"] == "succeeded"
        run = store.runs.get(ran["run_id"])
        view = RunView.from_result(run, store.runs.events(run.run_id), owners=store.control)
        assert view.status == "succeeded" and "**succeeded**" in view.to_markdown()
        assert HistoryView.from_runs([run]).to_text().splitlines()[1].startswith("succeeded")


# -- gorgon runs reads the store without opening it -----------------------------------------


def test_the_runs_reader_reads_what_the_store_reads(home: Path) -> None:
    assert store_path() == load_config().db_path
    for _ in range(2):
        assert gorgon(home, "run", "dev_plan_build_test_review", "-q", "-v", FEATURE).code == 0
    reader = RunReader(store_path())
    with Store(store_path()) as store:
        assert reader.recent(5) == store.runs.recent(5)
        assert reader.recent(1, workflow_id="dev_plan_build_test_review") == store.runs.recent(1)
        assert reader.recent(5, status="failed") == []
        assert reader.recent(5, not_workflow_id="dev_plan_build_test_review") == []
    assert RunReader(home / "elsewhere.db").recent() == []
    assert not (home / "elsewhere.db").exists()


def test_store_path_without_gorgon_home_is_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORGON_HOME")
    assert store_path() == load_config().db_path
    assert os.environ.get("GORGON_HOME") is None

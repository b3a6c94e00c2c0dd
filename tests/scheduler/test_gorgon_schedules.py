"""Gorgon's schedule files, byte for byte as Gorgon ships them (``gorgon_fixtures/``), imported
as schedules: their triggers (APScheduler's days of the week in cron's numbers), the
workflow each names found, their variables as inputs, their ids and names kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.scheduler.gorgon_schedules import (
    cron_from_apscheduler,
    day_of_week_to_cron,
    read_gorgon_schedule,
)
from gorgon_nb.scheduler.triggers import next_fire
from gorgon_nb.store import Store
from gorgon_nb.workflow_jobs import import_gorgon_schedule

FIXTURES = Path(__file__).parent / "gorgon_fixtures"
UTC = ZoneInfo("UTC")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder with Gorgon's files in it, as a user copies them from Gorgon's examples/."""
    folder = tmp_path / "root"
    shutil.copytree(FIXTURES, folder)
    return folder


@pytest.mark.parametrize(("apscheduler", "cron"), [
    ("*", "*"),
    ("mon-fri", "1,2,3,4,5"),
    ("0-4", "1,2,3,4,5"),  # APScheduler's 0 is Monday
    ("sat,sun", "0,6"),
    ("5-6", "0,6"),
    ("6", "0"),
    ("sun", "0"),
    ("*/2", "0,1,3,5"),  # mon, wed, fri, sun
    ("MON,wed", "1,3"),
])
def test_apscheduler_days_of_the_week_in_crons_numbers(apscheduler: str, cron: str) -> None:
    assert day_of_week_to_cron(apscheduler) == cron


@pytest.mark.parametrize(("config", "says"), [
    ({"day_of_week": "fri-mon"}, "runs backwards"),
    ({"day_of_week": "7"}, "not a day"),
    ({"day": "last"}, "has no cron form"),
    ({"second": "0"}, "cron has no field for"),
])
def test_apscheduler_fields_without_a_cron_form_are_refused(config: dict[str, str], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        cron_from_apscheduler(config)


def test_the_files_are_gorgons_byte_for_byte() -> None:
    gorgon = Path("/tmp/gorgon/examples")
    if not gorgon.is_dir():
        pytest.skip("Gorgon's examples are not on this machine")
    for file in FIXTURES.iterdir():
        assert file.read_bytes() == (gorgon / file.name).read_bytes(), file.name


def gorgon(home: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("gorgon")), *args], cwd=root, text=True,
                          capture_output=True, timeout=60, env={**os.environ, "GORGON_HOME": str(home)})


def test_the_daily_summary_fires_on_weekdays_at_nine(home: Path, root: Path) -> None:
    read = read_gorgon_schedule(root / "schedule_daily_summary.json")
    assert (read.cron, read.variables, read.paused) == ("0 9 * * 1,2,3,4,5", {"max_results": 10}, False)
    imported = gorgon(home, root, "schedule", "--from", "schedule_daily_summary.json", "--json")
    assert imported.returncode == 0, imported.stderr
    made = json.loads(imported.stdout)
    assert (made["id"], made["name"], made["kind"], made["notebook"]) == (
        "daily_email_summary", "Daily Email Summary", "workflow", "email_to_notion.json")
    assert made["description"] == "Summarize emails every day at 9 AM"
    assert made["trigger"] == "cron 0 9 * * 1,2,3,4,5 (UTC)"
    # email_to_notion declares notion_database_id only; Gorgon passed max_results along unread
    assert made["parameters"] == {} and made["left_out"] == ["max_results"]
    schedule = Store(home / "gorgon.db").jobs.get_schedule("daily_email_summary")
    friday_noon = datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp()
    assert next_fire(schedule, friday_noon) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()  # Monday
    monday_early = datetime(2026, 12, 7, 8, 0, tzinfo=UTC).timestamp()
    assert next_fire(schedule, monday_early) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(made["next_run_at"], UTC).weekday() < 5  # Monday to Friday
    assert datetime.fromtimestamp(made["next_run_at"], UTC).hour == 9


def test_the_daily_summary_says_what_it_left_out(home: Path, root: Path) -> None:
    imported = gorgon(home, root, "schedule", "--from", "schedule_daily_summary.json")
    assert imported.returncode == 0, imported.stderr
    assert "left out the variable max_results" in " ".join(imported.stdout.split())


def test_the_hourly_report_fires_every_hour_with_its_prompt(home: Path, root: Path) -> None:
    imported = gorgon(home, root, "schedule", "--from", "schedule_hourly_report.json", "--json")
    assert imported.returncode == 0, imported.stderr
    made = json.loads(imported.stdout)
    assert (made["id"], made["name"], made["kind"], made["notebook"]) == (
        "hourly_ai_report", "Hourly AI Report", "workflow", "simple_ai_completion.json")
    assert made["every"] == 3600 and made["next_run_at"] == pytest.approx(made["created_at"] + 3600)
    assert made["parameters"] == {"prompt": "Generate a brief status update for the current hour."}
    assert made["left_out"] == []
    again = gorgon(home, root, "schedule", "--from", "schedule_hourly_report.json")
    assert again.returncode == 2 and "exists already" in again.stderr


def test_a_workflow_that_cannot_be_found_is_refused_with_where_it_was_looked_for(
        store: Store, root: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(root / "schedule_hourly_report.json", alone)
    with pytest.raises(NotFoundError) as refused:
        import_gorgon_schedule(store, alone / "schedule_hourly_report.json", root=root / "empty")
    message = str(refused.value)
    assert "simple_ai_completion" in message and str(alone) in message and "workflows" in message
    assert store.jobs.schedules() == []


def test_a_paused_file_imports_paused_and_its_workflow_in_the_roots_workflows_folder(
        store: Store, root: Path) -> None:
    (root / "workflows").mkdir()
    (root / "simple_ai_completion.json").rename(root / "workflows" / "simple_ai_completion.json")
    data = json.loads((root / "schedule_hourly_report.json").read_text())
    data["status"] = "paused"
    (root / "paused.json").write_text(json.dumps(data))
    made, _ = import_gorgon_schedule(store, root / "paused.json", root=root)
    assert made.paused and made.notebook == "workflows/simple_ai_completion.json"


def test_a_file_that_is_no_schedule_is_refused(store: Store, root: Path) -> None:
    with pytest.raises(UsageError, match="not a Gorgon schedule file"):
        import_gorgon_schedule(store, root / "simple_ai_completion.json", root=root)


def test_the_hourly_report_runs_its_workflow_against_a_loopback_openai(
        home: Path, store: Store, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gorgon's hourly report, imported and run now: its openai step asks the real SDK's
    loopback server, with the schedule's prompt, and the job records the run."""
    from test_workflow_jobs import run_until

    from gorgon_nb.model.jobs import FINISHED, JobState
    from gorgon_nb.model.run import RunStatus
    from gorgon_nb.scheduler.service import run_now
    from gorgon_nb.testing import LLMServer

    with LLMServer(api_key="sk-loopback", responder=lambda request: "STATUS: all green") as server:
        (home / "config.toml").write_text(f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
        monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")  # the job's process inherits it
        made, _ = import_gorgon_schedule(store, root / "schedule_hourly_report.json", root=root)
        job = run_now(store, made.id)
        run_until(store, lambda: store.jobs.get(job.id).state in FINISHED)
        [asked] = server.requests
    done = store.jobs.get(job.id)
    assert done.state is JobState.SUCCEEDED, done.error
    run = store.runs.get(done.run_ids[0])
    assert run.status is RunStatus.SUCCEEDED and run.workflow_id == "simple_ai_completion"
    assert "STATUS: all green" in str(run.steps["generate"].output)
    assert asked.model == "gpt-4o-mini" and "Generate a brief status update" in asked.prompt

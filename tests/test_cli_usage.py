"""The manners of the ``gorgon`` command: version, help, did-you-mean, JSON, exit codes, tables.

Every check runs the real command as a subprocess with a fresh GORGON_HOME.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support import BROKEN_WORKFLOW
from test_cli import FEATURE, WORKFLOWS, Done, gorgon

import gorgon_nb
from gorgon_nb.cli.parser import build_parser
from gorgon_nb.testing.notebooks import write_notebook

TOP_USAGE = "usage: gorgon [-h] [--version] COMMAND ..."


def error_json(done: Done) -> dict[str, object]:
    """The JSON error a --json command printed on stderr, after checking stdout has none."""
    assert done.out == "", done
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done
    error = json.loads(lines[0])["error"]
    assert isinstance(error, dict)
    return error


# -- version, bare command, help ----------------------------------------------------------------


def test_version(home: Path) -> None:
    done = gorgon(home, "--version")
    assert done.code == 0 and done.err == ""
    assert done.out == f"gorgon {gorgon_nb.__version__}\n"


def test_a_bare_gorgon_prints_the_help_and_exits_2_as_git_does(home: Path) -> None:
    done = gorgon(home)
    assert done.code == 2
    assert done.out == gorgon(home, "--help").out
    assert done.out.startswith(TOP_USAGE)


def test_help_command_prints_that_commands_help(home: Path) -> None:
    for command in ("run", "runs", "schedules"):
        done = gorgon(home, "help", command)
        assert done.code == 0 and done.err == ""
        assert done.out == gorgon(home, command, "--help").out
        assert done.out.startswith(f"usage: gorgon {command} ")
    top = gorgon(home, "help")
    assert top.code == 0 and top.out == gorgon(home, "--help").out


def test_the_top_help_ends_with_examples_environment_and_exit_codes(home: Path) -> None:
    done = gorgon(home, "--help")
    assert done.code == 0 and done.err == ""
    text = done.out
    sections = [text.index(f"\n{name}:\n") for name in ("commands", "examples", "environment", "output",
                                                         "exit codes")]
    assert sections == sorted(sections)
    assert "GORGON_HOME" in text[sections[2]:sections[3]]
    assert "stderr" in text[sections[3]:sections[4]]  # where --json errors go
    codes = [line.split()[0] for line in text[sections[4]:].splitlines()[2:] if line.strip()]
    assert codes == ["0", "1", "2", "130"]
    assert "the run failed" in text and "interrupted" in text
    for command in ("run", "validate", "runs", "show", "resume", "approvals", "workflows", "schedules", "jobs"):
        assert re.search(rf"^  {command}\s+\S", text, re.M), command


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, command in parser.commands.items() for action in command._actions
               if not action.help or action.help == argparse.SUPPRESS]
    assert missing == []
    assert len(parser.commands) >= 18


@pytest.mark.parametrize("command", sorted(build_parser().commands))
def test_each_commands_help_shows_every_option_with_its_text(home: Path, command: str) -> None:
    done = gorgon(home, command, "--help")
    assert done.code == 0 and done.err == ""
    listed = [line for line in done.out.splitlines() if line.startswith("  -")]
    for action in build_parser().commands[command]._actions:
        for option in action.option_strings:
            assert any(re.search(rf"(^|[\s,]){re.escape(option)}([\s,]|$)", line) for line in listed), option


# -- did you mean ----------------------------------------------------------------------------


def test_an_unknown_command_suggests_the_near_one(home: Path) -> None:
    done = gorgon(home, "rnu")
    assert done.code == 2 and done.out == ""
    assert done.err.splitlines()[0] == TOP_USAGE
    assert "unknown command 'rnu'; did you mean 'run'?" in done.flat
    assert "Traceback" not in done.err


def test_an_unknown_option_suggests_the_near_one_with_the_commands_usage(home: Path) -> None:
    done = gorgon(home, "run", "x", "--modle", "m")
    assert done.code == 2 and done.out == ""
    assert done.err.startswith("usage: gorgon run ")
    assert TOP_USAGE not in done.err
    assert "unknown option '--modle'; did you mean '--model'?" in done.flat


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["runs", "--status", "waitin"], "'waitin' is not one of running, waiting, succeeded, failed, cancelled, "
                                         "stopped; did you mean 'waiting'?"),
        (["runs", "--jsno"], "unknown option '--jsno'; did you mean '--json'?"),
        (["jobs", "shwo"], "did you mean 'show'?"),
        (["help", "shwo"], "unknown command 'shwo'; did you mean 'show'?"),
        (["runs", "-n", "0"], "'0' must be 1 or more"),
    ],
)
def test_bad_values_are_refused_with_the_likely_one(home: Path, args: list[str], expected: str) -> None:
    done = gorgon(home, *args)
    assert done.code == 2 and done.out == ""
    assert done.err.startswith(f"usage: gorgon {args[0]} ")
    assert expected in done.flat


# -- --json everywhere, and errors as JSON ---------------------------------------------------


@pytest.fixture
def scheduled(home: Path, tmp_path: Path) -> Path:
    """A notebook with a schedule named weekly and two jobs queued for it."""
    write_notebook(tmp_path / "report.ipynb", "x = 1")
    made = gorgon(home, "schedule", "report.ipynb", "--every", "1h", "--name", "weekly", "--root", str(tmp_path))
    assert made.code == 0, made
    for _ in range(2):
        queued = gorgon(home, "schedules", "run", "weekly")
        assert queued.code == 0, queued
    return tmp_path


def test_every_listing_and_inspection_command_speaks_json(home: Path, scheduled: Path) -> None:
    good = WORKFLOWS / "dev_plan_build_test_review.yaml"
    ran = json.loads(gorgon(home, "run", str(good), "--json", "-v", FEATURE).out)
    listings = {
        ("workflows",): lambda v: {"dev_plan_build_test_review", "bug_fix_loop"} <= {w["name"] for w in v},
        ("roles",): lambda v: "planner" in {r["name"] for r in v} and all(r["description"] for r in v),
        ("providers",): lambda v: v["auto"]["model"] == "offline"
        and "anthropic" in {p["name"] for p in v["providers"]},
        ("validate", str(good)): lambda v: v == [{"file": str(good), "ok": True,
                                                  "workflow_id": "dev_plan_build_test_review", "steps": 4,
                                                  "problems": []}],
        ("approvals", "--all"): lambda v: v == [],
        ("schedules",): lambda v: [s["name"] for s in v] == ["weekly"],
        ("jobs",): lambda v: len(v) == 2 and {j["state"] for j in v} == {"queued"},
        ("runs",): lambda v: [r["run_id"] for r in v] == [ran["run_id"]],
        ("show", ran["run_id"]): lambda v: v["status"] == "succeeded" and len(v["steps"]) == 4,
    }
    for args, check in listings.items():
        done = gorgon(home, *args, "--json")
        assert done.code == 0 and done.err == "", done
        assert check(json.loads(done.out)), args
    job = json.loads(gorgon(home, "jobs", "--json").out)[0]["id"]
    shown = gorgon(home, "jobs", "show", job, "--json")
    assert shown.code == 0 and json.loads(shown.out)["id"] == job


def test_validate_json_lists_the_problems_and_exits_2(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_WORKFLOW)
    done = gorgon(home, "validate", str(broken), "--json")
    assert done.code == 2 and done.err == ""
    [entry] = json.loads(done.out)
    assert entry["ok"] is False
    assert [(p["line"], p["field"]) for p in entry["problems"]] == PROBLEMS


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["show", "nosuchrun", "--json"], "NotFoundError"),
        (["runs", "--json", "--status", "bogus"], "UsageError"),
        (["jobs", "show", "--json"], "UsageError"),
        (["run", "no_such_workflow", "--json"], "NotFoundError"),
    ],
)
def test_errors_with_json_are_json_on_stderr(home: Path, args: list[str], kind: str) -> None:
    done = gorgon(home, *args)
    assert done.code == 2
    error = error_json(done)
    assert error["type"] == kind and error["exit_code"] == 2
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in str(error["message"])


def test_a_run_id_nobody_has_says_how_to_list_them_in_cli_words(home: Path) -> None:
    error = error_json(gorgon(home, "show", "nosuchrun", "--json"))
    assert error["message"] == "no run 'nosuchrun'. Run 'gorgon runs' to list recent runs."


# -- every problem, whichever command meets it -----------------------------------------------

PROBLEMS = [(6, "plan.agent"), (7, "plan.task"), (10, "build.contxt"), (13, "test.context")]


def test_run_reports_every_problem_that_validate_reports(home: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN_WORKFLOW)
    validated = gorgon(home, "validate", "broken.yaml", cwd=tmp_path)
    ran = gorgon(home, "run", "broken.yaml", "-v", "topic=x", cwd=tmp_path)
    assert validated.code == ran.code == 2
    assert ran.out == ""
    problem = re.compile(r"^\s+(broken\.yaml:\d+: \S+: .+)$", re.M)
    assert problem.findall(ran.err) == problem.findall(validated.out)
    assert len(problem.findall(ran.err)) == 4
    assert "error: workflow has 4 problems:" in ran.err
    error = error_json(gorgon(home, "run", "broken.yaml", "--json", cwd=tmp_path))
    assert [(p["line"], p["field"]) for p in error["problems"]] == PROBLEMS  # type: ignore[union-attr]


def test_the_id_hint_says_what_each_id_accepts(home: Path, tmp_path: Path) -> None:
    (tmp_path / "dashed.yaml").write_text("id: my-flow.v2\nsteps:\n  - id: only\n    llm: hi\n")
    (tmp_path / "digit.yaml").write_text("id: 2flow\nsteps:\n  - id: only\n    llm: hi\n")
    (tmp_path / "step.yaml").write_text("id: flow\nsteps:\n  - id: my-step\n    llm: hi\n")
    done = gorgon(home, "validate", "dashed.yaml", "digit.yaml", "step.yaml", cwd=tmp_path)
    assert "✓ dashed.yaml: my-flow.v2, 1 step" in done.out
    assert "'2flow' is not a valid id hint: use letters, digits, _, - and ., starting with a letter or _" in done.flat
    assert "'my-step' is not a valid id hint: use letters, digits and _, starting with a letter or _" in done.flat


# -- schedules and jobs ----------------------------------------------------------------------


def test_a_schedule_name_is_unique(home: Path, scheduled: Path) -> None:
    first = json.loads(gorgon(home, "schedules", "--json").out)[0]["id"]
    again = gorgon(home, "schedule", "report.ipynb", "--every", "2h", "--name", "weekly", "--root", str(scheduled))
    assert again.code == 2 and again.out == ""
    assert f"a schedule named 'weekly' exists already ({first})" in again.flat
    assert f"gorgon schedules delete {first}" in again.flat
    assert len(json.loads(gorgon(home, "schedules", "--json").out)) == 1


def test_scheduling_says_whether_a_scheduler_will_start_the_jobs(home: Path, tmp_path: Path) -> None:
    from gorgon_nb.scheduler.loop import LEASE
    from gorgon_nb.store import Store

    write_notebook(tmp_path / "report.ipynb", "x = 1")
    alone = gorgon(home, "schedule", "report.ipynb", "--every", "1h", "--root", str(tmp_path))
    assert alone.code == 0 and "no scheduler is running" in alone.flat and "gorgon scheduler" in alone.flat
    assert "gorgon-nb[lab]" not in alone.flat  # JupyterLab is installed here
    with Store(home / "gorgon.db") as store:  # as a running scheduler holds it
        assert store.jobs.acquire_lease(LEASE, "elsewhere", ttl=600)
    served = gorgon(home, "schedule", "report.ipynb", "--every", "2h", "--root", str(tmp_path))
    assert served.code == 0 and "no scheduler" not in served.flat


def test_a_name_two_older_schedules_share_is_refused_with_both_listed(home: Path, scheduled: Path) -> None:
    first = json.loads(gorgon(home, "schedules", "--json").out)[0]["id"]
    with sqlite3.connect(home / "gorgon.db") as db:  # as a store from before names were unique holds them
        db.execute("CREATE TEMP TABLE copy AS SELECT * FROM schedules")
        db.execute("UPDATE copy SET id = 'twin000001', created_at = created_at + 1")
        db.execute("INSERT INTO schedules SELECT * FROM copy")
    done = gorgon(home, "schedules", "pause", "weekly")
    assert done.code == 2 and done.out == ""
    assert f"2 schedules are named 'weekly': {first} (report.ipynb, every 3600s); twin000001" in done.flat
    assert "Name the one you mean by its id." in done.flat
    assert [s["paused"] for s in json.loads(gorgon(home, "schedules", "--json").out)] == [False, False]
    by_id = gorgon(home, "schedules", "pause", "twin000001")
    assert by_id.code == 0, by_id
    assert [s["paused"] for s in json.loads(gorgon(home, "schedules", "--json").out)] == [False, True]


@pytest.mark.parametrize("action", ["show", "cancel"])
def test_a_job_action_without_an_id_says_the_id_is_required(home: Path, scheduled: Path, action: str) -> None:
    done = gorgon(home, "jobs", action)
    assert done.code == 2 and done.out == ""
    assert f"gorgon jobs {action} needs a JOB id" in done.flat
    assert "matches several" not in done.flat
    assert [j["state"] for j in json.loads(gorgon(home, "jobs", "--json").out)] == ["queued", "queued"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show", ""], "argument RUN: a run id is needed, not an empty string"),
        (["resume", " "], "argument RUN: a run id is needed, not an empty string"),
        (["jobs", "show", ""], "argument JOB: a job id is needed, not an empty string"),
        (["schedules", "pause", ""], "argument SCHEDULE: a schedule id or name is needed, not an empty string"),
    ],
)
def test_an_empty_id_is_refused_as_missing_not_matched(home: Path, args: list[str], expected: str) -> None:
    assert gorgon(home, "run", "dev_plan_build_test_review", "-q", "-v", FEATURE).code == 0
    assert gorgon(home, "run", "dev_plan_build_test_review", "-q", "-v", FEATURE).code == 0
    done = gorgon(home, *args)
    assert done.code == 2 and done.out == ""
    assert expected in done.flat and "matches several" not in done.flat


def test_jobs_filter_on_the_states_they_show(home: Path, scheduled: Path) -> None:
    job = json.loads(gorgon(home, "jobs", "--json").out)[0]["id"]
    assert gorgon(home, "jobs", "cancel", job).code == 0
    cancelled = json.loads(gorgon(home, "jobs", "--state", "cancelled", "--json").out)
    assert [j["id"] for j in cancelled] == [job]
    assert len(json.loads(gorgon(home, "jobs", "--state", "queued", "--json").out)) == 1


# -- tables and times ------------------------------------------------------------------------

LONG_ID = "quarterly_revenue_reconciliation_across_every_regional_ledger"


def test_tables_keep_the_names_a_user_types_at_80_columns(home: Path, tmp_path: Path) -> None:
    narrow = {"COLUMNS": "80"}
    listed = gorgon(home, "workflows", env=narrow)
    assert listed.code == 0
    names = [line.split()[0] for line in listed.out.splitlines()[1:]
             if line and not line.startswith(("bundled:", "yours:", " "))]
    assert "analytics_ingest_analyze_visualize_report" in names
    assert all("…" not in name for name in names)
    assert all(len(line) <= 80 for line in listed.out.splitlines())
    assert "…" in listed.out  # the descriptions made way

    (tmp_path / "long.yaml").write_text(f"id: {LONG_ID}\nsteps:\n  - id: {LONG_ID}_step\n    llm: hi\n")
    ran = json.loads(gorgon(home, "run", "long.yaml", "--json", cwd=tmp_path).out)
    runs = gorgon(home, "runs", env=narrow)
    assert re.search(rf"^{ran['run_id']}  {LONG_ID}  ✓ succeeded ", runs.out, re.M), runs.out
    shown = gorgon(home, "show", ran["run_id"], "--brief", env=narrow)
    assert re.search(rf"^{LONG_ID}_step  llm\s+✓ succeeded ", shown.out, re.M), shown.out


def _set_started(home: Path, run_id: str, started: float) -> None:
    with sqlite3.connect(home / "gorgon.db") as db:
        db.execute("UPDATE runs SET started_at = ?, ended_at = ? WHERE id = ?", (started, started + 1, run_id))


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/Los_Angeles"])
def test_times_carry_a_date_unless_today_in_the_local_zone(home: Path, zone: str) -> None:
    env = {"TZ": zone}
    runs = [json.loads(gorgon(home, "run", "dev_plan_build_test_review", "--json", "-v", FEATURE).out)["run_id"]
            for _ in range(3)]
    tz = ZoneInfo(zone)
    midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    long_ago = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    _set_started(home, runs[0], long_ago.timestamp())
    _set_started(home, runs[1], (midnight - timedelta(minutes=1)).timestamp())  # yesterday, within 24 hours
    listed = gorgon(home, "runs", env=env).out
    expected = {runs[0]: long_ago.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                runs[1]: (midnight - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"),
                runs[2]: r"\d\d:\d\d:\d\d"}
    for run_id, started in expected.items():
        assert re.search(rf"^{run_id}\s+dev_plan_build_test_review\s+✓ succeeded\s+{started}\s", listed, re.M), (
            run_id, started, listed)
    assert f"started {expected[runs[0]]} · " in gorgon(home, "show", runs[0], "--brief", env=env).out


def test_listing_runs_of_an_empty_home_creates_nothing(home: Path) -> None:
    done = gorgon(home, "runs", "--status", "cancelled")
    assert done.code == 0 and done.out.strip() == "no runs match"
    assert gorgon(home, "runs").out.startswith("no runs yet. Try: gorgon run ")
    assert not (home / "gorgon.db").exists()

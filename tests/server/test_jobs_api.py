"""The schedules and jobs API: scheduled notebooks under the server's root, their jobs, and
the feed that keeps the Jobs tab live.

A real Jupyter server in the test process (pytest-jupyter) with the extension and the real
store in the test's GORGON_HOME. No notebook runs here: jobs are queued, and ended ones
written, in the store, as a scheduler would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from api_client import Fetch, body, call

from gorgon_nb.config import load_config
from gorgon_nb.model.jobs import Job, JobState, Schedule
from gorgon_nb.scheduler import service
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook as notebook

HOUR = 3600.0


def write_notebook(path: Path) -> Path:
    return notebook(path, "print(region)", parameters="region = 'US'")


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    """The store the server uses (the one in GORGON_HOME)."""
    with Store(load_config().db_path) as opened:
        yield opened


@pytest.fixture
def hourly(store: Store, jp_root_dir: Path) -> Schedule:
    """A schedule of reports/weekly.ipynb in the server's root, every hour from now."""
    write_notebook(jp_root_dir / "reports" / "weekly.ipynb")
    now = time.time()
    return store.jobs.create_schedule(Schedule(id="", root=str(jp_root_dir), notebook="reports/weekly.ipynb",
                                               parameters={"region": "EU"}, every=HOUR, created_at=now,
                                               next_run_at=now + HOUR, name="weekly"))


def ended(store: Store, job: Job, state: JobState, **fields: Any) -> Job:
    """``job`` as its scheduler leaves it when it ends."""
    job.state, job.started_at, job.ended_at = state, job.queued_at, job.queued_at + 2.5
    for name, value in fields.items():
        setattr(job, name, value)
    return store.jobs.save(job)


# -- schedules --------------------------------------------------------------------------------


async def test_a_schedule_is_created_listed_and_deleted(jp_fetch: Fetch, jp_root_dir: Path, store: Store) -> None:
    write_notebook(jp_root_dir / "reports" / "weekly.ipynb")
    created = await call(jp_fetch, "schedules", method="POST", data={
        "notebook": "reports/weekly.ipynb", "cron": "0 8 * * MON", "timezone": "Europe/Paris",
        "parameters": {"region": "EU", "days": 7}, "retries": 2, "backoff": "30s", "timeout": "10m",
        "overlap": "queue", "keep": 5, "name": "weekly"})
    assert created.code == 201, created.body
    schedule = body(created)
    assert schedule["notebook"] == "reports/weekly.ipynb" and schedule["root"] == str(jp_root_dir.resolve())
    assert schedule["trigger"] == "cron 0 8 * * MON (Europe/Paris)" and schedule["next_run_at"] > time.time()
    assert schedule["parameters"] == {"region": "EU", "days": 7}
    assert (schedule["retries"], schedule["backoff"], schedule["timeout"], schedule["keep"]) == (2, 30, 600, 5)
    assert schedule["notebook_url_path"] == "reports/weekly.ipynb"
    assert schedule["active"] == 0 and schedule["last_job"] is None and not schedule["paused"]
    assert store.jobs.get_schedule("weekly").id == schedule["id"]

    listed = body(await call(jp_fetch, "schedules"))["schedules"]
    assert [s["id"] for s in listed] == [schedule["id"]]
    assert body(await call(jp_fetch, "schedules", "weekly"))["id"] == schedule["id"]  # by name too

    deleted = await call(jp_fetch, "schedules", schedule["id"], method="DELETE")
    assert deleted.code == 204 and deleted.body == b""
    assert body(await call(jp_fetch, "schedules"))["schedules"] == []
    gone = await call(jp_fetch, "schedules", schedule["id"], "pause", method="POST", data={})
    assert gone.code == 404 and "no schedule" in body(gone)["message"]


async def test_parameters_as_key_value_lines_are_typed_as_papermill_types_them(
        jp_fetch: Fetch, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir / "report.ipynb")
    created = await call(jp_fetch, "schedules", method="POST", data={
        "notebook": "report.ipynb", "every": 90, "parameters": ["region=EU", "days=7", "ratio=0.5", "dry=true"]})
    assert created.code == 201, created.body
    assert body(created)["parameters"] == {"region": "EU", "days": 7, "ratio": 0.5, "dry": True}
    assert body(created)["trigger"] == "every 90s"


@pytest.mark.parametrize(("notebook", "says"), [
    ("../outside.ipynb", "outside"),
    ("/etc/passwd", "outside"),
    ("missing.ipynb", "missing.ipynb"),
])
async def test_notebooks_outside_the_server_root_or_missing_are_refused(
        jp_fetch: Fetch, jp_root_dir: Path, store: Store, notebook: str, says: str) -> None:
    write_notebook(jp_root_dir.parent / "outside.ipynb")
    response = await call(jp_fetch, "schedules", method="POST", data={"notebook": notebook, "every": "1h"})
    assert response.code == 400, response.body
    assert says in body(response)["message"] and body(response)["api"] == "gorgon"
    assert store.jobs.schedules() == []


@pytest.mark.parametrize(("data", "says"), [
    ("not json", "not JSON"),
    ([1, 2], "must be a JSON object"),
    ({"every": "1h"}, "notebook: Field required"),
    ({"notebook": "report.ipynb"}, 'exactly one of "cron", "every" or "at"'),
    ({"notebook": "report.ipynb", "every": "1h", "cron": "* * * * *"}, 'exactly one of "cron", "every" or "at"'),
    ({"notebook": "report.ipynb", "every": "1h", "colour": "red"}, "colour"),
    ({"notebook": "report.ipynb", "every": "1h", "retries": -1}, "retries"),
    ({"notebook": "report.ipynb", "every": "1h", "overlap": "sometimes"}, "overlap"),
    ({"notebook": "report.ipynb", "every": "1h", "parameters": {"not a name": 1}}, "Python names"),
    ({"notebook": "report.ipynb", "every": "1h", "parameters": ["region"]}, "not key=value"),
    ({"notebook": "report.ipynb", "every": "soon"}, "not a duration"),
    ({"notebook": "report.ipynb", "cron": "every monday"}, "not a cron expression"),
    ({"notebook": "report.ipynb", "cron": "0 8 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"notebook": "report.ipynb", "at": "2001-01-01T09:00"}, "in the past"),
])
async def test_bad_schedule_bodies_are_400(jp_fetch: Fetch, jp_root_dir: Path, data: Any, says: str) -> None:
    write_notebook(jp_root_dir / "report.ipynb")
    response = await call(jp_fetch, "schedules", method="POST", data=data)
    assert response.code == 400, response.body
    assert says in body(response)["message"] and body(response)["api"] == "gorgon"


async def test_pause_resume_and_run_now(jp_fetch: Fetch, store: Store, hourly: Schedule) -> None:
    paused = body(await call(jp_fetch, "schedules", hourly.id, "pause", method="POST", data={}))
    assert paused["paused"] and store.jobs.get_schedule(hourly.id).paused
    resumed = body(await call(jp_fetch, "schedules", hourly.id, "resume", method="POST", data={}))
    assert not resumed["paused"] and resumed["next_run_at"] > time.time()

    queued = await call(jp_fetch, "schedules", "weekly", "run", method="POST", data={})
    assert queued.code == 200
    job = body(queued)["job"]
    assert job["state"] == "queued" and job["schedule_id"] == hourly.id
    assert job["notebook"] == "reports/weekly.ipynb" and job["parameters"] == {"region": "EU"}
    assert job["notebook_url_path"] is None and job["duration"] is None
    assert store.jobs.get(job["id"]).state == JobState.QUEUED

    [listed] = body(await call(jp_fetch, "schedules"))["schedules"]
    assert listed["active"] == 1
    assert listed["last_job"] == {"id": job["id"], "state": "queued", "ended_at": None}


# -- jobs -------------------------------------------------------------------------------------


async def test_jobs_are_listed_newest_first_with_their_executed_notebooks(
        jp_fetch: Fetch, jp_root_dir: Path, store: Store, hourly: Schedule, tmp_path: Path) -> None:
    first = service.run_now(store, hourly.id)
    write_notebook(jp_root_dir / "reports" / "runs" / "weekly-1.ipynb")
    ended(store, first, JobState.SUCCEEDED, output_path="reports/runs/weekly-1.ipynb", cost_usd=0.0123)
    failed = service.run_now(store, hourly.id)
    ended(store, failed, JobState.FAILED, output_path="reports/runs/weekly-2.ipynb",  # deleted since
          error="cell 2 raised ZeroDivisionError: division by zero", failed_cell=2,
          exception="ZeroDivisionError: division by zero")
    elsewhere = store.jobs.enqueue(Job(id="", root=str(tmp_path), notebook="other.ipynb"))
    write_notebook(tmp_path / "other-run.ipynb")
    ended(store, elsewhere, JobState.SUCCEEDED, output_path="other-run.ipynb")
    waiting = service.run_now(store, hourly.id)

    jobs = body(await call(jp_fetch, "jobs"))["jobs"]
    assert [j["id"] for j in jobs] == [waiting.id, elsewhere.id, failed.id, first.id]
    by_id = {j["id"]: j for j in jobs}
    done = by_id[first.id]
    assert done["state"] == "succeeded" and done["duration"] == 2.5 and done["cost_usd"] == 0.0123
    assert done["notebook_url_path"] == "reports/runs/weekly-1.ipynb" and done["notebook_unavailable"] is None
    broken = by_id[failed.id]
    assert broken["failed_cell"] == 2 and broken["exception"] == "ZeroDivisionError: division by zero"
    assert broken["error"].startswith("cell 2") and broken["notebook_url_path"] is None
    assert "does not exist any more" in broken["notebook_unavailable"]
    outside = by_id[elsewhere.id]
    assert outside["notebook_url_path"] is None and "outside JupyterLab's root" in outside["notebook_unavailable"]
    assert by_id[waiting.id]["notebook_url_path"] is None and by_id[waiting.id]["notebook_unavailable"] is None

    ours = body(await call(jp_fetch, "jobs", params={"schedule": "weekly", "limit": "2"}))["jobs"]
    assert [j["id"] for j in ours] == [waiting.id, failed.id]
    succeeded = body(await call(jp_fetch, "jobs", params={"state": "succeeded"}))["jobs"]
    assert [j["id"] for j in succeeded] == [elsewhere.id, first.id]
    one = body(await call(jp_fetch, "jobs", first.id[:6]))["job"]  # a prefix will do
    assert one == done

    store.jobs.delete_schedule(hourly.id)  # its jobs stay, on their own
    kept = body(await call(jp_fetch, "jobs"))["jobs"]
    assert [(j["id"], j["schedule_id"]) for j in kept if j["id"] != elsewhere.id] == [
        (waiting.id, None), (failed.id, None), (first.id, None)]
    unknown = await call(jp_fetch, "jobs", params={"schedule": hourly.id})
    assert unknown.code == 404 and "no schedule" in body(unknown)["message"]


HIDDEN_OUTPUT = ".gorgon/jobs/weekly/run.ipynb"


async def hidden_output(jp_fetch: Fetch, jp_root_dir: Path, store: Store, schedule: Schedule) -> dict[str, Any]:
    """A job whose executed notebook is in a hidden folder of the server's root, as read by the API."""
    job = service.run_now(store, schedule.id)
    write_notebook(jp_root_dir / HIDDEN_OUTPUT)
    ended(store, job, JobState.SUCCEEDED, output_path=HIDDEN_OUTPUT)
    listed: dict[str, Any] = body(await call(jp_fetch, "jobs", job.id))["job"]
    return listed


async def test_a_notebook_in_a_hidden_folder_is_not_linked_by_a_server_that_hides_them(
        jp_fetch: Fetch, jp_root_dir: Path, store: Store, hourly: Schedule) -> None:
    job = await hidden_output(jp_fetch, jp_root_dir, store, hourly)
    assert job["output_path"] == HIDDEN_OUTPUT and job["notebook_url_path"] is None
    assert "--ContentsManager.allow_hidden=True" in job["notebook_unavailable"]
    refused = await jp_fetch("api", "contents", HIDDEN_OUTPUT, raise_error=False)
    assert refused.code == 404  # what JupyterLab would get if it tried


@pytest.mark.parametrize("jp_server_config", [
    {"ServerApp": {"jpserver_extensions": {"gorgon_nb.server": True}}, "ContentsManager": {"allow_hidden": True}},
])
async def test_a_server_that_shows_hidden_files_links_them(
        jp_fetch: Fetch, jp_root_dir: Path, store: Store, hourly: Schedule) -> None:
    job = await hidden_output(jp_fetch, jp_root_dir, store, hourly)
    assert job["notebook_url_path"] == HIDDEN_OUTPUT and job["notebook_unavailable"] is None
    opened = await jp_fetch("api", "contents", HIDDEN_OUTPUT)
    assert json.loads(opened.body)["type"] == "notebook"


@pytest.mark.parametrize(("query", "says"), [
    ({"state": "lost"}, "unknown state 'lost'"),
    ({"limit": "0"}, "limit must be a whole number"),
    ({"limit": "many"}, "limit must be a whole number"),
])
async def test_bad_job_queries_are_400(jp_fetch: Fetch, query: dict[str, str], says: str) -> None:
    response = await call(jp_fetch, "jobs", params=query)
    assert response.code == 400 and says in body(response)["message"]


async def test_cancel_a_queued_job_at_once_a_running_one_by_request_an_ended_one_not(
        jp_fetch: Fetch, store: Store, hourly: Schedule) -> None:
    queued = service.run_now(store, hourly.id)
    response = await call(jp_fetch, "jobs", queued.id, "cancel", method="POST", data={})
    assert body(response) == {"result": "cancelled"}
    stored = store.jobs.get(queued.id)
    assert stored.state == JobState.CANCELLED and stored.ended_at is not None

    service.run_now(store, hourly.id)
    running = store.jobs.claim("a-scheduler")
    assert running is not None
    response = await call(jp_fetch, "jobs", running.id, "cancel", method="POST", data={})
    assert body(response) == {"result": "requested"}
    assert store.jobs.get(running.id).cancel_requested

    again = await call(jp_fetch, "jobs", queued.id, "cancel", method="POST", data={})
    assert again.code == 409 and "already ended" in body(again)["message"]
    missing = await call(jp_fetch, "jobs", "nosuchjob", "cancel", method="POST", data={})
    assert missing.code == 404 and "no job 'nosuchjob'" in body(missing)["message"]


# -- the feed ---------------------------------------------------------------------------------


async def test_the_feed_carries_jobs_and_schedules(
        jp_ws_fetch: Callable[..., Awaitable[Any]], store: Store, hourly: Schedule) -> None:
    connection = await jp_ws_fetch("gorgon", "api", "events")
    received: list[dict[str, Any]] = []

    async def until(done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            raw = await connection.read_message()
            assert raw is not None, "the server closed the feed"
            received.append(json.loads(raw))
            if received[-1]["type"] == "jobs" and done(received[-1]):
                return received[-1]

    try:
        first = await until(lambda p: True)
        assert first["jobs"] == [] and [s["id"] for s in first["schedules"]] == [hourly.id]
        assert first["scheduler"] == {"running": False, "owner": None}  # queued jobs would wait
        store.jobs.acquire_lease("scheduler", "elsewhere:42:1", 30.0)
        taken = await until(lambda p: p["scheduler"]["running"])
        assert taken["scheduler"] == {"running": True, "owner": "elsewhere:42:1"}
        job = service.run_now(store, hourly.id)
        queued = await until(lambda p: bool(p["jobs"]))
        assert [(j["id"], j["state"]) for j in queued["jobs"]] == [(job.id, "queued")]
        assert queued["schedules"][0]["active"] == 1
        ended(store, job, JobState.SUCCEEDED)
        done = await until(lambda p: p["jobs"][0]["state"] == "succeeded")
        assert done["schedules"][0]["last_job"]["state"] == "succeeded"
    finally:
        connection.close()


# -- who may call -----------------------------------------------------------------------------


async def test_requests_need_authentication(
        http_server_client: Any, jp_base_url: str, store: Store, hourly: Schedule) -> None:
    job = service.run_now(store, hourly.id)
    requests = [("GET", "schedules"), ("POST", "schedules"), ("GET", f"schedules/{hourly.id}"),
                ("POST", f"schedules/{hourly.id}/pause"), ("POST", f"schedules/{hourly.id}/run"),
                ("DELETE", f"schedules/{hourly.id}"), ("GET", "jobs"), ("GET", f"jobs/{job.id}"),
                ("POST", f"jobs/{job.id}/cancel")]
    for method, path in requests:
        response = await http_server_client.fetch(
            f"{jp_base_url}gorgon/api/{path}", method=method, raise_error=False,
            body=json.dumps({"notebook": "reports/weekly.ipynb", "every": "1h"}) if method == "POST" else None,
            headers={"Authorization": "token not-the-token"})
        assert response.code == 403, (method, path)
    assert not store.jobs.get_schedule(hourly.id).paused
    assert store.jobs.get(job.id).state == JobState.QUEUED
    assert len(store.jobs.schedules()) == 1


# -- the scheduler in the server --------------------------------------------------------------


@pytest.fixture
def scheduler_on(home: Path) -> None:
    """``[scheduler] enabled``, written before the server starts (it reads it once, at load)."""
    (home / "config.toml").write_text("[scheduler]\nenabled = true\npool = 1\n")


async def test_the_server_runs_the_scheduler_when_enabled(
        scheduler_on: None, jp_serverapp: Any, jp_fetch: Fetch, jp_root_dir: Path, store: Store) -> None:
    write_notebook(jp_root_dir / "report.ipynb")
    created = body(await call(jp_fetch, "schedules", method="POST", data={
        "notebook": "report.ipynb", "every": "1d", "parameters": ["region=EU"]}))
    job = body(await call(jp_fetch, "schedules", created["id"], "run", method="POST", data={}))["job"]
    deadline = time.monotonic() + 60
    while (current := body(await call(jp_fetch, "jobs", job["id"]))["job"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"the job did not end: {current}"
        await asyncio.sleep(0.2)
    assert current["state"] == "succeeded", current["error"]
    executed = nbformat.read(Path(current["root"]) / current["output_path"], as_version=4)
    assert any("EU" in output.get("text", "") for cell in executed.cells for output in cell.get("outputs", []))
    holder = store.jobs.lease_holder("scheduler")
    assert holder is not None and holder[1] > time.time()

    # stopping the server lets the lease go at once, for the next scheduler
    await jp_serverapp.cleanup_extensions()
    holder = store.jobs.lease_holder("scheduler")
    assert holder is not None and holder[1] < time.time()


async def test_the_scheduler_is_off_unless_enabled(
        jp_fetch: Fetch, jp_serverapp: Any, store: Store, hourly: Schedule) -> None:
    assert jp_serverapp.web_app.settings["gorgon_backend"].scheduler is None
    job = body(await call(jp_fetch, "schedules", hourly.id, "run", method="POST", data={}))["job"]
    await asyncio.sleep(1.5)  # a scheduler would have claimed it
    assert store.jobs.get(job["id"]).state == JobState.QUEUED
    assert store.jobs.lease_holder("scheduler") is None


async def test_a_workflow_is_scheduled_through_the_api(jp_fetch: Fetch, jp_root_dir: Path, store: Store) -> None:
    (jp_root_dir / "flows").mkdir()
    (jp_root_dir / "flows" / "hello.yaml").write_text(
        "id: hello\ninputs:\n  topic: {type: string, required: true}\nsteps:\n"
        "  - id: plan\n    agent: planner\n    task: Plan {{ inputs.topic }}\n")
    created = await call(jp_fetch, "schedules", method="POST", data={
        "workflow": "flows/hello.yaml", "every": "1h", "parameters": {"topic": "sales"}, "retries": 1})
    assert created.code == 201, created.body
    schedule = body(created)
    assert (schedule["kind"], schedule["notebook"], schedule["parameters"]) == (
        "workflow", "flows/hello.yaml", {"topic": "sales"})
    missing = await call(jp_fetch, "schedules", method="POST", data={"workflow": "flows/hello.yaml", "every": "1h"})
    assert missing.code == 400 and "missing required input 'topic'" in body(missing)["message"]
    unknown = await call(jp_fetch, "schedules", method="POST", data={"workflow": "no_such_flow", "every": "1h"})
    assert unknown.code == 400 and "no workflow named 'no_such_flow'" in body(unknown)["message"]
    too_long = await call(jp_fetch, "schedules", method="POST", data={"workflow": "n" * 300 + ".yaml", "every": "1h"})
    assert too_long.code == 400 and "File name too long" in body(too_long)["message"]
    queued = body(await call(jp_fetch, "schedules", schedule["id"], "run", method="POST", data={}))["job"]
    assert queued["kind"] == "workflow" and queued["parameters"] == {"topic": "sales"}
    assert [s.id for s in store.jobs.schedules()] == [schedule["id"]]

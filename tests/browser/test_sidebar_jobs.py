"""The Jobs tab in a real JupyterLab whose server runs the scheduler: a notebook scheduled from
the tab and run now goes to succeeded and its executed notebook opens in JupyterLab; a
failing one says which cell raised what; a running one is cancelled; schedules are paused,
resumed and deleted. Screenshots in the light and the dark theme go to
test-artifacts/sidebar_jobs*_{light,dark}.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_lab_widget import UI_TIMEOUT
from test_sidebar import api, open_lab, open_tab, screenshots

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

# the server runs the scheduler, with one kernel started ahead
LAB_CONFIG = "[scheduler]\nenabled = true\npool = 1\n"
JOB_TIMEOUT = 60_000  # ms: a kernel, papermill and a few cells


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    """This module's own server, started with LAB_CONFIG (the scheduler is read at start)."""
    return configured_lab_server


def write_notebook(root: Path, name: str, *sources: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("greeting = 'hi'", metadata={"tags": ["parameters"]}),
                      *(nbformat.v4.new_code_cell(source) for source in sources)]
    nbformat.write(notebook, root / name)
    return name


async def new_schedule(jobs: Any, notebook: str, every: str = "1d", parameters: str = "", path: str = "") -> Any:
    """Schedule ``notebook`` (at ``path``, when in a folder) with the tab's form; its row."""
    from playwright.async_api import expect

    await jobs.locator("button.jp-gorgon-new-schedule").click()
    form = jobs.locator(".jp-gorgon-schedule-form")
    await form.locator(".jp-gorgon-form-notebook").fill(path or notebook)
    await form.locator(".jp-gorgon-form-when").fill(every)
    await form.locator(".jp-gorgon-form-parameters").fill(parameters)
    await form.locator("button.jp-gorgon-form-submit").click()
    await expect(form).to_have_count(0, timeout=UI_TIMEOUT)
    row = jobs.locator(".jp-gorgon-schedule-row").filter(has_text=notebook)
    await expect(row).to_have_count(1, timeout=UI_TIMEOUT)
    return row


async def run_now(lab_server: Any, jobs: Any, schedule: Any) -> tuple[str, Any]:
    """Run now, from the schedule's row: the new job's id and its row."""
    from playwright.async_api import expect

    schedule_id = await schedule.get_attribute("data-schedule-id")
    async with jobs.page.expect_request(lambda r: f"/schedules/{schedule_id}/run?" in r.url) as sent:
        await schedule.locator("button.jp-gorgon-run-now").click()
    assert (await sent.value).method == "POST"
    await expect(schedule.locator(".jp-gorgon-status[data-status]")).to_have_count(1, timeout=UI_TIMEOUT)
    [job] = api(lab_server, f"jobs?schedule={schedule_id}&limit=1")["jobs"]
    job_id = job["id"]
    row = jobs.locator(f".jp-gorgon-job-row[data-job-id='{job_id}']")
    await expect(row).to_have_count(1, timeout=UI_TIMEOUT)
    return job_id, row


async def test_a_notebook_scheduled_in_the_tab_runs_now_and_its_executed_notebook_opens(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    write_notebook(lab_server.root, "daily.ipynb", "print(f'{greeting}, from a scheduled job')")
    await open_lab(page, lab_server)
    jobs = await open_tab(page, "Jobs")
    await expect(jobs.locator(".jp-gorgon-notice").first).to_contain_text("No schedules yet", timeout=UI_TIMEOUT)
    await expect(jobs.locator(".jp-gorgon-notice").last).to_contain_text("No jobs yet")
    assert "the scheduler runs in this server" in lab_server.log_text()

    # a notebook that is not there is said in the form, which keeps what was typed
    await jobs.locator("button.jp-gorgon-new-schedule").click()
    form = jobs.locator(".jp-gorgon-schedule-form")
    await form.locator(".jp-gorgon-form-notebook").fill("nowhere.ipynb")
    await form.locator("button.jp-gorgon-form-submit").click()
    await expect(form.locator(".jp-gorgon-inline-error")).to_contain_text("no notebook at 'nowhere.ipynb'",
                                                                        timeout=UI_TIMEOUT)
    await expect(form.locator(".jp-gorgon-form-notebook")).to_have_value("nowhere.ipynb")
    await screenshots(page, artifacts, "jobs_form_error")
    await form.locator("button").filter(has_text=re.compile("^Cancel$")).click()

    schedule = await new_schedule(jobs, "daily.ipynb", "1d", "greeting=hello\ndays=7")
    await expect(schedule.locator(".jp-gorgon-trigger")).to_have_text("every 1 day")
    await expect(schedule.locator(".jp-gorgon-next-run")).to_contain_text("next in 24 h")
    await expect(schedule.locator(".jp-gorgon-parameters")).to_have_text("greeting=hello days=7")
    [stored] = api(lab_server, "schedules")["schedules"]
    assert stored["parameters"] == {"greeting": "hello", "days": 7} and stored["every"] == 86400

    job_id, job = await run_now(lab_server, jobs, schedule)
    await expect(job).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT)
    await expect(job.locator(".jp-gorgon-status").first).to_have_text("succeeded")
    await expect(job.locator(".jp-gorgon-facts").first).to_contain_text(re.compile(r"\d+(\.\d)? s"))
    await expect(schedule.locator(".jp-gorgon-status[data-status='succeeded']")).to_be_visible()
    done = api(lab_server, f"jobs/{job_id}")["job"]
    assert done["state"] == "succeeded" and done["notebook_url_path"] == done["output_path"]
    executed = nbformat.read(lab_server.root / done["output_path"], as_version=4)
    assert "hello, from a scheduled job" in str(executed.cells[-1].outputs)
    await screenshots(page, artifacts, "jobs", top=jobs.locator(".jp-gorgon-section-bar").first)

    # its details, then the executed notebook in JupyterLab
    await job.locator(".jp-gorgon-step-head").click()
    detail = job.locator(".jp-gorgon-job-detail")
    await expect(detail).to_contain_text("greeting=hello days=7")
    await expect(detail).to_contain_text(done["output_path"])
    await job.locator("button.jp-gorgon-open-output").click()
    name = Path(done["output_path"]).name
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab").filter(has_text=name)
    await expect(tab).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(tab).to_have_class(re.compile("lm-mod-current"))
    notebook = page.locator(".jp-NotebookPanel:visible")
    await expect(notebook.locator(".jp-OutputArea-output").last).to_contain_text(
        "hello, from a scheduled job", timeout=UI_TIMEOUT)
    await screenshots(page, artifacts, "jobs_executed_notebook")


async def test_a_failing_job_says_where_and_schedules_pause_resume_and_delete(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    write_notebook(lab_server.root, "broken.ipynb", "x = 1", "raise ValueError(f'bad input: {greeting}')")
    await open_lab(page, lab_server)
    jobs = await open_tab(page, "Jobs")
    schedule = await new_schedule(jobs, "broken.ipynb", "2h")
    await expect(schedule.locator(".jp-gorgon-trigger")).to_have_text("every 2 h")

    job_id, job = await run_now(lab_server, jobs, schedule)
    await expect(job).to_have_attribute("data-state", "failed", timeout=JOB_TIMEOUT)
    failed = api(lab_server, f"jobs/{job_id}")["job"]
    assert "ValueError: bad input: hi" in failed["exception"]
    written = nbformat.read(lab_server.root / "broken.ipynb", as_version=4)
    assert written.cells[failed["failed_cell"] - 1].source.startswith("raise ValueError")  # counted from 1
    await expect(job.locator(".jp-gorgon-job-error")).to_have_text(failed["error"])
    await expect(job.locator(".jp-gorgon-job-error")).to_contain_text("ValueError")
    await expect(job.locator("button.jp-gorgon-open-output")).to_be_visible()  # the partial notebook
    await expect(job.locator(".jp-gorgon-job-where")).to_have_count(0)  # the error says it already
    await job.locator(".jp-gorgon-step-head").click()
    await expect(job.locator(".jp-gorgon-job-detail")).to_contain_text(failed["output_path"])
    await screenshots(page, artifacts, "jobs_failed", top=job)

    # pause and resume
    await schedule.locator("button.jp-gorgon-pause").click()
    await expect(schedule).to_have_attribute("data-paused", "true", timeout=UI_TIMEOUT)
    await expect(schedule.locator(".jp-gorgon-status[data-status='paused']")).to_be_visible()
    await expect(schedule.locator(".jp-gorgon-next-run")).to_have_text("paused")
    await expect(schedule.locator("button.jp-gorgon-pause")).to_have_text("Resume")
    await schedule.locator("button.jp-gorgon-pause").click()
    await expect(schedule).to_have_attribute("data-paused", "false", timeout=UI_TIMEOUT)
    await expect(schedule.locator(".jp-gorgon-next-run")).to_contain_text("next in 2 h")

    # delete, after saying no once
    schedule_id = await schedule.get_attribute("data-schedule-id")
    await schedule.locator("button.jp-gorgon-delete").click()
    dialog = page.locator(".jp-Dialog")
    await expect(dialog).to_contain_text("broken.ipynb (every 2 h) will not run again")
    await dialog.locator("button").filter(has_text=re.compile("^Cancel$")).click()
    await expect(dialog).to_have_count(0)
    assert schedule_id in {s["id"] for s in api(lab_server, "schedules")["schedules"]}
    await schedule.locator("button.jp-gorgon-delete").click()
    await dialog.locator("button.jp-mod-warn").filter(has_text="Delete").click()
    await expect(schedule).to_have_count(0, timeout=UI_TIMEOUT)
    assert schedule_id not in {s["id"] for s in api(lab_server, "schedules")["schedules"]}
    await expect(job).to_be_visible()  # its jobs stay


async def test_a_running_job_is_cancelled_from_the_tab(page: Any, lab_server: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    write_notebook(lab_server.root, "slow.ipynb", "import time\ntime.sleep(120)")
    await open_lab(page, lab_server)
    jobs = await open_tab(page, "Jobs")
    schedule = await new_schedule(jobs, "slow.ipynb", "1d")
    job_id, job = await run_now(lab_server, jobs, schedule)
    await expect(job).to_have_attribute("data-state", "running", timeout=JOB_TIMEOUT)
    await expect(job.locator(".jp-gorgon-status").first).to_have_text("running")
    await screenshots(page, artifacts, "jobs_running", top=job)
    await job.locator("button.jp-gorgon-cancel-job").click()
    await expect(job).to_contain_text("Cancel requested", timeout=UI_TIMEOUT)
    await expect(job).to_have_attribute("data-state", "cancelled", timeout=JOB_TIMEOUT)
    assert api(lab_server, f"jobs/{job_id}")["job"]["state"] == "cancelled"
    await expect(job.locator("button.jp-gorgon-cancel-job")).to_have_count(0)


async def test_a_workflow_scheduled_in_the_tab_runs_and_opens_its_run(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    (lab_server.root / "flows").mkdir(exist_ok=True)
    (lab_server.root / "flows" / "hello.yaml").write_text(
        "id: hello\ninputs:\n  topic: {type: string, required: true}\nsteps:\n"
        "  - id: plan\n    agent: planner\n    task: Plan {{ inputs.topic }}\n")
    await open_lab(page, lab_server)
    jobs = await open_tab(page, "Jobs")

    # a missing input is said in the form
    await jobs.locator("button.jp-gorgon-new-schedule").click()
    form = jobs.locator(".jp-gorgon-schedule-form")
    await form.locator(".jp-gorgon-form-notebook").fill("flows/hello.yaml")
    await expect(form.locator(".jp-gorgon-field").filter(has_text="Inputs")).to_have_count(1)
    await expect(form.locator(".jp-gorgon-form-allow-code")).to_have_count(1)
    await form.locator("button.jp-gorgon-form-submit").click()
    await expect(form.locator(".jp-gorgon-inline-error")).to_contain_text("missing required input 'topic'",
                                                                        timeout=UI_TIMEOUT)
    await form.locator("button").filter(has_text=re.compile("^Cancel$")).click()

    schedule = await new_schedule(jobs, "hello.yaml", "1d", "topic=sales", path="flows/hello.yaml")
    await expect(schedule.locator(".jp-gorgon-kind")).to_have_text("workflow")
    [stored] = [s for s in api(lab_server, "schedules")["schedules"] if s["notebook"] == "flows/hello.yaml"]
    assert stored["kind"] == "workflow" and stored["parameters"] == {"topic": "sales"}

    job_id, job = await run_now(lab_server, jobs, schedule)
    await expect(job).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT)
    await expect(job.locator(".jp-gorgon-kind")).to_have_text("workflow")
    done = api(lab_server, f"jobs/{job_id}")["job"]
    assert done["kind"] == "workflow" and len(done["run_ids"]) == 1 and done["output_path"] is None
    run_id = done["run_ids"][0]
    await screenshots(page, artifacts, "jobs_workflow", top=jobs.locator(".jp-gorgon-section-bar").first)

    # a workflow that runs code needs the box ticked
    (lab_server.root / "flows" / "code.yaml").write_text(
        "id: code\nallow_code: true\nsteps:\n  - id: hello\n    shell: echo hello\n")
    await jobs.locator("button.jp-gorgon-new-schedule").click()
    form = jobs.locator(".jp-gorgon-schedule-form")
    await form.locator(".jp-gorgon-form-notebook").fill("flows/code.yaml")
    await form.locator("button.jp-gorgon-form-submit").click()
    await expect(form.locator(".jp-gorgon-inline-error")).to_contain_text("runs code on this machine",
                                                                        timeout=UI_TIMEOUT)
    await form.locator(".jp-gorgon-form-allow-code").check()
    await form.locator("button.jp-gorgon-form-submit").click()
    await expect(form).to_have_count(0, timeout=UI_TIMEOUT)
    [code] = [s for s in api(lab_server, "schedules")["schedules"] if s["notebook"] == "flows/code.yaml"]
    assert code["allow_code"] is True and code["kind"] == "workflow"

    # the job's run opens in the Runs tab
    await job.locator(".jp-gorgon-step-head").click()
    await job.locator("button.jp-gorgon-open-run").click()
    runs = page.locator("#gorgon-runs")
    await expect(runs).to_be_visible(timeout=UI_TIMEOUT)
    detail = runs.locator(f".jp-gorgon-run-detail[data-run-id='{run_id}']")
    await expect(detail.locator(".jp-gorgon-step-row[data-key='plan']")).to_have_count(1, timeout=UI_TIMEOUT)

"""The Gorgon sidebar when things go wrong, in a real JupyterLab: the default model's provider
has no key (the chat says what to set and keeps what was typed), requests the chat cannot
take, jobs that no scheduler runs, and a Jupyter server that stops (every tab says so instead
of going blank).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_lab_widget import UI_TIMEOUT
from test_sidebar import api, new_chat, open_lab, open_tab, screenshots, set_theme

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

# Anthropic's model by default, and no ANTHROPIC_API_KEY in the server's environment
LAB_CONFIG = '[defaults]\nmodel = "anthropic"\n'
STOP_TIMEOUT = 15  # s


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    """This module's own server: its config is read once, and its last test stops it."""
    return configured_lab_server


async def test_requests_the_chat_cannot_take_are_said_and_their_text_kept(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    chat, session_id = await new_chat(page)
    box = chat.locator("textarea.jp-gorgon-input")
    notice = chat.locator(".jp-gorgon-chat-notice")
    for text, said in [
        ("@nobody say hi", "unknown role '@nobody'"),
        ("/run no_such_workflow topic=x", "no workflow named 'no_such_workflow'"),
        ("hello there", "needs an API key: set ANTHROPIC_API_KEY"),
    ]:
        await box.fill(text)
        await box.press("Enter")
        await expect(notice).to_contain_text(said, timeout=UI_TIMEOUT)
        await expect(box).to_have_value(text)  # given back to be fixed or sent later
    await expect(chat.locator(".jp-gorgon-message")).to_have_count(0)
    assert api(lab_server, f"chat/sessions/{session_id}/messages")["messages"] == []
    await screenshots(page, artifacts, "no_key")


async def test_jobs_that_no_scheduler_runs_are_said_and_cancelled_at_once(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    """This server runs no scheduler ([scheduler] is not enabled): a queued job waits, the
    Jobs tab says why and how to start one, and Cancel ends the job before it starts."""
    from playwright.async_api import expect

    from gorgon_nb.model.jobs import Schedule
    from gorgon_nb.scheduler.service import run_now
    from gorgon_nb.store import Store

    nbformat.write(nbformat.v4.new_notebook(), lab_server.root / "waiting.ipynb")
    with Store(lab_server.home / "gorgon.db") as store:
        schedule = store.jobs.create_schedule(Schedule(id="", root=str(lab_server.root), notebook="waiting.ipynb",
                                                       cron="0 8 * * MON", timezone="Europe/Paris", next_run_at=2e9))
        job = run_now(store, schedule.id)
    await open_lab(page, lab_server)
    jobs = await open_tab(page, "Jobs")
    await expect(jobs.locator(".jp-gorgon-notice[data-tone='warn']")).to_contain_text(
        "No scheduler is running", timeout=UI_TIMEOUT
    )
    row = jobs.locator(f".jp-gorgon-job-row[data-job-id='{job.id}']")
    await expect(row).to_have_attribute("data-state", "queued")
    schedule_row = jobs.locator(f".jp-gorgon-schedule-row[data-schedule-id='{schedule.id}']")
    await expect(schedule_row.locator(".jp-gorgon-trigger")).to_have_text("cron 0 8 * * MON (Europe/Paris)")
    await screenshots(page, artifacts, "jobs_no_scheduler")
    await row.locator("button.jp-gorgon-cancel-job").click()
    await expect(row).to_have_attribute("data-state", "cancelled", timeout=UI_TIMEOUT)
    await expect(row).to_contain_text("Cancelled before it started.")
    await expect(row.locator(".jp-gorgon-job-error")).to_have_text("cancelled before it started")
    assert api(lab_server, f"jobs/{job.id}")["job"]["state"] == "cancelled"


async def test_a_stopped_server_is_said_in_every_tab(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    """Runs last in this module: it stops the module's server."""
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    await set_theme(page, "dark")  # the theme cannot be saved once the server is gone
    chat, _ = await new_chat(page)
    runs = await open_tab(page, "Runs")
    await expect(runs.locator(".jp-gorgon-notice")).to_contain_text("No runs yet")

    # JupyterLab's own "Server Connection Error" dialog comes a few seconds after the server
    # goes, at no set moment, and covers the page: Playwright closes it whenever it shows
    # before a click or a check, so each step below sees the sidebar, as a person would after
    # closing it.
    lost = page.locator(".jp-Dialog").filter(has_text="Server Connection Error")

    async def close_lost_dialog(dialog: Any) -> None:
        await dialog.locator(".jp-Dialog-button").first.click()

    await page.add_locator_handler(lost, close_lost_dialog)
    lab_server.process.terminate()
    lab_server.process.wait(timeout=STOP_TIMEOUT)

    unreachable = "Cannot reach the Jupyter server"
    await expect(runs.locator(".jp-gorgon-connection")).to_contain_text(unreachable, timeout=UI_TIMEOUT)
    await expect(runs.locator(".jp-gorgon-connection")).to_contain_text("may be out of date")
    approvals = await open_tab(page, "Approvals")
    await expect(approvals.locator(".jp-gorgon-connection")).to_contain_text(unreachable)
    jobs = await open_tab(page, "Jobs")
    await expect(jobs.locator(".jp-gorgon-connection")).to_contain_text(unreachable)
    chat = await open_tab(page, "Chat")
    await expect(chat.locator(".jp-gorgon-connection")).to_contain_text("Reconnecting")
    box = chat.locator("textarea.jp-gorgon-input")
    await box.fill("@planner plan a CSV loader")
    await box.press("Enter")
    await expect(chat.locator(".jp-gorgon-chat-notice")).to_contain_text("Not connected")
    await expect(box).to_have_value("@planner plan a CSV loader")

    await page.screenshot(path=artifacts / "sidebar_server_stopped_dark.png")
    await open_tab(page, "Runs")
    await page.screenshot(path=artifacts / "sidebar_server_stopped_runs_dark.png")

"""Tool calls in a real JupyterLab: a write waits for approval while the notebook's cell
blocks, is approved in the sidebar's Approvals tab, and the step card shows every call.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_lab_widget import (
    RUN_TIMEOUT,
    UI_TIMEOUT,
    dismiss_popups,
    open_notebook,
    run_all_cells,
    wait_for_run,
)
from test_sidebar import ICON, api, new_chat, open_lab, open_tab, send, top_message

from gorgon_nb.store import Store

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

COMMENT = "Fine, write it"
# the offline model calls each offered tool its prompt names, with the JSON after the name
TASK = ('Read files.read_file {"path": "notes.md"} then write '
        'files.write_file {"path": "hello.py", "content": "print(1)"}')
WORKFLOW_CELL = textwrap.dedent(f"""\
    %%gorgon
    name: Write hello
    steps:
      - id: build
        agent: builder
        task: '{TASK}'
        tools: [files]
    """)
# the chat's analyst may use the files of the server's folder
LAB_CONFIG = '[roles.analyst]\ntools = ["files"]\n'


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    """This module's own server, started with LAB_CONFIG."""
    return configured_lab_server


def write_notebook(root: Path, name: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext gorgon_nb"), nbformat.v4.new_code_cell(WORKFLOW_CELL)]
    nbformat.write(notebook, root / name)
    return name


async def test_a_file_write_approved_in_the_sidebar_while_the_cell_waits(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    (lab_server.root / "notes.md").write_text("Say hello in Python.\n")
    (lab_server.root / "hello.py").unlink(missing_ok=True)
    name = write_notebook(lab_server.root, "tool_calls.ipynb")
    notebook = await open_notebook(page, lab_server, f"/lab/tree/{name}", name, "reset")
    approvals = await open_tab(page, "Approvals")
    await run_all_cells(page, notebook)

    # the step card lists its calls as they come; the write waits for a person
    cell = notebook.locator(".jp-Cell").nth(1)
    view = cell.locator(".gorgon-run")
    card = view.locator(".gorgon-step[data-key='build']")
    await expect(card).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT)
    lines = card.locator(".gorgon-tool")
    await expect(lines.locator(".gorgon-tool-name")).to_have_text(["files.read_file", "files.write_file"],
                                                                   timeout=UI_TIMEOUT)
    await expect(card.locator(".gorgon-tool[data-status='ok'] .gorgon-tool-name")).to_have_text("files.read_file")
    await expect(card.locator(".gorgon-tool[data-status='waiting'] .gorgon-tool-name")).to_have_text(
        "files.write_file")
    await expect(card.locator(".gorgon-tools-count")).to_have_text("2 tool calls")
    await expect(card.locator(".gorgon-step-approval")).to_have_text("needs your approval")
    # the detail opened by itself: the read's result, and the write's diff under its call
    detail = view.locator(".gorgon-detail")
    await expect(detail.locator(".gorgon-call").nth(0).locator(".gorgon-call-result")).to_contain_text(
        "Say hello in Python.", timeout=UI_TIMEOUT)
    waiting = detail.locator(".gorgon-call[data-status='waiting']")
    await expect(waiting.locator(".gorgon-call-args")).to_have_text('{"path": "hello.py", "content": "print(1)"}')
    await expect(waiting.locator(".gorgon-approval-title")).to_have_text("files.write_file (build)")
    await expect(waiting.locator(".gorgon-approval-preview")).to_contain_text("+print(1)")

    # the sidebar counts it and shows the same diff, keyed by the call
    await expect(page.locator(ICON)).to_have_attribute("data-gorgon-pending", "1", timeout=UI_TIMEOUT)
    sidebar_card = approvals.locator(".jp-gorgon-approval")
    await expect(sidebar_card).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(sidebar_card.locator(".jp-gorgon-approval-title")).to_have_text("files.write_file (build)")
    await expect(sidebar_card.locator(".jp-gorgon-approval-preview")).to_contain_text("+print(1)")
    await expect(sidebar_card).to_contain_text("approve a tool call that writes")
    run_id = await sidebar_card.get_attribute("data-run-id")
    pending = api(lab_server, "approvals")["approvals"]
    assert [(a["run_id"], a["step_key"], a["kind"]) for a in pending] == [(run_id, "build/tool-2", "tool")]
    prompt = cell.locator(".jp-InputPrompt")
    await expect(prompt).to_have_text(re.compile(r"\[\*\]"))  # the cell waits
    assert not (lab_server.root / "hello.py").exists()
    await sidebar_card.locator("textarea.jp-gorgon-comment").fill(COMMENT)
    await dismiss_popups(page)
    await view.scroll_into_view_if_needed()
    await page.screenshot(path=artifacts / "tool_calls_waiting.png")

    async with page.expect_request(lambda r: "/gorgon/api/approvals/" in r.url) as posted:
        await sidebar_card.locator("button.jp-gorgon-approve").click()
    request = await posted.value
    assert json.loads(request.post_data or "") == {"decision": "approve", "comment": COMMENT}
    await expect(sidebar_card).to_have_count(0, timeout=UI_TIMEOUT)

    # the run goes on in the kernel: the file is written, the step answers from the results
    await wait_for_run(page, notebook)
    await expect(view).to_have_attribute("data-status", "succeeded")
    await expect(card).to_have_attribute("data-status", "succeeded")
    assert [await line.get_attribute("data-status") for line in await lines.all()] == ["ok", "ok"]
    await expect(card.locator(".gorgon-step-approval")).to_be_hidden()
    assert (lab_server.root / "hello.py").read_text() == "print(1)"
    await card.click()
    written = detail.locator(".gorgon-call").nth(1)
    await expect(written.locator(".gorgon-call-result")).to_contain_text("hello.py", timeout=UI_TIMEOUT)
    await expect(written.locator(".gorgon-approval-message")).to_contain_text(f"\u201c{COMMENT}\u201d")
    await view.scroll_into_view_if_needed()
    await view.screenshot(path=artifacts / "tool_calls_done.png")

    with Store(lab_server.home / "gorgon.db") as store:
        calls = store.tools.of_run(run_id)
        decided = store.approvals.recent(status=None, run_id=run_id)
    assert sorted((c.tool, c.state, c.is_error) for c in calls) == [
        ("files.read_file", "done", False), ("files.write_file", "done", False)]
    assert [(a.step_key, a.status, a.comment) for a in decided] == [("build/tool-2", "approved", COMMENT)]


async def test_an_answers_tool_calls_fold_under_it_in_the_chat(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    (lab_server.root / "notes.md").write_text("Say hello in Python.\n")
    (lab_server.root / "chat.txt").unlink(missing_ok=True)
    await open_lab(page, lab_server)
    chat, session_id = await new_chat(page)
    await send(chat, '@analyst read files.read_file {"path": "notes.md"} and save '
                     'files.write_file {"path": "chat.txt", "content": "hi"}')
    message = top_message(chat, "analyst")
    calls = message.locator(".jp-gorgon-tool-calls")
    toggle = calls.locator("button.jp-gorgon-tool-calls-toggle")
    # the write waits: the message says so and leads to the Approvals tab
    waiting = calls.locator("button.jp-gorgon-waiting-link")
    await expect(waiting).to_have_text("A tool call waits for your approval", timeout=RUN_TIMEOUT)
    await expect(toggle).to_contain_text("2 tool calls")
    await expect(toggle).to_contain_text("1 ok, 1 waiting for approval")
    await waiting.click()
    approvals = page.locator("#gorgon-approvals")
    await expect(approvals).to_be_visible(timeout=UI_TIMEOUT)
    card = approvals.locator(".jp-gorgon-approval")
    await expect(card.locator(".jp-gorgon-approval-title")).to_have_text("files.write_file (answer)")
    await card.locator("button.jp-gorgon-approve").click()
    await expect(card).to_have_count(0, timeout=UI_TIMEOUT)

    chat = await open_tab(page, "Chat")
    message = top_message(chat, "analyst")
    await expect(message).to_have_attribute("data-status", "done", timeout=RUN_TIMEOUT)
    calls = message.locator(".jp-gorgon-tool-calls")
    toggle = calls.locator("button.jp-gorgon-tool-calls-toggle")
    await expect(toggle).to_contain_text("2 ok")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(calls.locator(".jp-gorgon-tool-call")).to_have_count(0)  # folded
    await expect(calls.locator("button.jp-gorgon-waiting-link")).to_have_count(0)
    await toggle.click()
    items = calls.locator(".jp-gorgon-tool-call")
    await expect(items.locator(".jp-gorgon-tool-call-name")).to_have_text(["files.read_file", "files.write_file"])
    await expect(items.locator(".jp-gorgon-status")).to_have_text(["ok", "ok"])
    await expect(items.nth(0).locator(".jp-gorgon-tool-call-args")).to_have_text('{"path": "notes.md"}')
    await expect(items.nth(0).locator(".jp-gorgon-tool-call-result")).to_contain_text("Say hello in Python.")
    assert (lab_server.root / "chat.txt").read_text() == "hi"
    stored = api(lab_server, f"chat/sessions/{session_id}/messages")["messages"]
    answer = next(m for m in stored if m["agent"] == "analyst")
    assert [(c["tool"], c["status"]) for c in answer["meta"]["tool_calls"]] == [
        ("files.read_file", "ok"), ("files.write_file", "ok")]
    assert api(lab_server, "approvals")["approvals"] == []
    await expect(page.locator(ICON)).to_have_attribute("data-gorgon-pending", "0", timeout=UI_TIMEOUT)
    await dismiss_popups(page)
    await page.screenshot(path=artifacts / "sidebar_chat_tool_calls.png")
    await toggle.click()
    await expect(items).to_have_count(0)

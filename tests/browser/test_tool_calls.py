"""Tool calls in a real JupyterLab: a write waits for approval while the notebook's cell
blocks, is approved in the sidebar's Approvals tab, and the step card shows every call.
"""

from __future__ import annotations

import asyncio
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
from test_sidebar import ICON, api, open_lab, open_tab
from tool_runs import Script

from gorgon_nb.chat import ChatService
from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

TESTS = Path(__file__).resolve().parents[1]  # where the kernel finds tool_runs
COMMENT = "Fine, write it"
# the kernel's model asks for these calls, turn by turn (tests/tool_runs.py), then answers
SETUP_CELL = textwrap.dedent(f"""\
    %load_ext gorgon_nb
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    from tool_runs import Script
    from gorgon_nb.runner import default_runner
    default_runner().runtime.providers.register(Script(
        [("uitools.look", {{"name": "sales"}}), ("uitools.broken", {{}})],
        [("uitools.save", {{"path": "hello.py", "text": "print(1)"}})],
    ))
    """)
WORKFLOW_CELL = textwrap.dedent("""\
    %%gorgon
    name: Write a summary
    steps:
      - id: build
        llm: Look the sales table up and write hello.py
        tools: [uitools]
    """)


def write_notebook(root: Path, name: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SETUP_CELL), nbformat.v4.new_code_cell(WORKFLOW_CELL)]
    nbformat.write(notebook, root / name)
    return name


async def test_a_write_approved_in_the_sidebar_while_the_cell_waits(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

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
    await expect(lines).to_have_count(3, timeout=UI_TIMEOUT)
    await expect(lines.locator(".gorgon-tool-name")).to_have_text(["uitools.look", "uitools.broken",
                                                                   "uitools.save"])
    await expect(card.locator(".gorgon-tool[data-status='waiting'] .gorgon-tool-name")).to_have_text("uitools.save")
    await expect(card.locator(".gorgon-tools-count")).to_have_text("3 tool calls")
    await expect(card.locator(".gorgon-step-approval")).to_have_text("needs your approval")
    # the detail opened by itself at the waiting call, its approval under it
    waiting = view.locator(".gorgon-detail .gorgon-call[data-status='waiting']")
    await expect(waiting.locator(".gorgon-call-args")).to_have_text('{"path": "hello.py", "text": "print(1)"}',
                                                                    timeout=UI_TIMEOUT)
    await expect(waiting.locator(".gorgon-approval-title")).to_have_text("uitools.save (build)")
    await expect(waiting.locator(".gorgon-approval-preview")).to_contain_text("print(1)")

    # the sidebar counts it and shows the same preview, keyed by the call
    await expect(page.locator(ICON)).to_have_attribute("data-gorgon-pending", "1", timeout=UI_TIMEOUT)
    sidebar_card = approvals.locator(".jp-gorgon-approval")
    await expect(sidebar_card).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(sidebar_card.locator(".jp-gorgon-approval-title")).to_have_text("uitools.save (build)")
    await expect(sidebar_card.locator(".jp-gorgon-approval-preview")).to_contain_text("print(1)")
    run_id = await sidebar_card.get_attribute("data-run-id")
    pending = api(lab_server, "approvals")["approvals"]
    assert [(a["run_id"], a["step_key"], a["kind"]) for a in pending] == [(run_id, "build/tool-3", "tool")]
    prompt = cell.locator(".jp-InputPrompt")
    await expect(prompt).to_have_text(re.compile(r"\[\*\]"))  # the cell waits
    await sidebar_card.locator("textarea.jp-gorgon-comment").fill(COMMENT)
    await dismiss_popups(page)
    await view.scroll_into_view_if_needed()
    await page.screenshot(path=artifacts / "tool_calls_waiting.png")

    async with page.expect_request(lambda r: "/gorgon/api/approvals/" in r.url) as posted:
        await sidebar_card.locator("button.jp-gorgon-approve").click()
    request = await posted.value
    assert json.loads(request.post_data or "") == {"decision": "approve", "comment": COMMENT}
    await expect(sidebar_card).to_have_count(0, timeout=UI_TIMEOUT)

    # the run goes on in the kernel: the call ran, the step answered with what the tools said
    await wait_for_run(page, notebook)
    await expect(view).to_have_attribute("data-status", "succeeded")
    await expect(card).to_have_attribute("data-status", "succeeded")
    await expect(card.locator(".gorgon-tool")).to_have_count(3)
    statuses = [await line.get_attribute("data-status") for line in await lines.all()]
    assert statuses == ["ok", "error", "ok"]
    await expect(card.locator(".gorgon-step-approval")).to_be_hidden()
    await card.click()
    detail = view.locator(".gorgon-detail")
    saved = detail.locator(".gorgon-call").nth(2)
    await expect(saved.locator(".gorgon-call-result")).to_have_text("saved 8 characters to hello.py",
                                                                     timeout=UI_TIMEOUT)
    await expect(saved.locator(".gorgon-approval-message")).to_contain_text(f"\u201c{COMMENT}\u201d")
    await expect(detail.locator(".gorgon-call").nth(1).locator(".gorgon-call-result")).to_contain_text(
        "the table is locked")
    await view.scroll_into_view_if_needed()
    await view.screenshot(path=artifacts / "tool_calls_done.png")

    with Store(lab_server.home / "gorgon.db") as store:
        calls = store.tools.of_run(run_id)
        decided = store.approvals.recent(status=None, run_id=run_id)
    assert [(c.tool, c.state, c.is_error) for c in calls] == [
        ("uitools.look", "done", False), ("uitools.broken", "done", True), ("uitools.save", "done", False)]
    assert [(a.step_key, a.status, a.comment) for a in decided] == [("build/tool-3", "approved", COMMENT)]


async def test_an_answers_tool_calls_fold_under_it_in_the_chat(
    page: Any, lab_server: Any, artifacts: Path, tmp_path: Path
) -> None:
    """The answer is written by a chat service of this process into the server's store (the
    server's own model cannot be scripted); the sidebar reads it from there."""
    from playwright.async_api import expect

    (tmp_path / "config.toml").write_text('[roles.analyst]\ntools = ["uitools"]\n')
    config = load_config(env={"GORGON_HOME": str(tmp_path)})
    with Store(lab_server.home / "gorgon.db") as store:
        service = ChatService(Runner(config, store))
        service.runner.runtime.providers.register(Script(
            [("uitools.look", {"name": "sales"}), ("uitools.broken", {})],
            [("uitools.look", {"name": "costs"})]))
        session = service.create_session("Sales rows")
        await service.send(session.id, "@analyst how many sales rows are there?")
        for _ in range(400):
            if not service.answering(session.id):
                break
            await asyncio.sleep(0.025)
        answer = next(m for m in service.messages(session.id) if m["role"] == "agent")
    assert answer["status"] == "done" and len(answer["meta"]["tool_calls"]) == 3

    await open_lab(page, lab_server)
    chat = await open_tab(page, "Chat")
    await chat.locator(f".jp-gorgon-session[data-session-id='{session.id}']").click()
    message = chat.locator(f".jp-gorgon-message[data-message-id='{answer['id']}']")
    await expect(message).to_be_visible(timeout=UI_TIMEOUT)
    calls = message.locator(".jp-gorgon-tool-calls")
    toggle = calls.locator("button.jp-gorgon-tool-calls-toggle")
    await expect(toggle).to_contain_text("3 tool calls")
    await expect(toggle).to_contain_text("2 ok, 1 error")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(calls.locator(".jp-gorgon-tool-call")).to_have_count(0)  # folded
    await toggle.click()
    items = calls.locator(".jp-gorgon-tool-call")
    await expect(items).to_have_count(3)
    await expect(items.locator(".jp-gorgon-tool-call-name")).to_have_text(
        ["uitools.look", "uitools.broken", "uitools.look"])
    await expect(items.locator(".jp-gorgon-status")).to_have_text(["ok", "error", "ok"])
    await expect(items.nth(0).locator(".jp-gorgon-tool-call-args")).to_have_text('{"name": "sales"}')
    await expect(items.nth(1).locator(".jp-gorgon-tool-call-result")).to_contain_text("the table is locked")
    await expect(message.locator(".jp-gorgon-markdown")).to_contain_text(
        "found costs: 3 rows")
    await dismiss_popups(page)
    await page.screenshot(path=artifacts / "sidebar_chat_tool_calls.png")
    await toggle.click()
    await expect(items).to_have_count(0)

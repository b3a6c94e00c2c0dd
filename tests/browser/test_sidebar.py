"""The Gorgon sidebar in a real JupyterLab, against the real server extension and the offline
provider: chat (streamed, attributed answers; delegates; @role; stop; sessions that survive a
reload), approvals decided in the sidebar while a notebook's run waits, and the Runs tab.
Screenshots in the light and the dark theme go to test-artifacts/sidebar_*.png.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_lab_widget import (
    LOAD_TIMEOUT,
    RUN_TIMEOUT,
    UI_TIMEOUT,
    dismiss_popups,
    open_notebook,
    wait_for_run,
)

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

ICON = ".jp-SideBar .lm-TabBar-tab[data-id='gorgon-nb-sidebar']"
SIDEBAR = "#gorgon-nb-sidebar"
ANSWER_TIMEOUT = 60_000  # ms: a whole supervisor turn with its delegates
DELEGATION = "plan and build a CSV loader, then review it"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

APPROVAL_TITLE = "Publish the loader notes?"
APPROVAL_CELL = textwrap.dedent(f"""\
    %%gorgon
    name: Loader notes
    steps:
      - id: draft
        agent: documenter
        task: Write the notes for the CSV loader
        approval:
          mode: after
          title: {APPROVAL_TITLE}
      - id: announce
        agent: reporter
        task: Announce the CSV loader
        context: "{{{{ steps.draft.output }}}}"
    """)


# the offline provider streams slowly enough to watch an answer grow and to stop it halfway,
# in the server (chat) and in kernels alike: seconds between its pieces of a few words
LAB_CONFIG = "[offline]\ndelay = 0.04\n"


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    """This module's own server, started with LAB_CONFIG (the shared one may have read its
    config already)."""
    return configured_lab_server


def api(lab_server: Any, path: str) -> Any:
    return lab_server.api(f"/gorgon/api/{path}")


# -- the page ----------------------------------------------------------------------------------


async def open_lab(page: Any, lab_server: Any) -> None:
    """JupyterLab with an empty workspace, once the Gorgon icon is on the left bar."""
    from playwright.async_api import expect

    await page.goto(lab_server.url("/lab", "reset"))
    await expect(page.locator(ICON)).to_be_visible(timeout=LOAD_TIMEOUT)


async def open_tab(page: Any, name: str) -> Any:
    """Open the sidebar (from its icon) at the tab ``name``; the tab's panel."""
    from playwright.async_api import expect

    # the splash screen goes once the layout is restored: before, the sidebar may still be
    # about to open by itself, and a click on its icon would close it again
    await page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=LOAD_TIMEOUT)
    sidebar = page.locator(SIDEBAR)
    if not await sidebar.is_visible():
        await page.locator(ICON).click()
    await expect(sidebar).to_be_visible(timeout=UI_TIMEOUT)
    await sidebar.locator(".jp-gorgon-tabs .lm-TabBar-tab").filter(has_text=name).click()
    panel = sidebar.locator(f"#gorgon-{name.lower()}")
    await expect(panel).to_be_visible(timeout=UI_TIMEOUT)
    return panel


async def new_chat(page: Any) -> tuple[Any, str]:
    """A new chat, open in the Chat tab: the tab and the session's id."""
    from playwright.async_api import expect

    chat = await open_tab(page, "Chat")
    before = await chat.locator(".jp-gorgon-session").count()
    await chat.locator("button.jp-gorgon-new-chat").click()
    sessions = chat.locator(".jp-gorgon-session")
    await expect(sessions).to_have_count(before + 1, timeout=UI_TIMEOUT)
    current = chat.locator(".jp-gorgon-session[aria-selected='true']")
    await expect(current).to_have_count(1)
    session_id = await current.get_attribute("data-session-id")
    assert session_id, "the new chat has no id"
    await expect(chat.locator(".jp-gorgon-welcome")).to_be_visible(timeout=UI_TIMEOUT)
    return chat, session_id


async def send(chat: Any, text: str) -> None:
    from playwright.async_api import expect

    box = chat.locator("textarea.jp-gorgon-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("", timeout=UI_TIMEOUT)


def top_message(chat: Any, agent: str) -> Any:
    """The last message written by ``agent`` that is not a delegate's."""
    return chat.locator(f".jp-gorgon-message[data-agent='{agent}']:not([data-delegate])").last


async def set_theme(page: Any, theme: str) -> None:
    """Settings > Theme > ``theme``, as a person would switch it."""
    from playwright.async_api import expect

    name = THEMES[theme]
    if await page.locator("body").get_attribute("data-jp-theme-name") == name:
        return
    await page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^Settings$")).click()
    await page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Theme")).hover()
    await page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(f"^{name}$")).click()
    await expect(page.locator("body")).to_have_attribute("data-jp-theme-name", name, timeout=UI_TIMEOUT)
    await page.wait_for_timeout(300)  # the theme's stylesheet applies a moment later


async def screenshots(page: Any, artifacts: Path, name: str, top: Any = None) -> None:
    """test-artifacts/sidebar_<name>_light.png and _dark.png, with the element ``top`` at the top
    of its scrolled panel; the page is light again after."""
    await dismiss_popups(page)
    if top is not None:
        await top.evaluate("element => element.scrollIntoView()")
    try:
        for theme in ("light", "dark"):
            path = artifacts / f"sidebar_{name}_{theme}.png"
            path.unlink(missing_ok=True)
            await set_theme(page, theme)
            await page.screenshot(path=path)
            assert path.stat().st_size > 0
    finally:
        await set_theme(page, "light")


async def text_lengths_while(message: Any, status: str, seconds: float) -> list[int]:
    """The lengths of ``message``'s text, sampled while it has ``status`` (at most ``seconds``)."""
    lengths: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and await message.get_attribute("data-status") == status:
        body = message.locator(":scope > .jp-gorgon-markdown")
        if await body.count():
            lengths.append(len(await body.inner_text()))
        await message.page.wait_for_timeout(50)
    return lengths


# -- chat --------------------------------------------------------------------------------------


async def test_the_supervisor_streams_and_its_delegates_answer_under_it(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    frames: list[dict[str, Any]] = []

    def listen(socket: Any) -> None:
        if "/gorgon/api/chat/sessions/" in socket.url:
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", listen)
    await open_lab(page, lab_server)
    chat, session_id = await new_chat(page)
    await send(chat, DELEGATION)

    user = chat.locator(".jp-gorgon-message[data-role='user']")
    await expect(user).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(user.locator(".jp-gorgon-message-author")).to_have_text("You")
    await expect(user).to_contain_text(DELEGATION)

    supervisor = top_message(chat, "supervisor")
    await expect(supervisor).to_have_attribute("data-status", "streaming", timeout=UI_TIMEOUT)
    roles = {role["name"]: role for role in api(lab_server, "chat/roles")["roles"]}
    await expect(supervisor.locator(".jp-gorgon-message-author").first).to_have_text("supervisor")
    await expect(supervisor.locator(".jp-gorgon-message-icon").first).to_have_text(
        roles["supervisor"]["icon"]
    )

    # the delegates answer inside the supervisor's message, each under its own name and icon,
    # their text growing as it streams
    delegates = supervisor.locator(".jp-gorgon-delegates > .jp-gorgon-message")
    await expect(delegates).to_have_count(3, timeout=ANSWER_TIMEOUT)
    assert [await d.get_attribute("data-agent") for d in await delegates.all()] == [
        "planner",
        "builder",
        "reviewer",
    ]
    builder = delegates.nth(1)
    await expect(builder.locator(".jp-gorgon-markdown")).to_contain_text("[offline]", timeout=UI_TIMEOUT)
    await page.screenshot(path=artifacts / "sidebar_chat_streaming_light.png")  # as it is written
    lengths = await text_lengths_while(builder, "streaming", ANSWER_TIMEOUT / 1000)
    assert lengths == sorted(lengths), lengths  # while it streams, the text only grows
    for delegate in await delegates.all():
        agent = await delegate.get_attribute("data-agent")
        await expect(delegate).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT)
        await expect(delegate.locator(".jp-gorgon-message-author")).to_have_text(agent)
        await expect(delegate.locator(".jp-gorgon-message-icon")).to_have_text(roles[agent]["icon"])
        await expect(delegate.locator(".jp-gorgon-delegation")).to_contain_text(
            "delegated by supervisor"
        )

    # then the supervisor's own answer streams, after its delegates
    lengths = await text_lengths_while(supervisor, "streaming", ANSWER_TIMEOUT / 1000)
    assert lengths == sorted(lengths), lengths
    await expect(supervisor).to_have_attribute("data-status", "done", timeout=UI_TIMEOUT)
    answer = supervisor.locator(":scope > .jp-gorgon-markdown")
    await expect(answer).to_contain_text("[offline]")

    # the text came as deltas over the chat's WebSocket, and the page shows what the store has
    supervisor_id = await supervisor.get_attribute("data-message-id")
    deltas = [f for f in frames if f.get("type") == "delta" and f.get("message_id") == supervisor_id]
    assert len(deltas) >= 3, [f.get("type") for f in frames]
    builder_id = await builder.get_attribute("data-message-id")
    assert builder_id and len([f for f in frames if f.get("type") == "delta" and f.get("message_id") == builder_id]) >= 3
    stored = api(lab_server, f"chat/sessions/{session_id}/messages")["messages"]
    final = next(m for m in stored if m["id"] == supervisor_id)
    assert final["status"] == "done"
    assert "".join(d["text"] for d in deltas).strip() == final["content"].strip()
    assert [m["agent"] for m in stored if m["parent_id"] == supervisor_id] == [
        "planner",
        "builder",
        "reviewer",
    ]

    # the delegates' answers fold away under the finished answer; a click shows one again
    for delegate in await delegates.all():
        await expect(delegate).to_have_attribute("data-folded", "true")
        await expect(delegate.locator(".jp-gorgon-markdown")).to_have_count(0)
    await builder.locator("button.jp-gorgon-fold").click()
    await expect(builder).not_to_have_attribute("data-folded", "true")
    await expect(builder.locator(".jp-gorgon-markdown")).to_contain_text("[offline] code sketch")

    # Markdown is rendered: the builder's code is a highlighted block with Copy and Insert
    code = builder.locator(".jp-gorgon-code")
    await expect(code.first).to_be_visible()
    await expect(code.first.locator("button.jp-gorgon-copy")).to_be_visible()
    insert = code.first.locator("button.jp-gorgon-insert")
    await expect(insert).to_be_disabled()  # no notebook is open
    await expect(insert).to_have_attribute("title", re.compile("Open a notebook"))
    await screenshots(page, artifacts, "chat_delegation", top=user)


async def test_a_role_asked_directly_answers_and_its_code_goes_into_the_notebook(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
        lab_server.root / "insert_here.ipynb",
    )
    notebook = await open_notebook(
        page, lab_server, "/lab/tree/insert_here.ipynb", "insert_here.ipynb", "reset", cells=1
    )
    chat, session_id = await new_chat(page)

    # @ suggests the roles
    box = chat.locator("textarea.jp-gorgon-input")
    await box.fill("@rev")
    suggestion = chat.locator("button.jp-gorgon-suggestion")
    await expect(suggestion).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(suggestion).to_contain_text("@reviewer")
    await suggestion.click()
    await expect(box).to_have_value("@reviewer ")
    await box.press_sequentially("look at load_csv for edge cases")
    await box.press("Enter")

    reviewer = top_message(chat, "reviewer")
    await expect(reviewer).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT)
    await expect(reviewer.locator(".jp-gorgon-message-author")).to_have_text("reviewer")
    await expect(reviewer.locator(".jp-gorgon-markdown")).to_contain_text("[offline]")
    assert await chat.locator(".jp-gorgon-message[data-agent='supervisor']").count() == 0

    await send(chat, "@builder write a CSV loader function")
    builder = top_message(chat, "builder")
    await expect(builder).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT)
    stored = api(lab_server, f"chat/sessions/{session_id}/messages")["messages"]
    content = next(m["content"] for m in stored if m["agent"] == "builder")
    code = re.search(r"```python\n(.*?)\n```", content, re.DOTALL).group(1)  # type: ignore[union-attr]
    block = builder.locator(".jp-gorgon-code").first
    assert (await block.locator("pre").inner_text()).strip() == code.strip()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await block.locator("button.jp-gorgon-copy").click()
    await expect(block.locator("button.jp-gorgon-copy")).to_contain_text("Copied")
    assert (await page.evaluate("navigator.clipboard.readText()")).strip() == code.strip()
    insert = block.locator("button.jp-gorgon-insert")
    await expect(insert).to_be_enabled()
    await expect(insert).to_have_attribute("title", re.compile("below its active cell"))
    await insert.click()

    # a new code cell below the active (first) cell, holding the code: saved, it is in the file
    cells = notebook.locator(".jp-Cell")
    await expect(cells).to_have_count(2, timeout=UI_TIMEOUT)
    await expect(cells.nth(1)).to_have_class(re.compile(r"\bjp-CodeCell\b"))
    await expect(cells.nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    await cells.nth(1).click()
    await page.keyboard.press("Escape")
    await page.keyboard.press("Control+s")
    saved = lab_server.root / "insert_here.ipynb"
    deadline = time.monotonic() + UI_TIMEOUT / 1000

    def cells_saved() -> list[Any]:
        try:
            return list(nbformat.read(saved, as_version=4).cells)
        except nbformat.reader.NotJSONError:  # caught while the server writes the file
            return []

    while len(cells_saved()) < 2 and time.monotonic() < deadline:
        await page.wait_for_timeout(100)
    written = cells_saved()
    assert [(c.cell_type, c.source) for c in written] == [("code", "x = 1"), ("code", code)]
    await screenshots(page, artifacts, "chat_insert", top=builder)


async def test_stop_ends_the_answer_at_once_and_keeps_its_text(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    chat, session_id = await new_chat(page)
    await send(chat, "@documenter describe the CSV loader at length")
    message = top_message(chat, "documenter")
    body = message.locator(".jp-gorgon-markdown")
    await expect(message).to_have_attribute("data-status", "streaming", timeout=UI_TIMEOUT)
    await expect(body).to_contain_text("[offline]", timeout=UI_TIMEOUT)
    stop = chat.locator("button.jp-gorgon-stop")
    await expect(stop).to_be_visible()

    await stop.click()
    await expect(message).to_have_attribute("data-status", "stopped", timeout=UI_TIMEOUT)
    await expect(stop).to_be_hidden()
    kept = await body.inner_text()
    await page.wait_for_timeout(1_000)
    assert await body.inner_text() == kept  # nothing more came
    await expect(message.locator(".jp-gorgon-status[data-status='stopped']")).to_be_visible()

    stored = api(lab_server, f"chat/sessions/{session_id}/messages")["messages"]
    answer = next(m for m in stored if m["agent"] == "documenter")
    assert answer["status"] == "stopped"
    assert answer["content"].startswith("[offline]")
    assert answer["content"].splitlines()[0] in kept

    # the chat takes the next request
    await send(chat, "@planner plan the next step")
    await expect(top_message(chat, "planner")).to_have_attribute(
        "data-status", "done", timeout=ANSWER_TIMEOUT
    )


async def test_chats_are_created_renamed_and_deleted_and_survive_a_reload(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    chat, kept_id = await new_chat(page)
    await send(chat, "@planner plan a CSV loader")
    await expect(top_message(chat, "planner")).to_have_attribute(
        "data-status", "done", timeout=ANSWER_TIMEOUT
    )
    kept = chat.locator(f".jp-gorgon-session[data-session-id='{kept_id}']")
    # the first message names a new chat
    await expect(kept.locator(".jp-gorgon-session-title")).to_have_text(
        "@planner plan a CSV loader", timeout=UI_TIMEOUT
    )

    await kept.hover()
    await kept.locator("button.jp-gorgon-rename").click()
    title = kept.locator("input.jp-gorgon-rename-input")
    await title.fill("Loader plans")
    await title.press("Enter")
    await expect(kept.locator(".jp-gorgon-session-title")).to_have_text("Loader plans")

    chat, doomed_id = await new_chat(page)
    doomed = chat.locator(f".jp-gorgon-session[data-session-id='{doomed_id}']")
    await doomed.hover()
    await doomed.locator("button.jp-gorgon-delete").click()
    dialog = page.locator(".jp-Dialog")
    await expect(dialog).to_contain_text("Delete this chat?")
    await dialog.locator("button.jp-mod-accept").click()
    await expect(doomed).to_have_count(0, timeout=UI_TIMEOUT)

    sessions = {s["id"]: s for s in api(lab_server, "chat/sessions")["sessions"]}
    assert sessions[kept_id]["title"] == "Loader plans"
    assert doomed_id not in sessions

    # after a reload the chat is still there, open again, with its messages
    await chat.locator(f".jp-gorgon-session[data-session-id='{kept_id}']").click()
    await page.reload()
    await expect(page.locator(ICON)).to_be_visible(timeout=LOAD_TIMEOUT)
    chat = await open_tab(page, "Chat")
    kept = chat.locator(f".jp-gorgon-session[data-session-id='{kept_id}']")
    await expect(kept.locator(".jp-gorgon-session-title")).to_have_text("Loader plans", timeout=UI_TIMEOUT)
    await expect(kept).to_have_attribute("aria-selected", "true")
    await expect(chat.locator(f".jp-gorgon-session[data-session-id='{doomed_id}']")).to_have_count(0)
    await expect(top_message(chat, "planner")).to_have_attribute("data-status", "done")
    await expect(chat.locator(".jp-gorgon-message[data-role='user']")).to_have_text(
        re.compile("plan a CSV loader")
    )
    await screenshots(page, artifacts, "chat_sessions")


async def test_run_a_workflow_from_the_chat(page: Any, lab_server: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    chat, _ = await new_chat(page)
    box = chat.locator("textarea.jp-gorgon-input")
    await box.fill("/run dev_plan")
    suggestion = chat.locator("button.jp-gorgon-suggestion")
    await expect(suggestion).to_have_count(1, timeout=UI_TIMEOUT)
    await suggestion.click()
    await expect(box).to_have_value("/run dev_plan_build_test_review feature_request=")
    await box.press_sequentially("Add a CSV export")
    await box.press("Enter")

    # the workflow's message follows its run: its id, its steps, its status
    message = chat.locator(".jp-gorgon-message[data-role='workflow']")
    await expect(message).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(message.locator(".jp-gorgon-message-author")).to_have_text(
        "dev_plan_build_test_review"
    )
    line = message.locator(".jp-gorgon-run-line")
    run_id = await line.get_attribute("data-run-id", timeout=UI_TIMEOUT)
    assert run_id
    await expect(line).to_contain_text(re.compile(r"\b[0-3]/4 steps done"), timeout=UI_TIMEOUT)
    await expect(message.locator(".jp-gorgon-markdown")).to_contain_text("plan", timeout=UI_TIMEOUT)
    await expect(message).to_have_attribute("data-status", "done", timeout=RUN_TIMEOUT)
    await expect(line).to_contain_text("4/4 steps done")
    # the report's table of steps is a table, its "$0" costs money rather than LaTeX
    rows = message.locator(".jp-gorgon-markdown table tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.first.locator("td").last).to_have_text("$0")
    await expect(line.locator(".jp-gorgon-status")).to_have_attribute(
        "data-status", "succeeded", timeout=UI_TIMEOUT
    )
    assert api(lab_server, f"runs/{run_id}")["run"]["status"] == "succeeded"
    await screenshots(page, artifacts, "chat_run", top=message)

    await line.locator("button.jp-gorgon-open-run").click()
    runs = page.locator(f"{SIDEBAR} #gorgon-runs")
    await expect(runs).to_be_visible()
    detail = runs.locator(f".jp-gorgon-run-detail[data-run-id='{run_id}']")
    await expect(detail.locator(".jp-gorgon-step-row[data-key]")).to_have_count(4, timeout=UI_TIMEOUT)


async def test_a_dropped_connection_is_shown_and_comes_back(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    """The feed's and the chat's sockets are cut between the page and the server (the server
    keeps running): the panels say so, sending is refused with a reason, and both reconnect."""
    from playwright.async_api import expect

    refused = False
    open_routes: list[Any] = []

    async def relay(route: Any) -> None:
        if refused:
            await route.close(code=1011, reason="cut by the test")
            return
        route.connect_to_server()
        open_routes.append(route)

    await page.route_web_socket(re.compile(r"/gorgon/api/(events|chat/sessions/[^/]+/ws)"), relay)
    await open_lab(page, lab_server)
    runs = await open_tab(page, "Runs")
    await expect(runs.locator(".jp-gorgon-run-list, .jp-gorgon-notice").first).to_be_visible(
        timeout=UI_TIMEOUT
    )
    chat, session_id = await new_chat(page)
    wanted = ("/gorgon/api/events", f"/gorgon/api/chat/sessions/{session_id}/ws")
    deadline = time.monotonic() + UI_TIMEOUT / 1000
    while time.monotonic() < deadline and not all(
        any(route.url.endswith(path) for route in open_routes) for path in wanted
    ):
        await page.wait_for_timeout(100)
    assert [path for path in wanted if not any(r.url.endswith(path) for r in open_routes)] == []

    refused = True
    for route in open_routes:
        await route.close(code=1011, reason="cut by the test")
    lost = chat.locator(".jp-gorgon-connection")
    await expect(lost).to_contain_text("Reconnecting", timeout=UI_TIMEOUT)
    await send_refused(chat, "@planner plan a CSV loader")
    runs = await open_tab(page, "Runs")
    await expect(runs.locator(".jp-gorgon-connection")).to_contain_text("Reconnecting", timeout=UI_TIMEOUT)
    await screenshots(page, artifacts, "connection_lost")

    refused = False
    retry = runs.locator("button").filter(has_text=re.compile("^Retry"))
    await retry.first.click()
    await expect(runs.locator(".jp-gorgon-connection, .jp-gorgon-notice[data-tone='error']")).to_have_count(
        0, timeout=20_000
    )
    chat = await open_tab(page, "Chat")
    await expect(lost).to_have_count(0, timeout=20_000)  # backoff: at most a few seconds
    await send(chat, "@planner plan a CSV loader")
    await expect(top_message(chat, "planner")).to_have_attribute(
        "data-status", "done", timeout=ANSWER_TIMEOUT
    )


async def send_refused(chat: Any, text: str) -> None:
    """Sending while the chat is disconnected keeps the draft and says why."""
    from playwright.async_api import expect

    box = chat.locator("textarea.jp-gorgon-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(chat.locator(".jp-gorgon-chat-notice")).to_contain_text("Not connected")
    await expect(box).to_have_value(text)


# -- approvals and runs ------------------------------------------------------------------------


async def test_approve_in_the_sidebar_and_the_notebook_run_finishes(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    notebook_file = nbformat.v4.new_notebook()
    notebook_file.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook_file.cells = [
        nbformat.v4.new_code_cell("%load_ext gorgon_nb"),
        nbformat.v4.new_code_cell(APPROVAL_CELL),
    ]
    nbformat.write(notebook_file, lab_server.root / "approve.ipynb")
    notebook = await open_notebook(page, lab_server, "/lab/tree/approve.ipynb", "approve.ipynb", "reset")
    approvals = await open_tab(page, "Approvals")
    await expect(page.locator(ICON)).to_have_attribute("data-gorgon-pending", "0")

    await page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^Run$")).click()
    await page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Run All Cells")).click()

    # the run waits: the icon's badge and the tab count it, the card shows what to decide on
    await expect(page.locator(ICON)).to_have_attribute(
        "data-gorgon-pending", "1", timeout=RUN_TIMEOUT
    )
    approvals_tab = page.locator(f"{SIDEBAR} .jp-gorgon-tabs .lm-TabBar-tab").filter(has_text="Approvals")
    await expect(approvals_tab).to_have_attribute("data-count", "1")
    card = approvals.locator(".jp-gorgon-approval")
    await expect(card).to_have_count(1, timeout=UI_TIMEOUT)
    await expect(card.locator(".jp-gorgon-approval-title")).to_have_text(APPROVAL_TITLE)
    await expect(card.locator(".jp-gorgon-approval-preview")).to_contain_text("[offline]")
    await expect(card).to_contain_text("step draft")
    run_id = await card.get_attribute("data-run-id")
    assert run_id
    pending = api(lab_server, "approvals")["approvals"]
    assert [(a["run_id"], a["step_key"], a["title"]) for a in pending] == [
        (run_id, "draft", APPROVAL_TITLE)
    ]
    # the cell still waits
    cell = notebook.locator(".jp-Cell").nth(1)
    await expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\*\]"))
    await card.locator("textarea.jp-gorgon-comment").fill("Reads well")
    await screenshots(page, artifacts, "approval")

    async with page.expect_request(lambda r: "/gorgon/api/approvals/" in r.url) as posted:
        await card.locator("button.jp-gorgon-approve").click()
    request = await posted.value
    assert request.method == "POST"
    assert json.loads(request.post_data or "") == {"decision": "approve", "comment": "Reads well"}
    headers = await request.all_headers()
    assert headers.get("x-xsrftoken"), headers  # ServerConnection adds Jupyter's XSRF header
    await expect(page.locator(ICON)).to_have_attribute(
        "data-gorgon-pending", "0", timeout=UI_TIMEOUT
    )
    await expect(card).to_have_count(0)
    await expect(approvals.locator(".jp-gorgon-notice")).to_contain_text("No approvals waiting")

    # the run goes on in the kernel, and the cell ends with it
    view = await wait_for_run(page, notebook)
    await expect(view).to_have_attribute("data-status", "succeeded")
    await expect(view.locator(".gorgon-step[data-key='announce']")).to_have_attribute(
        "data-status", "succeeded"
    )

    # the Runs tab lists the run, done, and opens its steps, outputs and the decision
    runs = await open_tab(page, "Runs")
    row = runs.locator(f".jp-gorgon-run-row[data-run-id='{run_id}']")
    await expect(row).to_have_attribute("data-status", "succeeded", timeout=UI_TIMEOUT)
    await expect(row.locator(".jp-gorgon-run-name")).to_have_text("Loader notes")
    await expect(row).to_contain_text("tokens")
    await row.click()
    detail = runs.locator(f".jp-gorgon-run-detail[data-run-id='{run_id}']")
    await expect(detail).to_be_visible(timeout=UI_TIMEOUT)
    steps = detail.locator(".jp-gorgon-step-row[data-key]")
    await expect(steps).to_have_count(2)
    for key in ("draft", "announce"):
        await expect(detail.locator(f".jp-gorgon-step-row[data-key='{key}']")).to_have_attribute(
            "data-status", "succeeded"
        )
    decision = detail.locator(".jp-gorgon-run-approval")
    await expect(decision).to_have_attribute("data-status", "approved")
    await expect(decision).to_contain_text("Reads well")
    draft = detail.locator(".jp-gorgon-step-row[data-key='draft']")
    await draft.locator(".jp-gorgon-step-head").click()
    await expect(draft.locator(".jp-gorgon-step-output")).to_contain_text("[offline]", timeout=UI_TIMEOUT)
    await screenshots(page, artifacts, "run_detail")

    await runs.locator("button.jp-gorgon-back").click()
    await expect(row).to_be_visible()
    await screenshots(page, artifacts, "runs")

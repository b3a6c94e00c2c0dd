"""Approving in the run view while its cell blocks: in a real JupyterLab the Approve button
goes through the server extension (the busy kernel would hold a widget message until the
cell ends), the waiting run sees the decision in the store, and the cell finishes.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import textwrap
import urllib.error
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

from gorgon_nb.store import Store

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

COMMENT = "Looks right; ship it"
TITLE = "Publish these release notes?"
APPROVAL_CELL = textwrap.dedent(f"""\
    %%gorgon
    name: Release notes
    steps:
      - id: draft
        agent: documenter
        task: Write the release notes for the CSV export
        approval:
          mode: after
          title: {TITLE}
      - id: announce
        agent: reporter
        task: Announce the release
        context: "{{{{ steps.draft.output }}}}"
    """)


def write_notebook(root: Path, name: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext gorgon_nb"),
        nbformat.v4.new_code_cell(APPROVAL_CELL),
    ]
    path = root / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path.name


def check_the_extension_is_enabled(lab_server: Any) -> None:
    try:
        lab_server.api("/gorgon/api/approvals")
    except urllib.error.HTTPError as exc:
        pytest.fail(
            f"GET /gorgon/api/approvals answered {exc.code}: the gorgon_nb.server extension is not "
            "enabled in this environment. Reinstall the package (pip install -e .), which puts "
            "etc/jupyter/jupyter_server_config.d/gorgon_nb.json in place; check with "
            "'jupyter server extension list'.",
            pytrace=False,
        )


FRONTENDS = {"lab": ("/lab/tree/{}", ("reset",)), "notebook7": ("/notebooks/{}", ())}


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
async def test_approve_in_the_widget_while_the_cell_blocks(
    page: Any, lab_server: Any, artifacts: Path, frontend: str
) -> None:
    from playwright.async_api import expect

    check_the_extension_is_enabled(lab_server)
    screenshot = artifacts / f"{frontend}_approval_waiting.png"
    screenshot.unlink(missing_ok=True)
    name = write_notebook(lab_server.root, f"{frontend}_approval")
    path, flags = FRONTENDS[frontend]
    notebook = await open_notebook(page, lab_server, path.format(name), name, *flags)
    requests: list[str] = []
    page.on(
        "request",
        lambda r: requests.append(f"{r.method} {r.url}") if "/gorgon/api/" in r.url else None,
    )
    await run_all_cells(page, notebook)

    cell = notebook.locator(".jp-Cell").nth(1)
    view = cell.locator(".gorgon-run")
    card = view.locator(".gorgon-step[data-key='draft']")
    await expect(card).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT)
    await expect(card.locator(".gorgon-status-text")).to_have_text("waiting")
    await expect(card.locator(".gorgon-step-approval")).to_have_text("needs your approval")
    await expect(view.locator(".gorgon-badge")).to_have_text("waiting")

    # the detail opened by itself, with what to decide on and the buttons
    panel = view.locator(".gorgon-detail .gorgon-approval")
    await expect(panel).to_be_visible(timeout=UI_TIMEOUT)
    await expect(panel.locator(".gorgon-approval-title")).to_have_text(TITLE)
    await expect(panel.locator(".gorgon-approval-preview")).to_contain_text("[offline]")
    await expect(panel.locator(".gorgon-approval-fact")).to_contain_text(
        ["the step's output", "who may decide: anyone"]
    )
    approve = panel.locator("button.gorgon-approve")
    await expect(approve).to_be_enabled()
    await expect(panel.locator("button.gorgon-reject")).to_be_enabled()

    # the cell blocks, and nothing goes on by itself
    prompt = cell.locator(".jp-InputPrompt")
    await expect(prompt).to_have_text(re.compile(r"\[\*\]"))
    await page.wait_for_timeout(1000)
    await expect(prompt).to_have_text(re.compile(r"\[\*\]"))
    await expect(card).to_have_attribute("data-status", "waiting")

    await panel.locator("textarea").fill(COMMENT)
    await dismiss_popups(page)
    await view.scroll_into_view_if_needed()
    await view.screenshot(path=screenshot)

    user = (
        os.environ.get("GORGON_USER") or getpass.getuser()
    )  # the server's: a token login names nobody
    approval_id = await panel.get_attribute("data-approval-id")
    async with page.expect_response(
        lambda r: "/gorgon/api/approvals/" in r.url, timeout=UI_TIMEOUT
    ) as answer:
        await approve.click()
    response = await answer.value
    assert (response.request.method, response.status) == ("POST", 200), await response.text()
    assert response.url == f"{lab_server.base_url}/gorgon/api/approvals/{approval_id}"
    headers = await response.request.all_headers()
    assert headers.get("x-xsrftoken"), headers
    assert headers.get("authorization") == f"token {lab_server.token}"  # from the page config
    decided = await response.json()
    assert (decided["status"], decided["decided_by"], decided["comment"]) == (
        "approved",
        user,
        COMMENT,
    )

    # the run saw the decision, went on, and the cell finished
    await wait_for_run(page, notebook)
    await expect(view).to_have_attribute("data-status", "succeeded")
    await expect(card).to_have_attribute("data-status", "succeeded")
    await expect(card.locator(".gorgon-step-approval")).to_be_hidden()
    await expect(view.locator(".gorgon-step[data-key='announce']")).to_have_attribute(
        "data-status", "succeeded"
    )
    # the finished view keeps the decision: the step's detail says who approved, and why
    await card.click()
    await expect(view.locator(".gorgon-detail .gorgon-approval-message")).to_have_text(
        f"approved by {user}: \u201c{COMMENT}\u201d", timeout=UI_TIMEOUT
    )
    await expect(view.locator(".gorgon-detail button.gorgon-approve")).to_be_hidden()
    assert [r.split(" ", 1)[0] for r in requests] == ["POST"], requests  # no other call, no retry
    stderr = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert await stderr.count() == 0, "\n---\n".join(await stderr.all_inner_texts())

    run_id = (await view.locator(".gorgon-run-id").inner_text()).split()[-1]
    with Store(lab_server.home / "gorgon.db") as store:
        decided = store.approvals.recent(status=None, run_id=run_id)
        assert store.runs.get(run_id).status == "succeeded"
    assert [(a.title, a.status, a.decided_by, a.comment) for a in decided] == [
        (TITLE, "approved", user, COMMENT)
    ], json.dumps([a.__dict__ for a in decided], default=str)
    assert screenshot.stat().st_size > 0

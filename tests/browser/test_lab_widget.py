"""``%%gorgon`` in a real JupyterLab and Notebook 7: the run view renders, runs to done, and
shows a step's output when its card is clicked. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

STEPS = ("plan", "build", "test", "review")
TERMINAL = ("succeeded", "failed", "cancelled")
LOAD_TIMEOUT = 60_000  # ms: the page, the notebook and its kernel
RUN_TIMEOUT = 60_000  # ms: the workflow, from "Run All Cells" to the last card done
UI_TIMEOUT = 30_000  # ms: a click and what it shows, with room for a machine under load

WORKFLOW_CELL = textwrap.dedent("""\
    %%gorgon -v feature_request="Add a CSV export"
    name: Plan, build, test, review
    inputs:
      feature_request: {type: string}
    steps:
      - id: plan
        agent: planner
        task: "{{ inputs.feature_request }}"
      - id: build
        agent: builder
        task: "Implement this feature following the plan: {{ inputs.feature_request }}"
        context: "{{ steps.plan.output }}"
      - id: test
        agent: tester
        task: "Write tests for the implementation of: {{ inputs.feature_request }}"
        context: "{{ steps.build.output }}"
      - id: review
        agent: reviewer
        task: "Review the implementation and its tests for: {{ inputs.feature_request }}"
        context: |
          Implementation:
          {{ steps.build.output }}

          Tests:
          {{ steps.test.output }}
    """)


def write_notebook(root: Path, name: str) -> str:
    """A notebook with the extension load and the workflow cell, not yet run."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext gorgon_nb"),
        nbformat.v4.new_code_cell(WORKFLOW_CELL),
    ]
    path = root / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path.name


async def dismiss_popups(page: Any) -> None:
    """Accept a dialog (a kernel choice, say) and close any toast that could cover the view."""
    for button in await page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").all():
        if await button.is_visible():
            await button.click()
    for close in await page.locator(".jp-Notification-Toast-Close").all():
        if await close.is_visible():
            await close.click()


async def wait_for_kernel(page: Any, lab_server: Any, name: str) -> None:
    """Wait until the notebook's kernel is started, connected to the page, and idle.

    The toolbar's execution indicator says "idle" from the start, before any kernel exists,
    so the server's session list decides; a kernel dialog on the way is answered.
    """
    deadline = time.monotonic() + LOAD_TIMEOUT / 1000
    kernel: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        await dismiss_popups(page)
        response = await page.request.get(
            f"{lab_server.base_url}/api/sessions",
            headers={"Authorization": f"token {lab_server.token}"},
        )
        sessions = await response.json() if response.ok else []
        kernel = next(
            (s["kernel"] for s in sessions if s["path"] == name and s.get("kernel")), None
        )
        if kernel and kernel["connections"] > 0 and kernel["execution_state"] == "idle":
            return
        await page.wait_for_timeout(200)
    pytest.fail(
        f"the kernel of {name} was not connected and idle within {LOAD_TIMEOUT // 1000}s: {kernel}",
        pytrace=False,
    )


async def open_notebook(page: Any, lab_server: Any, path: str, name: str, *flags: str, cells: int = 2) -> Any:
    """Open the notebook ``name`` at ``path``; wait until it is the current document, shows
    its cells, and its kernel is ready."""
    from playwright.async_api import expect

    await page.goto(lab_server.url(path, *flags))
    await expect(page).to_have_title(re.compile(re.escape(Path(name).stem)), timeout=LOAD_TIMEOUT)
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    await expect(notebook.locator(".jp-Cell")).to_have_count(cells, timeout=LOAD_TIMEOUT)
    await wait_for_kernel(page, lab_server, name)
    # the page has seen the kernel too
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    await expect(idle.first).to_be_attached(timeout=LOAD_TIMEOUT)
    return notebook


async def run_all_cells(page: Any, notebook: Any) -> None:
    """Run > Run All Cells, from the menu bar (the same in JupyterLab and Notebook 7); done
    when the workflow cell is queued or running (its prompt shows [*] or a count)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    await page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Run All Cells"))
    await item.click()
    prompt = notebook.locator(".jp-Cell").nth(1).locator(".jp-InputPrompt")
    try:
        await prompt.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=UI_TIMEOUT)
    except PlaywrightTimeout:
        shown = await prompt.inner_text()
        pytest.fail(f"Run > Run All Cells did not start the workflow cell ({shown})", pytrace=False)


async def wait_for_run(page: Any, notebook: Any) -> Any:
    """The run view in the workflow cell's output, once the run has ended and the cell is done."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import expect

    cell = notebook.locator(".jp-Cell").nth(1)
    view = cell.locator(".gorgon-run")
    ended = cell.locator(", ".join(f".gorgon-run[data-status='{status}']" for status in TERMINAL))
    # the cell is done when its prompt shows an execution count instead of [ ] or [*]
    done = cell.locator(".jp-InputPrompt").filter(has_text=re.compile(r"\[\d+\]"))
    try:
        # a cell that fails before the run starts never shows a view: stop waiting then too
        await ended.or_(done).first.wait_for(timeout=RUN_TIMEOUT)
        # the view's last update may come a moment after the cell is done
        await ended.wait_for(timeout=UI_TIMEOUT)
    except PlaywrightTimeout:
        outputs = await cell.locator(".jp-OutputArea-output").all_inner_texts()
        pytest.fail(
            f"the run view did not reach an end ({await view.count()} run views, cell done: "
            f"{await done.count() == 1}); the cell's output reads:\n" + "\n---\n".join(outputs),
            pytrace=False,
        )
    await expect(done).to_have_count(1, timeout=RUN_TIMEOUT)
    await expect(view).to_have_count(1)
    return view


async def check_run_view(page: Any, notebook: Any, view: Any, screenshots: dict[str, Path]) -> None:
    """The finished run: four done cards, no stderr, a card's detail; then the screenshots."""
    from playwright.async_api import expect

    status = await view.get_attribute("data-status")
    assert status == "succeeded", f"the run ended {status}:\n{await view.inner_text()}"
    cards = view.locator(".gorgon-step")
    await expect(cards).to_have_count(len(STEPS))
    keys = [await card.get_attribute("data-key") for card in await cards.all()]
    assert sorted(keys) == sorted(STEPS), keys
    for card in await cards.all():
        await expect(card).to_have_attribute("data-status", "succeeded")
        await expect(card.locator(".gorgon-status-text")).to_have_text("succeeded")
        await expect(card.locator(".gorgon-status-text")).to_be_visible()

    # no error or warning printed under either cell
    stderr = notebook.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    )
    assert await stderr.count() == 0, "\n---\n".join(await stderr.all_inner_texts())

    # the finished view on its own, then the whole page with a step's detail open
    await dismiss_popups(page)
    await view.scroll_into_view_if_needed()
    await view.screenshot(path=screenshots["widget"])

    # a card's click opens its detail with the step's output
    await view.locator(".gorgon-step[data-key='plan']").click()
    detail = view.locator(".gorgon-detail")
    await expect(detail).to_be_visible(timeout=UI_TIMEOUT)
    await expect(detail).to_have_attribute("data-key", "plan")
    output = detail.locator(".gorgon-output")
    await expect(output).to_have_text(re.compile(r"^\s*\[offline\]"), timeout=UI_TIMEOUT)
    await expect(output).to_contain_text("CSV export")

    await dismiss_popups(page)
    await view.scroll_into_view_if_needed()
    await page.screenshot(path=screenshots["page"])
    assert all(path.stat().st_size > 0 for path in screenshots.values())


def shots(artifacts: Path, prefix: str) -> dict[str, Path]:
    """Where this test's screenshots go; those of an earlier run are removed first."""
    paths = {
        "page": artifacts / f"{prefix}_run_view.png",
        "widget": artifacts / f"{prefix}_run_view_widget.png",
    }
    for path in paths.values():
        path.unlink(missing_ok=True)
    return paths


async def test_run_view_in_jupyterlab(page: Any, lab_server: Any, artifacts: Path) -> None:
    name = write_notebook(lab_server.root, "lab_run_view")
    screenshots = shots(artifacts, "lab")
    # reset: an empty workspace, so the only open document is this notebook
    notebook = await open_notebook(page, lab_server, f"/lab/tree/{name}", name, "reset")
    await run_all_cells(page, notebook)
    view = await wait_for_run(page, notebook)
    await check_run_view(page, notebook, view, screenshots)


async def test_run_view_in_notebook7(page: Any, lab_server: Any, artifacts: Path) -> None:
    name = write_notebook(lab_server.root, "notebook7_run_view")
    screenshots = shots(artifacts, "notebook7")
    notebook = await open_notebook(page, lab_server, f"/notebooks/{name}", name)
    await run_all_cells(page, notebook)
    view = await wait_for_run(page, notebook)
    await check_run_view(page, notebook, view, screenshots)


FAN_OUT_CELL = textwrap.dedent("""\
    %%gorgon -v feature_request="Add a CSV export"
    name: Fan out and in
    inputs:
      feature_request: {type: string}
    steps:
      - id: plan
        agent: planner
        task: "{{ inputs.feature_request }}"
      - id: security
        agent: reviewer
        context: "{{ steps.plan.output }}"
      - id: build
        agent: builder
        context: "{{ steps.plan.output }}"
      - id: docs
        agent: documenter
        context: "{{ steps.plan.output }}"
      - id: review
        agent: reviewer
        context: "{{ steps.build.output }} {{ steps.security.output }} {{ steps.docs.output }}"
    """)


async def test_the_view_updates_live_and_the_history_shows_the_run(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    """While the cell runs, cards turn running and stream their text (parallel steps at once);
    then the run ends done, and %gorgon runs --widget lists it with a cost bar."""
    from playwright.async_api import expect

    config = lab_server.home / "config.toml"
    config.write_text("[offline]\ndelay = 0.03\n")  # slow enough to watch; read by the new kernel
    try:
        notebook_file = nbformat.v4.new_notebook()
        notebook_file.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook_file.cells = [nbformat.v4.new_code_cell("%load_ext gorgon_nb"),
                               nbformat.v4.new_code_cell(FAN_OUT_CELL),
                               nbformat.v4.new_code_cell("%gorgon runs --widget")]
        nbformat.write(notebook_file, lab_server.root / "live_view.ipynb")
        notebook = await open_notebook(page, lab_server, "/lab/tree/live_view.ipynb", "live_view.ipynb",
                                       "reset", cells=3)
        await run_all_cells(page, notebook)
        view = notebook.locator(".jp-Cell").nth(1).locator(".gorgon-run")
        running = view.locator(".gorgon-step[data-status='running']")
        # the three steps after the plan run at the same time, each streaming its own text
        await expect(running).to_have_count(3, timeout=RUN_TIMEOUT)
        for card in await running.all():
            await expect(card.locator(".gorgon-step-text")).not_to_have_text("", timeout=UI_TIMEOUT)
        await expect(view.locator(".gorgon-step[data-key='review']")).to_have_attribute("data-status", "pending")
        await dismiss_popups(page)
        await view.screenshot(path=artifacts / "lab_run_view_live.png")

        await wait_for_run(page, notebook)
        await expect(view).to_have_attribute("data-status", "succeeded")
        history = notebook.locator(".jp-Cell").nth(2).locator(".gorgon-history")
        await expect(history).to_be_visible(timeout=RUN_TIMEOUT)
        run_id = (await view.locator(".gorgon-run-id").inner_text()).split()[-1]
        await expect(history.locator(f".gorgon-history-row[data-run-id='{run_id}']")).to_have_count(1)
        assert await history.locator(".gorgon-bar").count() >= 1
        await history.screenshot(path=artifacts / "lab_history.png")
    finally:
        config.unlink()

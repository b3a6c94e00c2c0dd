"""``%%gorgon`` in a real JupyterLab and Notebook 7: the run view renders, runs to done, and
shows a step's output when its card is clicked. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest

STEPS = ("plan", "build", "test", "review")
TERMINAL = ("succeeded", "failed", "cancelled")
LOAD_TIMEOUT = 60_000  # ms: the page, the notebook and its kernel
RUN_TIMEOUT = 60_000  # ms: the workflow, from "Run All Cells" to the last card done
UI_TIMEOUT = 10_000  # ms: a click and what it shows

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
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext gorgon_nb"), nbformat.v4.new_code_cell(WORKFLOW_CELL)]
    path = root / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path.name


def dismiss_popups(page: Any) -> None:
    """Accept a dialog (a kernel choice, say) and close any toast that could cover the view."""
    for button in page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").all():
        if button.is_visible():
            button.click()
    for close in page.locator(".jp-Notification-Toast-Close").all():
        if close.is_visible():
            close.click()


def open_notebook(page: Any, url: str, name: str) -> Any:
    """Open the notebook ``name`` at ``url``; wait until it is the current document, shows
    its two cells, and its kernel is idle."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page).to_have_title(re.compile(re.escape(Path(name).stem)), timeout=LOAD_TIMEOUT)
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    expect(notebook.locator(".jp-Cell")).to_have_count(2, timeout=LOAD_TIMEOUT)
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    # a kernel dialog would hold the kernel back: wait for either, answer the dialog if it came
    page.locator(".jp-Dialog").or_(idle).first.wait_for(timeout=LOAD_TIMEOUT)
    dismiss_popups(page)
    expect(idle.first).to_be_attached(timeout=LOAD_TIMEOUT)
    return notebook


def run_all_cells(page: Any) -> None:
    """Run > Run All Cells, from the menu bar (the same in JupyterLab and Notebook 7)."""
    page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Run All Cells")).click()


def wait_for_run(page: Any, notebook: Any) -> Any:
    """The run view in the workflow cell's output, once the run has ended and the cell is done."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    cell = notebook.locator(".jp-Cell").nth(1)
    view = cell.locator(".gorgon-run")
    ended = cell.locator(", ".join(f".gorgon-run[data-status='{status}']" for status in TERMINAL))
    try:
        ended.wait_for(timeout=RUN_TIMEOUT)
    except PlaywrightTimeout:
        outputs = cell.locator(".jp-OutputArea").inner_text() if cell.locator(".jp-OutputArea").count() else ""
        pytest.fail(f"the run view did not reach an end within {RUN_TIMEOUT // 1000}s; "
                    f"{view.count()} run views; the cell's output reads:\n{outputs}", pytrace=False)
    # the cell is done when its prompt shows an execution count instead of [*]
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=RUN_TIMEOUT)
    expect(view).to_have_count(1)
    return view


def check_run_view(page: Any, notebook: Any, view: Any, screenshots: dict[str, Path]) -> None:
    from playwright.sync_api import expect

    expect(view).to_have_attribute("data-status", "succeeded")
    cards = view.locator(".gorgon-step")
    expect(cards).to_have_count(len(STEPS))
    keys = [card.get_attribute("data-key") for card in cards.all()]
    assert sorted(keys) == sorted(STEPS), keys
    for card in cards.all():
        expect(card).to_have_attribute("data-status", "succeeded")
        expect(card.locator(".gorgon-status-text")).to_have_text("done")
        expect(card.locator(".gorgon-status-text")).to_be_visible()

    # no error or warning printed under either cell
    stderr = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, "\n---\n".join(stderr.all_inner_texts())

    # the finished view on its own, then the whole page with a step's detail open
    dismiss_popups(page)
    view.scroll_into_view_if_needed()
    view.screenshot(path=screenshots["widget"])

    # a card's click opens its detail with the step's output
    view.locator(".gorgon-step[data-key='plan']").click()
    detail = view.locator(".gorgon-detail")
    expect(detail).to_be_visible(timeout=UI_TIMEOUT)
    expect(detail).to_have_attribute("data-key", "plan")
    output = detail.locator(".gorgon-output")
    expect(output).to_have_text(re.compile(r"^\s*\[offline\]"), timeout=UI_TIMEOUT)
    expect(output).to_contain_text("CSV export")

    dismiss_popups(page)
    view.scroll_into_view_if_needed()
    page.screenshot(path=screenshots["page"])
    assert all(path.stat().st_size > 0 for path in screenshots.values())


def shots(artifacts: Path, prefix: str) -> dict[str, Path]:
    return {"page": artifacts / f"{prefix}_run_view.png", "widget": artifacts / f"{prefix}_run_view_widget.png"}


def test_run_view_in_jupyterlab(page: Any, lab_server: Any, artifacts: Path) -> None:
    name = write_notebook(lab_server.root, "lab_run_view")
    notebook = open_notebook(page, lab_server.url(f"/lab/tree/{name}", "reset"), name)
    run_all_cells(page)
    view = wait_for_run(page, notebook)
    check_run_view(page, notebook, view, shots(artifacts, "lab"))


def test_run_view_in_notebook7(page: Any, lab_server: Any, artifacts: Path) -> None:
    name = write_notebook(lab_server.root, "notebook7_run_view")
    notebook = open_notebook(page, lab_server.url(f"/notebooks/{name}"), name)
    run_all_cells(page)
    view = wait_for_run(page, notebook)
    check_run_view(page, notebook, view, shots(artifacts, "notebook7"))

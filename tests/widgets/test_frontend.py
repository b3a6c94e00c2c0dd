"""The widgets' ESM rendered in headless Chromium, fed the traits of real runs."""

from __future__ import annotations

from typing import Any

import esm_harness
import pytest
from widget_runs import Watched

from gorgon_nb.widgets import HistoryView, RunView
from gorgon_nb.widgets.run_view import STATIC

pytestmark = pytest.mark.skipif(esm_harness.chromium() is None, reason="chromium is not installed")

RUN_TRAITS = (
    "workflow_name",
    "run_id",
    "status",
    "error",
    "steps",
    "started_at",
    "ended_at",
    "total_tokens",
    "total_cost",
    "notices",
)


def run_state(view: RunView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in RUN_TRAITS}


def render_run(view: RunView, after: str, theme: str = "light") -> Any:
    html = esm_harness.page(
        STATIC / "run_view.js", STATIC / "run_view.css", run_state(view), after=after, theme=theme
    )
    return esm_harness.report(html)


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_steps_cards_and_connectors(dev_run: Watched, theme: str) -> None:
    found = render_run(
        dev_run.view,
        """
      const card = document.querySelector('.gorgon-step[data-key="plan"][data-status="succeeded"]');
      const rows = [...document.querySelectorAll('.gorgon-level')].map(
        (row) => [...row.querySelectorAll('.gorgon-step')].map((c) => c.dataset.key));
      const edges = [...document.querySelectorAll('.gorgon-edges path')].map((p) => `${p.dataset.from}>${p.dataset.to}`);
      return {
        card: card && card.querySelector('.gorgon-status-text').textContent,
        rows, edges: edges.sort(),
        badge: document.querySelector('.gorgon-badge').textContent,
        title: document.querySelector('.gorgon-title').textContent,
        detail: document.querySelector('.gorgon-detail').hidden,
      };
    """,
        theme,
    )
    assert found == {
        "card": "done",
        "rows": [["plan"], ["build"], ["test"], ["review"]],
        "edges": ["build>review", "build>test", "plan>build", "test>review"],
        "badge": "done",
        "title": "Plan, build, test, review",
        "detail": True,
    }


async def test_clicking_a_card_opens_its_output(dev_run: Watched) -> None:
    found = render_run(
        dev_run.view,
        """
      const card = document.querySelector('.gorgon-step[data-key="plan"]');
      card.click();
      const opened = document.querySelector('.gorgon-detail');
      const first = { hidden: opened.hidden, key: opened.dataset.key, items: opened.querySelectorAll('.gorgon-output li').length };
      document.querySelector('.gorgon-step[data-key="build"]').click();
      const switched = opened.dataset.key;
      document.querySelector('.gorgon-step[data-key="build"]').click();
      return { first, switched, closed: opened.hidden };
    """,
    )
    assert found["first"]["hidden"] is False and found["first"]["key"] == "plan"
    assert found["first"]["items"] > 0
    assert found["switched"] == "build" and found["closed"] is True


async def test_live_updates_keep_the_cards(dev_run: Watched) -> None:
    view = dev_run.view
    running = [
        dict(step, status="pending", ended=None, output_html="", tokens="-", cost="-")
        for step in view.steps
    ]
    running[0].update(status="running", text="first line\nsecond line")
    view.status, view.ended_at, view.error = "running", 0.0, ""
    view.steps = running
    found = render_run(
        view,
        """
      const card = document.querySelector('.gorgon-step[data-key="plan"]');
      const streamed = card.querySelector('.gorgon-step-text');
      const before = { status: card.dataset.status, text: streamed.textContent, shown: !streamed.hidden,
                       label: card.querySelector('.gorgon-status-text').textContent };
      const steps = model.get("steps").map((s) => ({ ...s }));
      steps[0] = { ...steps[0], status: "succeeded", text: "", ended: steps[0].started + 1 };
      model.set("steps", steps);
      model.set("status", "failed");
      model.set("error", "step 'build' failed: boom");
      const after = document.querySelector('.gorgon-step[data-key="plan"]');
      return { before, same: after === card, status: after.dataset.status, shown: !streamed.hidden,
               error: document.querySelector('.gorgon-error').textContent,
               badge: document.querySelector('.gorgon-badge').dataset.status };
    """,
    )
    assert found["before"] == {
        "status": "running",
        "text": "first line\nsecond line",
        "shown": True,
        "label": "running",
    }
    assert found["same"] is True and found["status"] == "succeeded" and found["shown"] is False
    assert found["error"] == "step 'build' failed: boom" and found["badge"] == "failed"


async def test_loop_rounds_share_the_loops_row(loop_run: Watched) -> None:
    found = render_run(
        loop_run.view,
        """
      return [...document.querySelectorAll('.gorgon-level')].map(
        (row) => [...row.querySelectorAll('.gorgon-step')].map((c) => c.dataset.key));
    """,
    )
    assert found == [
        ["diagnose"],
        ["fix_and_verify", "fix_and_verify[1].fix", "fix_and_verify[1].verify"],
        ["change_note"],
    ]


def test_history_chart_and_table() -> None:
    runs = [
        {
            "run_id": "r3",
            "workflow": "wf",
            "status": "succeeded",
            "started_at": 3000.0,
            "duration": "1.0s",
            "tokens": "10 in / 5 out",
            "cost_usd": 0.02,
            "cost": "$0.0200",
        },
        {
            "run_id": "r2",
            "workflow": "wf",
            "status": "failed",
            "started_at": 2000.0,
            "duration": "2.0s",
            "tokens": "10 in / 5 out",
            "cost_usd": None,
            "cost": "unknown",
        },
        {
            "run_id": "r1",
            "workflow": "wf",
            "status": "succeeded",
            "started_at": 1000.0,
            "duration": "3.0s",
            "tokens": "-",
            "cost_usd": 0.0,
            "cost": "-",
        },
    ]
    view = HistoryView(runs=runs)
    html = esm_harness.page(
        STATIC / "history.js",
        STATIC / "history.css",
        {"runs": view.runs},
        after="""
      return {
        rows: [...document.querySelectorAll('.gorgon-history-row')].map((r) => [r.dataset.runId, r.querySelector('.gorgon-badge').textContent]),
        bars: [...document.querySelectorAll('.gorgon-bar')].map((b) => [b.dataset.runId, b.classList.contains('gorgon-bar-unknown')]),
      };
    """,
    )
    found = esm_harness.report(html)
    assert found["rows"] == [["r3", "done"], ["r2", "failed"], ["r1", "done"]]
    assert found["bars"] == [["r1", False], ["r2", True], ["r3", False]]  # oldest first

"""The run view's ESM in headless Chromium: a step card's tool calls and a tool call's approval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import esm_harness
import pytest
from test_frontend import jupyter_page, render_run, run_state
from tool_runs import start_script

from gorgon_nb.runner import Runner
from gorgon_nb.testing import ScriptedModel
from gorgon_nb.widgets import RunView
from gorgon_nb.widgets.run_view import STATIC

pytestmark = pytest.mark.skipif(esm_harness.chromium() is None, reason="chromium is not installed")

TURNS = (
    [("uitools.look", {"name": "sales"}), ("uitools.broken", {})],
    [("uitools.look", {"name": "costs"})],
    [("uitools.look", {"name": "staff"})],
    [("uitools.look", {"name": "rent"})],
    [("uitools.save", {"path": "summary.md", "text": "# Sales\n\n<script>alert(1)</script> 3 rows"})],
)


@pytest.fixture
async def asking(runner: Runner) -> AsyncIterator[RunView]:
    """A view of a run whose sixth tool call (a write) waits for approval."""
    view, _, task, _ = await start_script(runner, ScriptedModel(*TURNS))
    yield view
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def save_call(view: RunView) -> dict[str, Any]:
    return next(s for s in view.steps if s["key"] == "work")["tool_calls"][-1]


async def test_the_card_lists_the_latest_calls_and_the_detail_asks_under_the_call(asking: RunView) -> None:
    approval = save_call(asking)["approval"]
    decided = {**approval, "status": "approved", "decided_by": "ada", "comment": None, "run_alive": True}
    found = render_run(asking, """
      const card = document.querySelector('.gorgon-step[data-key="work"]');
      const detail = document.querySelector('.gorgon-detail');
      const calls = [...detail.querySelectorAll('.gorgon-call')];
      const waiting = detail.querySelector('.gorgon-call[data-status="waiting"]');
      const panel = waiting.querySelector('.gorgon-approval');
      const seen = {
        card: card.dataset.status,
        marker: card.querySelector('.gorgon-step-approval').textContent,
        count: card.querySelector('.gorgon-tools-count').textContent,
        lines: [...card.querySelectorAll('.gorgon-tool')].map((l) => [l.dataset.status,
          l.querySelector('.gorgon-tool-name').textContent]),
        opened: detail.hidden ? null : detail.dataset.key,
        title: detail.querySelector('.gorgon-calls-title').textContent,
        calls: calls.map((c) => [c.dataset.status, c.querySelector('.gorgon-call-tool').textContent,
          c.querySelector('.gorgon-call-status').textContent]),
        args: calls[0].querySelector('.gorgon-call-args').textContent,
        result: calls[1].querySelector('.gorgon-call-result').textContent,
        writes: !!waiting.querySelector('.gorgon-call-writes'),
        facts: [...panel.querySelectorAll('.gorgon-approval-fact')].map((f) => f.textContent),
        preview: panel.querySelector('.gorgon-approval-preview').textContent,
        scripts: detail.querySelectorAll('script').length,
        buttons: [...panel.querySelectorAll('button')].map((b) => b.textContent),
      };
      panel.querySelector('.gorgon-approve').click();
      await new Promise((done) => setTimeout(done, 100));
      const message = panel.querySelector('.gorgon-approval-message').textContent;
      return { seen, answered: { message, requests: window.fetched.map((r) => [r.url, r.body]) } };
    """, setup=jupyter_page({"status": 200, "body": decided}))
    assert "error" not in found, found.get("error")
    seen = found["seen"]
    assert (seen["card"], seen["marker"], seen["opened"]) == ("waiting", "needs your approval", "work")
    assert seen["count"] == "6 tool calls · latest 4"
    assert seen["lines"] == [["ok", "uitools.look"], ["ok", "uitools.look"], ["ok", "uitools.look"],
                             ["waiting", "uitools.save"]]
    assert seen["title"] == "Tool calls (6)"
    assert seen["calls"][:2] == [["ok", "uitools.look", "ok"], ["error", "uitools.broken", "error"]]
    assert seen["calls"][-1] == ["waiting", "uitools.save", "waiting for approval"]
    assert seen["args"] == '{"name": "sales"}' and "the table is locked" in seen["result"]
    assert seen["writes"] is True
    assert seen["facts"][0] == "a tool call that writes"
    assert "<script>alert(1)</script> 3 rows" in seen["preview"] and seen["scripts"] == 0
    assert seen["buttons"] == ["Approve", "Reject"]
    answered = found["answered"]
    assert answered["requests"] == [[f"/user/ada/gorgon/api/approvals/{approval['id']}", {"decision": "approve"}]]
    assert answered["message"] == "approved by ada"


async def test_screenshot_of_a_step_with_tool_calls(asking: RunView, tmp_path: Path) -> None:
    """A picture to look at (kept under /tmp by the person who looks): the card, the detail."""
    html = esm_harness.page(STATIC / "run_view.js", STATIC / "run_view.css", run_state(asking))
    shot = tmp_path / "tool-calls.png"
    esm_harness.run(html, screenshot=shot, size="1000,900")
    assert shot.is_file() and shot.stat().st_size > 10_000
    keep = Path("/tmp/gorgon-shots")
    if keep.is_dir():
        (keep / "run-view-tool-calls.png").write_bytes(shot.read_bytes())

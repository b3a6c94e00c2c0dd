"""The widgets' ESM rendered in headless Chromium, fed the traits of real runs."""

from __future__ import annotations

import json
from typing import Any

import esm_harness
import pytest
from widget_runs import WaitingRun, Watched

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


def render_run(view: RunView, after: str, theme: str = "light", setup: str = "") -> Any:
    html = esm_harness.page(
        STATIC / "run_view.js",
        STATIC / "run_view.css",
        run_state(view),
        after=after,
        setup=setup,
        theme=theme,
    )
    return esm_harness.report(html)


XSRF = "2|d1b2c3|e4f5a6|1700000000"
PAGE_CONFIG = {"baseUrl": "/user/ada/", "token": "secret-token"}


def jupyter_page(answer: dict[str, Any], config: dict[str, Any] | None = PAGE_CONFIG) -> str:
    """Setup for a page like JupyterLab's: its page config, its cookies, and a server whose
    ``fetch`` records each request and gives ``answer`` ({status, body} or {network: true})."""
    script = f"""
      window.fetched = [];
      window.answer = {json.dumps(answer)};
      window.fetch = async (url, init) => {{
        window.fetched.push({{ url: String(url), method: init.method, headers: init.headers,
                              credentials: init.credentials, body: JSON.parse(init.body) }});
        if (window.answer.network) throw new TypeError("Failed to fetch");
        const body = window.answer.body;
        return new Response(typeof body === "string" ? body : JSON.stringify(body), {{
          status: window.answer.status,
          headers: {{ "Content-Type": typeof body === "string" ? "text/html" : "application/json" }},
        }});
      }};
      Object.defineProperty(document, "cookie", {{
        configurable: true, get: () => "username-127-0-0-1-8888=abc; _xsrf={XSRF}",
      }});
    """
    if config is not None:
        script += f"""
      const config = document.createElement("script");
      config.id = "jupyter-config-data";
      config.type = "application/json";
      config.textContent = {json.dumps(json.dumps(config))};
      document.head.append(config);
    """
    return script


# the state of the view's approval controls, after a click has had time to be answered
PANEL_STATE = """
  const panel = document.querySelector('.gorgon-detail .gorgon-approval');
  const state = () => ({
    message: panel.querySelector('.gorgon-approval-message').textContent,
    tone: panel.querySelector('.gorgon-approval-message').dataset.tone,
    disabled: panel.querySelector('.gorgon-approve').disabled,
    shown: !panel.querySelector('.gorgon-approve').hidden,
  });
  const settle = () => new Promise((done) => setTimeout(done, 100));
"""


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
        "card": "succeeded",
        "rows": [["plan"], ["build"], ["test"], ["review"]],
        "edges": ["build>review", "build>test", "plan>build", "test>review"],
        "badge": "succeeded",
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
    assert found["rows"] == [["r3", "succeeded"], ["r2", "failed"], ["r1", "succeeded"]]
    assert found["bars"] == [["r1", False], ["r2", True], ["r3", False]]  # oldest first


async def test_a_waiting_step_asks_and_posts_the_decision(waiting_run: WaitingRun) -> None:
    approval_id = waiting_run.approval_id
    decided = {
        **waiting_run.step("plan")["approval"],
        "status": "approved",
        "decided_by": "ada",
        "comment": "ok <b>then</b>",
        "run_alive": True,
        "api": None,
    }
    found = render_run(
        waiting_run.view,
        PANEL_STATE
        + """
      const card = document.querySelector('.gorgon-step[data-key="plan"]');
      const detail = document.querySelector('.gorgon-detail');
      const asked = {
        card: card.dataset.status,
        word: card.querySelector('.gorgon-status-text').textContent,
        marker: card.querySelector('.gorgon-step-approval').hidden ? null
          : card.querySelector('.gorgon-step-approval').textContent,
        badge: document.querySelector('.gorgon-badge').textContent,
        opened: detail.hidden ? null : detail.dataset.key,
        title: panel.querySelector('.gorgon-approval-title').textContent,
        facts: [...panel.querySelectorAll('.gorgon-approval-fact')].map((f) => f.textContent),
        strong: panel.querySelector('.gorgon-approval-preview strong').textContent,
        scripts: panel.querySelectorAll('script').length,
        preview: panel.querySelector('.gorgon-approval-preview').textContent,
        buttons: [...panel.querySelectorAll('button')].map((b) => b.textContent),
      };
      panel.querySelector('textarea').value = '  ok <b>then</b> ';
      panel.querySelector('.gorgon-approve').click();
      const sending = state();
      await settle();
      const answered = { ...state(), requests: window.fetched, sent: model.sent };
      // then the run's own events arrive: the step goes on, the approval is closed
      const steps = model.get('steps').map((s) => s.key !== 'plan' ? s
        : { ...s, status: 'running', approval: { ...s.approval, status: 'approved', decided_by: 'ada',
                                                  comment: 'ok <b>then</b>' } });
      model.set('steps', steps);
      const closed = { ...state(), marker: !card.querySelector('.gorgon-step-approval').hidden,
                       comment: !panel.querySelector('textarea').hidden };
      return { asked, sending, answered, closed };
    """,
        setup=jupyter_page({"status": 200, "body": decided}),
    )
    assert "error" not in found, found.get("error")
    asked = found["asked"]
    assert (asked["card"], asked["word"], asked["marker"]) == (
        "waiting",
        "waiting",
        "needs your approval",
    )
    assert asked["badge"] == "waiting" and asked["opened"] == "plan"  # opened without a click
    assert asked["title"] == "Is the plan good?"
    assert asked["facts"][:2] == ["the step's output", "who may decide: ada"]
    assert asked["facts"][2].startswith("no decision by ") and asked["facts"][2].endswith(
        ": rejected"
    )
    assert asked["strong"] == "Proposed plan" and asked["scripts"] == 0
    assert "<script>alert(1)</script>" in asked["preview"]  # shown as text
    assert asked["buttons"] == ["Approve", "Reject"]
    assert found["sending"]["disabled"] is True and found["sending"]["message"] == "approving…"

    answered = found["answered"]
    assert answered["requests"] == [
        {
            "url": f"/user/ada/gorgon/api/approvals/{approval_id}",
            "method": "POST",
            "headers": {
                "Content-Type": "application/json",
                "X-XSRFToken": XSRF,
                "Authorization": "token secret-token",
            },
            "credentials": "same-origin",
            "body": {"decision": "approve", "comment": "ok <b>then</b>"},
        }
    ]
    assert answered["sent"] == []  # nothing went through the kernel
    assert answered["message"] == "approved by ada: \u201cok <b>then</b>\u201d"
    assert (answered["tone"], answered["disabled"]) == ("approved", True)
    closed = found["closed"]
    assert closed["shown"] is False and closed["comment"] is False and closed["marker"] is False
    assert closed["message"].startswith("approved by ada")


CONFLICT = (
    "'Is the plan good?' was already rejected by bob at 10:02; your decision was not recorded"
)


@pytest.mark.parametrize(
    ("answer", "config", "through_kernel", "message"),
    [
        (
            {"status": 409, "body": {"message": CONFLICT, "api": "gorgon"}},
            PAGE_CONFIG,
            False,
            CONFLICT,
        ),
        (
            {"status": 403, "body": {"message": "'eve' may not decide", "api": "gorgon"}},
            PAGE_CONFIG,
            False,
            "'eve' may not decide",
        ),
        (
            {"status": 400, "body": {"message": "bad decision", "api": "gorgon"}},
            PAGE_CONFIG,
            False,
            "bad decision",
        ),
        (
            {"status": 404, "body": {"message": "no approval 'x'", "api": "gorgon"}},
            PAGE_CONFIG,
            False,
            "no approval 'x'",
        ),
        (
            {"status": 404, "body": "<html>404: Not Found</html>"},
            PAGE_CONFIG,
            True,
            "sent to the kernel",
        ),
        ({"network": True}, PAGE_CONFIG, True, "sent to the kernel"),
        ({"status": 200, "body": {}}, None, True, "sent to the kernel"),
    ],
    ids=[
        "conflict",
        "not-an-approver",
        "bad-body",
        "unknown-approval",
        "no-extension",
        "network",
        "no-page-config",
    ],
)
async def test_refusals_are_shown_and_a_missing_server_falls_back_to_the_kernel(
    waiting_run: WaitingRun,
    answer: dict[str, Any],
    config: dict[str, Any] | None,
    through_kernel: bool,
    message: str,
) -> None:
    approval_id = waiting_run.approval_id
    found = render_run(
        waiting_run.view,
        PANEL_STATE
        + """
      panel.querySelector('textarea').value = 'not now';
      panel.querySelector('.gorgon-reject').click();
      await settle();
      const first = { ...state(), requests: window.fetched.length, sent: model.sent };
      model.receive({ type: 'decide_failed', approval_id: panel.dataset.approvalId,
                      message: 'the kernel says no' });
      return { first, kernel: state() };
    """,
        setup=jupyter_page(answer, config),
    )
    assert "error" not in found, found.get("error")
    first = found["first"]
    assert first["requests"] == (0 if config is None else 1)
    assert message in first["message"]
    if through_kernel:
        assert first["sent"] == [
            {
                "type": "decide",
                "approval_id": approval_id,
                "decision": "reject",
                "comment": "not now",
            }
        ]
        assert f"gorgon approve {approval_id}" in first["message"]
        assert (first["tone"], first["disabled"]) == ("fallback", True)
    else:
        assert first["sent"] == []
        assert (first["tone"], first["disabled"]) == ("error", False)  # try again, or differently
    assert (
        found["kernel"]["message"] == "the kernel says no" and found["kernel"]["disabled"] is False
    )


async def test_the_waiting_view_screenshot(waiting_run: WaitingRun, tmp_path: Any) -> None:
    shot = tmp_path / "waiting.png"
    html = esm_harness.page(
        STATIC / "run_view.js",
        STATIC / "run_view.css",
        run_state(waiting_run.view),
        setup=jupyter_page({"status": 200, "body": {}}),
    )
    esm_harness.run(html, screenshot=shot, size="1000,900")
    assert shot.stat().st_size > 10_000

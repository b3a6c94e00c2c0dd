"""The run view of runs that wait for a person: real approval events, and decisions the
frontend sends through the kernel when the Jupyter server cannot take them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from widget_runs import FEATURE, WaitingRun, Watched, watch

from gorgon_nb.model.events import Event, RunResumed, StepStarted
from gorgon_nb.runner import Runner
from gorgon_nb.widgets import RunView
from gorgon_nb.widgets.run_state import approval_view

APPROVAL_KEYS = {
    "id",
    "kind",
    "round",
    "title",
    "preview_html",
    "approvers",
    "status",
    "timeout_at",
    "on_timeout",
    "decided_by",
    "decided_at",
    "comment",
    "timed_out",
    "step_key",
}


async def test_a_waiting_step_shows_its_approval(waiting_run: WaitingRun) -> None:
    view, plan = waiting_run.view, waiting_run.step("plan")
    assert view.status == "waiting"
    assert plan["status"] == "waiting" and waiting_run.step("build")["status"] == "pending"
    approval = plan["approval"]
    assert set(approval) == APPROVAL_KEYS
    assert (approval["title"], approval["kind"], approval["round"], approval["status"]) == (
        "Is the plan good?",
        "after",
        1,
        "pending",
    )
    assert approval["approvers"] == ["ada"] and approval["decided_by"] is None
    assert approval["timeout_at"] == pytest.approx(plan["started"] + 3600, abs=60)
    assert plan["text"] == ""  # what streamed is the preview now

    # the preview is the step's output rendered as Markdown, its raw HTML escaped
    preview = approval["preview_html"]
    assert "<strong>Proposed plan</strong>" in preview
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview and "<script>" not in preview
    assert "[offline]" in preview

    # without a frontend the text forms say how to decide
    command = f"gorgon approve {approval['id']}"
    assert "waiting" in view.to_text().splitlines()[0]
    assert f"plan waits for approval 'Is the plan good?': {command}" in view.to_text()
    assert f"`{command}`" in view.to_markdown()


async def test_an_approval_lets_the_view_finish(waiting_run: WaitingRun) -> None:
    waiting_run.runner.approve(waiting_run.approval_id, comment="fine <b>by me</b>", by="ada")
    result = await waiting_run.finish()
    assert result.ok, result.error
    view, plan = waiting_run.view, waiting_run.step("plan")
    assert view.status == "succeeded"
    assert [s["status"] for s in view.steps] == ["succeeded", "succeeded"]
    approval = plan["approval"]
    assert (approval["status"], approval["decided_by"], approval["comment"]) == (
        "approved",
        "ada",
        "fine <b>by me</b>",  # the frontend shows it as text
    )
    assert approval["decided_at"] >= plan["started"]
    assert "waits for approval" not in view.to_text()


async def test_a_rejection_fails_the_step(waiting_run: WaitingRun) -> None:
    waiting_run.runner.approve(
        waiting_run.approval_id, approve=False, comment="too vague", by="ada"
    )
    result = await waiting_run.finish()
    assert not result.ok
    plan = waiting_run.step("plan")
    assert waiting_run.view.status == "failed"
    assert plan["status"] == "failed" and "rejected by ada: too vague" in plan["error"]
    assert plan["approval"]["status"] == "rejected"
    assert waiting_run.step("build")["status"] == "skipped"


async def test_a_run_that_ends_while_waiting_closes_the_approval(waiting_run: WaitingRun) -> None:
    waiting_run.task.cancel()
    await asyncio.gather(waiting_run.task, return_exceptions=True)
    waiting_run.view.flush()
    plan = waiting_run.step("plan")
    assert waiting_run.view.status == "cancelled"
    assert plan["status"] == "cancelled" and plan["approval"]["status"] == "cancelled"


def test_approval_view_fills_gaps_and_escapes() -> None:
    shown = approval_view({"id": "a1", "preview": "<img src=x onerror=alert(1)>"})
    assert set(shown) == APPROVAL_KEYS
    assert (shown["title"], shown["kind"], shown["status"], shown["approvers"]) == (
        "Approval",
        "gate",
        "pending",
        [],
    )
    assert "<img" not in shown["preview_html"] and "&lt;img" in shown["preview_html"]
    assert approval_view({"id": "a2"})["preview_html"] == ""


async def test_a_resumed_run_keeps_the_steps_done_before(runner: Runner) -> None:
    done: Watched = await watch(runner, "dev_plan_build_test_review", FEATURE)
    started = done.events[0]
    view = RunView()
    view.apply(
        Event(
            RunResumed(
                workflow_id="dev_plan_build_test_review",
                name="Plan, build, test, review",
                inputs={},
                graph=started.payload.graph,
                restored={"plan": "succeeded", "build": "succeeded"},
            ),
            started.run_id,
        )
    )
    view.apply(Event(StepStarted(), started.run_id, "test"))
    view.flush()
    assert (view.run_id, view.status) == (started.run_id, "running")
    statuses = {s["key"]: s["status"] for s in view.steps}
    assert statuses == {
        "plan": "succeeded",
        "build": "succeeded",
        "test": "running",
        "review": "pending",
    }
    assert "before the run was resumed" in view.steps[0]["output_html"]
    assert view.steps[3]["deps"] == ["build", "test"]


# -- decisions through the kernel -------------------------------------------------------------


def decide(approval_id: Any, decision: Any = "approve", comment: Any = None) -> dict[str, Any]:
    return {"type": "decide", "approval_id": approval_id, "decision": decision, "comment": comment}


async def test_the_kernel_fallback_decides_through_the_store(waiting_run: WaitingRun) -> None:
    view, approval_id = waiting_run.view, waiting_run.approval_id
    sent: list[dict[str, Any]] = []
    view.send = sent.append  # type: ignore[method-assign]
    view._on_frontend_message(view, decide(approval_id, comment="  ship it  "), [])
    assert sent == [
        {"type": "decided", "approval_id": approval_id, "status": "approved", "decided_by": "ada"}
    ]
    result = await waiting_run.finish()
    assert result.ok, result.error
    assert waiting_run.step("plan")["approval"]["comment"] == "ship it"

    # a second decision is refused, and the frontend told who decided first
    answer = view.decide_from_frontend(decide(approval_id, "reject"))
    assert answer["type"] == "decide_failed"
    assert "already approved by ada" in answer["message"]
    view._on_frontend_message(view, {"type": "something else"}, [])
    assert len(sent) == 1


async def test_the_kernel_fallback_checks_who_decides(
    waiting_run: WaitingRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GORGON_USER", "mallory")
    answer = waiting_run.view.decide_from_frontend(decide(waiting_run.approval_id))
    assert answer == {
        "type": "decide_failed",
        "approval_id": waiting_run.approval_id,
        "message": "'mallory' may not decide 'Is the plan good?'; its approvers are ada",
    }
    assert waiting_run.runner.approvals(waiting_run.execution.result.run_id)[0].pending


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (decide(""), "names no approval"),
        (decide(7), "names no approval"),
        (decide("a1", "maybe"), "unknown decision 'maybe'"),
        (decide("a1", comment=["x"]), "a comment is text"),
        (decide("a1", comment="x" * 5001), "at most 5000 characters"),
        (decide("nosuchid"), "no approval 'nosuchid'"),
    ],
)
def test_bad_kernel_decisions_are_answered(message: dict[str, Any], says: str) -> None:
    answer = RunView().decide_from_frontend(message)
    assert answer["type"] == "decide_failed" and says in answer["message"]


def test_on_decide_takes_the_decision_when_given() -> None:
    calls: list[tuple[str, bool, str | None]] = []
    view = RunView(on_decide=lambda *args: calls.append(args))
    answer = view.decide_from_frontend(decide("a1", "reject", "not now"))
    assert calls == [("a1", False, "not now")]
    assert answer == {
        "type": "decided",
        "approval_id": "a1",
        "status": "rejected",
        "decided_by": None,
    }

"""The run view's tool calls, fed the events of real runs that call tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tool_runs import WAIT_SECONDS, run_script, start_script, until

from gorgon_nb.runner import Runner
from gorgon_nb.testing import ScriptedModel
from gorgon_nb.widgets.tool_calls import ARGUMENTS_LIMIT, CALLS_KEPT, RESULT_LIMIT

CALL_KEYS = {"index", "tool", "arguments", "writes", "item", "delegation", "status", "result", "recorded",
             "approval", "started", "ended"}


def fresh(view: Any) -> bool:
    """Push the view's changes to its traits (True, to chain a condition on them)."""
    view.flush()
    return True


def step(view: Any, key: str = "work") -> dict[str, Any]:
    return next(s for s in view.steps if s["key"] == key)


async def test_calls_are_listed_in_order_with_arguments_results_and_status(runner: Runner) -> None:
    model = ScriptedModel([("uitools.look", {"name": "sales"}), ("uitools.broken", {})],
                   [("uitools.look", {"name": "costs"}), ("uitools.nope", {"x": 1})])
    view, result, _ = await run_script(runner, model)
    assert result.ok, result.error
    calls = step(view)["tool_calls"]
    assert all(set(call) == CALL_KEYS for call in calls)
    assert [(c["index"], c["tool"], c["status"]) for c in calls] == [
        (0, "uitools.look", "ok"), (1, "uitools.broken", "error"),
        (2, "uitools.look", "ok"), (3, "uitools_nope", "error")]
    assert calls[0]["arguments"] == '{"name": "sales"}'
    assert calls[0]["result"] == "found sales: 3 rows"
    assert "the table is locked" in calls[1]["result"]
    assert "there is no tool 'uitools_nope'" in calls[3]["result"]
    assert all(c["approval"] is None and not c["writes"] and not c["recorded"] for c in calls)
    assert all(c["ended"] >= c["started"] for c in calls)
    assert step(view)["tool_calls_dropped"] == 0
    text = view.to_text()
    assert ("work called 4 tools: uitools.look ok, uitools.broken error, uitools.look ok, uitools_nope error"
            in text)
    assert "`work` called 4 tools:" in view.to_markdown()


async def test_a_write_waits_under_its_call_and_the_decision_closes_it(runner: Runner) -> None:
    model = ScriptedModel([("uitools.look", {"name": "sales"}), ("uitools.save", {"path": "sum.txt", "text": "<b>3</b>"})])
    view, _, task, _ = await start_script(runner, model)
    try:
        await until(lambda: fresh(view) and step(view)["status"] == "waiting", "the step to wait")
        work = step(view)
        assert view.status == "waiting" and work["approval"] is None  # the step's own gate is not asked
        look, save = work["tool_calls"]
        assert look["status"] == "ok" and save["status"] == "waiting" and save["writes"] is True
        approval = save["approval"]
        assert (approval["kind"], approval["status"], approval["step_key"]) == ("tool", "pending", "work/tool-2")
        assert approval["title"] == "uitools.save (work)"
        assert "<code>sum.txt</code>" in approval["preview_html"] and "&lt;b&gt;3&lt;/b&gt;" in approval["preview_html"]
        assert f"gorgon approve {approval['id']}" in view.to_text()
        assert view.state.awaiting()[0].key == "work"

        runner.store.approvals.decide(approval["id"], approve=True, by="ann", comment="fine")
        result = await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
    finally:
        task.cancel()
    assert result.ok, result.error
    view.flush()
    work = step(view)
    save = work["tool_calls"][1]
    assert (work["status"], view.status) == ("succeeded", "succeeded")
    assert (save["status"], save["result"]) == ("ok", "saved 8 characters to sum.txt")
    assert (save["approval"]["status"], save["approval"]["decided_by"], save["approval"]["comment"]) == (
        "approved", "ann", "fine")
    assert save["approval"]["preview_html"] == ""  # decided: the arguments say enough
    assert "waits for approval" not in view.to_text()


async def test_a_rejected_write_shows_who_said_no(runner: Runner) -> None:
    model = ScriptedModel([("uitools.save", {"path": "a.txt", "text": "x"})])
    view, _, task, _ = await start_script(runner, model)
    try:
        approval_id = step(view)["tool_calls"][0]["approval"]["id"]
        runner.store.approvals.decide(approval_id, approve=False, by="ann", comment="not that file")
        result = await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
    finally:
        task.cancel()
    assert result.ok, result.error
    view.flush()
    call = step(view)["tool_calls"][0]
    assert call["status"] == "rejected"
    assert call["result"].startswith("this call was rejected by ann, who said: not that file")
    assert call["approval"]["status"] == "rejected"


async def test_parallel_writes_each_wait_under_their_own_call(runner: Runner) -> None:
    model = ScriptedModel([("uitools.save", {"path": "a.txt", "text": "a"}), ("uitools.save", {"path": "b.txt", "text": "b"})])
    view, _, task, _ = await start_script(runner, model)
    try:
        await until(lambda: fresh(view) and len(step(view)["tool_calls"]) == 2 and all(
            c["status"] == "waiting" for c in step(view)["tool_calls"]), "both calls to wait")
        first, second = step(view)["tool_calls"]
        assert (first["approval"]["step_key"], second["approval"]["step_key"]) == ("work/tool-1", "work/tool-2")
        assert '"a.txt"' in first["arguments"] and '"b.txt"' in second["arguments"]
        runner.store.approvals.decide(second["approval"]["id"], approve=False, by="ann")
        await until(lambda: fresh(view) and step(view)["tool_calls"][1]["status"] == "rejected", "the rejection")
        assert step(view)["status"] == "waiting" and view.status == "waiting"  # the first still waits
        runner.store.approvals.decide(first["approval"]["id"], approve=True, by="ann")
        result = await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
    finally:
        task.cancel()
    assert result.ok, result.error
    view.flush()
    assert [c["status"] for c in step(view)["tool_calls"]] == ["ok", "rejected"]


async def test_a_run_that_ends_while_a_call_waits_closes_it(runner: Runner) -> None:
    model = ScriptedModel([("uitools.save", {"path": "a.txt", "text": "x"})])
    view, _, task, _ = await start_script(runner, model)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await until(lambda: fresh(view) and view.status not in ("running", "waiting"), "the run to end")
    call = step(view)["tool_calls"][0]
    assert call["status"] == "cancelled" and call["approval"]["status"] == "cancelled"
    assert call["approval"]["preview_html"] == ""


async def test_the_state_stays_bounded(runner: Runner) -> None:
    big = "y" * 5000
    turns = [[("uitools.look", {"name": f"t{i}", "blob": big})] for i in range(CALLS_KEPT + 5)]
    view, result, _ = await run_script(runner, ScriptedModel(*turns), max_tool_calls=CALLS_KEPT + 5)
    assert result.ok, result.error
    work = step(view)
    calls = work["tool_calls"]
    assert len(calls) == CALLS_KEPT and work["tool_calls_dropped"] == 5
    assert calls[0]["index"] == 5 and calls[-1]["index"] == CALLS_KEPT + 4  # the latest are kept
    assert all(len(c["arguments"]) <= ARGUMENTS_LIMIT and c["arguments"].endswith("…") for c in calls)
    assert all(len(c["result"]) <= RESULT_LIMIT for c in calls)
    assert len(json.dumps(view.steps)) < 40_000
    assert f"work called {CALLS_KEPT + 5} tools: {CALLS_KEPT + 5 - 8} earlier," in view.to_text()


async def test_a_stored_run_shows_its_calls(runner: Runner) -> None:
    from gorgon_nb.widgets import RunView

    model = ScriptedModel([("uitools.look", {"name": "sales"})])
    _, result, _ = await run_script(runner, model)
    stored = RunView.from_result(runner.store.runs.get(result.run_id), runner.store.runs.events(result.run_id))
    assert [(c["tool"], c["status"], c["result"]) for c in step(stored)["tool_calls"]] == [
        ("uitools.look", "ok", "found sales: 3 rows")]


@pytest.mark.parametrize("secret_key", ["sk-ant-api03-" + "a" * 40])
async def test_secrets_in_arguments_never_reach_the_view(runner: Runner, secret_key: str) -> None:
    model = ScriptedModel([("uitools.look", {"name": f"key {secret_key}"})])
    view, result, _ = await run_script(runner, model)
    assert result.ok, result.error
    shown = json.dumps(view.steps)
    assert secret_key not in shown

"""HistoryView from the runs a real store keeps."""

from __future__ import annotations

from widget_runs import FEATURE, MIXED

from gorgon_nb.model.run import RunResult, RunStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.runner import Runner
from gorgon_nb.widgets import HistoryView
from gorgon_nb.widgets.history import history_row
from gorgon_nb.workflow import Workflow

ROW_KEYS = {"run_id", "workflow", "status", "started_at", "duration", "tokens", "total_tokens", "cost_usd", "cost"}


async def test_rows_from_stored_runs(runner: Runner) -> None:
    done = await runner.arun("dev_plan_build_test_review", FEATURE)
    broken = await runner.arun(Workflow.from_yaml(MIXED))
    assert runner.store is not None
    view = HistoryView.from_runs(runner.store.runs.recent())
    assert [row["run_id"] for row in view.runs] == [broken.run_id, done.run_id]
    assert all(set(row) == ROW_KEYS for row in view.runs)
    newest, oldest = view.runs
    assert (newest["workflow"], newest["status"], newest["tokens"], newest["cost"]) == (
        "Mixed outcomes",
        "failed",
        "-",
        "-",
    )
    assert (oldest["workflow"], oldest["status"]) == ("Plan, build, test, review", "succeeded")  # the name
    assert oldest["total_tokens"] == done.usage.total_tokens
    assert oldest["cost_usd"] == 0.0 and oldest["cost"] == "$0"
    assert oldest["started_at"] == done.started_at
    assert oldest["tokens"] == f"{done.usage.input_tokens:,} in / {done.usage.output_tokens:,} out"

    data, _ = view._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    for form in (data["text/plain"], data["text/markdown"]):
        assert done.run_id in form and broken.run_id in form
        assert "succeeded" in form and "failed" in form
    assert data["text/markdown"].startswith("| status | workflow | run id |")


def test_unknown_costs_stay_unknown() -> None:
    run = RunResult(
        "r1", "wf", status=RunStatus.SUCCEEDED, usage=Usage(10, 5, calls=1, unpriced_calls=1)
    )
    row = history_row(run)
    assert row["cost_usd"] is None and row["cost"] == "unknown"
    partly = RunResult("r2", "wf", usage=Usage(10, 5, calls=2, cost_usd=0.5, unpriced_calls=1))
    assert (
        history_row(partly)["cost_usd"] == 0.5
        and history_row(partly)["cost"] == "$0.5000 + unknown"
    )


def test_no_runs() -> None:
    view = HistoryView.from_runs([])
    assert view.runs == []
    assert view.to_text() == "no runs yet"
    assert "No runs yet" in view._repr_mimebundle_()[0]["text/markdown"]

"""Typed events: every kind round-trips through the store to the same payload, its JSON keeps
the keys the rows have always had, and rows written by other versions still load."""

from __future__ import annotations

import json
import time
from typing import Any, get_args

import pytest

from gorgon_nb.model.events import (
    PAYLOADS,
    ApprovalData,
    ApprovalDecided,
    ApprovalRequested,
    DelegationFinished,
    DelegationStarted,
    Event,
    EventKind,
    EventPayload,
    GraphNode,
    Notice,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRetry,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import Usage
from gorgon_nb.store import Store

GRAPH: list[GraphNode] = [
    {"key": "plan", "id": "plan", "kind": "agent", "role": "planner", "name": "plan", "deps": []},
    {"key": "loop", "id": "loop", "kind": "loop", "role": None, "name": "loop", "deps": ["plan"],
     "body": [{"key": "fix", "id": "fix", "kind": "agent", "role": "builder", "name": "fix", "deps": []}]},
]
APPROVAL: ApprovalData = {
    "id": "a1", "kind": "after", "round": 2, "title": "Check the plan", "preview": "the plan",
    "approvers": ["ana"], "status": "approved", "timeout_at": None, "on_timeout": "reject",
    "decided_by": "ana", "decided_at": 12.5, "comment": "fine", "timed_out": False,
}
USAGE = Usage(10, 20, 1, 2, 3, 0.25, 1)

SAMPLES: list[EventPayload] = [
    RunStarted(workflow_id="wf", name="Workflow", inputs={"topic": "rivers", "n": 3}, graph=GRAPH),
    RunStarted(workflow_id="wf", name="Workflow", inputs={}, graph=GRAPH, replay_of="r0"),
    RunStarted(workflow_id="wf", name="Workflow", inputs={}, graph=[], fork_of="r0"),
    RunResumed(workflow_id="wf", name="Workflow", inputs={"n": 1}, graph=GRAPH, restored={"plan": "succeeded"}),
    StepStarted(),
    TextDelta(text="some words"),
    TextDelta(text="more", item=2, delegation=0),
    StepRetry(attempt=2, delay=0.5, error="overloaded", error_type="ProviderUnavailable"),
    StepRetry(attempt=3, delay=0.0, error="bad JSON", error_type="OutputFormatError", delegation=1),
    StepFinished(status="succeeded", output={"rows": [1, 2]}, usage=USAGE, model="offline:echo"),
    StepFinished(status="succeeded", output=None, usage=Usage(), model=None),
    StepFinished(status="skipped", reason="when: false"),
    StepFailed(error="it broke", error_type="StepError"),
    StepFailed(error="it broke", error_type="StepError", usage=USAGE, continued=True),
    StepFailed(error="cancelled", error_type="Cancelled"),
    DelegationStarted(index=0, role="planner", task="plan it"),
    DelegationFinished(index=0, role="planner", output="a plan"),
    DelegationFinished(index=1, role="builder", error="could not"),
    ToolCallStarted(index=0, tool="files.write_file", arguments={"path": "a.py", "content": "x = 1"}, writes=True),
    ToolCallStarted(index=1, tool="mcp:fs/read_text_file", arguments={"path": "a.py"}, writes=False, item=2,
                    delegation=1),
    ToolCallFinished(index=0, tool="files.write_file", status="rejected", result="rejected by ann"),
    ToolCallFinished(index=1, tool="mcp:fs/read_text_file", status="ok", result="x = 1", item=2, delegation=1,
                     recorded=True),
    ApprovalRequested(approval={**APPROVAL, "status": "pending", "decided_by": None, "decided_at": None,
                                "comment": None}),
    ApprovalDecided(approval=APPROVAL),
    Notice(message="budget nearly spent", level="warning"),
    RunFinished(status="failed", error="step 'a' failed", error_type="StepError", usage=USAGE, outputs=None),
]


def new_run(store: Store, run_id: str) -> str:
    store.runs.create(RunResult(run_id=run_id, workflow_id="wf", started_at=time.time()), source=None,
                     source_format=None)
    return run_id


def stored_row(store: Store, run_id: str, seq: int, kind: str, data: dict[str, Any]) -> None:
    """A row as another version of gorgon may have written it."""
    store.conn.execute("INSERT INTO events (run_id, seq, ts, kind, step, data) VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, seq, 1.0, kind, None, json.dumps(data)))


def test_every_kind_has_a_payload_and_a_sample() -> None:
    assert set(PAYLOADS) == set(get_args(EventKind))
    assert {type(payload) for payload in SAMPLES} == set(PAYLOADS.values())


def test_every_kind_round_trips_through_the_store(store: Store) -> None:
    run_id = new_run(store, "ev00000001")
    events = [Event(payload, run_id, "plan", seq, 100.0 + seq) for seq, payload in enumerate(SAMPLES, 1)]
    for event in events:
        store.runs.append_event(event)
    assert store.runs.events(run_id) == events
    assert [Event.from_dict(json.loads(json.dumps(event.to_dict()))) for event in events] == events


@pytest.mark.parametrize(("payload", "data"), [
    (RunStarted(workflow_id="wf", name="W", inputs={}, graph=[]),
     {"workflow_id": "wf", "name": "W", "inputs": {}, "graph": []}),
    (RunStarted(workflow_id="wf", name="W", inputs={}, graph=[], fork_of="r0"),
     {"workflow_id": "wf", "name": "W", "inputs": {}, "graph": [], "fork_of": "r0"}),
    (StepStarted(), {}),
    (TextDelta(text="x"), {"text": "x"}),
    (TextDelta(text="x", item=0), {"text": "x", "item": 0}),
    (StepFinished(status="skipped", reason="when: false"), {"status": "skipped", "reason": "when: false"}),
    (StepFinished(status="succeeded", output=None, usage=Usage(), model=None),
     {"status": "succeeded", "output": None, "usage": Usage().to_dict(), "model": None}),
    (StepFailed(error="cancelled", error_type="Cancelled"), {"error": "cancelled", "error_type": "Cancelled"}),
    (StepFailed(error="e", error_type="E", usage=Usage(), continued=True),
     {"error": "e", "error_type": "E", "usage": Usage().to_dict(), "continued": True}),
    (DelegationFinished(index=1, role="builder", error="could not"),
     {"index": 1, "role": "builder", "error": "could not"}),
    (RunFinished(status="succeeded", error=None, error_type=None, usage=Usage(), outputs={"a": 1}),
     {"status": "succeeded", "error": None, "error_type": None, "usage": Usage().to_dict(), "outputs": {"a": 1}}),
])
def test_the_json_has_the_keys_the_rows_have_always_had(payload: EventPayload, data: dict[str, Any]) -> None:
    assert Event(payload, "r1", "s", 4, 9.5).to_dict() == {
        "kind": payload.kind, "run_id": "r1", "step": "s", "data": data, "seq": 4, "ts": 9.5}


def test_the_store_keeps_a_preview_of_long_outputs_and_the_names_of_a_runs_outputs(store: Store) -> None:
    run_id = new_run(store, "ev00000002")
    store.runs.append_event(Event(StepFinished(status="succeeded", output="x" * 2000, usage=Usage(), model=None),
                             run_id, "a", 1))
    store.runs.append_event(Event(RunFinished(status="succeeded", error=None, error_type=None, usage=Usage(),
                                         outputs={"b": 2, "a": 1}), run_id, None, 2))
    finished, ended = (event.payload for event in store.runs.events(run_id))
    assert isinstance(finished, StepFinished) and finished.output_truncated
    assert finished.output == "x" * 500
    assert isinstance(ended, RunFinished) and ended.outputs == ["a", "b"]


def test_rows_of_other_versions_still_load(store: Store) -> None:
    run_id = new_run(store, "ev00000003")
    stored_row(store, run_id, 1, "notice", {"message": "hello", "level": "info", "source": "a newer version"})
    stored_row(store, run_id, 2, "step_failed", {"error": "it broke"})  # fewer keys than today
    stored_row(store, run_id, 3, "step_paused", {"why": "a kind this version does not know"})
    stored_row(store, run_id, 4, "run_finished", {"status": "failed", "usage": {"calls": 2}})
    assert [event.payload for event in store.runs.events(run_id)] == [
        Notice(message="hello", level="info"),
        StepFailed(error="it broke", error_type=None),
        RunFinished(status="failed", error=None, error_type=None, usage=Usage(calls=2), outputs=None),
    ]

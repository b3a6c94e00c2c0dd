"""The registry of step kinds: every built-in kind is found, whole, and a key is taken once."""

from __future__ import annotations

import dataclasses

import pytest

from gorgon_nb.model.kinds import StepKind, all_kinds, body_of, find_kind, kind_key, register
from gorgon_nb.model.workflow import StepBase, WorkflowSpec

BUILT_IN = {"agent", "llm", "python", "shell", "workflow", "notebook", "loop", "supervisor", "approval",
            "github", "notion", "slack", "gmail", "checkpoint", "mcp"}


def test_every_built_in_kind_is_registered_with_a_model_of_its_own_key() -> None:
    kinds = all_kinds(plugins=False)
    assert set(kinds) == BUILT_IN
    for key, kind in kinds.items():
        assert kind.key == key
        assert issubclass(kind.model, StepBase)
        assert kind.model.model_fields["kind"].default == key  # the model says which kind it is
        assert kind.model.model_fields[key].is_required()  # the kind key is its own, required field


def test_a_step_validates_as_the_model_of_the_kind_key_it_holds() -> None:
    spec = WorkflowSpec.model_validate({"id": "w", "steps": [
        {"id": "a", "agent": "planner", "approval": "after"},
        {"id": "b", "approval": "Go?"},
        {"id": "c", "loop": [{"id": "d", "checkpoint": "round"}], "until": True},
    ]})
    assert [type(step).__name__ for step in spec.steps] == ["AgentStep", "ApprovalStep", "LoopStep"]
    body = body_of(spec.steps[2])
    assert body is not None and body.field == "loop" and body.rounds == 3
    assert [type(step).__name__ for step in body.steps] == ["CheckpointStep"]
    # serialized with each kind's own fields, and read back the same
    again = WorkflowSpec.model_validate_json(spec.model_dump_json(by_alias=True))
    assert again == spec


def test_approval_names_the_kind_only_when_no_other_kind_key_is_there() -> None:
    assert kind_key({"id": "x", "approval": "Go?"}) == ["approval"]
    assert kind_key({"id": "x", "agent": "planner", "approval": "before"}) == ["agent"]
    assert kind_key({"id": "x", "agent": "planner", "llm": "hi"}) == ["agent", "llm"]
    assert kind_key({"id": "x", "task": "nothing"}) == []


def test_a_key_is_registered_once() -> None:
    agent = find_kind("agent")
    assert agent is not None
    assert register(agent) is agent  # the same kind again is no change
    with pytest.raises(ValueError, match="already registered"):
        register(dataclasses.replace(agent, origin="someone else"))
    assert isinstance(find_kind("agent"), StepKind) and find_kind("agent") is agent

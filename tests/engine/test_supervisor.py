"""The supervisor step: a plan, delegates in parallel, a synthesis; offline and through a real SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.errors import WorkflowError
from gorgon_nb.model.events import DelegationFinished, DelegationStarted, Event, TextDelta
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Fault, LLMServer, RecordedRequest
from gorgon_nb.workflow import Workflow

KEY = "sk-loopback-supervisor-0001"


def supervised(task: str, **options: Any) -> Workflow:
    return Workflow.from_dict({"id": "sup", "steps": [{"id": "lead", "supervisor": task, **options}]})


async def run(runner: Runner, workflow: Workflow, **options: Any) -> tuple[Any, list[Event]]:
    events: list[Event] = []
    result = await runner.arun(workflow, on_event=events.append, **options)
    return result, events


async def test_offline_supervisor_delegates_then_answers(runner: Runner, store: Store) -> None:
    result, events = await run(runner, supervised("Plan and build a CSV loader, then review it"))
    assert result.status == RunStatus.SUCCEEDED
    started = [e.payload for e in events if isinstance(e.payload, DelegationStarted)]
    assert [d.role for d in started] == ["planner", "builder", "reviewer"]
    assert [d.index for d in started] == [0, 1, 2]
    finished = {e.payload.index: e.payload for e in events if isinstance(e.payload, DelegationFinished)}
    assert set(finished) == {0, 1, 2} and all(d.output for d in finished.values())
    # the delegates' streamed text is tagged; the plan (JSON) is not streamed at all
    deltas = [e for e in events if isinstance(e.payload, TextDelta)]
    tagged = {e.to_dict()["data"].get("delegation") for e in deltas}
    assert tagged == {None, 0, 1, 2}
    untagged = "".join(e.to_dict()["data"]["text"] for e in deltas if "delegation" not in e.to_dict()["data"])
    assert untagged == result.outputs["lead"] and "delegations" not in untagged
    # one plan call, three delegates, one synthesis: five recorded calls
    assert len(store.runs.recorded_calls(result.run_id)) == 5
    # delegation events are kept with the run
    kinds = [e.kind for e in store.runs.events(result.run_id)]
    assert kinds.count("delegation_started") == 3 and kinds.count("delegation_finished") == 3


async def test_a_simple_question_is_answered_without_delegating(runner: Runner) -> None:
    result, events = await run(runner, supervised("What is 2 + 2?"))
    assert result.ok
    assert not [e for e in events if e.kind.startswith("delegation")]
    assert result.outputs["lead"]


async def test_delegations_are_bounded_and_limited_to_the_allowed_roles(runner: Runner) -> None:
    result, events = await run(runner, supervised("Plan and build a CSV loader, then review it",
                                                  max_delegations=2, roles=["builder", "reviewer"]))
    assert result.ok
    roles = [e.payload.role for e in events if isinstance(e.payload, DelegationStarted)]
    assert 1 <= len(roles) <= 2 and set(roles) <= {"builder", "reviewer"}


async def test_no_delegations_allowed_means_one_call(runner: Runner, store: Store) -> None:
    result, events = await run(runner, supervised("Plan and build a CSV loader", max_delegations=0))
    assert result.ok and not [e for e in events if e.kind == "delegation_started"]
    assert len(store.runs.recorded_calls(result.run_id)) == 1


def test_unknown_roles_and_too_many_delegations_are_reported(config: Any) -> None:
    with pytest.raises(WorkflowError, match="wizard"):
        supervised("x", roles=["planner", "wizard"]).compile(config)
    with pytest.raises(WorkflowError, match="max_delegations: input should be less than or equal to 8"):
        supervised("x", max_delegations=20).compile(config)


@pytest.fixture
def server() -> Iterator[LLMServer]:
    def respond(request: RecordedRequest) -> str:
        prompt = request.prompt
        if "JSON schema" in prompt:  # the plan: two specialists
            return json.dumps({"delegations": [{"role": "planner", "task": "outline the steps"},
                                               {"role": "tester", "task": "list the edge cases"}]})
        if "Your specialists answered" in prompt:
            return "Synthesis: " + ("both answered" if "PLANNER-ANSWER" in prompt and "TESTER-ANSWER" in prompt
                                    else "something is missing")
        return "PLANNER-ANSWER" if "outline the steps" in request.last_user_message else "TESTER-ANSWER"

    with LLMServer(api_key=KEY, latency=0.3, responder=respond) as running:
        yield running


@pytest.fixture
def sdk_runner(server: LLMServer, home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Runner:
    (home / "config.toml").write_text(f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return Runner(load_config(), store)


async def test_delegates_run_in_parallel_through_the_sdk(sdk_runner: Runner, server: LLMServer) -> None:
    # Each delegate's answer waits at the server until the other delegate has asked too: asked
    # one after the other, the first would wait in vain and answer NOT-AT-ONCE.
    answer = server.responder
    asked: list[str] = []
    both_asked = asyncio.Event()

    async def respond(request: RecordedRequest) -> str:
        text = answer(request)
        if text.endswith("-ANSWER"):
            asked.append(text)
            if len(asked) == 2:
                both_asked.set()
            try:
                await asyncio.wait_for(both_asked.wait(), 30)
            except TimeoutError:
                return "NOT-AT-ONCE"
        return text

    server.responder = respond
    result, events = await run(sdk_runner, supervised("Ship a CSV loader", model="openai:gpt-5.5"))
    assert result.ok, result.error
    assert result.outputs["lead"] == "Synthesis: both answered"
    assert len(server.requests) == 4 and sorted(asked) == ["PLANNER-ANSWER", "TESTER-ANSWER"]
    outputs = [e.payload.output for e in events if isinstance(e.payload, DelegationFinished)]
    assert outputs and set(outputs) == {"PLANNER-ANSWER", "TESTER-ANSWER"}


async def test_a_failing_delegate_does_not_sink_the_answer(sdk_runner: Runner, server: LLMServer) -> None:
    answer = server.responder

    def respond(request: RecordedRequest) -> str:
        if "JSON schema" in request.prompt:  # once the plan is out, the next request fails for good
            server.add_fault(Fault("status", status=400, message="bad request"))
        return str(answer(request))

    server.responder = respond
    result, events = await run(sdk_runner, supervised("Ship a CSV loader", model="openai:gpt-5.5"))
    assert result.ok, result.error
    finished = [e.to_dict()["data"] for e in events if isinstance(e.payload, DelegationFinished)]
    assert len(finished) == 2 and sum("error" in d for d in finished) == 1
    assert result.outputs["lead"] == "Synthesis: something is missing"
    assert "could not answer" in server.requests[-1].prompt

"""The tool loop's own guarantees: keys, conversations, consent, checks, cut-off writes, limits.

The model is a scripted provider in this process (the wire protocols have their own
tests); the tools are a real tool set registered here, whose calls are counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.errors import WorkflowError
from gorgon_nb.model.run import RunStatus
from gorgon_nb.model.tools import Tool, ToolSet, find_toolset, parse_tool_ref, register, wire_name
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Completion, LLMRequest
from gorgon_nb.runner import Runner
from gorgon_nb.store.tools import ToolCallKey
from gorgon_nb.testing import Approver, ScriptedModel
from gorgon_nb.workflow import Workflow

CALLED: list[tuple[str, dict[str, Any]]] = []


async def _note(arguments: dict[str, Any], ctx: Any) -> str:
    CALLED.append(("note", arguments))
    return f"noted {arguments.get('text', '')} in {ctx.workspace.name}"


async def _save(arguments: dict[str, Any], ctx: Any) -> str:
    CALLED.append(("save", arguments))
    return "saved"


async def _big(arguments: dict[str, Any], ctx: Any) -> str:
    return "x" * 60_000


async def _run(arguments: dict[str, Any], ctx: Any) -> str:
    CALLED.append(("run", arguments))
    return "ran"


_TOOLS = [
    Tool("calltest.note", "Note a text.", {"type": "object", "properties": {"text": {"type": "string"}}}, _note),
    Tool("calltest.save", "Save.", {"type": "object"}, _save, writes=True),
    Tool("calltest.big", "A big result.", {"type": "object"}, _big),
    Tool("calltest.run", "Run code.", {"type": "object"}, _run, writes=True, runs_code=True),
]


async def _listed(selector: str | None, ctx: Any) -> list[Tool]:
    return [t for t in _TOOLS if selector is None or t.name == f"calltest.{selector}"]


def _check(selector: str | None, config: Any) -> str | None:
    known = [t.name.split(".")[1] for t in _TOOLS]
    return None if selector is None or selector in known else f"calltest has no tool '{selector}'"


if find_toolset("calltest") is None:
    register(ToolSet("calltest", "tools of this test", _listed, _check,
                     runs_code=lambda selector: selector in (None, "run")))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    CALLED.clear()


def run(runner: Runner, model: ScriptedModel, text: str, **options: Any) -> Any:
    runner.runtime.providers.register(model)
    return runner.run(Workflow.from_yaml(text), **options)


def test_a_reference_names_a_set_and_a_tool() -> None:
    assert parse_tool_ref("files") == parse_tool_ref("files")
    assert (parse_tool_ref("files").toolset, parse_tool_ref("files").selector) == ("files", None)
    assert (parse_tool_ref("github.create_issue").toolset, parse_tool_ref("github.create_issue").selector) == (
        "github", "create_issue")
    assert parse_tool_ref("mcp:fs/read_text_file").selector == "fs/read_text_file"
    assert parse_tool_ref("python:my.mod:func").toolset == "python"
    assert parse_tool_ref("python:my.mod:func").selector == "my.mod:func"
    assert wire_name("mcp:fs/read_text_file") == "mcp_fs_read_text_file"
    assert wire_name("files.read_file", {"files_read_file"}) == "files_read_file_2"
    assert len(wire_name("x" * 100)) == 64


def test_calls_of_a_for_each_step_are_kept_apart_by_item(runner: Runner) -> None:
    model = ScriptedModel([("calltest.note", {"text": "hi"})])
    result = run(runner, model, """
id: items
steps:
  - id: each
    llm: "note {{ item }}"
    for_each: [a, b, c]
    tools: [calltest.note]
""")
    assert result.status is RunStatus.SUCCEEDED, result.error
    records = runner.store.tools.of_run(result.run_id)
    assert sorted(r.key.item for r in records) == [0, 1, 2]
    assert all(r.state == "done" and r.result.startswith("noted hi") for r in records)
    assert len(CALLED) == 3


def test_each_delegate_of_a_supervisor_has_its_own_conversation(runner: Runner) -> None:
    model = ScriptedModel([("calltest.note", {"text": "x"})])

    class Planner(ScriptedModel):
        async def complete(self, request: LLMRequest, *, on_delta: Any = None) -> Completion:
            if request.json_schema is not None:  # the plan: asked without tools
                assert not request.tools
                return Completion('{"delegations": [{"role": "planner", "task": "a"}, '
                                  '{"role": "builder", "task": "b"}]}', Usage(calls=1))
            return await super().complete(request, on_delta=on_delta)

    planner = Planner(*model.turns)
    result = run(runner, planner, """
id: team
steps:
  - id: lead
    supervisor: Build it
    roles: [planner, builder]
    tools: [calltest.note]
""")
    assert result.status is RunStatus.SUCCEEDED, result.error
    conversations = sorted(r.key.conversation for r in runner.store.tools.of_run(result.run_id))
    # each delegate's calls, and the final answer's, counted on their own
    assert conversations == ["", "d0", "d1"]
    assert all(r.key.index == 0 for r in runner.store.tools.of_run(result.run_id))


def test_a_result_too_long_is_cut_and_the_model_is_told(runner: Runner) -> None:
    model = ScriptedModel([("calltest.big", {})])
    result = run(runner, model, "id: big\nsteps:\n  - {id: s, llm: go, tools: [calltest.big]}\n")
    assert result.status is RunStatus.SUCCEEDED, result.error
    read = next(m.content for m in model.requests[-1].messages if m.role == "tool")
    assert len(read) < 51_000
    assert "the result had 60000 characters" in read


def test_an_unknown_tool_and_bad_arguments_are_the_models_to_read(runner: Runner) -> None:
    model = ScriptedModel([("calltest.nope", {}), ("calltest.note", {"__invalid__": "{oops"})])
    result = run(runner, model, "id: bad\nsteps:\n  - {id: s, llm: go, tools: [calltest.note]}\n")
    assert result.status is RunStatus.SUCCEEDED, result.error
    results = [m for m in model.requests[-1].messages if m.role == "tool"]
    assert "there is no tool 'calltest_nope'" in results[0].content and results[0].is_error
    assert "not a JSON object" in results[1].content and results[1].is_error
    assert CALLED == []


def test_the_approval_of_a_call_is_keyed_by_the_call(runner: Runner) -> None:
    model = ScriptedModel([("calltest.note", {"text": "a"}), ("calltest.save", {"what": "b"})])
    assert runner.store is not None and runner.store.path is not None
    with Approver(runner.store.path) as person:
        result = run(runner, model, "id: ok\nsteps:\n  - {id: s, llm: go, tools: [calltest.note, calltest.save]}\n")
    keys = [a.step_key for a in person.seen]
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert keys == ["s/tool-2"]
    approval = runner.store.approvals.recent(status=None, run_id=result.run_id)[0]
    assert approval.kind == "tool" and '"what": "b"' in approval.preview
    assert CALLED == [("note", {"text": "a"}), ("save", {"what": "b"})]


def test_auto_approve_lets_named_calls_through(runner: Runner) -> None:
    model = ScriptedModel([("calltest.save", {})])
    result = run(runner, model, """
id: auto
steps:
  - id: s
    llm: go
    tools: [calltest.save]
    auto_approve: [calltest.save]
""")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert runner.store.approvals.recent(status=None, run_id=result.run_id) == []
    assert CALLED == [("save", {})]


def test_a_step_offering_tools_that_run_code_needs_both_consents(runner: Runner) -> None:
    model = ScriptedModel([("calltest.run", {})])
    with pytest.raises(WorkflowError, match="tools that run code"):
        run(runner, model, "id: code\nsteps:\n  - {id: s, llm: go, tools: [calltest.run]}\n")
    text = "id: code\nallow_code: true\nsteps:\n  - {id: s, llm: go, tools: [calltest.run]}\n"
    with pytest.raises(Exception, match="allow"):
        run(runner, model, text)
    assert CALLED == []


def test_a_roles_tools_that_run_code_need_the_callers_consent(runner: Runner) -> None:
    from dataclasses import replace

    runner.config.roles["builder"] = replace(runner.config.roles["builder"], tools=("calltest.run",))
    model = ScriptedModel([("calltest.run", {})])
    result = run(runner, model, "id: role\nsteps:\n  - {id: s, agent: builder, task: go}\n")
    assert result.status is RunStatus.FAILED
    assert "runs code on this machine, so it needs your consent" in (result.steps["s"].error or "")
    assert CALLED == []


def test_unknown_tools_are_reported_before_the_run(runner: Runner) -> None:
    with pytest.raises(WorkflowError) as caught:
        run(runner, ScriptedModel(), "id: t\nsteps:\n  - {id: s, llm: go, tools: [calltes, calltest.nope]}\n")
    message = str(caught.value)
    assert "unknown tool set 'calltes'" in message and "did you mean 'calltest'" in message
    assert "calltest has no tool 'nope'" in message


def test_a_write_cut_off_stops_the_step_on_resume(runner: Runner, tmp_path: Path) -> None:
    model = ScriptedModel([("calltest.save", {"n": 1})])
    text = "id: cut\nsteps:\n  - {id: s, llm: go, tools: [calltest.save], auto_approve: true}\n"
    first = run(runner, model, text)
    assert first.status is RunStatus.SUCCEEDED
    # the same call, noted as running and never finished: what a kill leaves behind
    key = ToolCallKey(first.run_id, "s", None, "", 0)
    runner.store.tools.note_running(key, "calltest.save", {"n": 1}, True)
    runner.store.db.execute("UPDATE runs SET status = 'failed' WHERE id = ?", [first.run_id])
    runner.store.db.execute("DELETE FROM steps WHERE run_id = ?", [first.run_id])
    resumed = runner.resume(first.run_id)
    assert resumed.status is RunStatus.FAILED
    error = resumed.steps["s"].error or ""
    assert "may or may not have happened" in error and f"gorgon fork {first.run_id} --from s" in error
    assert CALLED == [("save", {"n": 1})]  # once, in the first run


def test_resources_of_a_run_are_stopped_when_it_ends() -> None:
    from gorgon_nb.engine.tools import RunResources

    stopped: list[str] = []

    async def scenario() -> None:
        resources = RunResources()

        async def start(name: str) -> tuple[str, Any]:
            async def stop() -> None:
                stopped.append(name)
            return name, stop

        first = await asyncio.gather(*(resources.get("a", lambda: start("a")) for _ in range(3)))
        assert first == ["a", "a", "a"]
        assert await resources.get("b", lambda: start("b")) == "b"
        await resources.aclose()

    asyncio.run(scenario())
    assert stopped == ["b", "a"]

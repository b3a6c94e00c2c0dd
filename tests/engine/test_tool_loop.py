"""The tool loop end to end: real workflows whose agent calls the tools of a tool set defined
here, through the real Anthropic and OpenAI SDKs against the loopback server's scripted
model (streamed when someone listens to the run, plain otherwise), and the offline model.

The server's request log says what the model was sent; the tools count their own calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunStatus
from gorgon_nb.model.tools import Tool, ToolSet, find_toolset, register
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver, LLMServer, RecordedRequest, ToolCalls
from gorgon_nb.workflow import Workflow

KEY_ENV = "LOOPBACK_TOOL_KEY"
ran: Counter[str] = Counter()  # the tools' own count of their calls
saved: list[str] = []


async def _lookup(arguments: dict[str, Any], ctx: Any) -> str:
    ran["lookup"] += 1
    return f"{arguments['q']} is in aisle {len(arguments['q'])}"


async def _fail(arguments: dict[str, Any], ctx: Any) -> str:
    ran["fail"] += 1
    raise ValueError(f"no shelf called {arguments.get('q')!r}")


async def _save(arguments: dict[str, Any], ctx: Any) -> str:
    ran["save"] += 1
    saved.append(arguments["note"])
    return "saved"


_Q = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
_TOOLS = [
    Tool("testtools.lookup", "Where a product is.", _Q, _lookup),
    Tool("testtools.fail", "A lookup that always fails.", _Q, _fail),
    Tool("testtools.save", "Saves a note.", {"type": "object", "properties": {"note": {"type": "string"}},
                                              "required": ["note"]}, _save, writes=True),
]


async def _list(selector: str | None, ctx: Any) -> list[Tool]:
    return [t for t in _TOOLS if selector is None or t.name == f"testtools.{selector}"]


# Registered once per process (a second import of this module finds it there).
if find_toolset("testtools") is None:
    register(ToolSet("testtools", "Tools of the tool-loop tests.", _list))

VENDORS = ["ant", "oai"]
both = pytest.mark.parametrize("vendor", VENDORS)
streamed = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


@pytest.fixture(autouse=True)
def _counts() -> None:
    ran.clear()
    saved.clear()


@pytest.fixture
def server(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMServer]:
    with LLMServer(api_key="loop-key-123") as running:
        monkeypatch.setenv(KEY_ENV, "loop-key-123")
        (home / "config.toml").write_text(
            f'[providers.ant]\nkind = "anthropic"\nbase_url = "{running.anthropic_base_url}"\n'
            f'api_key_env = "{KEY_ENV}"\nfree = true\n\n'
            f'[providers.oai]\nkind = "openai-compatible"\nbase_url = "{running.openai_base_url}"\n'
            f'api_key_env = "{KEY_ENV}"\nfree = true\n')
        yield running


@pytest.fixture
def tool_runner(server: LLMServer, store: Store) -> Runner:
    return Runner(load_config(), store)


def workflow(vendor: str, tools: str = "[testtools]", extra: str = "") -> Workflow:
    return Workflow.from_yaml(
        "id: tl\ndefaults: {retry: {attempts: 1}}\nsteps:\n  - id: shop\n    agent: analyst\n"
        f"    task: find tea and milk\n    model: '{vendor}:m'\n    tools: {tools}\n{extra}")


def run(runner: Runner, flow: Workflow, stream: bool) -> tuple[Any, list[Event]]:
    events: list[Event] = []
    result = runner.run(flow, on_event=events.append) if stream else runner.run(flow)
    return result, events


def answered_from(request: RecordedRequest) -> str:
    return " | ".join(f"{r.name}: {r.content}" for r in request.tool_results)


@both
@streamed
def test_parallel_calls_run_and_the_model_answers_from_them(
        server: LLMServer, tool_runner: Runner, vendor: str, stream: bool) -> None:
    server.responder = lambda r: (ToolCalls(("testtools_lookup", {"q": "tea"}), ("testtools_lookup", {"q": "milk"}))
                                  if not r.tool_results else "Answer: " + answered_from(r))
    result, events = run(tool_runner, workflow(vendor), stream)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs["shop"] == ("Answer: testtools_lookup: tea is in aisle 3 | "
                                      "testtools_lookup: milk is in aisle 4")
    assert ran == Counter(lookup=2)
    first, second = server.requests
    assert first.tools == ["testtools_lookup", "testtools_fail", "testtools_save"] == second.tools
    assert [r.stream for r in server.requests] == [stream, stream]
    finished = [e.payload for e in events if e.kind == "tool_call_finished"]
    if stream:
        assert sorted((p.index, p.status) for p in finished) == [(0, "ok"), (1, "ok")]  # type: ignore[attr-defined]
        assert any(e.kind == "text_delta" for e in events)
    usage = result.steps["shop"].usage
    assert usage is not None and usage.calls == 2  # the whole loop is counted


@both
@streamed
def test_a_tool_that_raises_is_an_error_the_model_reads(
        server: LLMServer, tool_runner: Runner, vendor: str, stream: bool) -> None:
    def model(r: RecordedRequest) -> str | ToolCalls:
        if not r.tool_results:
            return ToolCalls(("testtools_fail", {"q": "cocoa"}), text="Trying.")
        [result] = r.tool_results
        return f"It failed ({'flagged' if result.is_error else 'unflagged'}): {result.content}"

    server.responder = model
    result, _ = run(tool_runner, workflow(vendor), stream)
    assert result.status is RunStatus.SUCCEEDED, result.error
    flag = "flagged" if vendor == "ant" else "unflagged"  # OpenAI's wire has no error flag
    assert result.outputs["shop"] == f"It failed ({flag}): ValueError: no shelf called 'cocoa'"
    assert ran == Counter(fail=1)


@both
@streamed
@pytest.mark.parametrize("approve", [False, True], ids=["rejected", "approved"])
def test_a_writing_call_waits_for_a_person(
        server: LLMServer, tool_runner: Runner, store: Store, vendor: str, stream: bool, approve: bool) -> None:
    server.responder = lambda r: (ToolCalls(("testtools_save", {"note": "buy oat milk"}))
                                  if not r.tool_results else "Done: " + r.tool_results[0].content)
    assert store.path is not None
    with Approver(store.path, approve, "not on my list") as person:
        result, _ = run(tool_runner, workflow(vendor), stream)
    assert result.status is RunStatus.SUCCEEDED, result.error
    [asked] = person.seen
    assert (asked.kind, asked.step_key) == ("tool", "shop/tool-1")
    assert "testtools.save" in asked.preview and "buy oat milk" in asked.preview
    if approve:
        assert result.outputs["shop"] == "Done: saved" and saved == ["buy oat milk"]
    else:
        assert saved == [] and ran["save"] == 0  # the tool never ran
        assert result.outputs["shop"] == ("Done: this call was rejected by alice, who said: not on my list. "
                                          "Do not repeat it as it was.")


@both
@streamed
def test_the_call_limit_ends_with_the_models_answer(
        server: LLMServer, tool_runner: Runner, vendor: str, stream: bool) -> None:
    def model(r: RecordedRequest) -> str | ToolCalls:
        if r.tool_choice != "none":  # the model keeps asking as long as it may
            return ToolCalls(*[("testtools_lookup", {"q": q}) for q in ("tea", "milk", "jam")])
        limited = any("not run: this step may make at most 2 tool calls" in t.content for t in r.tool_results)
        found = sum("is in aisle" in t.content for t in r.tool_results)
        return f"Final, from {found} results; the third {'not run' if limited else '?'}"

    server.responder = model
    result, _ = run(tool_runner, workflow(vendor, extra="    max_tool_calls: 2\n"), stream)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert ran == Counter(lookup=2)  # the third call was not run
    first, last = server.requests
    # the last ask still declares the tools (Anthropic refuses tool turns otherwise), and forbids them
    assert first.tools and last.tools == first.tools
    assert (first.tool_choice, last.tool_choice) == ("auto", "none")
    assert result.outputs["shop"] == "Final, from 2 results; the third not run"


def test_resume_repeats_no_finished_call(server: LLMServer, tool_runner: Runner, store: Store) -> None:
    def model(r: RecordedRequest) -> str | ToolCalls:
        if len(r.tool_results) < 2:  # one lookup per turn: tea, then milk
            return ToolCalls(("testtools_lookup", {"q": ["tea", "milk"][len(r.tool_results)]}))
        return "Both found: " + answered_from(r)

    # The third request (the answer after both lookups) fails for good: the run stops there.
    calls = {"n": 0}

    def failing_third(r: RecordedRequest) -> str | ToolCalls:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the model went away")
        return model(r)

    server.responder = failing_third
    stopped = tool_runner.run(workflow("oai"))
    assert stopped.status is RunStatus.FAILED
    assert ran == Counter(lookup=2) and len(server.requests) == 3
    assert [r.status for r in server.requests] == [200, 200, 500]

    resumed = Runner(load_config(), store).resume(stopped.run_id)
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    assert resumed.outputs["shop"] == ("Both found: testtools_lookup: tea is in aisle 3 | "
                                       "testtools_lookup: milk is in aisle 4")
    assert ran == Counter(lookup=2)  # no finished tool call ran again
    assert len(server.requests) == 4  # no finished model call was asked again: only the failed one
    assert len(server.requests[3].tool_results) == 2
    journal = store.tools.of_run(stopped.run_id)
    assert [(r.tool, r.arguments, r.state) for r in journal] == [
        ("testtools.lookup", {"q": "tea"}, "done"), ("testtools.lookup", {"q": "milk"}, "done")]


def test_the_offline_model_calls_the_tools_the_task_names(tool_runner: Runner) -> None:
    flow = Workflow.from_yaml(
        "id: offline_tools\nsteps:\n  - id: shop\n    agent: analyst\n    model: offline\n"
        "    task: 'Find tea with testtools.lookup {\"q\": \"tea\"} and try testtools_fail too'\n"
        "    tools: [testtools]\n")
    result = tool_runner.run(flow)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert ran == Counter(lookup=1, fail=1) and saved == []
    output = result.outputs["shop"]
    assert output.startswith("[offline]")
    assert output.endswith("From the tools:\n- testtools_lookup: tea is in aisle 3\n"
                           "- testtools_fail (error): ValueError: no shelf called ''")

"""The executor with real steps (python functions, the offline provider) and a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import stepfuncs

from gorgon_nb.errors import InputError, UsageError
from gorgon_nb.model.events import Event, TextDelta
from gorgon_nb.model.run import RunStatus, StepStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow


@pytest.fixture(autouse=True)
def _reset() -> None:
    stepfuncs.reset()


def wf(text: str) -> Workflow:
    """The workflow of ``text``, which may call the test's own functions (stepfuncs): it allows
    code, added as its last key so that the text's line numbers stay as written."""
    return Workflow.from_yaml(text.rstrip("\n") + "\nallow_code: true\n")


async def run(runner: Runner, text: str, inputs: dict[str, Any] | None = None, **options: Any):
    events: list[Event] = []
    result = await runner.arun(wf(text), inputs, on_event=events.append, allow_code=True, **options)
    return result, events


def kinds(events: list[Event], step: str | None = None) -> list[str]:
    return [e.kind for e in events if step is None or e.step == step]


async def test_independent_steps_run_at_the_same_time(runner: Runner) -> None:
    text = """id: par
steps:
  - id: a
    python: stepfuncs:rendezvous
    args: {me: a, peer: b}
    timeout: 5
  - id: b
    python: stepfuncs:rendezvous
    args: {me: b, peer: a}
    timeout: 5
  - id: c
    python: stepfuncs:echo
    args: {value: "{{ steps.a.output }}, {{ steps.b.output }}"}
"""
    result, events = await run(runner, text)
    assert result.ok, result.error
    assert result.outputs["c"] == "a met b, b met a"
    order = [(e.kind, e.step) for e in events if e.kind in ("step_started", "step_finished")]
    assert order.index(("step_started", "c")) > max(order.index(("step_finished", "a")),
                                                     order.index(("step_finished", "b")))


async def test_condition_false_skips_the_step_and_its_dependants(runner: Runner) -> None:
    text = """id: cond
inputs: {n: {type: integer}}
steps:
  - id: big
    python: stepfuncs:echo
    args: {value: big}
    when: inputs.n > 10
  - id: after_big
    python: stepfuncs:echo
    args: {value: "{{ steps.big.output }}"}
  - id: decides
    python: stepfuncs:echo
    args: {value: "big was {{ steps.big.status }}"}
    when: true
"""
    result, _ = await run(runner, text, {"n": "3"})
    assert result.ok
    assert result.steps["big"].status is StepStatus.SKIPPED
    assert result.steps["after_big"].status is StepStatus.SKIPPED
    assert result.outputs["decides"] == "big was skipped"
    result, _ = await run(runner, text, {"n": 30})
    assert result.outputs == {"big": "big", "after_big": "big", "decides": "big was succeeded"}


async def test_failure_stops_new_steps_but_keeps_running_ones(runner: Runner, store: Store) -> None:
    text = """id: failing
steps:
  - id: boom
    python: stepfuncs:fail
    args: {message: disk full}
  - id: slow
    python: stepfuncs:sleep
    args: {seconds: 0.2}
  - id: later
    python: stepfuncs:echo
    args: {value: "{{ steps.boom.output }}"}
"""
    result, _ = await run(runner, text)
    assert result.status is RunStatus.FAILED
    assert result.error == "step 'boom' failed: stepfuncs:fail raised ValueError: disk full"
    assert result.steps["slow"].status is StepStatus.SUCCEEDED  # already running: finished and kept
    assert "later" not in result.steps
    stored = store.runs.get(result.run_id)
    assert stored.status is RunStatus.FAILED and stored.steps["slow"].output == "slept"
    assert stored.error == result.error


@pytest.mark.parametrize(("policy", "status", "downstream"), [
    ("skip", StepStatus.SKIPPED, StepStatus.SKIPPED),
    ("continue", StepStatus.FAILED, StepStatus.SUCCEEDED),
])
async def test_on_failure_policies(runner: Runner, policy: str, status: StepStatus, downstream: StepStatus) -> None:
    text = """id: policies
steps:
  - id: shaky
    python: stepfuncs:fail
    args: {message: nope}
    on_failure: POLICY
    default: fallback value
  - id: next
    python: stepfuncs:echo
    args: {value: "got {{ steps.shaky.output }}"}
""".replace("POLICY", policy)
    result, _ = await run(runner, text)
    assert result.ok
    assert result.steps["shaky"].status is status
    assert "nope" in (result.steps["shaky"].error or "")
    assert result.steps["next"].status is downstream
    if policy == "continue":
        assert result.outputs["next"] == "got fallback value"


async def test_for_each_keeps_order_and_respects_max_parallel(runner: Runner) -> None:
    text = """id: mapping
inputs:
  delays: {type: list, default: [0.05, 0.01, 0.03, 0.0, 0.02]}
steps:
  - id: each
    python: stepfuncs:slow_echo
    for_each: inputs.delays
    as: d
    max_parallel: 2
    args: {value: "{{ d }}", delay: "{{ d }}"}
"""
    result, _ = await run(runner, text)
    assert result.outputs["each"] == [0.05, 0.01, 0.03, 0.0, 0.02]
    assert stepfuncs.active["peak"] == 2


async def test_for_each_over_a_non_list_fails_clearly(runner: Runner) -> None:
    text = "id: bad\nsteps:\n  - id: each\n    python: stepfuncs:echo\n    for_each: '42'\n    args: {value: 1}\n"
    result, _ = await run(runner, text)
    assert result.steps["each"].error == "for_each must give a list, but gave int: '42'"


async def test_loop_repeats_until_the_condition_holds(runner: Runner) -> None:
    text = """id: looping
steps:
  - id: rounds
    loop:
      - id: attempt
        python: stepfuncs:count
        args: {name: attempt}
      - id: check
        python: stepfuncs:echo
        args: {value: "{{ steps.attempt.output }}"}
    until: steps.check.output >= 2
    max_rounds: 5
  - id: after
    python: stepfuncs:echo
    args: {value: "{{ steps.rounds.output.check }}"}
"""
    result, _ = await run(runner, text)
    assert result.ok, result.error
    assert result.outputs["after"] == 2
    assert "rounds[2].attempt" in result.steps and "rounds[3].attempt" not in result.steps
    assert result.steps["rounds"].attempts == 2


async def test_loop_stops_at_max_rounds_with_a_notice(runner: Runner) -> None:
    text = """id: bounded
steps:
  - id: rounds
    loop:
      - id: attempt
        python: stepfuncs:count
        args: {name: bounded}
    until: false
    max_rounds: 3
"""
    result, _ = await run(runner, text)
    assert result.ok
    assert stepfuncs.calls["bounded"] == 3
    assert any("reached max_rounds (3)" in notice for notice in result.notices)


async def test_loop_body_sees_the_previous_round(runner: Runner) -> None:
    text = """id: previous
steps:
  - id: rounds
    loop:
      - id: say
        python: stepfuncs:echo
        args: {value: "round {{ loop.round }}, before: {{ loop.previous.say if loop.previous else 'none' }}"}
    until: loop.round == 2
"""
    result, _ = await run(runner, text)
    assert result.outputs["rounds"] == {"say": "round 2, before: round 1, before: none"}


async def test_step_timeout_is_recorded_and_retried(runner: Runner) -> None:
    text = """id: slowpoke
steps:
  - id: nap
    python: stepfuncs:sleep
    args: {seconds: 5}
    timeout: 0.1
    retry: {attempts: 2, backoff: 0}
"""
    result, events = await run(runner, text)
    assert result.status is RunStatus.FAILED
    assert result.steps["nap"].error_type == "StepTimeoutError"
    assert "timeout of 0.1s" in (result.steps["nap"].error or "")
    assert result.steps["nap"].attempts == 2
    assert kinds(events, "nap").count("step_retry") == 1


async def test_python_step_retries_when_asked(runner: Runner) -> None:
    text = """id: flaky
steps:
  - id: net
    python: stepfuncs:flaky
    args: {name: net, failures: 2}
    retry: {attempts: 3, backoff: 0}
"""
    result, _ = await run(runner, text)
    assert result.ok and result.outputs["net"] == "ok after 3"


async def test_run_timeout(runner: Runner) -> None:
    text = "id: t\ntimeout: 0.2\nsteps:\n  - id: nap\n    python: stepfuncs:sleep\n    args: {seconds: 5}\n"
    result, _ = await run(runner, text)
    assert result.status is RunStatus.FAILED and result.error_type == "RunTimeoutError"
    assert result.steps["nap"].status is StepStatus.CANCELLED


async def test_cancelling_a_run_records_it(runner: Runner, store: Store) -> None:
    text = "id: c\nsteps:\n  - id: quick\n    python: stepfuncs:echo\n    args: {value: 1}\n" \
           "  - id: nap\n    python: stepfuncs:sleep\n    args: {seconds: 30}\n    depends_on: quick\n"
    started = asyncio.Event()
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if event.kind == "step_started" and event.step == "nap":
            started.set()

    task = asyncio.create_task(runner.arun(wf(text), on_event=on_event, allow_code=True))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run_id = events[0].run_id
    stored = store.runs.get(run_id)
    assert stored.status is RunStatus.CANCELLED
    assert stored.steps["quick"].status is StepStatus.SUCCEEDED
    assert stored.steps["nap"].status is StepStatus.CANCELLED
    assert store.runs.events(run_id)[-1].kind == "run_finished"


async def test_shell_needs_both_the_workflow_and_the_caller(runner: Runner) -> None:
    # allow_shell is the older spelling of allow_code, in the file and from the caller
    text = "id: sh\nallow_shell: true\nsteps:\n  - id: hello\n    shell: echo hello {{ inputs.who }}\n" \
           "inputs: {who: world}\n"
    with pytest.raises(UsageError, match="step 'hello' runs the shell command 'echo hello"):
        await runner.arun(Workflow.from_yaml(text))
    assert runner.store is not None and runner.store.runs.recent() == []  # refused before it started
    result = await runner.arun(Workflow.from_yaml(text), allow_shell=True)
    assert result.outputs["hello"] == "hello world"
    failing = "id: sh\nsteps:\n  - id: bad\n    shell: 'echo oops >&2; exit 3'\n"
    result, _ = await run(runner, failing)
    assert result.steps["bad"].error == "command exited with status 3: oops"


async def test_sub_workflow(runner: Runner, store: Store, tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(
        "id: child\nallow_code: true\ninputs: {x: {type: integer}}\nsteps:\n  - id: double\n    python: stepfuncs:add\n"
        "    args: {a: '{{ inputs.x }}', b: '{{ inputs.x }}'}\n")
    parent = tmp_path / "parent.yaml"
    parent.write_text("id: parent\nallow_code: true\nsteps:\n  - id: sub\n    workflow: child.yaml\n    inputs: {x: 21}\n"
                      "  - id: show\n    python: stepfuncs:echo\n    args: {value: '{{ steps.sub.output.double }}'}\n")
    result = await runner.arun(Workflow.from_file(parent), allow_code=True)
    assert result.ok, result.error
    assert result.outputs["show"] == 42
    children = [r for r in store.runs.recent() if r.workflow_id == "child"]
    assert len(children) == 1 and store.runs.get(children[0].run_id).outputs == {"double": 42}


async def test_outputs_mapping(runner: Runner) -> None:
    text = "id: o\noutputs:\n  total: '{{ steps.s.output }}'\nsteps:\n  - id: s\n    python: stepfuncs:add\n" \
           "    args: {a: 1, b: 2}\n"
    result, _ = await run(runner, text)
    assert result.outputs == {"total": 3}


async def test_events_are_persisted_in_order_without_text_deltas(runner: Runner, store: Store) -> None:
    result, events = await run(runner, "id: e\nsteps:\n  - id: a\n    agent: planner\n    task: plan a picnic\n")
    assert "text_delta" in kinds(events)
    stored = store.runs.events(result.run_id)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert [e.kind for e in stored] == [k for k in kinds(events) if k != "text_delta"]
    assert stored[0].kind == "run_started" and stored[-1].kind == "run_finished"
    deltas = "".join(e.payload.text for e in events if isinstance(e.payload, TextDelta))
    assert deltas == result.outputs["a"]


async def test_offline_agents_answer_and_are_marked(runner: Runner) -> None:
    result, _ = await run(runner, "id: o\nsteps:\n  - id: a\n    agent: builder\n    task: Add a CSV export\n")
    assert result.outputs["a"].startswith("[offline]")
    assert "```python" in result.outputs["a"]
    assert result.steps["a"].model == "offline"
    assert any("offline provider" in n for n in result.notices)
    assert result.usage.calls == 1 and result.cost == 0


async def test_json_output_with_a_schema(runner: Runner) -> None:
    text = """id: j
steps:
  - id: score
    agent: analyst
    task: Score this idea
    output: json
    schema:
      type: object
      required: [score, reasons]
      properties:
        score: {type: integer, minimum: 1, maximum: 5}
        reasons: {type: array, items: {type: string}, minItems: 2}
"""
    result, _ = await run(runner, text)
    output = result.outputs["score"]
    assert 1 <= output["score"] <= 5 and len(output["reasons"]) >= 2


async def test_budget_stops_before_the_call_that_would_exceed_it(runner: Runner, store: Store) -> None:
    text = """id: b
budget: {max_tokens: 1200}
steps:
  - id: one
    agent: planner
    task: plan a small thing
  - id: two
    agent: builder
    context: "{{ steps.one.output }}"
  - id: three
    agent: tester
    context: "{{ steps.two.output }}"
"""
    result, _ = await run(runner, text)
    assert result.status is RunStatus.FAILED
    assert result.error_type == "BudgetExceededError"
    assert "Raise budget.max_tokens" in (result.error or "")
    assert result.usage.total_tokens <= 1200
    stored = store.runs.get(result.run_id)
    done = [s.key for s in stored.steps.values() if s.status is StepStatus.SUCCEEDED]
    assert done and done[0] == "one"
    assert all(s.output for s in stored.steps.values() if s.status is StepStatus.SUCCEEDED)


async def test_secrets_never_reach_the_store(runner: Runner, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-5ecret-value-0123456789"
    monkeypatch.setenv("MY_SERVICE_API_KEY", secret)
    text = """id: s
steps:
  - id: leak
    python: stepfuncs:read_env
    args: {name: MY_SERVICE_API_KEY}
  - id: boom
    python: stepfuncs:fail
    args: {message: "bad key {{ steps.leak.output }}"}
"""
    import gorgon_nb.secrets

    monkeypatch.setattr(gorgon_nb.secrets, "_cache", (0.0, ()))
    result, _ = await run(runner, text)
    assert result.status is RunStatus.FAILED
    store.close()
    raw = b"".join(p.read_bytes() for p in Path(store.path).parent.glob("test.db*"))  # type: ignore[arg-type]
    assert secret.encode() not in raw
    assert b"bad key ***" in raw


async def test_bad_inputs_fail_before_any_run_is_recorded(runner: Runner, store: Store) -> None:
    text = "id: i\ninputs:\n  n: {type: integer}\n  flag: {type: boolean, default: false}\nsteps:\n" \
           "  - id: a\n    llm: '{{ inputs.n }}'\n"
    with pytest.raises(InputError) as caught:
        await runner.arun(wf(text), {"flag": "maybe", "extra": 1})
    message = str(caught.value)
    assert "unknown input 'extra'" in message
    assert "missing required input 'n'" in message and "pass inputs={'n': <integer>}" in message
    assert "-v n=<integer>" in caught.value.for_surface("cli")
    assert "input 'flag' must be a boolean, got 'maybe'" in message
    assert store.runs.recent() == []


async def test_python_step_import_error(runner: Runner) -> None:
    result, _ = await run(runner, "id: p\nsteps:\n  - id: a\n    python: no_such_module_xyz:f\n")
    assert "cannot import module 'no_such_module_xyz'" in (result.steps["a"].error or "")

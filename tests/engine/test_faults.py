"""Faults end to end: the real SDKs, through the whole engine, against the loopback LLM server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.engine.resilience import CircuitBreaker
from gorgon_nb.errors import CircuitOpenError, ConfigError
from gorgon_nb.model.events import Event, StepRetry
from gorgon_nb.model.run import RunStatus, StepStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Fault, LLMServer, RecordedRequest
from gorgon_nb.workflow import Workflow

KEY = "sk-loopback-test-key-000111222"


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer(api_key=KEY, models=["gpt-5.5", "gpt-5-mini", "claude-sonnet-5-5"],
                   context_limit=2000) as running:
        yield running


@pytest.fixture
def runner(server: LLMServer, home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Runner:
    """The real OpenAI and Anthropic providers, pointed at the loopback server."""
    (home / "config.toml").write_text(
        f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n'
        f'[providers.anthropic]\nbase_url = "{server.anthropic_base_url}"\n')
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return Runner(load_config(), store)


def one_step(model: str = "openai:gpt-5.5", **step: Any) -> Workflow:
    return Workflow.from_dict({
        "id": "faults",
        "defaults": {"model": model, "retry": {"attempts": 3, "backoff": 0}},
        "steps": [{"id": "ask", "agent": "planner", "task": "Plan a picnic", **step}],
    })


async def run(runner: Runner, workflow: Workflow, **options: Any) -> tuple[Any, list[Event]]:
    events: list[Event] = []
    result = await runner.arun(workflow, on_event=events.append, **options)
    return result, events


def retries(events: list[Event]) -> list[StepRetry]:
    return [e.payload for e in events if isinstance(e.payload, StepRetry)]


@pytest.mark.parametrize("model", ["openai:gpt-5.5", "anthropic:claude-sonnet-5-5"])
async def test_server_errors_then_success(runner: Runner, server: LLMServer, model: str) -> None:
    server.add_fault(Fault("status", status=500), times=2)
    result, events = await run(runner, one_step(model))
    assert result.ok, result.error
    assert result.outputs["ask"] == "Loopback reply to: Task: Plan a picnic"
    assert result.steps["ask"].attempts == 3
    assert [r.error_type for r in retries(events)] == ["ProviderUnavailable", "ProviderUnavailable"]
    assert len(server.requests) == 3


async def test_rate_limit_waits_as_long_as_retry_after_asks(runner: Runner, server: LLMServer) -> None:
    server.add_fault(Fault("status", status=429, retry_after=1))
    result, events = await run(runner, one_step())
    assert result.ok
    [retry] = retries(events)
    assert retry.error_type == "RateLimitError"
    assert retry.delay >= 1.0  # backoff is 0 here: the header alone sets the wait


@pytest.mark.parametrize("model", ["openai:gpt-5.5", "anthropic:claude-sonnet-5-5"])
async def test_truncated_stream_is_retried_and_its_text_discarded(runner: Runner, server: LLMServer,
                                                                   model: str) -> None:
    server.add_fault(Fault("truncate", after_pieces=1))
    result, events = await run(runner, one_step(model))  # a subscriber makes the providers stream
    assert result.ok, result.error
    assert result.outputs["ask"] == "Loopback reply to: Task: Plan a picnic"
    [retry] = retries(events)
    assert retry.error_type == "ProviderUnavailable"
    # openai wraps the cut in APIConnectionError, and so does anthropic since 2.17 (before, a
    # bare httpx2 error escaped): either way the message says the stream was cut off.
    assert "cut off" in retry.error and "Cannot connect" not in retry.error
    assert all(r.stream for r in server.requests)


@pytest.mark.parametrize("model", ["openai:gpt-5.5", "anthropic:claude-sonnet-5-5"])
async def test_a_first_token_later_than_the_provider_timeout_is_retried(
        server: LLMServer, home: Path, store: Store, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    # The headers come at once and the first text 5 s later, past the provider's 1 s read
    # timeout: each SDK raises its APITimeoutError while the stream is read (anthropic 2.17
    # wraps the httpx2.ReadTimeout it used to let through), which must come out as a
    # retryable ProviderUnavailable, and the second attempt succeed.
    (home / "config.toml").write_text(
        f'[providers.openai]\nbase_url = "{server.openai_base_url}"\ntimeout = 1\n'
        f'[providers.anthropic]\nbase_url = "{server.anthropic_base_url}"\ntimeout = 1\n')
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    server.add_fault(Fault("slow_first_token", delay=5.0))
    result, events = await run(Runner(load_config(), store), one_step(model))
    assert result.ok, result.error
    assert result.outputs["ask"] == "Loopback reply to: Task: Plan a picnic"
    [retry] = retries(events)
    assert retry.error_type == "ProviderUnavailable"
    assert "did not answer in time" in retry.error
    assert [r.fault for r in server.requests] == ["slow_first_token", None]


async def test_dropped_connection_is_retried(runner: Runner, server: LLMServer) -> None:
    server.add_fault(Fault("drop"))
    result, events = await run(runner, one_step())
    assert result.ok and len(retries(events)) == 1


async def test_a_provider_that_stays_down_fails_the_run_and_keeps_the_record(
        runner: Runner, server: LLMServer, store: Store) -> None:
    server.add_fault(Fault("status", status=503), times=10)
    workflow = Workflow.from_dict({
        "id": "down", "allow_code": True, "defaults": {"model": "openai:gpt-5.5", "retry": {"attempts": 3, "backoff": 0}},
        "steps": [{"id": "first", "python": "stepfuncs:echo", "args": {"value": "kept"}},
                  {"id": "ask", "agent": "planner", "task": "Plan", "depends_on": "first"}]})
    result, _ = await run(runner, workflow, allow_code=True)
    assert result.status is RunStatus.FAILED
    assert result.steps["ask"].error_type == "ProviderUnavailable"
    assert result.steps["ask"].attempts == 3
    stored = store.runs.get(result.run_id)
    assert stored.status is RunStatus.FAILED and stored.steps["first"].output == "kept"
    assert "Traceback" not in (stored.error or "")


async def test_unknown_model_is_explained_and_not_retried(runner: Runner, server: LLMServer) -> None:
    result, events = await run(runner, one_step("openai:gpt-nonexistent"))
    assert result.status is RunStatus.FAILED
    error = result.steps["ask"].error or ""
    assert result.steps["ask"].error_type == "ModelNotFoundError"
    assert "gpt-nonexistent" in error
    assert retries(events) == [] and len(server.requests) == 1


async def test_fallback_model_takes_over(runner: Runner, server: LLMServer) -> None:
    result, _ = await run(runner, one_step("openai:gpt-nonexistent",
                                           fallback_models=["anthropic:claude-sonnet-5-5"]))
    assert result.ok, result.error
    assert result.steps["ask"].model == "anthropic:claude-sonnet-5-5"
    assert any("falling back to anthropic:claude-sonnet-5-5" in n for n in result.notices)
    assert [r.protocol for r in server.requests] == ["openai", "anthropic"]


async def test_a_wrong_key_names_the_variable(runner: Runner, server: LLMServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-for-this-server")
    result, events = await run(Runner(load_config(), runner.store), one_step())
    assert result.steps["ask"].error_type == "ProviderAuthError"
    assert "OPENAI_API_KEY" in (result.steps["ask"].error or "")
    assert "sk-wrong-key" not in (result.steps["ask"].error or "")
    assert retries(events) == []


async def test_a_missing_key_fails_before_any_step(server: LLMServer, home: Path, store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "config.toml").write_text('[providers.anthropic]\nmodel = "claude-sonnet-5-5"\n')
    with pytest.raises(ConfigError, match="set ANTHROPIC_API_KEY"):
        await Runner(load_config(), store).arun(one_step("anthropic"))
    assert store.runs.recent() == [] and server.requests == []


async def test_too_long_a_prompt_is_explained(runner: Runner, server: LLMServer) -> None:
    result, _ = await run(runner, one_step(context="word " * 3000))
    assert result.steps["ask"].error_type == "ContextLengthError"
    assert "context" in (result.steps["ask"].error or "").lower()
    assert len(server.requests) == 1


async def test_invalid_json_is_asked_again_with_the_error(runner: Runner, server: LLMServer) -> None:
    answers = iter(["Sure! Here it is: {broken", '{"steps": ["buy bread", "find a park"]}'])
    server.responder = lambda request: next(answers)
    schema = {"type": "object", "required": ["steps"],
              "properties": {"steps": {"type": "array", "items": {"type": "string"}}}}
    result, events = await run(runner, one_step(output="json", schema=schema))
    assert result.ok, result.error
    assert result.outputs["ask"] == {"steps": ["buy bread", "find a park"]}
    assert [r.error_type for r in retries(events)] == ["OutputFormatError"]
    second = server.requests[1].body["messages"]
    assert second[-2]["content"] == "Sure! Here it is: {broken"
    assert "not valid JSON" in second[-1]["content"]


async def test_usage_with_cached_tokens_and_real_prices(runner: Runner, server: LLMServer, store: Store) -> None:
    server.cached_tokens = 4
    result, _ = await run(runner, one_step("anthropic:claude-sonnet-5-5"))
    usage = result.steps["ask"].usage
    assert usage.cache_read_tokens == 4
    assert usage.input_tokens > usage.cache_read_tokens  # input counts cached tokens too
    assert result.cost is not None and result.cost > 0
    rows = list(store.db["usage"].rows)
    assert [(r["provider"], r["model"]) for r in rows] == [("anthropic", "claude-sonnet-5-5")]
    assert rows[0]["cost_usd"] == pytest.approx(result.cost)


async def test_budget_in_dollars_stops_the_run(runner: Runner, server: LLMServer) -> None:
    server.responder = lambda request: "word " * 400
    workflow = Workflow.from_dict({
        "id": "spend", "defaults": {"model": "anthropic:claude-sonnet-5-5"}, "budget": {"max_usd": 0.01},
        "steps": [{"id": f"s{i}", "agent": "planner", "task": f"Plan {i}",
                   **({"depends_on": f"s{i - 1}"} if i else {})} for i in range(6)]})
    result, _ = await run(runner, workflow)
    assert result.status is RunStatus.FAILED and result.error_type == "BudgetExceededError"
    assert result.usage.cost_usd <= 0.01
    done = [s for s in result.steps.values() if s.status is StepStatus.SUCCEEDED]
    assert done and all(s.output for s in done)


async def test_parallel_steps_overlap_at_the_server(runner: Runner, server: LLMServer) -> None:
    seen: list[RecordedRequest] = []

    async def wait_for_all(request: RecordedRequest) -> str:
        # Answers only once four requests are in: a sequential engine would hang here.
        seen.append(request)
        for _ in range(200):
            if len(seen) >= 4:
                return "together"
            await asyncio.sleep(0.01)
        return "alone"

    server.responder = wait_for_all
    workflow = Workflow.from_dict({
        "id": "fan", "defaults": {"model": "openai:gpt-5.5"},
        "steps": [{"id": f"r{i}", "agent": "reviewer", "task": f"Review part {i}"} for i in range(4)]})
    result, _ = await run(runner, workflow)
    assert result.outputs == {f"r{i}": "together" for i in range(4)}


async def test_a_daily_budget_stops_every_run_once_spent(server: LLMServer, home: Path, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    server.responder = lambda request: "word " * 300
    (home / "config.toml").write_text(
        f'[providers.anthropic]\nbase_url = "{server.anthropic_base_url}"\n[budget]\ndaily_usd = 0.004\n')
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    runner = Runner(load_config(), store)
    first, _ = await run(runner, one_step("anthropic:claude-sonnet-5-5"))
    assert first.ok and first.cost is not None and first.cost > 0
    second, _ = await run(runner, one_step("anthropic:claude-sonnet-5-5"))
    assert second.status is RunStatus.FAILED and second.error_type == "BudgetExceededError"
    assert "daily budget reached" in (second.error or "") and "daily_usd under [budget]" in (second.error or "")
    assert len(server.requests) == 1  # stopped before the call, not after


# -- the circuit breaker: a burst is one failed round, a provider that stays down opens it --------


def fan_out(count: int, **defaults: Any) -> Workflow:
    return Workflow.from_dict({
        "id": "fan", "defaults": {"model": "openai:gpt-5.5", **defaults},
        "steps": [{"id": f"r{i}", "agent": "reviewer", "task": f"Review part {i}"} for i in range(count)]})


@pytest.mark.parametrize(
    ("fault", "times", "error_type"),
    [
        (Fault("status", status=429, retry_after=1), 10, "RateLimitError"),
        (Fault("status", status=500), 10, "ProviderUnavailable"),
        (Fault("drop"), 10, "ProviderUnavailable"),
    ],
    ids=["429", "500", "dropped"],
)
async def test_parallel_steps_that_each_fail_once_all_succeed(
        runner: Runner, server: LLMServer, fault: Fault, times: int, error_type: str) -> None:
    # Ten steps at once (eight in flight, the provider's concurrency), the first `times`
    # requests refused: one failed round, not `times` failures in a row. Without jitter the
    # retries wait a whole second, long after every first request has had its answer.
    server.add_fault(fault, times=times)
    result, events = await run(runner, fan_out(10, retry={"attempts": 3, "backoff": 1, "jitter": False}))
    assert result.ok, result.error
    assert result.outputs == {f"r{i}": f"Loopback reply to: Task: Review part {i}" for i in range(10)}
    assert sorted(s.attempts for s in result.steps.values()) == [1] * (10 - times) + [2] * times
    assert [r.error_type for r in retries(events)] == [error_type] * times
    assert len(server.requests) == 10 + times
    assert runner.runtime.breaker("openai").state == "closed"


async def test_a_provider_that_stays_down_opens_the_breaker_and_later_calls_fail_at_once(
        runner: Runner, server: LLMServer) -> None:
    server.add_fault(Fault("status", status=503, message="the service is down"), times=1000)
    result, _ = await run(runner, fan_out(10, retry={"attempts": 6, "backoff": 0}))
    assert result.status is RunStatus.FAILED
    # Each step's retries are sent after its previous failure came back, so by any step's
    # fifth failed attempt five rounds have failed: no step gets a sixth request out.
    assert {s.error_type for s in result.steps.values()} == {"CircuitOpenError"}
    assert len(server.requests) <= 50
    message = result.steps["r0"].error or ""
    assert re.search(r"calls to 'openai' are paused for \d+s after 5 failures in a row", message), message
    assert "the last: openai failed (HTTP 503): the service is down" in message
    assert "fallback_models" in message
    sent = len(server.requests)
    again, _ = await run(runner, one_step())
    assert again.steps["ask"].error_type == "CircuitOpenError" and again.steps["ask"].attempts == 0
    assert len(server.requests) == sent  # refused without a request


async def test_an_open_breaker_falls_through_to_the_fallback_model(runner: Runner, server: LLMServer) -> None:
    server.add_fault(Fault("status", status=503, protocol="openai"), times=1000)
    await run(runner, one_step(retry={"attempts": 5, "backoff": 0}))
    assert runner.runtime.breaker("openai").state == "open"
    result, _ = await run(runner, one_step(fallback_models=["anthropic:claude-sonnet-5-5"]))
    assert result.ok, result.error
    assert result.steps["ask"].model == "anthropic:claude-sonnet-5-5"
    assert [r.protocol for r in server.requests][-1] == "anthropic"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_calls_in_flight_when_a_failure_comes_back_fail_in_its_round() -> None:
    breaker = CircuitBreaker("p", threshold=3, cooldown=30.0, clock=Clock())
    burst = [breaker.before_call() for _ in range(10)]
    for ticket in burst:
        breaker.record_failure(ticket, "HTTP 429")
    assert breaker.state == "closed"  # ten failures, one round
    retries_ = [breaker.before_call() for _ in range(10)]
    breaker.record_failure(retries_[0], "HTTP 429")
    breaker.record_failure(retries_[1], "HTTP 429")
    assert breaker.state == "closed"  # the second round
    breaker.record_failure(breaker.before_call(), "HTTP 429")
    assert breaker.state == "open"  # the third round in a row


def test_a_trial_that_ends_without_a_verdict_lets_the_next_one_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker("p", threshold=1, cooldown=30.0, clock=clock)
    breaker.record_failure(breaker.before_call())
    clock.now += 30
    trial = breaker.before_call()
    with pytest.raises(CircuitOpenError, match="trial call"):
        breaker.before_call()
    breaker.release(trial)  # cancelled, or a 400: says nothing about the provider
    assert breaker.state == "half-open"
    breaker.before_call()


def test_a_failure_of_a_call_sent_before_the_breaker_opened_does_not_extend_the_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker("p", threshold=2, cooldown=30.0, clock=clock)
    early = breaker.before_call()
    breaker.record_failure(breaker.before_call())
    breaker.record_failure(breaker.before_call())
    assert breaker.state == "open"
    clock.now += 30
    breaker.record_failure(early)  # in flight all along
    assert breaker.state == "half-open"

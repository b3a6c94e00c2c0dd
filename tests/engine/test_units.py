"""Small pieces on their own: backoff, retries, the circuit breaker, budgets, inputs, templates,
redaction, formatting, the package's lazy exports and the CSV profiler."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import gorgon_nb
import gorgon_nb.secrets
from gorgon_nb.config import Config
from gorgon_nb.engine.budget import BudgetTracker, Reservation
from gorgon_nb.engine.inputs import bind_inputs, coerce
from gorgon_nb.engine.resilience import MAX_RETRY_AFTER, CircuitBreaker, backoff_delay, retrying
from gorgon_nb.engine.templating import TemplateError, compile_expression, compile_template
from gorgon_nb.errors import (
    BudgetExceededError,
    CircuitOpenError,
    InputError,
    ProviderAuthError,
    ProviderUnavailable,
    RateLimitError,
    StepError,
    StepTimeoutError,
)
from gorgon_nb.functions import profile_csv
from gorgon_nb.model.run import RunStatus
from gorgon_nb.model.text import format_duration
from gorgon_nb.model.usage import Usage, format_cost
from gorgon_nb.model.workflow import Budget, InputSpec, RetryPolicy
from gorgon_nb.runner import Runner
from gorgon_nb.secrets import redact
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

# -- backoff_delay ------------------------------------------------------------------------

STEADY = RetryPolicy(attempts=10, backoff=1.0, max_backoff=30.0, jitter=False)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (12, 30.0)],
)
def test_backoff_doubles_up_to_max_backoff(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, STEADY) == expected


def test_jitter_stays_between_zero_and_the_exponential_delay() -> None:
    policy = RetryPolicy(backoff=2.0, max_backoff=100.0, jitter=True)
    rng = random.Random(1234)
    for attempt in (1, 2, 3, 4):
        base = 2.0 * 2 ** (attempt - 1)
        delays = [backoff_delay(attempt, policy, rng=rng) for _ in range(200)]
        assert all(0 <= d <= base for d in delays)
        assert max(delays) > base / 2 and min(delays) < base / 2  # spread out, not a constant
    again = random.Random(1234)
    assert backoff_delay(1, policy, rng=again) == backoff_delay(1, policy, rng=random.Random(1234))


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, 2.0),  # no header: the exponential delay
        (0.5, 2.0),  # a shorter Retry-After does not shorten the wait
        (12.0, 12.0),  # a longer one is a floor
        (100.0, 100.0),  # even past max_backoff
        (10_000.0, MAX_RETRY_AFTER),  # but never past the cap
    ],
)
def test_retry_after_is_a_floor_capped_at_300(retry_after: float | None, expected: float) -> None:
    assert MAX_RETRY_AFTER == 300.0
    assert backoff_delay(2, STEADY, retry_after) == expected


def test_retry_after_is_a_floor_under_jitter_too() -> None:
    policy = RetryPolicy(backoff=1.0, jitter=True)
    rng = random.Random(7)
    assert all(backoff_delay(3, policy, 5.0, rng=rng) == 5.0 for _ in range(50))


# -- retrying -------------------------------------------------------------------------------

NO_WAIT = RetryPolicy(attempts=3, backoff=0.0, jitter=False)


async def test_retrying_retries_retryable_errors_until_success() -> None:
    tries: list[int] = []
    retries: list[tuple[int, float, str]] = []

    async def attempt(n: int) -> str:
        tries.append(n)
        if n < 3:
            raise ProviderUnavailable(f"502 on try {n}", provider="p")
        return f"ok on try {n}"

    result = await retrying(
        attempt, NO_WAIT, on_retry=lambda n, d, e: retries.append((n, d, str(e)))
    )
    assert result == "ok on try 3"
    assert tries == [1, 2, 3]
    assert retries == [(1, 0.0, "502 on try 1"), (2, 0.0, "502 on try 2")]


async def test_retrying_gives_up_after_the_last_attempt() -> None:
    tries: list[int] = []

    async def attempt(n: int) -> None:
        tries.append(n)
        raise StepTimeoutError(f"timed out on try {n}")

    with pytest.raises(StepTimeoutError, match="timed out on try 3"):
        await retrying(attempt, NO_WAIT)
    assert tries == [1, 2, 3]


@pytest.mark.parametrize(
    "error",
    [
        ProviderAuthError(
            "bad key", env_var="ANTHROPIC_API_KEY"
        ),  # an ExecutionError that is not retryable
        ValueError("a bug in a step function"),  # not an ExecutionError at all
    ],
)
async def test_retrying_does_not_retry_other_errors(error: Exception) -> None:
    tries: list[int] = []
    retries: list[int] = []

    async def attempt(n: int) -> None:
        tries.append(n)
        raise error

    with pytest.raises(type(error)):
        await retrying(attempt, NO_WAIT, on_retry=lambda n, d, e: retries.append(n))
    assert tries == [1] and retries == []


async def test_retrying_passes_the_retry_after_delay_to_on_retry() -> None:
    delays: list[float] = []

    async def attempt(n: int) -> str:
        if n == 1:
            raise RateLimitError("429", retry_after=0.01)
        return "ok"

    assert await retrying(attempt, NO_WAIT, on_retry=lambda n, d, e: delays.append(d)) == "ok"
    assert delays == [0.01]


# -- CircuitBreaker -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker("flaky", threshold=3, cooldown=30.0, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    return breaker


def test_breaker_opens_after_threshold_failures_in_a_row() -> None:
    breaker = CircuitBreaker("flaky", threshold=3, cooldown=30.0, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"


def test_open_breaker_fails_fast_and_says_for_how_long() -> None:
    clock = Clock()
    breaker = opened(clock)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    message = str(caught.value)
    assert "calls to 'flaky' are paused for 30s after 3 failures in a row" in message
    assert "fallback_models" in message
    assert caught.value.provider == "flaky"
    clock.now += 12
    with pytest.raises(CircuitOpenError, match="paused for 18s"):
        breaker.before_call()


def test_half_open_lets_exactly_one_trial_through_and_success_closes() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.before_call()  # the trial
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    for _ in range(5):
        breaker.before_call()


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 31
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError, match="paused for 30s"):
        breaker.before_call()
    clock.now += 30
    breaker.before_call()  # a new trial after a new cooldown


def test_callers_waiting_on_a_trial_are_told_so() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 30
    breaker.before_call()
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert "paused for 0s" not in str(caught.value)
    assert "trial" in str(caught.value)


# -- BudgetTracker --------------------------------------------------------------------------


async def test_token_budget_caps_the_output_of_a_call() -> None:
    tracker = BudgetTracker(Budget(max_tokens=1000))
    reservation = await tracker.reserve(prompt_tokens=100, max_output=4096, prices=None)
    assert reservation == Reservation(tokens=1000, usd=0.0, max_output=900)


async def test_no_budget_reserves_without_limits() -> None:
    tracker = BudgetTracker(None)
    assert (await tracker.reserve(10_000, 4096, (1.0, 1.0))).max_output == 4096


async def test_a_call_waits_for_calls_in_flight_instead_of_failing() -> None:
    tracker = BudgetTracker(Budget(max_tokens=1000))
    first = await tracker.reserve(prompt_tokens=100, max_output=300, prices=None)
    second = await tracker.reserve(prompt_tokens=100, max_output=300, prices=None)
    third = asyncio.create_task(tracker.reserve(prompt_tokens=100, max_output=300, prices=None))
    await asyncio.sleep(0.01)
    assert not third.done()  # 800 of 1000 reserved: it waits rather than shrink or fail
    tracker.settle(first, Usage(input_tokens=100, output_tokens=20, calls=1))
    granted = await asyncio.wait_for(third, 1)
    assert granted.max_output == 300
    assert tracker.spent.total_tokens + 400 + 400 <= 1000
    tracker.settle(second, None)


async def test_parallel_reservations_never_jointly_exceed_the_budget() -> None:
    tracker = BudgetTracker(Budget(max_tokens=1000))
    reserved = 0
    peak = 0

    async def call() -> None:
        nonlocal reserved, peak
        reservation = await tracker.reserve(prompt_tokens=100, max_output=300, prices=None)
        reserved += reservation.tokens
        peak = max(peak, reserved + tracker.spent.total_tokens)
        await asyncio.sleep(0)
        reserved -= reservation.tokens
        tracker.settle(reservation, Usage(input_tokens=100, output_tokens=reservation.max_output, calls=1))

    results = await asyncio.gather(*(call() for _ in range(10)), return_exceptions=True)
    assert peak <= 1000
    assert tracker.spent.total_tokens <= 1000
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures and all(isinstance(f, BudgetExceededError) for f in failures)
    message = str(failures[0])
    assert "token budget reached" in message and "max_tokens 1,000" in message
    assert "Raise budget.max_tokens" in message


async def test_settle_replaces_the_reservation_by_actual_usage() -> None:
    tracker = BudgetTracker(Budget(max_tokens=1000))
    first = await tracker.reserve(100, 4096, None)
    assert first.max_output == 900
    tracker.settle(first, Usage(input_tokens=100, output_tokens=50, calls=1))
    assert tracker.spent.total_tokens == 150
    second = await tracker.reserve(100, 4096, None)
    assert second.max_output == 1000 - 150 - 100
    tracker.settle(second, None)  # a call that failed used nothing
    assert tracker.spent.total_tokens == 150
    assert (await tracker.reserve(100, 4096, None)).max_output == 750


async def test_dollar_budget_with_prices() -> None:
    # Powers of two keep the arithmetic exact: $1/1024 per prompt token, $1/256 per output token.
    prices = (2.0**-10, 2.0**-8)
    tracker = BudgetTracker(Budget(max_usd=1.0))
    reservation = await tracker.reserve(prompt_tokens=256, max_output=4096, prices=prices)
    assert reservation.max_output == 192  # (1.0 - 256/1024) * 256
    assert reservation.usd == 1.0
    tracker.settle(reservation, Usage(input_tokens=256, output_tokens=64, calls=1, cost_usd=0.5))
    assert (await tracker.reserve(prompt_tokens=0, max_output=4096, prices=prices)).max_output == 128
    spent = BudgetTracker(Budget(max_usd=1.0), Usage(calls=1, cost_usd=0.99))
    with pytest.raises(BudgetExceededError) as caught:
        await spent.reserve(prompt_tokens=16, max_output=100, prices=prices)
    assert "dollar budget reached" in str(caught.value) and "Raise budget.max_usd" in str(caught.value)


async def test_unknown_prices_leave_the_dollar_budget_unchecked() -> None:
    tracker = BudgetTracker(Budget(max_usd=0.01, max_tokens=500))
    reservation = await tracker.reserve(100, 4096, prices=None)
    assert reservation.max_output == 400 and reservation.usd == 0.0


async def test_parallel_steps_within_budget_do_not_fail(config: Config, store: Store) -> None:
    config.offline_delay = 0.001  # calls overlap, as calls to a real provider do
    text = (
        "id: fan\nbudget: {max_tokens: 10000}\nsteps:\n  - id: each\n    agent: analyst\n"
        "    for_each: [a, b, c, d]\n    task: 'assess {{ item }}'\n"
    )
    result = await Runner(config, store).arun(Workflow.from_yaml(text))
    assert result.usage.total_tokens < 3000  # the work fits the budget three times over
    assert result.status is RunStatus.SUCCEEDED, result.error


# -- inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("string", "hello", "hello"),
        ("string", 42, "42"),
        ("string", {"a": 1}, '{"a": 1}'),
        ("integer", "3", 3),
        ("integer", " 3 ", 3),
        ("integer", 4.0, 4),
        ("integer", 7, 7),
        ("number", "2.5", 2.5),
        ("number", "3", 3.0),
        ("number", 2, 2.0),
        ("boolean", "yes", True),
        ("boolean", "no", False),
        ("boolean", "True", True),
        ("boolean", " off ", False),
        ("boolean", "1", True),
        ("boolean", False, False),
        ("list", '["a", 1]', ["a", 1]),
        ("list", "red, green,blue", ["red", "green", "blue"]),
        ("list", "solo", ["solo"]),
        ("list", [1, 2], [1, 2]),
        ("object", '{"k": [1, 2]}', {"k": [1, 2]}),
        ("object", {"k": 1}, {"k": 1}),
        ("any", {"k": 1}, {"k": 1}),
        ("any", "3", "3"),
    ],
)
def test_coerce(kind: str, given: Any, expected: Any) -> None:
    value = coerce("x", InputSpec(type=kind), given)  # type: ignore[arg-type]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "given", "message"),
    [
        ("integer", "2.5", "input 'x' must be an integer, got '2.5'"),
        ("integer", 2.5, "input 'x' must be an integer, got 2.5"),
        ("number", "many", "input 'x' must be a number, got 'many'"),
        ("boolean", "maybe", "input 'x' must be a boolean, got 'maybe'"),
        ("boolean", 1, "input 'x' must be a boolean, got 1"),
        ("list", "[1, 2", "input 'x' must be a list (JSON list or comma-separated), got '[1, 2'"),
        ("list", '{"a": 1}', "input 'x' must be a list (JSON list or comma-separated)"),
        ("object", "a,b", "input 'x' must be an object (JSON mapping), got"),
        ("object", "[1]", "input 'x' must be an object (JSON mapping), got"),
    ],
)
def test_coerce_rejects_with_a_clear_message(kind: str, given: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        coerce("x", InputSpec(type=kind), given)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("kind", ["integer", "number"])
def test_coerce_rejects_booleans_for_numbers(kind: str) -> None:
    with pytest.raises(InputError, match=f"input 'x' must be an? {kind}, got True"):
        coerce("x", InputSpec(type=kind), True)  # type: ignore[arg-type]


SPEC = Workflow.from_yaml("""id: inputs
inputs:
  topic: {type: string, description: what to write about}
  level: {type: string, enum: [low, high], default: low}
  count: {type: integer, enum: [1, 2, 3], default: 1}
  day: {type: string, default: "{{ today() }}"}
  tags: {type: list, default: [a]}
  verbose: false
steps:
  - id: a
    llm: "{{ inputs.topic }}"
""").spec


def test_bind_inputs_fills_defaults_and_coerces() -> None:
    bound = bind_inputs(SPEC, {"topic": "rivers", "count": "2", "tags": "x, y", "verbose": "on"})
    assert bound == {
        "topic": "rivers",
        "level": "low",
        "count": 2,
        "day": date.today().isoformat(),
        "tags": ["x", "y"],
        "verbose": True,
    }


def test_bind_inputs_checks_enums_after_coercion() -> None:
    assert bind_inputs(SPEC, {"topic": "t", "level": "high", "count": "3"})["count"] == 3
    with pytest.raises(InputError) as caught:
        bind_inputs(SPEC, {"topic": "t", "level": "medium", "count": "7"})
    message = str(caught.value)
    assert "input 'level' must be one of ['low', 'high'], got 'medium'" in message
    assert "input 'count' must be one of [1, 2, 3], got 7" in message


def test_bind_inputs_reports_every_problem_at_once() -> None:
    with pytest.raises(InputError) as caught:
        bind_inputs(SPEC, {"topik": "t", "verbose": "perhaps"})
    problems = str(caught.value).split("; ")
    assert problems == [
        "unknown input 'topik' (did you mean 'topic'?)",
        "missing required input 'topic' (what to write about): pass inputs={'topic': ...}",
        "input 'verbose' must be a boolean, got 'perhaps'",
    ]
    assert "pass -v topic=..." in caught.value.for_surface("cli")


def test_bind_inputs_on_a_workflow_without_inputs() -> None:
    spec = Workflow.from_yaml("id: none\nsteps:\n  - id: a\n    llm: hi\n").spec
    assert bind_inputs(spec, None) == {}
    with pytest.raises(
        InputError, match="unknown input 'x' \\(this workflow declares no inputs\\)"
    ):
        bind_inputs(spec, {"x": 1})


# -- templating -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["plain text", "a {single} brace", "{ 'json': true }", "", "50% {x}"]
)
def test_plain_strings_never_touch_jinja(text: str) -> None:
    template = compile_template(text)
    assert template.compiled is None
    assert template.render({}) == text
    assert template.value({}) == text


def test_literal_braces_can_be_written_in_a_template() -> None:
    assert compile_template("{{ '{{' }} inputs.x {{ '}}' }}").render({}) == "{{ inputs.x }}"
    assert compile_template("{% raw %}{{ kept }}{% endraw %}").render({}) == "{{ kept }}"


def test_undefined_names_are_errors_with_a_readable_message() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("Plan: {{ steps.plan.output }}").render({"steps": {}})
    assert str(caught.value) == "undefined value in template: 'dict object' has no attribute 'plan'"
    with pytest.raises(TemplateError, match="undefined value in template: 'missing' is undefined"):
        compile_template("{{ missing }} and more").render({})


def test_syntax_errors_say_where() -> None:
    with pytest.raises(TemplateError, match="template syntax error on its line 2"):
        compile_template("line one\n{{ oops( }}")


@pytest.mark.parametrize(
    "text", ["{{ ''.__class__ }}", "x{{ ''.__class__.__mro__ }}", "{{ inputs.__init__ }}!"]
)
def test_the_sandbox_blocks_dunder_attributes(text: str) -> None:
    with pytest.raises(TemplateError, match=r"SecurityError|undefined value"):
        compile_template(text).render({"inputs": {}})


@pytest.mark.parametrize(
    "text", ["{{ ''.__class__ }}", "{{ steps.s.output.missing }}", "{{ inputs.nope }}"]
)
def test_a_sole_expression_that_is_undefined_raises(text: str) -> None:
    context = {"inputs": {}, "steps": {"s": {"output": {"present": 1}}}}
    with pytest.raises(TemplateError):
        compile_template(text).value(context)


def test_an_undefined_condition_raises() -> None:
    with pytest.raises(TemplateError):
        compile_expression("steps.s.output.missing").evaluate({"steps": {"s": {"output": {}}}})


def test_a_sole_expression_keeps_its_native_type() -> None:
    context = {"inputs": {"xs": [1, 2, 3], "n": 4, "flag": False}}
    assert compile_template("{{ inputs.xs }}").value(context) == [1, 2, 3]
    assert compile_template("  {{ inputs.n * 2 }}\n").value(context) == 8
    assert compile_template("{{ inputs.flag }}").value(context) is False
    assert compile_template("n={{ inputs.n }}").value(context) == "n=4"  # not alone: text
    assert compile_template("{{ inputs.n }}{{ inputs.n }}").value(context) == "44"


def test_fromjson_filter() -> None:
    context = {"raw": '{"items": [3, 5], "name": "x"}'}
    assert compile_template("{{ (raw | fromjson)['items'][1] }}").render(context) == "5"
    assert compile_template("{{ raw | fromjson }}").value(context) == {"items": [3, 5], "name": "x"}


def test_structured_values_render_as_json_and_none_as_nothing() -> None:
    context = {"d": {"score": 4, "name": "é"}, "xs": ["a"], "nothing": None}
    assert compile_template("D: {{ d }}").render(context) == 'D: {\n  "score": 4,\n  "name": "é"\n}'
    assert json.loads(compile_template("{{ xs }}!").render(context)[:-1]) == ["a"]
    assert compile_template("[{{ nothing }}]").render(context) == "[]"


def test_today_and_now_are_available() -> None:
    assert compile_template("{{ today() }}").render({}) == date.today().isoformat()
    assert compile_template("{{ now() }}").render({}).startswith(date.today().isoformat() + "T")


def test_references_are_found_statically() -> None:
    template = compile_template("{{ steps.plan.output }} {{ inputs['topic'] }} {{ loop.round }}")
    assert template.refs.of("steps") == {"plan"}
    assert template.refs.of("inputs") == {"topic"}
    assert template.refs.names >= {"steps", "inputs", "loop"}


# -- redaction ------------------------------------------------------------------------------


@pytest.fixture
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(gorgon_nb.secrets, "_cache", (0.0, ()))
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "hidden"),
    [
        ("MY_SERVICE_API_KEY", "sk-live-0123456789", True),
        ("GITHUB_TOKEN", "ghp_abcdefgh12345", True),
        ("SLACK_BOT_TOKEN_X", "xoxb-1234-5678", True),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", True),
        ("DB_PASSWORD", "correct-horse", True),
        ("SIGNING_KEY", "0123456789abcdef", True),
        ("SHORT_API_KEY", "abc1234", False),  # 7 characters: would redact ordinary words
        ("EXACTLY_EIGHT_TOKEN", "abcd1234", True),
        ("HOME_DIRECTORY", "/srv/some/folder", False),
        ("MONKEY", "bananas-and-more", False),
    ],
)
def test_redact(fresh_secrets: pytest.MonkeyPatch, name: str, value: str, hidden: bool) -> None:
    fresh_secrets.setenv(name, value)
    text = f"using {value} today; again: {value}."
    assert redact(text) == ("using *** today; again: ***." if hidden else text)


def test_redact_prefers_the_longest_secret(fresh_secrets: pytest.MonkeyPatch) -> None:
    fresh_secrets.setenv("A_API_KEY", "secret-value")
    fresh_secrets.setenv("B_API_KEY", "secret-value-longer")
    assert redact("k=secret-value-longer") == "k=***"


# -- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.0, "0ms"),
        (0.0123, "12ms"),
        (0.5, "500ms"),
        (1.0, "1.0s"),
        (12.34, "12.3s"),
        (60.0, "1m00s"),
        (61.9, "1m02s"),
        (3599.0, "59m59s"),
        (3600.0, "1h00m"),
        (7384.0, "2h03m"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.9996, "1.0s"), (59.97, "1m00s")])
def test_format_duration_at_unit_boundaries(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("usage", "text"),
    [
        (Usage(), "-"),
        (Usage(calls=2, cost_usd=0.0), "$0"),
        (Usage(calls=1, cost_usd=0.0123), "$0.0123"),
        (Usage(calls=1, cost_usd=1.5), "$1.5000"),
        (Usage(calls=1, unpriced_calls=1), "unknown"),
        (Usage(calls=3, cost_usd=0.0123, unpriced_calls=1), "$0.0123 + unknown"),
    ],
)
def test_format_cost(usage: Usage, text: str) -> None:
    assert format_cost(usage) == text


# -- the package's lazy exports -------------------------------------------------------------


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert gorgon_nb.__all__ == sorted(gorgon_nb.__all__)
    assert set(gorgon_nb.__all__) == set(gorgon_nb._EXPORTS) | {"__version__"}
    assert dir(gorgon_nb) == gorgon_nb.__all__


@pytest.mark.parametrize("name", sorted(set(gorgon_nb.__all__) - {"__version__"}))
def test_every_exported_name_imports(name: str) -> None:
    value = getattr(gorgon_nb, name)
    module = sys.modules[gorgon_nb._EXPORTS[name]]
    assert value is getattr(module, name)
    assert name in module.__all__
    assert getattr(value, "__name__", name) == name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Wrokflow'"):
        gorgon_nb.Wrokflow  # noqa: B018


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, gorgon_nb; heavy = ('pydantic', 'jinja2', 'sqlite_utils', 'rich', 'yaml');"
        "print([m for m in heavy if m in sys.modules]); print(gorgon_nb.__version__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded, version = done.stdout.splitlines()
    assert loaded == "[]"
    assert version == gorgon_nb.__version__


# -- tools.profile_csv ----------------------------------------------------------------------


def test_profile_csv(tmp_path: Path) -> None:
    data = tmp_path / "sales.csv"
    data.write_text(
        "region,revenue,units,note\n"
        "north,120.5,3,ok\n"
        "south,,4,\n"
        "east,98,,late\n"
        'north,"1,135",7,ok\n',
        encoding="utf-8",
    )
    profile = profile_csv(str(data), sample_rows=2)
    assert profile["file"] == "sales.csv" and profile["rows"] == 4
    assert list(profile["columns"]) == ["region", "revenue", "units", "note"]
    assert profile["columns"]["revenue"] == {
        "type": "number",
        "count": 3,
        "missing": 1,
        "min": 98.0,
        "max": 1135.0,
        "mean": round((120.5 + 98 + 1135) / 3, 4),
        "median": 120.5,
        "stdev": round(statistics.stdev([120.5, 98, 1135]), 4),
    }
    assert (
        profile["columns"]["units"]["median"] == 4.0 and profile["columns"]["units"]["missing"] == 1
    )
    region = profile["columns"]["region"]
    assert region["type"] == "text" and region["distinct"] == 3 and region["missing"] == 0
    assert region["top"][0] == {"value": "north", "count": 2}
    assert profile["columns"]["note"]["missing"] == 1
    assert profile["columns"]["note"]["top"][0] == {"value": "ok", "count": 2}
    assert profile["sample"] == [
        {"region": "north", "revenue": "120.5", "units": "3", "note": "ok"},
        {"region": "south", "revenue": "", "units": "4", "note": ""},
    ]


def test_profile_csv_limits_rows_and_handles_one_value(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    data.write_text("n\n" + "".join(f"{i}\n" for i in range(50)), encoding="utf-8")
    profile = profile_csv(str(data), max_rows=10)
    assert profile["rows"] == 10 and profile["columns"]["n"]["max"] == 9.0
    one = profile_csv(str(data), max_rows=1)
    assert one["columns"]["n"]["stdev"] == 0.0


def test_profile_csv_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StepError) as caught:
        profile_csv(str(tmp_path / "nowhere.csv"))
    assert str(caught.value) == (
        f"no CSV file at {tmp_path / 'nowhere.csv'}; pass the path of an existing file as data_path"
    )


def test_profile_csv_of_a_binary_file(tmp_path: Path) -> None:
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(StepError, match=r"cannot read .*blob\.csv as CSV"):
        profile_csv(str(blob))

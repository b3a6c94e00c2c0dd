"""One model call as a step makes it: fallbacks, retries, circuit breaker, concurrency, budget, cost."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.answers import parse_json_answer
from gorgon_nb.engine.budget import estimate_tokens
from gorgon_nb.engine.resilience import retrying
from gorgon_nb.engine.tools import converse, new_conversation, step_tool_refs
from gorgon_nb.errors import OutputFormatError, ProviderError, StepError, StepTimeoutError
from gorgon_nb.model.events import StepRetry
from gorgon_nb.model.workflow import ModelOptions
from gorgon_nb.providers.base import Completion, LLMRequest, Message, ToolCall
from gorgon_nb.providers.pricing import price_usage, unit_prices
from gorgon_nb.providers.registry import ModelRef, parse_model_ref
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from gorgon_nb.engine.run_state import StepRun

__all__ = ["ask", "hash_request", "parse_json_answer"]


async def ask(run: StepRun, system: str, prompt: str, item: int | None = None, *, role: str | None,
              json_schema: dict[str, Any] | None = None, json_retries: int | None = None,
              delegation: int | None = None, stream: bool = True, tools: bool = True) -> Any:
    """One question to the step's model: text back, or JSON when ``json_schema`` is given
    (``{}`` for any JSON), re-asked with the error until it is valid. ``delegation`` tags the
    streamed text of a supervisor's delegate; ``stream=False`` streams nothing (a plan is
    not an answer). ``json_retries``: the step's own when None. The step's tools (its
    own, else its role's) are offered unless ``tools`` is false (see ``engine.tools``)."""
    step = run.node.step
    assert isinstance(step, ModelOptions)
    if json_retries is None:
        json_retries = step.json_retries
    defaults = run.state.compiled.spec.defaults
    want_json = json_schema is not None
    if want_json:
        prompt += _json_instructions(json_schema)
    messages = [Message("user", prompt)]
    request = LLMRequest(
        model="", messages=messages, system=system,
        max_tokens=step.max_tokens or defaults.max_tokens,
        temperature=step.temperature if step.temperature is not None else defaults.temperature,
        json_schema=json_schema, role=role, step_id=step.id,
    )
    refs = step_tool_refs(step, run.state.runtime.config, role) if tools else []
    conversation = new_conversation(run, item, delegation) if refs else None

    async def answer(request: LLMRequest) -> tuple[Completion, list[Message]]:
        if conversation is None:
            return await complete(run, request, item, delegation, stream), list(request.messages)
        return await converse(run, request, item, lambda r: complete(run, r, item, delegation, stream),
                              refs=refs, conversation=conversation, role=role, delegation=delegation)

    completion, messages = await answer(request)
    if not want_json:
        return completion.text
    for attempt in range(json_retries + 1):
        try:
            return parse_json_answer(completion.text, json_schema)
        except OutputFormatError as exc:
            if attempt == json_retries:
                raise OutputFormatError(f"{exc} (still invalid after {json_retries} re-asks)") from None
            run.state.emit(StepRetry(attempt=attempt + 1, delay=0.0, error=redact(str(exc)),
                                  error_type="OutputFormatError"), run.result.key)
            messages = [*messages, Message("assistant", completion.text),
                        Message("user", f"{exc}. Answer again with only the corrected JSON, no other text.")]
            completion, messages = await answer(dataclasses.replace(request, messages=messages))
    raise AssertionError("unreachable")


async def complete(run: StepRun, request: LLMRequest, item: int | None, delegation: int | None = None,
                   stream: bool = True) -> Completion:
    """Call the step's model, falling back to the next model when one fails for good."""
    ex, step = run.state, run.node.step
    assert isinstance(step, ModelOptions)
    spec = ex.compiled.spec
    refs = [ex.options.model] if ex.options.model else [step.model or spec.defaults.model, *step.fallback_models]
    policy = step.retry or spec.defaults.retry
    on_delta = run.delta_callback(item, delegation) if stream else None
    timeout = step.timeout or spec.defaults.timeout
    def on_retry(attempt: int, delay: float, exc: BaseException) -> None:
        ex.emit(StepRetry(attempt=attempt, delay=round(delay, 3), error=redact(str(exc)),
                          error_type=type(exc).__name__, delegation=delegation), run.result.key)

    for index, ref in enumerate(refs):
        model, notice = parse_model_ref(ref, ex.runtime.config)
        if notice and not ex.replaying:
            ex.notice(notice, once="offline")
        request_hash = hash_request(model, request)
        answered = _answered(run, model, request_hash, item, on_delta)
        if answered is not None:
            return answered

        async def attempt(_number: int, model: ModelRef = model, request_hash: str = request_hash) -> Completion:
            return await _attempt(run, model, request, timeout, item, request_hash, on_delta)

        try:
            return await retrying(attempt, policy, on_retry=on_retry)
        except ProviderError as exc:
            if index == len(refs) - 1:
                raise
            ex.notice(redact(f"{run.result.key}: {model} failed ({exc}); falling back to {refs[index + 1]}"),
                      "warning")
    raise AssertionError("unreachable")


def hash_request(model: ModelRef, request: LLMRequest) -> str:
    """What identifies a call: the same question to the same model. The output cap is left
    out, so a resume with a raised budget still finds the answers it had. (A call without
    tools hashes as it did before there were tools, so older runs still resume.)"""
    payload: list[Any] = [str(model), request.system, [_hashed(m) for m in request.messages],
                          request.temperature, request.json_schema]
    if request.tools:
        payload.append([(t.name, t.description, t.schema) for t in request.tools])
        payload.append(request.tool_choice)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _hashed(message: Message) -> tuple[Any, ...]:
    if message.tool_calls:
        return (message.role, message.content, [(c.id, c.name, c.arguments) for c in message.tool_calls])
    if message.role == "tool":
        return (message.role, message.content, message.tool_call_id, message.is_error)
    return (message.role, message.content)


def _answered(run: StepRun, model: ModelRef, request_hash: str, item: int | None,
              on_delta: Callable[[str], None] | None) -> Completion | None:
    """An answer this call already has: from before a resume, or from the replayed run."""
    ex = run.state
    recorded = ex.take_recorded((run.result.key, item, request_hash))
    if recorded is None:
        if ex.replaying:
            raise StepError(f"cannot replay step '{run.result.key}': the replayed run never made this call "
                            f"to {model} (its prompt differs)")
        return None
    usage = dataclasses.replace(recorded.usage)
    run.result.model = str(model)
    if ex.replaying:  # a replay costs nothing; its own record keeps it replayable and resumable
        usage.cost_usd, usage.unpriced_calls = 0.0, 0
        if ex.runtime.store is not None:
            ex.runtime.store.runs.record_call(ex.result.run_id, run.result.key, "replay", model.model, usage,
                                               item=item, request_hash=request_hash, response=recorded.text,
                                               finish_reason=recorded.finish_reason, tool_calls=recorded.tool_calls)
    run.add_usage(usage)
    if on_delta is not None and recorded.text:
        on_delta(recorded.text)
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in recorded.tool_calls)
    return Completion(recorded.text, usage, recorded.model, recorded.finish_reason, calls)


async def _attempt(run: StepRun, model: ModelRef, request: LLMRequest, timeout: float | None,
                   item: int | None, request_hash: str, on_delta: Callable[[str], None] | None) -> Completion:
    ex = run.state
    runtime = ex.runtime
    settings = runtime.providers.settings(model.provider)
    provider = runtime.providers.get(model.provider)
    breaker = runtime.breaker(model.provider)
    breaker.check()  # fail before waiting for a turn when the provider is known to be down
    prices = None
    if ex.budget.budget.max_usd is not None or ex.budget.daily_usd is not None:
        prices = unit_prices(settings, model.model)
        if prices is None:
            ex.notice(f"the price of {model} is unknown, so dollar budgets cannot limit its calls "
                      "(max_tokens still applies)", "warning", once=f"unpriced:{model}")
    async with runtime.limit(model.provider):
        prompt_text = (request.system + "".join(m.content for m in request.messages)
                       + "".join(json.dumps(t.schema) + t.description for t in request.tools))
        reservation = await ex.budget.reserve(estimate_tokens(prompt_text), request.max_tokens, prices)
        try:
            # The ticket is taken as the call is sent: a call that waited for its turn
            # belongs to the round it is sent in, not to the one it started waiting in.
            ticket = breaker.before_call()
        except BaseException:
            ex.budget.settle(reservation, None)
            raise
        call = dataclasses.replace(request, model=model.model, max_tokens=reservation.max_output, timeout=timeout)
        run.result.model = str(model)
        run.result.attempts += 1
        try:
            async with asyncio.timeout(timeout):
                completion = await provider.complete(call, on_delta=on_delta)
        except TimeoutError:
            ex.budget.settle(reservation, None)
            message = f"no answer from {model} within the step's timeout of {timeout:g}s"
            breaker.record_failure(ticket, message)
            raise StepTimeoutError(message) from None
        except ProviderError as exc:
            ex.budget.settle(reservation, None)
            if exc.retryable:
                breaker.record_failure(ticket, redact(str(exc)))
            else:
                breaker.release(ticket)
            raise
        except BaseException:
            ex.budget.settle(reservation, None)
            breaker.release(ticket)
            raise
    usage = price_usage(settings, model.model, completion.usage)
    ex.budget.settle(reservation, usage)
    breaker.record_success()
    run.add_usage(usage)
    if runtime.store is not None:  # at once: a run killed after this call need not pay for it again
        runtime.store.runs.record_call(ex.result.run_id, run.result.key, model.provider, model.model, usage,
                                        item=item, request_hash=request_hash, response=completion.text,
                                        finish_reason=completion.finish_reason,
                                        tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments}
                                                    for c in completion.tool_calls])
    return completion


def _json_instructions(schema: dict[str, Any] | None) -> str:
    if schema:
        return ("\n\nAnswer with only a JSON value (no prose, no code fence) that matches this JSON schema:\n"
                + json.dumps(schema, indent=2))
    return "\n\nAnswer with only a JSON value: no prose, no code fence."

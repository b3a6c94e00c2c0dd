"""Running one step of any kind: its status and events, its approval, ``for_each``, timeouts,
retries and replay, as its kind's traits say (see ``model.kinds``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gorgon_nb.engine.approvals import preview_of_output, wait_for_approval
from gorgon_nb.engine.compile import Node
from gorgon_nb.engine.context import StepContext
from gorgon_nb.engine.resilience import retrying
from gorgon_nb.engine.run_state import RunState, Scope, StepFailure, StepRun, describe_error
from gorgon_nb.engine.templating import Expression, compile_template, render_deadline
from gorgon_nb.errors import StepError, StepTimeoutError
from gorgon_nb.model.approval import ApprovalRequest, GateKind, rejection
from gorgon_nb.model.events import StepFailed, StepFinished, StepRetry, StepStarted
from gorgon_nb.model.limits import FOR_EACH_ITEMS, LimitExceededError
from gorgon_nb.model.run import StepResult, StepStatus
from gorgon_nb.model.workflow import RetryPolicy

__all__ = ["run_node"]

_ONCE = RetryPolicy(attempts=1)


async def run_node(ex: RunState, node: Node, scope: Scope, key: str) -> StepResult:
    """Run a node; returns its result, or raises ``StepFailure`` when the run must stop."""
    step = node.step
    result = ex.new_step(node, key)
    result.status, result.started_at = StepStatus.RUNNING, time.time()
    ex.result.steps[key] = result
    ex.emit(StepStarted(), key, save=result)
    run = StepRun(ex, node, result, scope)
    try:
        result.output = await _gated(run, scope)
    except asyncio.CancelledError:
        result.status, result.ended_at, result.error = StepStatus.CANCELLED, time.time(), "cancelled"
        ex.emit(StepFailed(error="cancelled", error_type="Cancelled"), key, save=result)
        raise
    except Exception as exc:  # every failure is recorded; the policy decides what happens next
        result.ended_at = time.time()
        result.error, result.error_type = describe_error(exc), type(exc).__name__
        if step.on_failure == "fail" or ex.is_run_stopping(exc):
            result.status = StepStatus.FAILED
            ex.emit(StepFailed(error=result.error, error_type=result.error_type, usage=result.usage), key,
                    save=result)
            raise StepFailure(result, exc) from None
        if step.on_failure == "skip":
            result.status = StepStatus.SKIPPED
            ex.emit(StepFinished(status="skipped", reason=f"failed: {result.error}"), key, save=result)
            return result
        result.status, result.output = StepStatus.FAILED, step.default
        ex.emit(StepFailed(error=result.error, error_type=result.error_type, usage=result.usage, continued=True),
                key, save=result)
        return result
    result.status, result.ended_at = StepStatus.SUCCEEDED, time.time()
    ex.emit(StepFinished(status="succeeded", output=result.output, usage=result.usage, model=result.model), key,
            save=result)
    return result


async def _gated(run: StepRun, scope: Scope) -> Any:
    """The step's output, with its approval asked before it runs or after, as configured."""
    step, ex, kind = run.node.step, run.state, run.kind
    policy = kind.approval(step, ex.runtime.config)
    if policy is None:
        return await _run_once(run, scope, {})
    shown = None  # what the step will do, read live (what a GitHub, Notion or Slack write will change)
    if kind.show is not None and policy.mode == "before" and not ex.replaying:
        shown = await kind.show(step, _contexts(run, scope))
    title = _render(policy.title, scope) or (shown[0] if shown else _title(run, policy.mode))

    async def ask(gate: GateKind, round_: int, preview: str) -> ApprovalRequest:
        return await wait_for_approval(run, gate, round_, title, preview, approvers=policy.approvers,
                                       timeout=policy.timeout, on_timeout=policy.on_timeout)

    if policy.mode == "before":
        preview = _render(policy.preview, scope) or (shown[1] if shown else _preview(run, scope))
        decision = await ask("before", 1, preview)
        if not decision.approved:
            raise rejection(decision)
        return await _run_once(run, scope, {})
    output = await _run_once(run, scope, {})
    for round_ in range(1, policy.max_revisions + 2):
        preview = _render(policy.preview, scope, output=output) or preview_of_output(output)
        decision = await ask("after", round_, preview)
        if decision.approved:
            return output
        if round_ > policy.max_revisions:
            raise rejection(decision)
        # sent back: the step runs again with the reviewer's words and its previous answer
        feedback = {"__feedback__": {"comment": decision.comment or "(no comment)", "previous": output,
                                     "by": decision.decided_by}}
        output = await _run_once(run, scope, feedback)
    raise AssertionError("unreachable")


def _contexts(run: StepRun, scope: Scope) -> list[StepContext]:
    """A context for each item of a ``for_each`` step, or the one of a step without items."""
    items = _items(run, scope)
    if items is None:
        return [StepContext(run, scope.context())]
    return [StepContext(run, scope.context(**{run.node.step.as_: item}), index) for index, item in enumerate(items)]


def _preview(run: StepRun, scope: Scope) -> str:
    if run.kind.preview is None:
        return f"Step '{run.node.step.id}' will run."
    return run.kind.preview(run.node.step, StepContext(run, scope.context()))


def _title(run: StepRun, mode: str) -> str:
    step = run.node.step
    return f"Approve {step.name or step.id} before it runs" if mode == "before" else \
        f"Approve the output of {step.name or step.id}"


def _render(template: str | None, scope: Scope, **extra: Any) -> str:
    return compile_template(template).render(scope.context(**extra)) if template else ""


def _items(run: StepRun, scope: Scope) -> list[Any] | None:
    """The items of a ``for_each`` step (None when it has none), checked to be a list."""
    step, node = run.node.step, run.node
    if node.for_each is None and not isinstance(step.for_each, list):
        return None
    items = node.for_each.evaluate(scope.context()) if isinstance(node.for_each, Expression) else step.for_each
    if isinstance(items, dict):
        items = list(items.items())
    if not isinstance(items, list | tuple):
        raise StepError(f"for_each must give a list, but gave {type(items).__name__}: {str(items)[:80]!r}")
    return list(items)


async def _run_once(run: StepRun, scope: Scope, extra: dict[str, Any]) -> Any:
    items = _items(run, scope)
    if items is not None:
        if len(items) > FOR_EACH_ITEMS.get():
            raise run.state.tree.refuse(FOR_EACH_ITEMS.message(
                f"for_each of step '{run.node.step.id}' gave {len(items):,} items"))
        run.state.tree.charge(max(len(items), 1))
        return await _for_each(run, scope, items, extra)
    run.state.tree.charge()
    return await _retried(run, StepContext(run, scope.context(**extra)))


async def _for_each(run: StepRun, scope: Scope, items: list[Any], extra: dict[str, Any]) -> list[Any]:
    step = run.node.step
    limit = asyncio.Semaphore(step.max_parallel or max(1, len(items)))

    async def one(index: int, item: Any) -> Any:
        async with limit:
            return await _retried(run, StepContext(run, scope.context(**extra, **{step.as_: item}), index))

    tasks = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(items)]
    try:
        return list(await asyncio.gather(*tasks))
    except LimitExceededError:  # the run stops: the other items must not go on starting work
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _retried(run: StepRun, ctx: StepContext) -> Any:
    """Run the kind's handler, with the timeout, retries and replay its traits ask for."""
    step, kind, ex = run.node.step, run.kind, run.state
    if ex.replaying and kind.replay == "recorded":
        return ex.replayed_output(run.result.key, ctx.item)  # no side effect happens twice
    timeout = step.timeout or ex.compiled.spec.defaults.timeout
    because = f"the step's timeout of {timeout:g}s" if timeout else ""
    if kind.attempts == "per_model_call":  # a template still may not render past the timeout
        with render_deadline(timeout, because):
            return await kind.run(step, ctx)
    if kind.attempts == "own":
        with render_deadline(None, ""):
            return await kind.run(step, ctx)

    async def attempt(number: int) -> Any:
        run.result.attempts = number
        try:
            async with asyncio.timeout(timeout):
                with render_deadline(timeout, because):
                    return await kind.run(step, ctx)
        except TimeoutError:
            raise StepTimeoutError(f"step '{step.id}' passed its timeout of {timeout:g}s") from None
        except StepError as exc:
            exc.retryable = step.retry is not None  # a failing function is retried only on request
            raise

    def on_retry(number: int, delay: float, exc: BaseException) -> None:
        ex.emit(StepRetry(attempt=number, delay=round(delay, 3), error=str(exc), error_type=type(exc).__name__),
                run.result.key)

    return await retrying(attempt, step.retry or kind.default_retry or _ONCE, on_retry=on_retry)

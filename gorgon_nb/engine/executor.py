"""The asyncio executor: every ready step starts at once; every state change is an event.

``Execution`` runs one workflow. Its graph loop is small: start what is ready, wait for
the first task to finish, record it, repeat. Steps whose dependency was skipped are
skipped too, unless they have a ``when`` of their own, which then decides. A failed step
with ``on_failure: fail`` (the default) stops new steps from starting; steps already
running finish and are kept, so their (paid-for) results are never thrown away.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorgon_nb.config import Config
from gorgon_nb.engine.budget import BudgetTracker
from gorgon_nb.engine.compile import CompiledWorkflow, Graph, Node
from gorgon_nb.engine.resilience import CircuitBreaker
from gorgon_nb.engine.steps import StepFailure, describe_error, render_value, run_node
from gorgon_nb.engine.templating import Expression, TemplateError
from gorgon_nb.errors import BudgetExceededError, GorgonError, RunTimeoutError
from gorgon_nb.model.events import EPHEMERAL_EVENTS, Event, EventKind
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import AgentStep, LoopStep
from gorgon_nb.providers.registry import ProviderRegistry
from gorgon_nb.secrets import redact
from gorgon_nb.store import Store

__all__ = ["EventCallback", "Execution", "RunOptions", "Services", "new_run_id"]

EventCallback = Callable[[Event], None]
logger = logging.getLogger("gorgon_nb")
_ALPHABET = "0123456789abcdefghijkmnpqrstuvwxyz"  # no l/o: ids are read and typed by people


def new_run_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


class Services:
    """What all runs of a process share: providers, circuit breakers, concurrency limits."""

    def __init__(self, config: Config, store: Store | None) -> None:
        self.config = config
        self.store = store
        self.providers = ProviderRegistry(config)
        self.breakers: dict[str, CircuitBreaker] = {}
        # Semaphores belong to an event loop; sync runs each get a fresh loop.
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary())

    def breaker(self, provider: str) -> CircuitBreaker:
        if provider not in self.breakers:
            self.breakers[provider] = CircuitBreaker(provider)
        return self.breakers[provider]

    def limit(self, provider: str) -> asyncio.Semaphore:
        limits = self._limits.setdefault(asyncio.get_running_loop(), {})
        if provider not in limits:
            limits[provider] = asyncio.Semaphore(self.providers.settings(provider).concurrency)
        return limits[provider]


@dataclass
class RunOptions:
    model: str | None = None  # forces every LLM step onto this model
    allow_shell: bool = False
    parent_run_id: str | None = None
    base_dir: Path | None = None
    depth: int = 0  # sub-workflow nesting

    def to_record(self) -> dict[str, Any]:
        return {"model": self.model, "allow_shell": self.allow_shell}


@dataclass
class Scope:
    """What templates see: inputs, finished steps, and loop or item variables."""

    inputs: dict[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self, **more: Any) -> dict[str, Any]:
        return {"inputs": self.inputs, "steps": self.steps, **self.extra, **more}

    def child(self, **extra: Any) -> Scope:
        return Scope(self.inputs, dict(self.steps), {**self.extra, **extra})


def step_view(result: StepResult) -> dict[str, Any]:
    return {"output": result.output, "status": str(result.status), "error": result.error}


class Execution:
    """One run of a compiled workflow."""

    def __init__(self, compiled: CompiledWorkflow, inputs: dict[str, Any], services: Services,
                 options: RunOptions, *, run_id: str | None = None,
                 subscribers: list[EventCallback] | None = None) -> None:
        self.compiled = compiled
        self.services = services
        self.options = options
        self.subscribers = list(subscribers or [])
        spec = compiled.spec
        self.result = RunResult(
            run_id=run_id or new_run_id(), workflow_id=spec.id, workflow_name=spec.name or spec.id,
            inputs=inputs, workflow_hash=compiled.content_hash,
            source_path=compiled.source.path if compiled.source else None,
        )
        self.budget = BudgetTracker(spec.budget)
        self._seq = 0
        self._positions: dict[str, int] = {}
        self._noticed: set[str] = set()

    # -- events ---------------------------------------------------------------------------

    def emit(self, kind: EventKind, step: str | None = None, save: StepResult | None = None,
             calls: list[tuple[str, str, Usage]] | None = None, **data: Any) -> None:
        """Persist and deliver an event; ``save``'s step row and its ``calls`` go in the same transaction."""
        store = self.services.store
        if kind in EPHEMERAL_EVENTS:
            if not self.subscribers:
                return
            event = Event(kind, self.result.run_id, step, data)
        else:
            self._seq += 1
            event = Event(kind, self.result.run_id, step, data, self._seq)
            if store is not None:
                with store.transaction():
                    if save is not None:
                        position = self._positions.setdefault(save.key, len(self._positions))
                        store.save_step(self.result.run_id, save, position)
                    for provider, model, usage in calls or ():
                        store.record_call(self.result.run_id, step, provider, model, usage)
                    store.append_event(event)
        for callback in list(self.subscribers):
            try:
                callback(event)
            except Exception:  # a broken display must not break the run
                logger.warning("an event subscriber failed and was detached", exc_info=True)
                self.subscribers.remove(callback)

    def notice(self, message: str, level: str = "info", *, once: str | None = None) -> None:
        if once is not None:
            if once in self._noticed:
                return
            self._noticed.add(once)
        self.result.notices.append(message)
        self.emit("notice", message=message, level=level)

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        run, spec, store = self.result, self.compiled.spec, self.services.store
        run.started_at = time.time()
        source = self.compiled.source
        if store is not None:
            store.create_run(run, source=source.text if source else spec.model_dump_json(by_alias=True),
                             source_format=source.format if source else "json",
                             options=self.options.to_record(), parent_run_id=self.options.parent_run_id)
        self.emit("run_started", workflow_id=spec.id, name=run.workflow_name, inputs=run.inputs,
                  graph=_graph_description(self.compiled.graph))
        scope = Scope(run.inputs)
        try:
            async with asyncio.timeout(spec.timeout):
                await self.run_graph(self.compiled.graph, scope, prefix="")
            run.outputs = self._outputs(scope)
            run.status = RunStatus.SUCCEEDED
        except StepFailure as failure:
            run.status, run.error = RunStatus.FAILED, f"step '{failure.result.key}' failed: {failure.result.error}"
            run.error_type = failure.result.error_type
            run.outputs = {sid: view["output"] for sid, view in scope.steps.items() if view["status"] == "succeeded"}
        except TimeoutError:
            error = RunTimeoutError(f"the run passed its timeout of {spec.timeout:g}s; raise 'timeout' at the top "
                                    "of the workflow to allow longer runs")
            run.status, run.error, run.error_type = RunStatus.FAILED, str(error), type(error).__name__
        except (GorgonError, TemplateError) as exc:
            run.status, run.error, run.error_type = RunStatus.FAILED, redact(str(exc)), type(exc).__name__
        except Exception as exc:  # a bug must still end the run as failed, never leave it "running"
            run.status, run.error_type = RunStatus.FAILED, type(exc).__name__
            run.error = redact(f"internal error: {type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            run.status, run.error = RunStatus.CANCELLED, "cancelled"
            self._finish()
            raise
        self._finish()
        return run

    def _finish(self) -> None:
        run = self.result
        run.ended_at = time.time()
        run.usage = sum((s.usage for s in run.steps.values() if "." not in s.key), Usage())
        if self.services.store is not None:
            self.services.store.finish_run(run)
        self.emit("run_finished", status=str(run.status), error=run.error, error_type=run.error_type,
                  usage=run.usage.to_dict(), outputs=run.outputs if run.ok else None)

    def _outputs(self, scope: Scope) -> dict[str, Any]:
        if self.compiled.outputs is None:
            return {sid: view["output"] for sid, view in scope.steps.items()}
        return render_value(self.compiled.outputs, scope.context())

    async def run_graph(self, graph: Graph, scope: Scope, prefix: str) -> dict[str, StepResult]:
        """Run ``graph``'s nodes as their dependencies finish; return their results by step id."""
        done: dict[str, StepResult] = {}
        waiting = {sid: len(node.deps) for sid, node in graph.nodes.items()}
        ready = [sid for sid, count in waiting.items() if count == 0]
        running: dict[asyncio.Task[StepResult], str] = {}
        failure: StepFailure | None = None

        def finished(sid: str, result: StepResult) -> None:
            done[sid] = result
            scope.steps[sid] = step_view(result)
            for child in graph.dependants[sid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)

        try:
            while True:
                while ready and failure is None:
                    sid = ready.pop(0)
                    node = graph.nodes[sid]
                    try:
                        skip_reason = self._skip_reason(node, done, scope, prefix + sid)
                    except StepFailure as exc:
                        failure = exc
                        finished(sid, exc.result)
                        break
                    if skip_reason is not None:
                        finished(sid, self._skip(node, prefix + sid, skip_reason))
                    else:
                        running[asyncio.create_task(run_node(self, node, scope, prefix + sid))] = sid
                if not running:
                    break
                completed, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in completed:
                    sid = running.pop(task)
                    try:
                        finished(sid, task.result())
                    except StepFailure as exc:
                        failure = failure or exc
                        finished(sid, exc.result)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        if failure is not None:
            raise failure
        return done

    def _skip_reason(self, node: Node, done: dict[str, StepResult], scope: Scope, key: str) -> str | None:
        step = node.step
        if step.when is None:
            skipped = [d for d in node.deps if done[d].status is StepStatus.SKIPPED]
            return f"'{skipped[0]}' was skipped" if skipped else None
        if isinstance(step.when, bool):
            return None if step.when else "when: false"
        assert isinstance(node.when, Expression)
        try:
            holds = node.when.evaluate(scope.context())
        except TemplateError as exc:
            raise StepFailure(self._failed_result(node, key, exc), exc) from None
        return None if holds else f"condition is false: {node.when.text}"

    def _skip(self, node: Node, key: str, reason: str) -> StepResult:
        result = self.new_step(node, key)
        result.status, result.started_at, result.ended_at = StepStatus.SKIPPED, time.time(), time.time()
        self.result.steps[key] = result
        self.emit("step_finished", key, save=result, status="skipped", reason=reason)
        return result

    def new_step(self, node: Node, key: str) -> StepResult:
        step = node.step
        return StepResult(key=key, step_id=step.id, kind=step.kind,
                          role=step.agent if isinstance(step, AgentStep) else None)

    def _failed_result(self, node: Node, key: str, exc: BaseException) -> StepResult:
        result = self.new_step(node, key)
        result.status, result.error, result.error_type = StepStatus.FAILED, describe_error(exc), type(exc).__name__
        self.result.steps[result.key] = result
        self.emit("step_failed", result.key, save=result, error=result.error, error_type=result.error_type)
        return result

    def is_run_stopping(self, exc: BaseException) -> bool:
        """Errors that stop the run whatever the step's ``on_failure`` says."""
        return isinstance(exc, BudgetExceededError)


def _graph_description(graph: Graph, prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for node in graph:
        step = node.step
        out.append({"key": prefix + node.id, "id": node.id, "kind": step.kind,
                    "role": step.agent if isinstance(step, AgentStep) else None,
                    "name": step.name or node.id, "deps": [prefix + d for d in node.deps]})
        if isinstance(step, LoopStep) and node.body is not None:
            out[-1]["body"] = _graph_description(node.body)
    return out

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from gorgon_nb.engine.budget import BudgetTracker
from gorgon_nb.engine.compile import CompiledWorkflow, Graph, Node
from gorgon_nb.engine.context import render_value
from gorgon_nb.engine.runtime import RunOptions, Runtime, RunTree
from gorgon_nb.engine.step_run import StepFailure, StepRun, describe_error, run_node
from gorgon_nb.engine.templating import Expression, Names, TemplateError, render_deadline
from gorgon_nb.errors import (
    BudgetExceededError,
    GorgonError,
    RunTimeoutError,
    StepError,
)
from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.events import (
    EPHEMERAL_EVENTS,
    Event,
    EventPayload,
    GraphNode,
    Notice,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFailed,
    StepFinished,
)
from gorgon_nb.model.limits import WORKFLOW_DEPTH, LimitExceededError
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import Budget
from gorgon_nb.secrets import redact
from gorgon_nb.store.base import new_id
from gorgon_nb.store.control import HEARTBEAT_SECONDS
from gorgon_nb.store.sqlite import RecordedCall

__all__ = ["Continuation", "EventCallback", "Execution", "new_run_id"]

EventCallback = Callable[[Event], None]
logger = logging.getLogger("gorgon_nb")


def new_run_id() -> str:
    return new_id()


@dataclass
class Scope:
    """What templates see: inputs, finished steps, and loop or item variables."""

    inputs: dict[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self, **more: Any) -> dict[str, Any]:
        # Names: an input or step called "items" is that, not the dict's method.
        return {"inputs": Names(self.inputs), "steps": Names(self.steps), **self.extra, **more}

    def child(self, **extra: Any) -> Scope:
        return Scope(self.inputs, dict(self.steps), {**self.extra, **extra})


def step_view(result: StepResult) -> dict[str, Any]:
    return {"output": result.output, "status": str(result.status), "error": result.error}


@dataclass
class Continuation:
    """What a run starts from when it is not new.

    ``resume``: the same run, going on after its process stopped; ``fork``: a new run that
    reuses the finished steps of another; ``replay``: a new run that takes every model
    answer and every other step's output from another, calling nothing.
    """

    mode: Literal["resume", "fork", "replay"]
    restored: dict[str, StepResult] = field(default_factory=dict)  # finished steps, not run again
    recorded: dict[tuple[str, int | None, str], list[RecordedCall]] = field(default_factory=dict)
    seq: int = 0  # events already stored (resume)
    spent: Usage = field(default_factory=Usage)  # what the run already used (resume)
    source: RunResult | None = None  # the run forked or replayed
    decisions: dict[tuple[str, int], ApprovalRequest] = field(default_factory=dict)  # replay


class Execution:
    """One run of a compiled workflow."""

    def __init__(self, compiled: CompiledWorkflow, inputs: dict[str, Any], runtime: Runtime,
                 options: RunOptions, *, run_id: str | None = None,
                 subscribers: list[EventCallback] | None = None, continuation: Continuation | None = None,
                 budget: Budget | None = None) -> None:
        self.compiled = compiled
        self.runtime = runtime
        self.options = options
        self.subscribers = list(subscribers or [])
        spec = compiled.spec
        self.result = RunResult(
            run_id=run_id or new_run_id(), workflow_id=spec.id, workflow_name=spec.name or spec.id,
            inputs=inputs, workflow_hash=compiled.content_hash,
            source_path=compiled.source.path if compiled.source else None,
        )
        self.continuation = continuation
        spent = continuation.spent if continuation and continuation.mode == "resume" else None
        self.budget = BudgetTracker(budget or spec.budget, spent, daily_usd=runtime.config.daily_usd,
                                    spent_today=runtime.spent_today)
        self._seq = continuation.seq if continuation else 0
        self._positions: dict[str, int] = {}
        self._noticed: set[str] = set()
        self._waiting = 0
        self._cancel_requested = False
        self.tree = options.tree or RunTree()

    # -- resume, fork, replay ---------------------------------------------------------------

    @property
    def replaying(self) -> bool:
        return self.continuation is not None and self.continuation.mode == "replay"

    def take_recorded(self, key: tuple[str, int | None, str]) -> RecordedCall | None:
        """A model answer this call already got (resume) or got in the replayed run."""
        answers = self.continuation.recorded.get(key) if self.continuation else None
        return answers.pop(0) if answers else None

    def replayed_output(self, key: str, item: int | None) -> Any:
        source = self.continuation.source if self.continuation else None
        step = source.steps.get(key) if source else None
        if step is None:
            raise StepError(f"cannot replay step '{key}': the replayed run has no result for it")
        return step.output[item] if item is not None and isinstance(step.output, list) else step.output

    def replayed_decision(self, key: str, round_: int) -> ApprovalRequest:
        decision = self.continuation.decisions.get((key, round_)) if self.continuation else None
        if decision is None:
            raise StepError(f"cannot replay step '{key}': the replayed run has no decision for its approval")
        return decision

    def waiting(self, change: int) -> None:
        """One more (or fewer) step waiting for a person; the run waits while any does."""
        self._waiting += change
        status = RunStatus.WAITING if self._waiting else RunStatus.RUNNING
        if status is not self.result.status and not self.result.status.finished:
            self.result.status = status
            if self.runtime.store is not None:
                self.runtime.store.set_run_status(self.result.run_id, str(status))

    # -- events ---------------------------------------------------------------------------

    def emit(self, payload: EventPayload, step: str | None = None, save: StepResult | None = None) -> None:
        """Persist and deliver an event; ``save``'s step row goes in the same transaction."""
        store = self.runtime.store
        if isinstance(payload, EPHEMERAL_EVENTS):
            if not self.subscribers:
                return
            event = Event(payload, self.result.run_id, step)
        else:
            self._seq += 1
            event = Event(payload, self.result.run_id, step, self._seq)
            if store is not None:
                with store.transaction():
                    if save is not None:
                        position = self._positions.setdefault(save.key, len(self._positions))
                        store.save_step(self.result.run_id, save, position)
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
        self.emit(Notice(message=message, level=level))

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        run, spec, store = self.result, self.compiled.spec, self.runtime.store
        run.started_at = run.started_at or time.time()
        source = self.continuation.source if self.continuation else None
        restored = self.continuation.restored if self.continuation else {}
        if store is not None and not (self.continuation and self.continuation.mode == "resume"):
            text = self.compiled.source
            store.create_run(run, source=text.text if text else spec.model_dump_json(by_alias=True),
                             source_format=text.format if text else "json", options=self.options.to_record(),
                             parent_run_id=self.options.parent_run_id, budget=self.budget.budget.model_dump(),
                             replay_of=source.run_id if self.replaying and source else None,
                             fork_of=source.run_id if source and not self.replaying else None)
            for position, step in enumerate(restored.values()):  # a fork starts with the reused steps
                store.save_step(run.run_id, step, position)
        run.steps.update(restored)
        scope = Scope(run.inputs, {k: step_view(v) for k, v in restored.items() if "." not in k})
        if self.continuation and self.continuation.mode == "resume":
            self.emit(RunResumed(workflow_id=spec.id, name=run.workflow_name, inputs=run.inputs,
                                 graph=_graph_description(self.compiled.graph),
                                 restored={k: str(v.status) for k, v in restored.items()}))
        else:
            source_id = source.run_id if source is not None else None
            self.emit(RunStarted(workflow_id=spec.id, name=run.workflow_name, inputs=run.inputs,
                                 graph=_graph_description(self.compiled.graph),
                                 replay_of=source_id if self.replaying else None,
                                 fork_of=None if self.replaying else source_id))
        watcher = asyncio.create_task(self._watch(asyncio.current_task())) if store is not None else None
        try:
            async with asyncio.timeout(spec.timeout):
                with render_deadline(spec.timeout, f"the run's timeout of {spec.timeout:g}s" if spec.timeout else ""):
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
            if self._cancel_requested:  # asked for from elsewhere: an ending, not our caller's interrupt
                run.error = "cancelled on request (gorgon cancel)"
                self._finish()
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                return run
            self._finish()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
        self._finish()
        return run

    async def _watch(self, task: asyncio.Task[Any] | None) -> None:
        """Heartbeat for the store, and stop the run when someone asks it to."""
        store = self.runtime.store
        assert store is not None
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if store.heartbeat(self.result.run_id) and task is not None:
                self._cancel_requested = True
                task.cancel()
                return

    def _finish(self) -> None:
        run = self.result
        run.ended_at = time.time()
        run.usage = sum((s.usage for s in run.steps.values() if "." not in s.key), Usage())
        if self.runtime.store is not None:
            self.runtime.store.finish_run(run, derived_outputs=self.compiled.outputs is None)
            self.runtime.store.cancel_approvals(run.run_id)
        self.emit(RunFinished(status=str(run.status), error=run.error, error_type=run.error_type,
                              usage=run.usage, outputs=run.outputs if run.ok else None))

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
                    if self.continuation and (prefix + sid) in self.continuation.restored:
                        finished(sid, self.continuation.restored[prefix + sid])  # done before: not again
                        continue
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
        except BaseException:  # cancelled, or a limit passed: what is running stops with the graph
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        if failure is not None:
            raise failure
        return done

    async def run_body(self, run: StepRun, round_: int,
                       variables: dict[str, Any]) -> tuple[dict[str, StepResult], dict[str, Any]]:
        """Round ``round_`` of the steps ``run``'s step holds (a loop's body), and what templates
        see after it; the steps' keys are the step's own with the round: ``fix[2].build``."""
        body = run.node.body
        assert body is not None
        scope = run.scope.child(**variables)
        results = await self.run_graph(body, scope, prefix=f"{run.result.key}[{round_}].")
        return results, scope.context()

    async def run_child(self, run: StepRun, ref: str, inputs: dict[str, Any]) -> RunResult:
        """Run the sub-workflow ``ref`` (as a step of ``run`` wrote it) as a child run of this one."""
        from gorgon_nb.engine.inputs import bind_inputs
        from gorgon_nb.engine.trust import refusal

        if self.options.depth + 1 > WORKFLOW_DEPTH.get():
            raise self.tree.refuse(WORKFLOW_DEPTH.message(
                f"'{ref}' would run {self.options.depth + 1} sub-workflows deep (does it run itself?)"))
        self.tree.charge(0)  # past the steps-per-run limit already: not even worth loading it
        loaded = self.tree.sub_workflow(ref, self.options.base_dir, self.runtime)
        compiled: CompiledWorkflow = loaded.compiled
        bound = bind_inputs(compiled.spec, inputs)
        if compiled.code_uses and not self.options.allow_code:
            raise StepError(refusal(loaded.id, compiled.code_uses).for_surface("python"))
        options = RunOptions(model=self.options.model, allow_code=self.options.allow_code,
                             parent_run_id=self.result.run_id, base_dir=loaded.base_dir, depth=self.options.depth + 1,
                             tree=self.tree)
        child = Execution(compiled, bound, self.runtime, options)
        self.notice(f"{run.result.key}: started sub-workflow '{loaded.id}' as run {child.result.run_id}")
        outcome = await child.execute()
        run.add_usage(outcome.usage)
        if not outcome.ok and outcome.error_type == LimitExceededError.__name__:
            raise self.tree.refuse(outcome.error or "")  # the whole run stops, with the limit's words
        return outcome

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
        self.tree.charge()  # a skipped step is a row in the store too
        result = self.new_step(node, key)
        result.status, result.started_at, result.ended_at = StepStatus.SKIPPED, time.time(), time.time()
        self.result.steps[key] = result
        self.emit(StepFinished(status="skipped", reason=reason), key, save=result)
        return result

    def new_step(self, node: Node, key: str) -> StepResult:
        step = node.step
        return StepResult(key=key, step_id=step.id, kind=step.kind,
                          role=step.role)

    def _failed_result(self, node: Node, key: str, exc: BaseException) -> StepResult:
        result = self.new_step(node, key)
        result.status, result.error, result.error_type = StepStatus.FAILED, describe_error(exc), type(exc).__name__
        self.result.steps[result.key] = result
        self.emit(StepFailed(error=result.error, error_type=result.error_type), result.key, save=result)
        return result

    def is_run_stopping(self, exc: BaseException) -> bool:
        """Errors that stop the run whatever the step's ``on_failure`` says (also when they
        come out of a loop's body)."""
        while isinstance(exc, StepFailure):
            exc = exc.error
        return isinstance(exc, BudgetExceededError | LimitExceededError)


def _graph_description(graph: Graph, prefix: str = "") -> list[GraphNode]:
    out: list[GraphNode] = []
    for node in graph:
        step = node.step
        out.append({"key": prefix + node.id, "id": node.id, "kind": step.kind,
                    "role": step.role,
                    "name": step.name or node.id, "deps": [prefix + d for d in node.deps]})
        if node.body is not None:
            out[-1]["body"] = _graph_description(node.body)
    return out

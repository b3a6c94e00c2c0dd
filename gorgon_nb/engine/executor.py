"""The asyncio executor: every ready step starts at once; every state change is an event.

``Execution`` runs one workflow. Its graph loop is small: start what is ready, wait for
the first task to finish, record it, repeat. Steps whose dependency was skipped are
skipped too, unless they have a ``when`` of their own, which then decides. A failed step
with ``on_failure: fail`` (the default) stops new steps from starting; steps already
running finish and are kept, so their (paid-for) results are never thrown away.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gorgon_nb.engine.compile import CompiledWorkflow, Graph, Node
from gorgon_nb.engine.context import render_value
from gorgon_nb.engine.run_state import (
    Continuation,
    EventCallback,
    RunState,
    Scope,
    StepFailure,
    StepRun,
    describe_error,
    step_view,
)
from gorgon_nb.engine.runtime import RunOptions, Runtime
from gorgon_nb.engine.step_run import run_node
from gorgon_nb.engine.templating import Expression, TemplateError, render_deadline
from gorgon_nb.errors import (
    GorgonError,
    RunTimeoutError,
    StepError,
)
from gorgon_nb.model.events import (
    GraphNode,
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
from gorgon_nb.store.control import HEARTBEAT_SECONDS

__all__ = ["Execution"]


class Execution:
    """One run of a compiled workflow: its graph run step by step, from start to end."""

    def __init__(self, compiled: CompiledWorkflow, inputs: dict[str, Any], runtime: Runtime,
                 options: RunOptions, *, run_id: str | None = None,
                 subscribers: list[EventCallback] | None = None, continuation: Continuation | None = None,
                 budget: Budget | None = None) -> None:
        self.state = state = RunState(compiled, inputs, runtime, options, run_id=run_id, subscribers=subscribers,
                                      continuation=continuation, budget=budget)
        state.run_graph, state.run_child = self.run_graph, self.run_child
        self._cancel_requested = False

    @property
    def result(self) -> RunResult:
        return self.state.result

    @property
    def subscribers(self) -> list[EventCallback]:
        return self.state.subscribers

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        run, spec, store = self.result, self.state.compiled.spec, self.state.runtime.store
        run.started_at = run.started_at or time.time()
        source = self.state.continuation.source if self.state.continuation else None
        restored = self.state.continuation.restored if self.state.continuation else {}
        if store is not None and not (self.state.continuation and self.state.continuation.mode == "resume"):
            text = self.state.compiled.source
            store.runs.create(run, source=text.text if text else spec.model_dump_json(by_alias=True),
                              source_format=text.format if text else "json", options=self.state.options.to_record(),
                              parent_run_id=self.state.options.parent_run_id, budget=self.state.budget.budget.model_dump(),
                              replay_of=source.run_id if self.state.replaying and source else None,
                              fork_of=source.run_id if source and not self.state.replaying else None)
            for position, step in enumerate(restored.values()):  # a fork starts with the reused steps
                store.runs.save_step(run.run_id, step, position)
        run.steps.update(restored)
        scope = Scope(run.inputs, {k: step_view(v) for k, v in restored.items() if "." not in k})
        if self.state.continuation and self.state.continuation.mode == "resume":
            self.state.emit(RunResumed(workflow_id=spec.id, name=run.workflow_name, inputs=run.inputs,
                                 graph=_graph_description(self.state.compiled.graph),
                                 restored={k: str(v.status) for k, v in restored.items()}))
        else:
            source_id = source.run_id if source is not None else None
            self.state.emit(RunStarted(workflow_id=spec.id, name=run.workflow_name, inputs=run.inputs,
                                 graph=_graph_description(self.state.compiled.graph),
                                 replay_of=source_id if self.state.replaying else None,
                                 fork_of=None if self.state.replaying else source_id))
        watcher = asyncio.create_task(self._watch(asyncio.current_task())) if store is not None else None
        try:
            async with asyncio.timeout(spec.timeout):
                with render_deadline(spec.timeout, f"the run's timeout of {spec.timeout:g}s" if spec.timeout else ""):
                    await self.run_graph(self.state.compiled.graph, scope, prefix="")
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
        except GorgonError as exc:
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
            await asyncio.shield(self.state.resources.aclose())
        self._finish()
        return run

    async def _watch(self, task: asyncio.Task[Any] | None) -> None:
        """Heartbeat for the store, and stop the run when someone asks it to."""
        store = self.state.runtime.store
        assert store is not None
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if store.control.heartbeat(self.result.run_id) and task is not None:
                self._cancel_requested = True
                task.cancel()
                return

    def _finish(self) -> None:
        run = self.result
        run.ended_at = time.time()
        run.usage = sum((s.usage for s in run.steps.values() if "." not in s.key), Usage())
        if self.state.runtime.store is not None:
            self.state.runtime.store.runs.finish(run, derived_outputs=self.state.compiled.outputs is None)
            self.state.runtime.store.approvals.cancel_pending(run.run_id)
        self.state.emit(RunFinished(status=str(run.status), error=run.error, error_type=run.error_type,
                              usage=run.usage, outputs=run.outputs if run.ok else None))

    def _outputs(self, scope: Scope) -> dict[str, Any]:
        if self.state.compiled.outputs is None:
            return {sid: view["output"] for sid, view in scope.steps.items()}
        return render_value(self.state.compiled.outputs, scope.context())

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
                    if self.state.continuation and (prefix + sid) in self.state.continuation.restored:
                        finished(sid, self.state.continuation.restored[prefix + sid])  # done before: not again
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
                        running[asyncio.create_task(run_node(self.state, node, scope, prefix + sid))] = sid
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

    async def run_child(self, run: StepRun, ref: str, inputs: dict[str, Any]) -> RunResult:
        """Run the sub-workflow ``ref`` (as a step of ``run`` wrote it) as a child run of this one."""
        from gorgon_nb.engine.inputs import bind_inputs
        from gorgon_nb.engine.trust import refusal

        if self.state.options.depth + 1 > WORKFLOW_DEPTH.get():
            raise self.state.tree.refuse(WORKFLOW_DEPTH.message(
                f"'{ref}' would run {self.state.options.depth + 1} sub-workflows deep (does it run itself?)"))
        self.state.tree.charge(0)  # past the steps-per-run limit already: not even worth loading it
        loaded = self.state.tree.sub_workflow(ref, self.state.options.base_dir, self.state.runtime)
        compiled: CompiledWorkflow = loaded.compiled
        bound = bind_inputs(compiled.spec, inputs)
        if compiled.code_uses and not self.state.options.allow_code:
            raise StepError(refusal(loaded.id, compiled.code_uses).for_surface("python"))
        options = RunOptions(model=self.state.options.model, allow_code=self.state.options.allow_code,
                             parent_run_id=self.result.run_id, base_dir=loaded.base_dir, depth=self.state.options.depth + 1,
                             tree=self.state.tree)
        child = Execution(compiled, bound, self.state.runtime, options)
        self.state.notice(f"{run.result.key}: started sub-workflow '{loaded.id}' as run {child.result.run_id}")
        outcome = await child.execute()
        run.add_usage(outcome.usage)
        if not outcome.ok and outcome.error_type == LimitExceededError.__name__:
            raise self.state.tree.refuse(outcome.error or "")  # the whole run stops, with the limit's words
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
        self.state.tree.charge()  # a skipped step is a row in the store too
        result = self.state.new_step(node, key)
        result.status, result.started_at, result.ended_at = StepStatus.SKIPPED, time.time(), time.time()
        self.result.steps[key] = result
        self.state.emit(StepFinished(status="skipped", reason=reason), key, save=result)
        return result

    def _failed_result(self, node: Node, key: str, exc: BaseException) -> StepResult:
        result = self.state.new_step(node, key)
        result.status, result.error, result.error_type = StepStatus.FAILED, describe_error(exc), type(exc).__name__
        self.result.steps[result.key] = result
        self.state.emit(StepFailed(error=result.error, error_type=result.error_type), result.key, save=result)
        return result


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

"""What the steps of one run share while it goes: ``RunState`` (its result, events, budget,
replay source and limits), ``StepRun`` (one step's running state), and ``Scope`` (what
templates see).

The executor (``engine.executor``) makes a ``RunState`` for each run and gives it the two
things only it can do: run a graph of steps, and run a sub-workflow as a child run. The
machinery of one step (``engine.step_run``, ``approvals``, ``llm``, ``context``) uses only
what is here, so nothing in the engine imports the executor but the layer above.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from gorgon_nb.engine.budget import BudgetTracker
from gorgon_nb.engine.compile import CompiledWorkflow, Graph, Node
from gorgon_nb.engine.runtime import RunOptions, Runtime, RunTree
from gorgon_nb.engine.templating import Names
from gorgon_nb.engine.tools import RunResources
from gorgon_nb.errors import BudgetExceededError, GorgonError, StepError
from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.events import EPHEMERAL_EVENTS, Event, EventPayload, Notice, TextDelta
from gorgon_nb.model.kinds import StepKind, kind_of
from gorgon_nb.model.limits import LimitExceededError
from gorgon_nb.model.run import RunResult, RunStatus, StepResult
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import Budget
from gorgon_nb.secrets import redact
from gorgon_nb.store.database import new_id
from gorgon_nb.store.runs import RecordedCall

__all__ = ["Continuation", "EventCallback", "RunState", "Scope", "StepFailure", "StepRun", "describe_error",
           "new_run_id", "step_view"]

EventCallback = Callable[[Event], None]
GraphRunner = Callable[[Graph, "Scope", str], Awaitable[dict[str, StepResult]]]
ChildRunner = Callable[["StepRun", str, dict[str, Any]], Awaitable[RunResult]]
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


class StepFailure(Exception):
    """Internal control flow, never seen outside the engine: a step failed with
    ``on_failure: fail``, so the run stops; carries the step's result and its error."""

    def __init__(self, result: StepResult, error: BaseException) -> None:
        super().__init__(result.error)
        self.result = result
        self.error = error


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, StepFailure):  # a step inside a loop's body
        return f"step '{exc.result.key}' failed: {exc.result.error}"
    if isinstance(exc, GorgonError):
        return redact(str(exc))
    return redact(f"{type(exc).__name__}: {exc}")


class RunState:
    """One run as its steps see it: its result, its events, its budget, what it replays or
    resumes from, and the limits it shares with its sub-workflows.

    ``run_graph`` and ``run_child`` are the executor's: running a graph of steps (a loop's
    body) and a sub-workflow as a child run.
    """

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
        self.tree = options.tree or RunTree()
        self.resources = RunResources()  # what its tools started (MCP servers, a kernel), stopped at its end
        self.run_graph: GraphRunner | None = None
        self.run_child: ChildRunner | None = None

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
                self.runtime.store.control.set_status(self.result.run_id, str(status))

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
                        store.runs.save_step(self.result.run_id, save, position)
                    store.runs.append_event(event)
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

    def new_step(self, node: Node, key: str) -> StepResult:
        step = node.step
        return StepResult(key=key, step_id=step.id, kind=step.kind, role=step.role)

    def is_run_stopping(self, exc: BaseException) -> bool:
        """Errors that stop the run whatever the step's ``on_failure`` says (also when they
        come out of a loop's body)."""
        while isinstance(exc, StepFailure):
            exc = exc.error
        return isinstance(exc, BudgetExceededError | LimitExceededError)


class StepRun:
    """One execution of a node: collects its usage and streams its text."""

    def __init__(self, state: RunState, node: Node, result: StepResult, scope: Scope) -> None:
        self.state = state
        self.node = node
        self.scope = scope  # what the step's templates see (a loop's body sees it too)
        self.kind: StepKind = kind_of(node.step)
        self.result = result
        # by item: what a write must still find when it runs (what its approved preview was made from)
        self.expected: dict[int | None, dict[str, Any]] = {}
        # by (item, delegation): the conversations with tools held so far (see engine.tools)
        self.conversations: dict[tuple[int | None, int | None], int] = {}

    def add_usage(self, usage: Usage) -> None:
        self.result.usage = self.result.usage + usage

    def delta_callback(self, item: int | None, delegation: int | None = None) -> Callable[[str], None] | None:
        """A callback for streamed text, or None (do not stream) when nobody listens."""
        if not self.state.subscribers:
            return None
        key, emit = self.result.key, self.state.emit
        return lambda text: emit(TextDelta(text=text, item=item, delegation=delegation), key)

"""Results of runs and steps, as the executor produces them and the store returns them, and
how a run reads: in one line, and as Markdown (how a ``RunResult`` shows in a notebook)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from gorgon_nb.errors import ExecutionError, GorgonError
from gorgon_nb.model.text import STATUS_LABELS, STATUS_SYMBOLS, format_duration, markdown_table
from gorgon_nb.model.usage import Usage, format_cost, format_tokens

__all__ = ["RunFailed", "RunOwners", "RunRecords", "RunResult", "RunStatus", "StepResult", "StepStatus",
           "observed_runs", "observed_status", "observed_step_status", "run_markdown", "run_summary_line"]


class RunStatus(StrEnum):
    """A run's status, the one word every surface shows (CLI, widgets, sidebar, server API).

    ``STOPPED`` is never stored: it is what a run stored as running or waiting is when the
    process running it is gone (see ``observed_status``); ``gorgon resume`` goes on with it.
    """

    RUNNING = "running"
    WAITING = "waiting"  # for a person to approve a step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # for an approval
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING)


@dataclass
class StepResult:
    """One step's outcome. ``key`` is unique in the run (``fix_loop[2].verify`` in a loop body)."""

    key: str
    step_id: str
    kind: str
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    role: str | None = None
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def cost(self) -> float | None:
        return self.usage.cost


class RunFailed(ExecutionError):
    """Raised by ``RunResult.raise_for_status`` for a run that did not succeed."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"run {result.run_id} {result.status}: {result.error or 'no error recorded'}")
        self.result = result


@dataclass
class RunResult:
    """A run: its status, the outputs of its steps, and what it used and cost."""

    run_id: str
    workflow_id: str
    workflow_name: str = ""
    status: RunStatus = RunStatus.RUNNING
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_type: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    workflow_hash: str = ""
    source_path: str | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @property
    def cost(self) -> float | None:
        return self.usage.cost

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def output(self, step_id: str) -> Any:
        return self.steps[step_id].output

    def raise_for_status(self) -> RunResult:
        if not self.ok:
            raise RunFailed(self)
        return self

    def _repr_markdown_(self) -> str:
        return run_markdown(self)

    def __repr__(self) -> str:
        return (f"<RunResult {self.run_id} {self.workflow_id} {self.status}: "
                f"{len(self.steps)} steps, {self.usage.total_tokens} tokens, {format_cost(self.usage)}>")


# -- how a run reads --------------------------------------------------------------------------

def run_summary_line(run: RunResult) -> str:
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    return f"run {run.run_id} · {format_duration(run.duration)} · {spent}"


def run_markdown(run: RunResult, *, outputs: bool = True) -> str:
    """A run as Markdown: header, a table of steps, the error, and the outputs."""
    head = f"**{run.workflow_name or run.workflow_id}** · run `{run.run_id}` · {STATUS_LABELS.get(str(run.status), str(run.status))}"
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    parts = [head, f"{format_duration(run.duration)} · {spent}"]
    rows = [[STATUS_SYMBOLS.get(str(s.status), "?") + " " + STATUS_LABELS.get(str(s.status), str(s.status)),
             f"`{s.key}`", s.role or s.kind, format_duration(s.duration), format_tokens(s.usage), format_cost(s.usage)]
            for s in run.steps.values()]
    if rows:
        parts.append(markdown_table(["status", "step", "agent", "elapsed", "tokens", "cost"], rows))
    if run.error:
        parts.append(f"**Error:** {run.error}")
    if outputs and run.ok:
        last = [s for s in run.steps.values() if s.status == "succeeded" and "." not in s.key]
        if last:
            value = last[-1].output
            text = value if isinstance(value, str) else "```json\n" + json.dumps(value, indent=2, default=str) + "\n```"
            parts.append(f"**Output of `{last[-1].key}`:**\n\n{text}")
    return "\n\n".join(parts)


# -- the status a run has now ---------------------------------------------------------------

class _Owner(Protocol):
    @property
    def alive(self) -> bool: ...


class RunOwners(Protocol):
    """What ``observed_status`` needs of a store: who runs a run (``store.control``)."""

    def owner(self, run_id: str) -> _Owner: ...


class RunRecords(Protocol):
    """What ``observed_runs`` reads the runs from (``store.runs`` is one)."""

    def recent(self, limit: int = 20, *, status: str | None = None, workflow_id: str | None = None,
               not_workflow_id: str | None = None) -> list[RunResult]: ...


def observed_status(run: RunResult, owners: RunOwners) -> RunStatus:
    """The run's status now: stored as running or waiting but its process gone, it is ``STOPPED``.

    Every surface that shows a stored run asks this, so none says "running" of a run
    another calls "stopped".
    """
    if run.status.finished or run.status is RunStatus.STOPPED:
        return run.status
    try:
        alive = owners.owner(run.run_id).alive
    except (GorgonError, IndexError):  # the run's row is gone
        alive = False
    return run.status if alive else RunStatus.STOPPED


def observed_step_status(step: StepResult, run_status: RunStatus) -> str:
    """A step's status as shown with its run's observed status: a step left running or
    waiting by a process that is gone is ``stopped`` like its run."""
    if run_status is RunStatus.STOPPED and step.status in (StepStatus.RUNNING, StepStatus.WAITING):
        return str(RunStatus.STOPPED)
    return str(step.status)


_UNFINISHED_SCAN = 10_000  # unfinished runs are few; a filter on them reads this many at most


def observed_runs(records: RunRecords, owners: RunOwners, limit: int = 20, *, status: str | None = None,
                  workflow_id: str | None = None,
                  not_workflow_id: str | None = None) -> list[tuple[RunResult, RunStatus]]:
    """Recent runs, newest first, each with its ``observed_status``; ``status`` filters on that
    status, so ``stopped`` finds the runs shown as stopped and ``running`` only live ones."""
    wanted = RunStatus(status) if status else None
    if wanted is None or wanted.finished:
        runs = records.recent(limit, status=status, workflow_id=workflow_id, not_workflow_id=not_workflow_id)
    else:
        stored = ("running", "waiting") if wanted is RunStatus.STOPPED else (str(wanted),)
        runs = [run for each in stored for run in records.recent(
            _UNFINISHED_SCAN, status=each, workflow_id=workflow_id, not_workflow_id=not_workflow_id)]
        runs.sort(key=lambda run: run.started_at or 0.0, reverse=True)
    seen = [(run, observed_status(run, owners)) for run in runs]
    return [(run, now) for run, now in seen if wanted is None or now is wanted][:limit]

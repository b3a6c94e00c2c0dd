"""Results of runs and steps, as the executor produces them and the store returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gorgon_nb.errors import ExecutionError
from gorgon_nb.model.usage import Usage, format_cost

__all__ = ["RunFailed", "RunResult", "RunStatus", "StepResult", "StepStatus"]


class RunStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"  # for a person to approve a step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.RUNNING, RunStatus.WAITING)


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
        from gorgon_nb.format import run_markdown  # formatting lives above the model layer

        return run_markdown(self)

    def __repr__(self) -> str:
        return (f"<RunResult {self.run_id} {self.workflow_id} {self.status}: "
                f"{len(self.steps)} steps, {self.usage.total_tokens} tokens, {format_cost(self.usage)}>")

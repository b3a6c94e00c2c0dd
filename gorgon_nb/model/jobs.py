"""Schedules and jobs: what runs a notebook or a workflow when, and each time it ran.

A ``Schedule`` names a notebook (a path relative to its ``root``, the folder it was
scheduled from, which its jobs can never leave) or a workflow (a .yaml, .yml or .json
file relative to the root, or the name of a bundled or user workflow), its papermill
parameters or workflow inputs, and a trigger: ``cron`` (with a time zone), ``every`` (seconds) or ``at`` (one
time). Each firing is a ``Job``: queued, then running, then one of succeeded, failed,
cancelled or timed_out. A failed job with attempts left is queued again after its backoff.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["FINISHED", "WORKFLOW_SUFFIXES", "Job", "JobKind", "JobState", "MissedPolicy", "OverlapPolicy", "Schedule",
           "job_kind"]

MissedPolicy = Literal["skip", "catch_up"]  # after downtime: skip missed runs, or run once to catch up
OverlapPolicy = Literal["skip", "queue"]  # a firing while the last job still runs: skip it, or queue it


JobKind = Literal["notebook", "workflow"]
WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")


def job_kind(target: str) -> JobKind:
    """What a schedule's or a job's ``notebook`` field names: a notebook (``.ipynb``), else a
    workflow (a workflow file, or a workflow's name without a suffix). The kind is never
    stored: a job queued by any front door with a workflow's path or name runs as one."""
    return "notebook" if target.lower().endswith(".ipynb") else "workflow"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})


@dataclass
class Schedule:
    id: str
    root: str  # an absolute folder
    notebook: str  # relative to root
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str = "UTC"
    every: float | None = None  # seconds
    at: float | None = None  # a timestamp
    retries: int = 0
    backoff: float = 60.0  # seconds before the first retry; doubles each time
    timeout: float | None = None  # seconds for the whole notebook
    missed: MissedPolicy = "skip"
    overlap: OverlapPolicy = "skip"
    keep: int = 20  # executed notebooks kept per schedule
    paused: bool = False
    next_run_at: float | None = None
    created_at: float = 0.0
    name: str = ""
    notify: list[str] = field(default_factory=list)  # targets told of its jobs' ends: "team", "team:failed"
    allow_code: bool = False  # the consent to a workflow's code-running steps, given when it was scheduled
    description: str = ""

    @property
    def kind(self) -> JobKind:
        return job_kind(self.notebook)

    @property
    def trigger(self) -> str:
        if self.cron:
            return f"cron {self.cron} ({self.timezone})"
        if self.every:
            return f"every {self.every:g}s"
        return "once"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "trigger": self.trigger, "kind": self.kind}


@dataclass
class Job:
    id: str
    root: str
    notebook: str  # a notebook, or a workflow's file or name: see ``job_kind``
    schedule_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    state: JobState = JobState.QUEUED
    attempt: int = 1
    max_attempts: int = 1
    backoff: float = 60.0
    timeout: float | None = None
    scheduled_for: float = 0.0  # when it was due
    not_before: float = 0.0  # a retry waits until then
    queued_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    owner: str | None = None  # the scheduler running it
    heartbeat_at: float | None = None
    cancel_requested: bool = False
    output_path: str | None = None  # the executed notebook, relative to the root
    error: str | None = None
    failed_cell: int | None = None  # its position in the notebook as written, counted from 1
    exception: str | None = None
    run_ids: list[str] = field(default_factory=list)  # a workflow job's run: one per attempt
    cost_usd: float | None = None
    allow_code: bool = False

    @property
    def kind(self) -> JobKind:
        return job_kind(self.notebook)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state), "duration": self.duration, "kind": self.kind}

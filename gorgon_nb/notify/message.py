"""What a notification says: a ``Message``, made from a run's events, a job's end, or a step.

A message names what happened (the event), the workflow or notebook, the run or job id,
the failing step and its error (cut to ``ERROR_LIMIT`` characters), the approval's title,
and a link: the configured URL (``[notifications] link``, ``{run_id}`` replaced), else the
command that shows it (``gorgon show RUN``, ``gorgon jobs show JOB``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.model.notifications import NotificationSettings
from gorgon_nb.model.text import format_duration

__all__ = ["ERROR_LIMIT", "Message", "approval_message", "job_event", "job_message", "run_message"]

ERROR_LIMIT = 500


def _cap(text: str | None, limit: int = ERROR_LIMIT) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Message:
    """One notification's content, the same for every kind of target; ``to_dict`` is the
    JSON a webhook receives."""

    event: str  # succeeded, failed, waiting, cancelled; "message" for a notify step's
    title: str
    text: str = ""
    kind: str = "run"  # run, job or message
    workflow: str | None = None
    run_id: str | None = None
    job_id: str | None = None
    step: str | None = None
    error: str | None = None
    approval: str | None = None
    link: str | None = None
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, "")}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Message:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def body(self) -> str:
        """The plain text of an email, and of a chat message after its title."""
        lines = [self.text] if self.text else []
        for label, value in (("Workflow", self.workflow), ("Run", self.run_id), ("Job", self.job_id),
                             ("Step", self.step), ("Approval", self.approval), ("Error", self.error),
                             ("See", self.link)):
            if value:
                lines.append(f"{label}: {value}")
        return "\n".join(lines)


def _run_link(settings: NotificationSettings, run_id: str) -> str:
    return settings.link.replace("{run_id}", run_id) if settings.link else f"gorgon show {run_id}"


_ENDED = {"succeeded": "succeeded", "failed": "failed", "cancelled": "was cancelled"}


def run_message(settings: NotificationSettings, *, event: str, workflow: str, run_id: str,
                error: str | None = None, step: str | None = None) -> Message:
    """A run ended: ``event`` is its status."""
    title = f"{workflow}: run {run_id} {_ENDED.get(event, event)}"
    text = f"The run of {workflow} {_ENDED.get(event, event)}" + (f" at step '{step}'." if step else ".")
    return Message(event=event, title=title, text=text, workflow=workflow, run_id=run_id, step=step,
                   error=_cap(error) if event != "succeeded" else None, link=_run_link(settings, run_id))


def approval_message(settings: NotificationSettings, *, workflow: str, run_id: str, step: str | None,
                     approval: str, approval_id: str) -> Message:
    """A run waits for a person's approval."""
    return Message(event="waiting", title=f"{workflow}: run {run_id} waits for an approval: {approval}"[:200],
                   text=f"The run of {workflow} waits for a person's approval. Decide it in the sidebar, or with "
                        f"gorgon approve {approval_id} (or --reject).",
                   workflow=workflow, run_id=run_id, step=step, approval=approval, link=_run_link(settings, run_id))


def job_event(job: Job) -> str:
    """The event a job's end is: a timeout is a failure."""
    if job.state is JobState.SUCCEEDED:
        return "succeeded"
    return "cancelled" if job.state is JobState.CANCELLED else "failed"


def job_message(settings: NotificationSettings, job: Job, schedule_name: str = "") -> Message:
    """A scheduled job ended (its last attempt)."""
    event = job_event(job)
    what = schedule_name or job.notebook
    ended = {"succeeded": "succeeded", "cancelled": "was cancelled"}.get(event, str(job.state).replace("_", " "))
    took = f" after {format_duration(job.duration)}" if job.duration is not None else ""
    attempts = f" (attempt {job.attempt} of {job.max_attempts})" if job.max_attempts > 1 else ""
    text = f"The job running {job.notebook} {ended}{took}{attempts}."
    if job.failed_cell is not None:
        text += f" It stopped at cell {job.failed_cell}."
    if job.output_path:
        text += f" The executed notebook is {job.output_path}."
    return Message(event=event, kind="job", title=f"{what}: job {job.id} {ended}", text=text, workflow=what,
                   job_id=job.id, run_id=job.run_ids[-1] if job.run_ids else None,
                   error=_cap(job.error) if event != "succeeded" else None, link=f"gorgon jobs show {job.id}")

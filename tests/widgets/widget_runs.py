"""Real runs (offline provider, real SQLite store) watched by a ``RunView``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.engine.executor import Execution
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.widgets import RunView
from gorgon_nb.workflow import Workflow

FEATURE = {"feature_request": "Add a CSV export to the report page"}
BUG = {"bug_report": "the CSV export crashes on an empty table"}

# html.unescape returns its text unchanged: a python step that outputs chosen Markdown
MIXED = """id: mixed
name: Mixed outcomes
steps:
  - id: intro
    python: html:unescape
    args:
      s: "## Title\\n\\n- item `code`\\n\\n<script>alert(1)</script>"
  - id: optional
    python: html:unescape
    args: {s: never}
    when: false
  - id: broken
    python: json:loads
    args: {s: "{not json"}
    depends_on: intro
  - id: after
    python: html:unescape
    args: {s: "{{ steps.broken.output }}"}
"""


@dataclass
class Watched:
    view: RunView
    result: RunResult
    events: list[Event] = field(default_factory=list)

    def step(self, key: str) -> dict[str, Any]:
        return next(step for step in self.view.steps if step["key"] == key)


async def watch(
    runner: Runner, workflow: Workflow | str, inputs: dict[str, Any] | None = None
) -> Watched:
    view = RunView()
    events: list[Event] = []
    loaded = workflow if isinstance(workflow, Workflow) else Workflow.load(workflow)
    result = await runner.arun(loaded, inputs, on_event=[view.apply, events.append])
    return Watched(view, result, events)


# an agent step whose output needs a person's approval; the preview holds raw HTML
REVIEWED = """id: reviewed
name: Reviewed plan
steps:
  - id: plan
    agent: planner
    task: Plan a CSV export for the report page
    approval:
      mode: after
      title: Is the plan good?
      approvers: [ada]
      timeout: 1h
      preview: "**Proposed plan** <script>alert(1)</script>\\n\\n{{ output }}"
  - id: build
    agent: builder
    task: Build it
    context: "{{ steps.plan.output }}"
"""

WAIT_SECONDS = 15.0


@dataclass
class WaitingRun:
    """A run watched by a view, started on the test's loop and stopped at its approval."""

    view: RunView
    runner: Runner
    execution: Execution
    task: asyncio.Task[RunResult]
    events: list[Event]

    @property
    def approval_id(self) -> str:
        return str(self.step("plan")["approval"]["id"])

    def step(self, key: str) -> dict[str, Any]:
        return next(step for step in self.view.steps if step["key"] == key)

    async def finish(self) -> RunResult:
        result = await asyncio.wait_for(asyncio.shield(self.task), WAIT_SECONDS)
        self.view.flush()
        return result


async def start_waiting(runner: Runner, workflow: str = REVIEWED) -> WaitingRun:
    """Start ``workflow`` and return once its view shows a step waiting for approval."""
    view = RunView()
    events: list[Event] = []
    execution = runner.execution(Workflow.from_yaml(workflow), on_event=[view.apply, events.append])
    task = asyncio.create_task(execution.execute())
    deadline = time.monotonic() + WAIT_SECONDS
    while not any(event.kind == "approval_requested" for event in events):
        assert not task.done(), f"the run ended without asking: {task.result()}"
        assert time.monotonic() < deadline, "the run never asked for approval"
        await asyncio.sleep(0.02)
    view.flush()
    return WaitingRun(view, runner, execution, task, events)

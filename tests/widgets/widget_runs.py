"""Real runs (offline provider, real SQLite store) watched by a ``RunView``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

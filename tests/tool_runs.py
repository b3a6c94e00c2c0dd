"""Real runs whose step calls tools: a tool set registered here and a scripted model.

The model (``gorgon_nb.testing.ScriptedModel``) asks, turn by turn, for the calls its
script names, then answers with what the tools said; the tools are a real tool set in the
registry (one reads, one writes and so waits for approval, one fails). The engine, the
store and the view are the real ones.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gorgon_nb.engine.executor import Execution
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.tools import Tool, ToolSet, find_toolset, register
from gorgon_nb.runner import Runner
from gorgon_nb.testing import ScriptedModel
from gorgon_nb.widgets import RunView
from gorgon_nb.workflow import Workflow

WAIT_SECONDS = 20.0


async def _look(arguments: dict[str, Any], ctx: Any) -> str:
    return f"found {arguments.get('name', '?')}: 3 rows"


async def _save(arguments: dict[str, Any], ctx: Any) -> str:
    return f"saved {len(str(arguments.get('text', '')))} characters to {arguments.get('path')}"


async def _save_preview(arguments: dict[str, Any], ctx: Any) -> str:
    return f"**Write** `{arguments.get('path')}`:\n\n```\n{arguments.get('text', '')}\n```"


async def _broken(arguments: dict[str, Any], ctx: Any) -> str:
    raise ValueError("the table is locked")


_TOOLS = [
    Tool("uitools.look", "Look a table up.", {"type": "object", "properties": {"name": {"type": "string"}}}, _look),
    Tool("uitools.save", "Save a text to a file.",
         {"type": "object", "properties": {"path": {"type": "string"}, "text": {"type": "string"}}},
         _save, writes=True, preview=_save_preview),
    Tool("uitools.broken", "Always fails.", {"type": "object"}, _broken),
]


async def _listed(selector: str | None, ctx: Any) -> list[Tool]:
    return [t for t in _TOOLS if selector is None or t.name == f"uitools.{selector}"]


TOOLSET = find_toolset("uitools") or register(ToolSet("uitools", "tools of the view's tests", _listed))


def tool_workflow(max_tool_calls: int = 20) -> Workflow:
    return Workflow.from_dict({"id": "tooled", "name": "Tooled", "steps": [
        {"id": "work", "llm": "Look the sales table up and save a summary.", "tools": ["uitools"],
         "max_tool_calls": max_tool_calls}]})


async def run_script(runner: Runner, model: ScriptedModel, max_tool_calls: int = 20) -> tuple[RunView, RunResult,
                                                                                       list[Event]]:
    """Run the tooled workflow with ``model`` to its end, watched by a view."""
    runner.runtime.providers.register(model)
    view = RunView()
    events: list[Event] = []
    result = await runner.arun(tool_workflow(max_tool_calls), on_event=[view.apply, events.append])
    view.flush()
    return view, result, events


async def start_script(runner: Runner, model: ScriptedModel) -> tuple[RunView, Execution, asyncio.Task[RunResult],
                                                               list[Event]]:
    """Start the tooled workflow with ``model``; return once a tool call waits for approval."""
    runner.runtime.providers.register(model)
    view = RunView()
    events: list[Event] = []
    execution = runner.execution(tool_workflow(), on_event=[view.apply, events.append])
    task = asyncio.create_task(execution.execute())
    deadline = time.monotonic() + WAIT_SECONDS
    while not any(event.kind == "approval_requested" for event in events):
        assert not task.done(), f"the run ended without asking: {task.result()}"
        assert time.monotonic() < deadline, "the run never asked for approval"
        await asyncio.sleep(0.02)
    view.flush()
    return view, execution, task, events


async def until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)

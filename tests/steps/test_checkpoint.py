"""The checkpoint kind: a named marker in a run, optionally a person's go-ahead."""

from __future__ import annotations

import asyncio

import pytest

from gorgon_nb.errors import WorkflowError
from gorgon_nb.model.run import StepStatus
from gorgon_nb.runner import Runner
from gorgon_nb.workflow import Workflow

GATED = """id: release
inputs:
  version: {type: string, default: "1.2"}
steps:
  - id: built
    checkpoint: "built {{ inputs.version }}"
  - id: go
    checkpoint: ready to ship
    description: Ship version 1.2?
    approval: before
    depends_on: built
  - id: after
    llm: "shipping {{ steps.go.output.checkpoint }}"
    model: offline
"""


async def test_a_checkpoint_marks_the_run_and_waits_for_its_approval(runner: Runner) -> None:
    execution = runner.execution(Workflow.from_yaml(GATED))
    task = asyncio.create_task(execution.execute())
    while not (pending := runner.approvals(status="pending")):
        await asyncio.sleep(0.05)
    assert pending[0].step_key == "go" and pending[0].preview == "Ship version 1.2?"
    assert execution.result.steps["built"].status is StepStatus.SUCCEEDED
    assert "after" not in execution.result.steps  # nothing past the checkpoint ran while it waited
    runner.approve(execution.result.run_id, approve=True, by="dana")
    result = await task
    assert result.ok
    assert result.outputs["built"]["checkpoint"] == "built 1.2"
    assert result.outputs["go"]["checkpoint"] == "ready to ship"
    assert "reached checkpoint 'built 1.2'" in " ".join(result.notices)
    assert "shipping ready to ship" in result.outputs["after"]


async def test_a_rejected_checkpoint_stops_the_run(runner: Runner) -> None:
    execution = runner.execution(Workflow.from_yaml(GATED))
    task = asyncio.create_task(execution.execute())
    while not runner.approvals(status="pending"):
        await asyncio.sleep(0.05)
    runner.approve(execution.result.run_id, approve=False, by="dana", comment="not today")
    result = await task
    assert not result.ok and result.steps["go"].status is StepStatus.FAILED
    assert "not today" in (result.steps["go"].error or "")
    assert "after" not in result.steps


def test_a_checkpoint_is_checked_like_any_step() -> None:
    text = "id: c\nsteps:\n  - id: mark\n    checkpoint: x\n    approval: {mode: before, max_revisions: 1}\n"
    with pytest.raises(WorkflowError, match="can be sent back for revisions"):
        Workflow.from_yaml(text).validate()

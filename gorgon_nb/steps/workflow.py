"""``workflow: NAME_OR_PATH``: runs another workflow as a child run; its outputs are the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.engine.trust import outside_folder
from gorgon_nb.errors import StepError
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "WorkflowStep"]


class WorkflowStep(StepBase):
    """Runs another workflow (a path relative to this file, or a bundled name)."""

    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["workflow"] = "workflow"


async def run(step: WorkflowStep, ctx: StepContext) -> Any:
    outcome = await ctx.run_workflow(step.workflow, ctx.value("inputs"))
    if not outcome.ok:
        raise StepError(f"sub-workflow '{outcome.workflow_id}' (run {outcome.run_id}) {outcome.status}: "
                        f"{outcome.error}")
    return outcome.outputs


def code_use(step: WorkflowStep, base_dir: Path | None, cell: bool) -> str | None:
    if outside_folder(step.workflow, base_dir):
        return f"runs the workflow {step.workflow}, outside this workflow's folder"
    return None


def preview(step: WorkflowStep, ctx: StepContext) -> str:
    values = json.dumps(ctx.value("inputs"), indent=2, default=str)
    return f"`workflow {step.workflow}` will be called with:\n\n```json\n{values}\n```"


KIND = StepKind(
    key="workflow", model=WorkflowStep, run=run, code_use=code_use, preview=preview,
    templates=lambda step: {"inputs": step.inputs}, attempts="own",
)

"""``agent: ROLE``: a role (planner, builder, ...) doing ``task`` with ``context``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.errors import did_you_mean
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import ModelOptions, StepBase
from gorgon_nb.steps._prompts import json_schema_of, with_feedback
from gorgon_nb.steps._tools import check_tools, tools_code_use, tools_needs

if TYPE_CHECKING:
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "AgentStep"]


class AgentStep(StepBase, ModelOptions):
    """A role (planner, builder, ...) doing ``task`` with ``context``."""

    agent: str
    task: str = ""
    context: str = ""
    system: str = Field("", description="extra instructions appended to the role's prompt")
    kind: Literal["agent"] = "agent"

    @property
    def role(self) -> str | None:
        return self.agent


async def run(step: AgentStep, ctx: StepContext) -> Any:
    extra = ctx.text("system")
    system = ctx.roles[step.agent].system_prompt + (f"\n\n{extra}" if extra else "")
    task, background = ctx.text("task"), ctx.text("context")
    prompt = f"Task: {task}" if task else ""
    if background:
        prompt += f"\n\nContext:\n{background}"
    return await ctx.ask(system, with_feedback(prompt.strip() or "Do your part.", ctx), role=step.agent,
                         json_schema=json_schema_of(step))


def check(step: AgentStep, checks: KindChecks) -> None:
    check_tools(step, checks)
    if step.agent not in checks.roles:
        checks.problem(("agent",), f"unknown role '{step.agent}'",
                       f"{did_you_mean(step.agent, checks.roles)} (roles of your own go under [roles] in the config file)")


def preview(step: AgentStep, ctx: StepContext) -> str:
    parts = [f"The **{step.agent}** will be asked:", ctx.text("task") or "(no task)"]
    if ctx.text("context"):
        parts += ["With this context:", ctx.text("context")[:4000]]
    return "\n\n".join(parts)


KIND = StepKind(
    key="agent", model=AgentStep, run=run, check=check, preview=preview, needs=tools_needs, code_use=tools_code_use,
    templates=lambda step: {"task": step.task, "context": step.context, "system": step.system},
    replay="rerun", attempts="per_model_call", revisable=True,
)

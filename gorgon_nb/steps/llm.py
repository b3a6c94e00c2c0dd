"""``llm: PROMPT``: a raw prompt to a model, with no role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import ModelOptions, StepBase
from gorgon_nb.steps._prompts import json_schema_of, with_feedback
from gorgon_nb.steps._tools import check_tools, tools_code_use, tools_needs

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "LLMStep"]


class LLMStep(StepBase, ModelOptions):
    """A raw prompt to a model, with no role."""

    llm: str
    system: str = ""
    kind: Literal["llm"] = "llm"


async def run(step: LLMStep, ctx: StepContext) -> Any:
    return await ctx.ask(ctx.text("system"), with_feedback(ctx.text("llm"), ctx), json_schema=json_schema_of(step))


KIND = StepKind(
    key="llm", model=LLMStep, run=run, check=lambda step, checks: check_tools(step, checks), needs=tools_needs,
    code_use=tools_code_use,
    templates=lambda step: {"llm": step.llm, "system": step.system},
    preview=lambda step, ctx: f"The model will be asked:\n\n{ctx.text('llm')}",
    replay="rerun", attempts="per_model_call", revisable=True,
)

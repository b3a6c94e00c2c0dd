"""``loop: [steps]``: runs its steps again and again until ``until`` holds, at most ``max_rounds``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from gorgon_nb.engine.templating import Names
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import Step, StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "LoopStep"]


class LoopStep(StepBase):
    """Runs ``loop`` (a list of steps) again and again until ``until`` holds, at most ``max_rounds``."""

    loop: list[Step] = Field(min_length=1)
    until: str | StrictBool
    max_rounds: int = Field(3, ge=1, le=100)
    kind: Literal["loop"] = "loop"


async def run(step: LoopStep, ctx: StepContext) -> Any:
    previous: Names | None = None
    outputs: dict[str, Any] = {}
    for number in range(1, step.max_rounds + 1):
        ctx.attempts = number
        loop = {"round": number, "max_rounds": step.max_rounds, "previous": previous}
        results, after = await ctx.run_body(number, loop=loop)
        outputs = {sid: result.output for sid, result in results.items()}
        for result in results.values():
            ctx.add_usage(result.usage)
        if after.holds("until", step.until):
            return outputs
        previous = Names(outputs)  # loop.previous.ID, even for a step named "items"
    ctx.notice(f"loop '{ctx.key}' reached max_rounds ({step.max_rounds}) before its 'until' held; "
               "its output is the last round's", "warning")
    return outputs


def check(step: LoopStep, checks: KindChecks) -> None:
    if step.for_each is not None:
        checks.problem(("for_each",), "a loop step cannot take for_each",
                       "put the loop in a workflow of its own and map a 'workflow:' step over the items")


KIND = StepKind(
    key="loop", model=LoopStep, run=run, check=check,
    expressions=lambda step: {"until": step.until},
    body="loop", rounds="max_rounds", body_names=frozenset({"loop"}),
    replay="rerun", attempts="own",
)

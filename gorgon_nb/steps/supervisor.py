"""``supervisor: TASK``: plan who to ask, ask them in parallel, then answer from what they said.

Three phases, each an ordinary model call of the step (with its retries, budget, recorded
answers and replay): a JSON plan naming at most ``max_delegations`` roles with a sub-task
each; the delegates, at once, each with its role's own prompt and its text streamed under
its delegation index; and the supervisor's answer, streamed. Every delegation is an event
(``delegation_started`` / ``delegation_finished``), so a chat or a run view can show who
did what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.errors import ExecutionError, did_you_mean
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import ModelOptions, StepBase
from gorgon_nb.steps._prompts import with_feedback
from gorgon_nb.steps._tools import check_tools, tools_code_use, tools_needs

if TYPE_CHECKING:
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "SupervisorStep", "plan_schema"]

ANSWER_LIMIT = 6000  # characters of each delegate's answer given back to the supervisor


class SupervisorStep(StepBase, ModelOptions):
    """A supervisor takes ``supervisor`` (the task), decides which roles to ask (at most
    ``max_delegations``, in parallel), then writes the answer from what they said. With
    nothing worth delegating it answers alone."""

    supervisor: str
    context: str = ""
    roles: list[str] = Field(default_factory=list, description="who it may ask; empty: every role")
    max_delegations: int = Field(3, ge=0, le=8)
    kind: Literal["supervisor"] = "supervisor"


def plan_schema(roles: list[str], limit: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["delegations"],
        "properties": {
            "delegations": {
                "type": "array",
                "maxItems": limit,
                "items": {
                    "type": "object",
                    "required": ["role", "task"],
                    "properties": {"role": {"type": "string", "enum": roles}, "task": {"type": "string"}},
                },
            },
        },
    }


async def run(step: SupervisorStep, ctx: StepContext) -> str:
    import asyncio  # where steps run: checking a workflow loads every kind, and should not pay for it

    task, context = with_feedback(ctx.text("supervisor"), ctx), ctx.text("context")
    roles = ctx.roles
    allowed = step.roles or sorted(name for name in roles if name != "supervisor")
    system = roles["supervisor"].system_prompt
    background = f"\n\nContext:\n{context}" if context else ""

    delegations: list[dict[str, str]] = []
    if step.max_delegations and allowed:
        team = "\n".join(f"- {name}: {roles[name].description}" for name in allowed)
        plan = await ctx.ask(system, (
            f"Task: {task}{background}\n\nYou can ask these specialists:\n{team}\n\n"
            f"Decide who, if anyone, should work on part of this task (at most {step.max_delegations}), each "
            "with a precise sub-task. Ask only those who add something; for a simple question ask no one."),
            role="supervisor", json_schema=plan_schema(allowed, step.max_delegations), stream=False, tools=False)
        delegations = [d for d in plan.get("delegations", []) if d.get("role") in allowed][: step.max_delegations]

    answers = await asyncio.gather(*(
        _delegate(ctx, index, d["role"], d["task"], task, background) for index, d in enumerate(delegations)))
    if not delegations:
        return str(await ctx.ask(system, f"Task: {task}{background}", role="supervisor"))
    report = "\n\n".join(f"### {d['role']} (asked: {d['task']})\n{answer[:ANSWER_LIMIT]}"
                         for d, answer in zip(delegations, answers, strict=True))
    return str(await ctx.ask(system, (
        f"Task: {task}{background}\n\nYour specialists answered:\n\n{report}\n\n"
        "Write the answer to the task from their work: keep what is right, settle disagreements, "
        "and say briefly who contributed what."), role="supervisor"))


async def _delegate(ctx: StepContext, index: int, role: str, sub_task: str, task: str, background: str) -> str:
    from gorgon_nb.model.events import DelegationFinished, DelegationStarted

    ctx.emit(DelegationStarted(index=index, role=role, task=sub_task))
    try:
        answer = await ctx.ask(ctx.roles[role].system_prompt,
                               f"Task: {sub_task}\n\nThis is part of a larger task: {task}{background}",
                               role=role, delegation=index)
    except ExecutionError as exc:  # the supervisor answers with what the others said
        ctx.emit(DelegationFinished(index=index, role=role, error=str(exc)))
        return f"(the {role} could not answer: {exc})"
    ctx.emit(DelegationFinished(index=index, role=role, output=answer))
    return str(answer)


def check(step: SupervisorStep, checks: KindChecks) -> None:
    check_tools(step, checks)
    for index, role in enumerate(step.roles):
        if role not in checks.roles or role == "supervisor":
            checks.problem(("roles", index), f"'{role}' cannot be delegated to",
                           did_you_mean(role, [r for r in checks.roles if r != "supervisor"]))


KIND = StepKind(
    key="supervisor", model=SupervisorStep, run=run, check=check, needs=tools_needs, code_use=tools_code_use,
    templates=lambda step: {"supervisor": step.supervisor, "context": step.context},
    replay="rerun", attempts="per_model_call",
)

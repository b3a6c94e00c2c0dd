"""The supervisor: plan who to ask, ask them in parallel, then answer from what they said.

Three phases, each an ordinary model call of the step (with its retries, budget, recorded
answers and replay): a JSON plan naming at most ``max_delegations`` roles with a sub-task
each; the delegates, at once, each with its role's own prompt and its text streamed under
its delegation index; and the supervisor's answer, streamed. Every delegation is an event
(``delegation_started`` / ``delegation_finished``), so a chat or a run view can show who
did what.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.llm import ask
from gorgon_nb.errors import ExecutionError
from gorgon_nb.model.workflow import SupervisorStep

if TYPE_CHECKING:
    from gorgon_nb.engine.steps import StepRun

__all__ = ["plan_schema", "supervise"]

ANSWER_LIMIT = 6000  # characters of each delegate's answer given back to the supervisor


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


async def supervise(run: StepRun, task: str, context: str, item: int | None) -> str:
    step = run.node.step
    assert isinstance(step, SupervisorStep)
    ex = run.ex
    roles = ex.services.config.roles
    allowed = step.roles or sorted(name for name in roles if name != "supervisor")
    system = roles["supervisor"].system_prompt
    background = f"\n\nContext:\n{context}" if context else ""

    delegations: list[dict[str, str]] = []
    if step.max_delegations and allowed:
        team = "\n".join(f"- {name}: {roles[name].description}" for name in allowed)
        plan = await ask(run, system, (
            f"Task: {task}{background}\n\nYou can ask these specialists:\n{team}\n\n"
            f"Decide who, if anyone, should work on part of this task (at most {step.max_delegations}), each "
            "with a precise sub-task. Ask only those who add something; for a simple question ask no one."),
            item, role="supervisor", json_schema=plan_schema(allowed, step.max_delegations), stream=False)
        delegations = [d for d in plan.get("delegations", []) if d.get("role") in allowed][: step.max_delegations]

    answers = await asyncio.gather(*(
        _delegate(run, index, d["role"], d["task"], task, background, item) for index, d in enumerate(delegations)))
    if not delegations:
        return str(await ask(run, system, f"Task: {task}{background}", item, role="supervisor"))
    report = "\n\n".join(f"### {d['role']} (asked: {d['task']})\n{answer[:ANSWER_LIMIT]}"
                         for d, answer in zip(delegations, answers, strict=True))
    return str(await ask(run, system, (
        f"Task: {task}{background}\n\nYour specialists answered:\n\n{report}\n\n"
        "Write the answer to the task from their work: keep what is right, settle disagreements, "
        "and say briefly who contributed what."), item, role="supervisor"))


async def _delegate(run: StepRun, index: int, role: str, sub_task: str, task: str, background: str,
                    item: int | None) -> str:
    ex, key = run.ex, run.result.key
    ex.emit("delegation_started", key, index=index, role=role, task=sub_task)
    try:
        answer = await ask(run, ex.services.config.roles[role].system_prompt,
                           f"Task: {sub_task}\n\nThis is part of a larger task: {task}{background}",
                           item, role=role, delegation=index)
    except ExecutionError as exc:  # the supervisor answers with what the others said
        ex.emit("delegation_finished", key, index=index, role=role, error=str(exc))
        return f"(the {role} could not answer: {exc})"
    ex.emit("delegation_finished", key, index=index, role=role, output=answer)
    return str(answer)

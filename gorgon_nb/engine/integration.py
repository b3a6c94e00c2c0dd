"""GitHub, Notion and Slack steps in a run: their approval, their preview, and writing once.

A step whose action writes waits for a person's approval before it runs, unless the
step (``auto_approve: true``) or the config (``[integrations.SERVICE] auto_approve``)
says otherwise. The approval shows the action's preview: what will be written where,
for every item of a ``for_each``. A rejected write sends nothing.

Each write goes through the store's write journal (``store.writes``): a resumed run
takes the result of a write that was done instead of writing again. A write cut off
while it was being sent may or may not have happened; one that is safe to repeat (a
commit of the same content, an edit, a reaction) is sent again, any other fails its step
with what to check, rather than risk a second issue, page or message.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.templating import Expression
from gorgon_nb.errors import IntegrationError, StepError
from gorgon_nb.integrations import Action, Preview, find_action
from gorgon_nb.model.workflow import ApprovalPolicy, IntegrationStep, RetryPolicy

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.executor import Scope
    from gorgon_nb.engine.steps import StepRun

__all__ = ["SERVICE_RETRY", "approval_policy", "integration_preview", "items_of", "run_integration"]

# Rate limits and unreachable servers are waited out; a refused request fails at once.
SERVICE_RETRY = RetryPolicy(attempts=4, backoff=1.0, max_backoff=60.0)


def _action(step: IntegrationStep) -> Action:
    found = find_action(step.service, step.action)
    if found is None:  # compile_workflow checks this; a step built by hand may not have been
        raise StepError(f"{step.service} has no action '{step.action}'")
    return found


def approval_policy(step: IntegrationStep, config: Config) -> ApprovalPolicy | None:
    """The step's own approval, else one before each write that nothing marked auto-approved."""
    if step.approval is not None:
        return step.approval
    found = _action(step)
    if not found.write or step.auto_approve or config.integrations[step.service].auto_approves(step.action):
        return None
    return ApprovalPolicy(mode="before")


def items_of(run: StepRun, scope: Scope) -> list[Any] | None:
    """The items of a ``for_each`` step (None when it has none), checked to be a list."""
    step, node = run.node.step, run.node
    if node.for_each is None and not isinstance(step.for_each, list):
        return None
    items = node.for_each.evaluate(scope.context()) if isinstance(node.for_each, Expression) else step.for_each
    if isinstance(items, dict):
        items = list(items.items())
    if not isinstance(items, list | tuple):
        raise StepError(f"for_each must give a list, but gave {type(items).__name__}: {str(items)[:80]!r}")
    return list(items)


async def integration_preview(run: StepRun, scope: Scope) -> Preview:
    """What the step will write where, read from the service (the current file, the page's title)."""
    from gorgon_nb.engine.steps import render_value

    step = run.node.step
    assert isinstance(step, IntegrationStep)
    found, connections = _action(step), run.ex.services.integrations
    client = await asyncio.to_thread(connections.client, step.service)
    items = items_of(run, scope)
    contexts = [scope.context()] if items is None else [scope.context(**{step.as_: item}) for item in items]
    previews: list[Preview] = []
    for index, context in enumerate(contexts):
        params = render_value(run.node.templates["with"], context)
        previews.append(await asyncio.to_thread(connections.call, found, client, params, preview=True))
        run.expected[None if items is None else index] = previews[-1].expect
    if len(previews) == 1:
        return previews[0]
    body = "\n\n---\n\n".join(f"**{i}.** {p.body}" for i, p in enumerate(previews, 1))
    return Preview(f"{len(previews)} writes: {previews[0].title}, …", body)


async def run_integration(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    """Do the step's action once; a write done before a resume is not done again."""
    from gorgon_nb.engine.steps import render_value

    step, ex = run.node.step, run.ex
    assert isinstance(step, IntegrationStep)
    found, connections, store = _action(step), ex.services.integrations, ex.services.store
    params = {**render_value(run.node.templates["with"], context), **run.expected.get(item, {})}
    journal = store if found.write else None
    at = (ex.result.run_id, run.result.key, item)
    if journal is not None and (record := journal.write_record(*at)) is not None:
        if record.state == "done":
            ex.notice(f"{run.result.key}: the {step.service} {step.action} was done before the run stopped; "
                      "its result is used, nothing was sent again")
            return record.result
        if not found.idempotent:
            raise IntegrationError(
                f"the {step.service} {step.action} of step '{run.result.key}' was being sent when it was cut off, so it "
                f"may or may not have happened. Check {step.service}; to send it again, start a new run from this "
                f"step: gorgon fork {ex.result.run_id} --from {step.id}", service=step.service)
    client = await asyncio.to_thread(connections.client, step.service)
    if journal is not None:
        journal.write_sending(*at, step.service, step.action)
    try:
        output = await asyncio.to_thread(connections.call, found, client, params)
    except IntegrationError as exc:
        if journal is not None and not exc.unsure:
            journal.write_forget(*at)  # refused for sure: nothing was written
        elif journal is not None and not found.idempotent:
            exc.retryable = False  # sending it again might write it twice
            exc.args = (f"{exc}. It may have been written anyway: check {step.service} before running it again",)
        raise
    if journal is not None:
        journal.write_done(*at, output)
    return output

"""``github: ACTION``, ``notion: ACTION``, ``slack: ACTION``, ``gmail: ACTION``: an action on a
service, ``with`` its params.

A step whose action writes waits for a person's approval before it runs, unless the
step (``auto_approve: true``) or the config (``[integrations.SERVICE] auto_approve``)
says otherwise. The approval shows the action's preview, read from the service: what will
be written where, for every item of a ``for_each``. A rejected write sends nothing.

Each write goes through the store's write journal (``store.writes``): a resumed run
takes the result of a write that was done instead of writing again. A write cut off
while it was being sent may or may not have happened; one that is safe to repeat (a
commit of the same content, an edit, a reaction) is sent again, any other fails its step
with what to check, rather than risk a second issue, page or message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from gorgon_nb.errors import IntegrationError, Problem, StepError, did_you_mean
from gorgon_nb.integrations import Action, Preview, actions, find_action, missing_token
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import ApprovalPolicy, RetryPolicy, StepBase

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext

__all__ = ["KINDS", "SERVICE_RETRY", "GitHubStep", "GmailStep", "IntegrationStep", "NotionStep", "SlackStep"]

# Rate limits and unreachable servers are waited out; a refused request fails at once.
SERVICE_RETRY = RetryPolicy(attempts=4, backoff=1.0, max_backoff=60.0)


class IntegrationStep(StepBase):
    """An action on GitHub, Notion, Slack or Gmail: the kind key names the action, ``with`` its params.

    Actions that write (create, commit, post, update) wait for a person's approval, shown
    exactly what will be written where, unless ``auto_approve: true`` (or the config's
    ``[integrations.SERVICE] auto_approve``) says otherwise. Reads run freely.
    """

    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    auto_approve: StrictBool = False
    kind: Literal["github", "notion", "slack", "gmail"]

    @property
    def service(self) -> str:
        return self.kind

    @property
    def action(self) -> str:
        return str(getattr(self, self.kind))


class GitHubStep(IntegrationStep):
    github: str
    kind: Literal["github"] = "github"


class NotionStep(IntegrationStep):
    notion: str
    kind: Literal["notion"] = "notion"


class SlackStep(IntegrationStep):
    slack: str
    kind: Literal["slack"] = "slack"


class GmailStep(IntegrationStep):
    gmail: str
    kind: Literal["gmail"] = "gmail"


def _action(step: IntegrationStep) -> Action:
    found = find_action(step.service, step.action)
    if found is None:  # compile_workflow checks this; a step built by hand may not have been
        raise StepError(f"{step.service} has no action '{step.action}'")
    return found


def approval(step: IntegrationStep, config: Config) -> ApprovalPolicy | None:
    """The step's own approval, else one before each write that nothing marked auto-approved."""
    if step.approval is not None:
        return step.approval
    found = _action(step)
    if not found.write or step.auto_approve or config.integrations[step.service].auto_approves(step.action):
        return None
    return ApprovalPolicy(mode="before")


async def show(step: IntegrationStep, contexts: list[StepContext]) -> tuple[str, str]:
    """What the step will write where, read from the service (the current file, the page's title)."""
    import asyncio  # where steps run: checking a workflow loads every kind, and should not pay for it

    found, connections = _action(step), contexts[0].integrations
    client = await asyncio.to_thread(connections.client, step.service)
    previews: list[Preview] = []
    for ctx in contexts:
        previews.append(await asyncio.to_thread(connections.call, found, client, ctx.value("with"), preview=True))
        ctx.expect(previews[-1].expect)
    if len(previews) == 1:
        return previews[0].title, previews[0].body
    body = "\n\n---\n\n".join(f"**{i}.** {p.body}" for i, p in enumerate(previews, 1))
    return f"{len(previews)} writes: {previews[0].title}, …", body


async def run(step: IntegrationStep, ctx: StepContext) -> Any:
    """Do the step's action once; a write done before a resume is not done again."""
    import asyncio

    found, connections = _action(step), ctx.integrations
    params = {**ctx.value("with"), **ctx.expected}
    journal = ctx.journal if found.write else None
    at = (ctx.run_id, ctx.key, ctx.item)
    if journal is not None and (record := journal.get(*at)) is not None:
        if record.state == "done":
            ctx.notice(f"{ctx.key}: the {step.service} {step.action} was done before the run stopped; "
                       "its result is used, nothing was sent again")
            return record.result
        if not found.idempotent:
            raise IntegrationError(
                f"the {step.service} {step.action} of step '{ctx.key}' was being sent when it was cut off, so it "
                f"may or may not have happened. Check {step.service}; to send it again, start a new run from this "
                f"step: gorgon fork {ctx.run_id} --from {step.id}", service=step.service)
    client = await asyncio.to_thread(connections.client, step.service)
    if journal is not None:
        journal.note_sending(*at, step.service, step.action)
    try:
        output = await asyncio.to_thread(connections.call, found, client, params)
    except IntegrationError as exc:
        if journal is not None and not exc.unsure:
            journal.forget(*at)  # refused for sure: nothing was written
        elif journal is not None and not found.idempotent:
            exc.retryable = False  # sending it again might write it twice
            exc.args = (f"{exc}. It may have been written anyway: check {step.service} before running it again",)
        raise
    if journal is not None:
        journal.note_done(*at, output)
    return output


def check(step: IntegrationStep, checks: KindChecks) -> None:
    """The action exists, its parameters are known and complete, and a write is not approved after."""
    known = actions(step.service)
    found = known.get(step.action)
    if found is None:
        checks.problem((step.service,), f"unknown {step.service} action '{step.action}'",
                       did_you_mean(step.action, known))
        return
    for key in step.with_:
        if key not in found.params:
            checks.problem(("with", key), f"{step.action} takes no '{key}'", did_you_mean(key, found.params))
    missing = [name for name in found.required if name not in step.with_]
    if missing:
        checks.problem(("with",), f"{step.action} needs {', '.join(missing)}",
                       f"give {'them' if len(missing) > 1 else 'it'} under 'with:' (it takes: {', '.join(found.params)})")
    if found.write and step.approval is not None and step.approval.mode == "after":
        checks.problem(("approval",), f"{step.action} writes, so it can only be approved before it runs",
                       "use approval: before (what writes get by default)")


def needs(step: IntegrationStep, config: Config) -> Problem | None:
    """The service's token, when the config has none."""
    problem = missing_token(step.service, config)
    return None if problem is None else Problem(problem.message, step.service, problem.hint)


def preview(step: IntegrationStep, ctx: StepContext) -> str:
    values = json.dumps(ctx.value("with"), indent=2, default=str)
    return f"`{step.service} {step.action}` will be called with:\n\n```json\n{values}\n```"


KINDS = tuple(
    StepKind(key=model.model_fields["kind"].default, model=model, run=run, check=check, needs=needs,
             approval=approval, show=show, preview=preview, templates=lambda step: {"with": step.with_},
             default_retry=SERVICE_RETRY)
    for model in (GitHubStep, NotionStep, SlackStep, GmailStep)
)

"""``notify: TARGET``: a message of the workflow's own, ``with`` its ``title`` and ``message``.

``TARGET`` is a notification target of the config (``[notifications.targets.NAME]``), or
the kind ``slack``, ``email`` or ``webhook``, meaning the one target of that kind. The
message goes through the senders of run notifications (``gorgon_nb.notify.senders``).

A message to people is a write, as a Slack ``post_message`` is: the step waits for a
person's approval, shown the message and where it goes, unless the step
(``auto_approve: true``) or the target (``auto_approve = true``) says otherwise; a target
named by a template (``notify: "{{ inputs.channel }}"``) is known only as the run goes, so
the step is approved unless every target says so. Sending
goes through the store's write journal, so a resumed run never sends it twice; a send cut
off while under way fails its step instead of risking a second message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from gorgon_nb.errors import IntegrationError, Problem, StepError, did_you_mean
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import ApprovalPolicy, RetryPolicy, StepBase

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext
    from gorgon_nb.model.notifications import NotificationSettings, TargetSettings

__all__ = ["KIND", "NotifyStep", "find_target"]

PARAMS = ("title", "message")
TARGET_KINDS = ("slack", "email", "webhook")
# A target that cannot be reached is waited out a little; a refusal fails at once.
NOTIFY_RETRY = RetryPolicy(attempts=3, backoff=2.0, max_backoff=30.0)


class NotifyStep(StepBase):
    """A message to a notification target: ``with: {title, message}``."""

    notify: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    auto_approve: StrictBool = False
    kind: Literal["notify"] = "notify"


def find_target(settings: NotificationSettings, name: str) -> TargetSettings:
    """The target ``name`` names: its own, or the one target of a kind; ValueError saying why not."""
    if name in settings.targets:
        return settings.targets[name]
    if name in TARGET_KINDS:
        found = [t for t in settings.targets.values() if t.kind == name]
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(f"{len(found)} notification targets are {name} ({', '.join(t.name for t in found)}); "
                             "name the one to send to")
        example = {"slack": 'slack = "#channel"', "email": 'email = "you@example.com"',
                   "webhook": 'webhook = "https://host/path"'}[name]
        raise ValueError(f"no notification target sends by {name}: add [notifications.targets.NAME] with {example} "
                         "to the config file")
    close = did_you_mean(name, settings.targets) if settings.targets else "none are configured"
    raise ValueError(f"no notification target '{name}' ({close}); add [notifications.targets.{name}] with slack, "
                     "email or webhook to the config file")


def _templated(text: str) -> bool:
    return "{{" in text or "{%" in text


def approval(step: NotifyStep, config: Config) -> ApprovalPolicy | None:
    """The step's own approval, else one before sending unless the step or the target skips it."""
    if step.approval is not None:
        return step.approval
    if step.auto_approve:
        return None
    targets = config.notifications.targets
    if _templated(step.notify):  # named as the run goes: whichever it names must send unapproved
        if targets and all(t.auto_approve for t in targets.values()):
            return None
    else:
        try:
            if find_target(config.notifications, step.notify).auto_approve:
                return None
        except ValueError:
            pass  # needs() reports it before the run starts
    return ApprovalPolicy(mode="before", title=_approval_title(step))


def _approval_title(step: NotifyStep) -> str:
    """What the person approves, as a template the run fills in: "Send 'Weekly report' to team"."""
    title = step.with_.get("title")
    what = f"'{title}'" if isinstance(title, str) and title.strip() else "a message"
    return f"Send {what} to {step.notify}"


def needs(step: NotifyStep, config: Config) -> Problem | None:
    """The target, when the config has none of that name or kind."""
    if _templated(step.notify):
        return None
    try:
        find_target(config.notifications, step.notify)
    except ValueError as exc:
        return Problem(str(exc), "notify")
    return None


def check(step: NotifyStep, checks: KindChecks) -> None:
    for key in step.with_:
        if key not in PARAMS:
            checks.problem(("with", key), f"notify takes no '{key}'", did_you_mean(key, PARAMS))
    if "message" not in step.with_:
        checks.problem(("with",), "notify needs a message", "give it under 'with:' (and a title, if you like)")
    if step.approval is not None and step.approval.mode == "after":
        checks.problem(("approval",), "a message can only be approved before it is sent", "use approval: before")


def _message(step: NotifyStep, ctx: StepContext) -> tuple[str, str]:
    values = ctx.value("with")
    message = str(values.get("message", ""))
    title = str(values.get("title") or "") or f"A message from run {ctx.run_id}"
    return title, message


def _target(ctx: StepContext) -> TargetSettings:
    try:
        return find_target(ctx.config.notifications, ctx.text("notify"))
    except ValueError as exc:
        raise StepError(str(exc)) from None


def preview(step: NotifyStep, ctx: StepContext) -> str:
    target = _target(ctx)
    title, message = _message(step, ctx)
    return f"**Notify {target.name}** ({target.where}):\n\n**{title}**\n\n{message}"


async def run(step: NotifyStep, ctx: StepContext) -> Any:
    """Send the message once; one sent before a resume is not sent again."""
    import asyncio

    from gorgon_nb.notify.message import Message
    from gorgon_nb.notify.senders import send

    target = _target(ctx)
    title, text = _message(step, ctx)
    journal, at = ctx.journal, (ctx.run_id, ctx.key, ctx.item)
    if journal is not None and (record := journal.get(*at)) is not None:
        if record.state == "done":
            ctx.notice(f"{ctx.key}: the message to {target.name} was sent before the run stopped; not sent again")
            return record.result
        raise IntegrationError(f"the message of step '{ctx.key}' to {target.name} was being sent when it was cut off, "
                               f"so it may or may not have arrived. Check {target.where}; to send it again, start a "
                               f"new run from this step: gorgon fork {ctx.run_id} --from {step.id}", service="notify")
    message = Message(event="message", kind="message", title=title, text=text, run_id=ctx.run_id, step=ctx.key)
    if journal is not None:
        journal.note_sending(*at, "notify", target.name)
    try:
        sent = await asyncio.to_thread(send, ctx.config, target, message, f"{ctx.run_id}/{ctx.key}")
    except IntegrationError as exc:
        if journal is not None and not exc.unsure:
            journal.forget(*at)  # refused for sure: nothing went out
        elif journal is not None:
            exc.retryable = False  # sending it again might send it twice
            exc.args = (f"{exc}. It may have arrived anyway: check {target.where} before running it again",)
        raise
    output = {"sent": True, "target": target.name, "to": target.where, "title": title, **sent}
    if journal is not None:
        journal.note_done(*at, output)
    return output


KIND = StepKind(
    key="notify", model=NotifyStep, run=run, check=check, needs=needs, approval=approval, preview=preview,
    templates=lambda step: {"notify": step.notify, "with": step.with_}, default_retry=NOTIFY_RETRY,
)

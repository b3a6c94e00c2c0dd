"""Notification settings: where messages go (targets) and which endings they tell of.

A *target* is a named place a message goes: a Slack channel, email addresses, or a
webhook URL. The config declares them (``[notifications.targets.NAME]``); workflows
(``notify:``) and schedules (``--notify``) subscribe them to their runs and jobs by name.
An *event* is what a run or a job came to: ``succeeded``, ``failed``, ``waiting`` (for a
person's approval) or ``cancelled``.

These are the pydantic models of those settings, with no I/O: ``config.py`` reads them
from the config file, ``model.workflow`` from a workflow's ``notify:`` key.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

__all__ = ["EVENTS", "NotificationEvent", "NotificationSettings", "NotifyRule", "SmtpSettings",
           "TargetSettings", "notify_rules", "parse_notify_rule"]

NotificationEvent = Literal["succeeded", "failed", "waiting", "cancelled"]
EVENTS: tuple[str, ...] = get_args(NotificationEvent)
DEFAULT_EVENTS: list[NotificationEvent] = ["failed", "waiting"]
TARGET_NAME = r"^[A-Za-z0-9_-]+$"
_EMAIL = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _events(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class TargetSettings(_Settings):
    """``[notifications.targets.NAME]``: one place messages go (exactly one of ``slack``,
    ``email``, ``webhook``) and which events it hears of."""

    name: str = ""
    slack: str | None = Field(None, description="a channel name or id (#ci, C0123)")
    email: list[str] | None = Field(None, description="addresses, one or several")
    webhook: str | None = Field(None, description="a URL that receives a JSON POST")
    secret_env: str | None = Field(None, description="the variable holding the webhook's HMAC secret")
    on: list[NotificationEvent] | None = Field(None, description="the events it hears of ([notifications] on)")
    auto_approve: StrictBool = Field(False, description="notify steps send to it without a person's approval")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds one send may take")

    @field_validator("email", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for address in value or []:
            if not isinstance(address, str) or not _EMAIL.match(address):
                raise ValueError(f"'{address}' is not an email address; write it as name@example.com")
        return value

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value}' is not a URL; write it as https://host/path")
        return value

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, value: Any) -> Any:
        return _events(value)

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSettings:
        kinds = [k for k in ("slack", "email", "webhook") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a target needs exactly one of slack = \"#channel\", email = \"a@b.c\" or "
                             "webhook = \"https://...\"" + (f" (it has {', '.join(kinds)})" if kinds else ""))
        if self.secret_env and not self.webhook:
            raise ValueError("secret_env signs webhook messages; this target is not a webhook")
        return self

    @property
    def kind(self) -> Literal["slack", "email", "webhook"]:
        return "slack" if self.slack else "email" if self.email else "webhook"

    @property
    def where(self) -> str:
        """Where its messages go, for people: a webhook by its host alone (a path or a query
        may hold a key, as a Slack incoming webhook's does)."""
        if self.slack:
            return f"Slack {self.slack}"
        if self.email:
            return "email to " + ", ".join(self.email)
        scheme, _, rest = str(self.webhook).partition("://")
        return f"webhook {scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


class SmtpSettings(_Settings):
    """``[notifications.smtp]``: the mail server email targets send through."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    user: str | None = None
    password_env: str | None = Field(None, description="the variable holding the password")
    starttls: StrictBool = True
    ssl: StrictBool = Field(False, description="TLS from the start (port 465)")
    from_: str = Field("gorgon@localhost", alias="from")
    timeout: float = Field(10.0, gt=0, le=120)


class NotificationSettings(_Settings):
    """``[notifications]``: the targets, the mail server, and who hears of every run and job."""

    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    on: list[NotificationEvent] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    always: list[str] = Field(default_factory=list, description="targets told of every run and every job")
    link: str | None = Field(None, description="a URL runs are shown at; {run_id} is replaced")

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, value: Any) -> Any:
        return _events(value)

    @field_validator("targets", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name in value:
            if not re.match(TARGET_NAME, name):
                raise ValueError(f"target name '{name}': use letters, digits, '-' and '_'")
        return {name: {**body, "name": name} if isinstance(body, dict) else body for name, body in value.items()}

    @model_validator(mode="after")
    def _known(self) -> NotificationSettings:
        for name in self.always:
            if name not in self.targets:
                raise ValueError(f"always names '{name}', which is not a target; add "
                                 f"[notifications.targets.{name}] or remove it")
        return self

    def events_of(self, target: str) -> list[str]:
        """The events ``target`` hears of when a rule does not say."""
        found = self.targets[target].on
        return list(self.on if found is None else found)


class NotifyRule(BaseModel):
    """A subscription of a workflow or a schedule: ``target`` is told of ``on`` (its own
    events when None). Written ``team``, ``team:failed,waiting`` or ``{target: team, on: [failed]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(pattern=TARGET_NAME)
    on: list[NotificationEvent] | None = None

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, value: Any) -> Any:
        return _events(value)

    def __str__(self) -> str:
        return self.target + (":" + ",".join(self.on) if self.on is not None else "")


def parse_notify_rule(text: str) -> NotifyRule:
    """``TARGET[:event,event]`` as a rule; ValueError saying what is wrong."""
    target, _, events = text.strip().partition(":")
    on = [e.strip() for e in events.split(",") if e.strip()] if events else None
    unknown = [e for e in on or [] if e not in EVENTS]
    if unknown:
        raise ValueError(f"'{unknown[0]}' is not an event; events: {', '.join(EVENTS)} (as in team:failed,waiting)")
    if not re.match(TARGET_NAME, target):
        raise ValueError(f"'{text}' is not TARGET[:events]; for example team or team:failed,waiting")
    return NotifyRule.model_validate({"target": target, "on": on})


def notify_rules(value: Any) -> Any:
    """The forms ``notify:`` takes, as a list of rule mappings: a name, ``NAME:events``, or a list."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    rules: list[Any] = []
    for item in items:
        if isinstance(item, str):
            rules.append(parse_notify_rule(item).model_dump())
        elif isinstance(item, dict):
            # YAML 1.1 reads a bare `on:` key as true; `events:` is another name for it
            item = {("on" if key is True or key == "events" else key): value for key, value in item.items()}
            rules.append(item)
        else:
            rules.append(item)
    return rules

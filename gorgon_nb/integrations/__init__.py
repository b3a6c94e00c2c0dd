"""GitHub, Notion, Slack and Gmail: the actions a workflow step can take on them.

A step names its service by its kind key and the action by that key's value
(``github: create_issue``); ``with`` holds the action's parameters. Each service lives in
a module of its own (``github.py``, ``notion.py``, ``slack.py``, ``gmail.py``) that defines:

* ``connect(settings, token)``: the SDK client (PyGithub, notion-client, slack_sdk,
  google-api-python-client), imported only when a step first needs it;
* ``translate(exc)``: the SDK's exception as an ``IntegrationError`` that says what went
  wrong, whether trying again may help (rate limits, an unreachable or failing server),
  how long the service asked to wait, and which scope or permission a token lacks;
* its actions, registered with ``@action``. An action is a plain function
  ``(client, **params) -> output``, called in a worker thread. Its parameters are read
  from its signature (those starting with ``_`` are not the workflow's to give), so a
  workflow is checked against them before anything runs. A writing action also has a
  ``preview``: what it will write where, for the person who approves it (the issue's
  title and body, the file's diff, the channel and text). A preview may say what the
  write must still find (``expect``: the file's version its diff was made from); the
  write refuses to go on when that changed meanwhile.

A service signed in otherwise than with a token (Gmail: an OAuth token file) also defines
``credentials_problem(config)``, which says what is missing instead of the token check.

This package imports no SDK, so checking a workflow stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError, Problem

if TYPE_CHECKING:
    from gorgon_nb.config import Config, IntegrationSettings

__all__ = [
    "SERVICES",
    "Action",
    "Connections",
    "Preview",
    "Service",
    "action",
    "actions",
    "find_action",
    "service_statuses",
]


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    token_help: str  # where a user gets a token, and what it must be allowed to do


SERVICES: dict[str, Service] = {
    "github": Service("github", "GitHub", "a token from https://github.com/settings/tokens with access to "
                      "the repositories (contents, issues and pull requests: read, or write for writes)"),
    "notion": Service("notion", "Notion", "an internal integration's secret from https://www.notion.so/my-integrations; "
                      "share each page or database with the integration (••• → Connections)"),
    "slack": Service("slack", "Slack", "a bot token (xoxb-...) of a Slack app with the chat:write scope "
                     "(reactions:write to add reactions)"),
    "gmail": Service("gmail", "Gmail", "an OAuth token file (authorized-user JSON, made once with "
                     "google-auth-oauthlib) with the gmail.modify and gmail.send scopes"),
}


@dataclass(frozen=True)
class Preview:
    """What a write will do: a one-line title and the full picture, in Markdown; and the
    hidden parameters (``_name``) that hold what the write must still find."""

    title: str
    body: str
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    run: Callable[..., Any]
    write: bool
    idempotent: bool  # doing it twice leaves things as doing it once (safe to send again)
    preview: Callable[..., Preview] | None
    params: tuple[str, ...]
    required: tuple[str, ...]


_ACTIONS: dict[str, dict[str, Action]] = {name: {} for name in SERVICES}


def action(service: str, *, write: bool = False, idempotent: bool = False,
           preview: Callable[..., Preview] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(client, **params)`` as an action of ``service``, named as the function."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        parameters = [p for p in list(inspect.signature(fn).parameters.values())[1:] if not p.name.startswith("_")]
        params = tuple(p.name for p in parameters)
        required = tuple(p.name for p in parameters if p.default is inspect.Parameter.empty)
        if write and preview is None:
            raise TypeError(f"{service}.{fn.__name__} writes, so it needs a preview")
        _ACTIONS[service][fn.__name__] = Action(service, fn.__name__, fn, write, idempotent or not write, preview,
                                                params, required)
        return fn

    return register


def _module(service: str) -> Any:
    return importlib.import_module(f"gorgon_nb.integrations.{service}")


def actions(service: str) -> dict[str, Action]:
    """The actions of ``service`` by name."""
    _module(service)
    return _ACTIONS[service]


def find_action(service: str, name: str) -> Action | None:
    return actions(service).get(name)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    title: str
    ready: bool
    detail: str


def service_statuses(config: Config) -> list[ServiceStatus]:
    """Which services have a token, and what to set for the others."""
    statuses = []
    for name, service in SERVICES.items():
        settings = config.integrations[name]
        where = f" at {settings.base_url}" if settings.base_url else ""
        check = getattr(_module(name), "credentials_problem", None)
        if check is not None:
            problem = check(config)
            source = settings.token_env if config.env.get(settings.token_env) else "token_file"
            if problem is None:
                statuses.append(ServiceStatus(name, service.title, True, f"ready (token file from {source}){where}"))
            else:
                missing = problem.message if config.token(name) else f"set {settings.token_env} or token_file"
                statuses.append(ServiceStatus(name, service.title, False, f"not configured: {missing}"))
        elif config.env.get(settings.token_env):
            statuses.append(ServiceStatus(name, service.title, True, f"ready ({settings.token_env} is set){where}"))
        elif settings.token:
            statuses.append(ServiceStatus(name, service.title, True, f"ready (token in the config file){where}"))
        else:
            statuses.append(ServiceStatus(name, service.title, False, f"not configured: set {settings.token_env}"))
    return statuses


def missing_token(service: str, config: Config) -> Problem | None:
    """Why steps of ``service`` cannot run with this config, or None when they can."""
    check = getattr(_module(service), "credentials_problem", None)
    if check is not None:
        problem: Problem | None = check(config)
        return problem
    if config.token(service):
        return None
    settings, info = config.integrations[service], SERVICES[service]
    return Problem(f"{info.title} steps need a token: set {settings.token_env}", service,
                   f"or put token = \"...\" under [integrations.{service}] in the config file. It is {info.token_help}")


class Connections:
    """The SDK clients of one process, one per service, made on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def settings(self, service: str) -> IntegrationSettings:
        return self.config.integrations[service]

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                problem = missing_token(service, self.config)
                if problem:
                    raise IntegrationError(f"{problem.message}, {problem.hint}", service=service)
                token = self.config.token(service)
                self._clients[service] = _module(service).connect(self.settings(service), token)
                # The SDK is imported now: its loggers (notion-client logs the server's error
                # messages, which may quote the token) pass through the scrubber too.
                from gorgon_nb.secrets import scrub_logs

                scrub_logs()
            return self._clients[service]

    def call(self, found: Action, client: Any, params: dict[str, Any], *, preview: bool = False) -> Any:
        """Run the action (or its preview) with the SDK's errors translated."""
        fn = found.preview if preview else found.run
        assert fn is not None
        try:
            return fn(client, **params)
        except IntegrationError:
            raise
        except Exception as exc:
            raise _module(found.service).translate(exc) from exc

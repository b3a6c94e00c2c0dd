"""``github``, ``notion``, ``slack``, ``gmail``: the actions of ``gorgon_nb.integrations`` as tools.

``github.create_issue`` is the ``create_issue`` action of GitHub; ``github`` alone is
every action of it. A tool's arguments are the action's parameters (typed by its
signature's hints; strings where it has none), checked before the call. An action that
writes waits for approval like any tool that writes, and the approval shows the action's
own preview, read from the service (the issue's title and body, the file's diff, the
channel and the text, the email), and a commit refuses to go on when the file changed after its diff
was shown; whether a call cut off by a crash is repeated on resume follows
the action's ``idempotent``. The service's token comes from the config as for the
integration steps; a step whose service has none stops before its model is asked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gorgon_nb.errors import IntegrationError, ToolError, did_you_mean
from gorgon_nb.integrations import SERVICES, Action, Preview, actions, missing_token
from gorgon_nb.model.tools import Tool, ToolSet
from gorgon_nb.tools._signature import arguments_of, summary

__all__ = ["TOOLSETS", "action_tool"]


def _no_token(service: str, config: Any) -> str | None:
    problem = missing_token(service, config)
    return None if problem is None else f"{problem.message}, {problem.hint}"


async def _client(service: str, ctx: Any) -> Any:
    problem = _no_token(service, ctx.config)
    if problem is not None:
        raise ToolError(problem, fatal=True)
    return await asyncio.to_thread(ctx.integrations.client, service)


def action_tool(found: Action) -> Tool:
    """The tool doing ``found``."""
    name = f"{found.service}.{found.name}"
    arguments = arguments_of(found.run, name, unknown=str, skip=1)
    # What each approved preview said the write must still find (the file's version its diff
    # was made from), by run and arguments: the write refuses to go on when that changed.
    expected: dict[tuple[str, str], dict[str, Any]] = {}

    def key(ctx: Any, kwargs: dict[str, Any]) -> tuple[str, str]:
        return str(ctx.run_id), json.dumps(kwargs, sort_keys=True, default=str)

    async def run(given: dict[str, Any], ctx: Any) -> Any:
        _, kwargs = arguments.bind(given, name)  # actions take no positional-only parameters
        client = await _client(found.service, ctx)
        params = {**kwargs, **expected.pop(key(ctx, kwargs), {})}
        try:
            return await asyncio.to_thread(ctx.integrations.call, found, client, params)
        except IntegrationError as exc:
            if found.write and exc.unsure and not found.idempotent:  # the model must not simply send it again
                raise ToolError(f"{exc}. It may have been written anyway: check {SERVICES[found.service].title} "
                                "before calling it again", unsure=True) from None
            raise ToolError(str(exc), unsure=exc.unsure) from None

    async def preview(given: dict[str, Any], ctx: Any) -> str:
        _, kwargs = arguments.bind(given, name)  # actions take no positional-only parameters
        client = await _client(found.service, ctx)
        shown: Preview = await asyncio.to_thread(ctx.integrations.call, found, client, kwargs, preview=True)
        if shown.expect:
            expected[key(ctx, kwargs)] = dict(shown.expect)
        return f"**{shown.title}**\n\n{shown.body}"

    return Tool(name, summary(found.run.__doc__) or f"{SERVICES[found.service].title}: {found.name}",
                arguments.schema, run, writes=found.write, idempotent=found.idempotent,
                preview=preview if found.preview is not None else None)


def _unknown(service: str, selector: str) -> str:
    return f"unknown {service} action '{selector}'; {did_you_mean(selector, actions(service))}"


def _toolset(service: str) -> ToolSet:
    async def tools(selector: str | None, ctx: Any) -> list[Tool]:
        known = actions(service)
        if selector is not None and selector not in known:
            raise ToolError(_unknown(service, selector), fatal=True)
        # listing needs no token: a run is checked for one before it starts, a call when it is made
        return [action_tool(known[name]) for name in ([selector] if selector else sorted(known))]

    def check(selector: str | None, config: Any) -> str | None:
        if selector is not None and selector not in actions(service):
            return _unknown(service, selector)
        return _no_token(service, config) if config is not None else None

    title = SERVICES[service].title
    return ToolSet(service, f"{title}'s actions as tools ({service}.ACTION; writes approved, with their preview).",
                   tools, check)


TOOLSETS = [_toolset(service) for service in SERVICES]

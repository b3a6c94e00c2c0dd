"""Slack through slack_sdk: post, reply in a thread, update, react, ask for an approval.

Text is Markdown, as agents write it, and is converted to Slack's mrkdwn
(``format: mrkdwn`` sends it as it is, ``format: plain`` with no markup). The client
retries nothing itself: slack_sdk's default handler would send a message again after a
dropped connection.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from gorgon_nb.errors import IntegrationError
from gorgon_nb.integrations import Preview, action
from gorgon_nb.integrations.text import fenced, to_mrkdwn

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from gorgon_nb.config import IntegrationSettings

__all__ = ["connect", "translate"]

API = "https://slack.com/api/"
_TOKEN_ERRORS = frozenset({"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive"})
_SERVER_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
_FORMATS = ("markdown", "mrkdwn", "plain")


def connect(settings: IntegrationSettings, token: str) -> WebClient:
    from slack_sdk import WebClient

    base = settings.base_url or API
    return WebClient(token=token, base_url=base if base.endswith("/") else base + "/", timeout=int(settings.timeout),
                     retry_handlers=[])


def _fail(message: str) -> IntegrationError:
    return IntegrationError(message, service="slack")


def translate(exc: Exception) -> IntegrationError:
    """A slack_sdk exception as an ``IntegrationError`` a person can act on."""
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        response = exc.response
        error = str(response.get("error") or f"HTTP {response.status_code}")
        if response.status_code == 429 or error == "ratelimited":
            wait = response.headers.get("Retry-After") or response.headers.get("retry-after")
            return IntegrationError("Slack's rate limit was reached", service="slack", retryable=True,
                                    retry_after=float(wait) if wait else None)
        if error == "missing_scope":
            return _fail(f"the Slack token lacks the {response.get('needed')} scope (it has: "
                         f"{response.get('provided')}); add it to the app under OAuth & Permissions, "
                         "reinstall the app, then run the step again")
        if error in _TOKEN_ERRORS:
            return _fail(f"Slack refused the token ({error}): check that it is the app's current bot token")
        if error == "not_in_channel":
            return _fail("the Slack app is not in that channel: invite it (/invite @app) or give it the "
                         "chat:write.public scope")
        if error == "channel_not_found":
            return _fail("Slack has no such channel, or the app cannot see it: check the name or id")
        if response.status_code >= 500 or error in _SERVER_ERRORS:
            return IntegrationError(f"Slack failed ({error})", service="slack", retryable=True, unsure=True)
        return _fail(f"Slack refused the request: {error}")
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, ConnectionRefusedError | socket.gaierror):  # no connection: nothing was sent
        return IntegrationError(f"cannot reach Slack: {exc}", service="slack", retryable=True)
    if isinstance(exc, OSError):  # a dropped connection or a timeout, maybe after the request was sent
        return IntegrationError(f"Slack did not answer: {exc}", service="slack", retryable=True, unsure=True)
    return IntegrationError(f"Slack call failed: {type(exc).__name__}: {exc}", service="slack", unsure=True)


def _text(text: str, format: str) -> str:
    if format not in _FORMATS:
        raise _fail(f"format must be one of {', '.join(_FORMATS)}, not {format!r}")
    return to_mrkdwn(text) if format == "markdown" else text


def _channel(channel: str) -> str:
    return channel if channel.startswith(("#", "C", "G", "D")) else f"#{channel}"


def _shown(text: str, format: str) -> str:
    return text if format == "markdown" else fenced(text)


def _post_preview(sl: WebClient, channel: str, text: str, thread_ts: str | None = None,
                  format: str = "markdown") -> Preview:
    _text(text, format)
    where = f"**{_channel(channel)}**" + (f", in the thread of message {thread_ts}" if thread_ts else "")
    return Preview(f"Post to Slack {_channel(channel)}", f"**Slack:** a message to {where}\n\n{_shown(text, format)}")


@action("slack", write=True, preview=_post_preview)
def post_message(sl: WebClient, channel: str, text: str, thread_ts: str | None = None,
                 format: str = "markdown") -> dict[str, Any]:
    """Post a message to a channel (by name or id), or in a thread when ``thread_ts`` is given."""
    sent = sl.chat_postMessage(channel=channel, text=_text(text, format), thread_ts=thread_ts, unfurl_links=False)
    return {"success": True, "channel": sent["channel"], "ts": sent["ts"]}


def _reply_preview(sl: WebClient, channel: str, thread_ts: str, text: str, format: str = "markdown") -> Preview:
    return _post_preview(sl, channel, text, thread_ts, format)


@action("slack", write=True, preview=_reply_preview)
def reply(sl: WebClient, channel: str, thread_ts: str, text: str, format: str = "markdown") -> dict[str, Any]:
    """Reply in the thread of the message ``thread_ts``."""
    return post_message(sl, channel, text, thread_ts, format)


def _update_preview(sl: WebClient, channel: str, ts: str, text: str, format: str = "markdown") -> Preview:
    _text(text, format)
    return Preview(f"Edit a Slack message in {_channel(channel)}",
                   f"**Slack:** message {ts} in **{_channel(channel)}** becomes:\n\n{_shown(text, format)}")


@action("slack", write=True, idempotent=True, preview=_update_preview)
def update_message(sl: WebClient, channel: str, ts: str, text: str, format: str = "markdown") -> dict[str, Any]:
    """Replace the text of a message the app posted."""
    done = sl.chat_update(channel=channel, ts=ts, text=_text(text, format))
    return {"success": True, "channel": done["channel"], "ts": done["ts"]}


def _reaction_preview(sl: WebClient, channel: str, ts: str, emoji: str) -> Preview:
    name = emoji.strip(":")
    return Preview(f"React :{name}: in Slack {_channel(channel)}",
                   f"**Slack:** react with :{name}: to message {ts} in **{_channel(channel)}**")


@action("slack", write=True, idempotent=True, preview=_reaction_preview)
def add_reaction(sl: WebClient, channel: str, ts: str, emoji: str) -> dict[str, Any]:
    """React to a message with an emoji (by name: ``thumbsup``)."""
    from slack_sdk.errors import SlackApiError

    try:
        sl.reactions_add(channel=channel, timestamp=ts, name=emoji.strip(":"))
    except SlackApiError as exc:
        if exc.response.get("error") != "already_reacted":
            raise
    return {"success": True, "emoji": emoji.strip(":")}


def _approval_blocks(title: str, description: str, details: dict[str, Any] | None,
                     requester: str | None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"✋ Approval needed: {title}"[:150]}}]
    if description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": to_mrkdwn(description)[:3000]}})
    if details:
        fields = [{"type": "mrkdwn", "text": f"*{key}*\n{value}"[:2000]} for key, value in details.items()]
        blocks.append({"type": "section", "fields": fields[:10]})
    if requester:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Requested by {requester}"}]})
    return blocks


def _approval_preview(sl: WebClient, channel: str, title: str, description: str = "",
                      details: dict[str, Any] | None = None, requester: str | None = None) -> Preview:
    rows = "".join(f"\n- **{key}:** {value}" for key, value in (details or {}).items())
    return Preview(f"Ask for an approval in Slack {_channel(channel)}",
                   f"**Slack:** an approval request in **{_channel(channel)}**\n\n**{title}**\n\n{description}{rows}")


@action("slack", write=True, preview=_approval_preview)
def request_approval(sl: WebClient, channel: str, title: str, description: str = "",
                     details: dict[str, Any] | None = None, requester: str | None = None) -> dict[str, Any]:
    """Post an approval request: a titled message with the description and details."""
    blocks = _approval_blocks(title, description, details, requester)
    sent = sl.chat_postMessage(channel=channel, text=f"Approval needed: {title}", blocks=blocks)
    return {"success": True, "channel": sent["channel"], "ts": sent["ts"]}

"""The fake Slack Web API: channels, messages with threads, metadata and reactions, and the
bot token's scopes, as the project's Slack actions call them."""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from gorgon_nb.testing._api import (
    Clock,
    FakeAPI,
    Refusal,
    Reply,
    RouteHandler,
    Service,
    ServiceRequest,
)

__all__ = ["SlackState"]

_SLACK_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "reactions.add": "reactions:write",
}


def _slack_error(error: str, **extra: Any) -> Refusal:
    return Refusal(Reply(200, {"ok": False, "error": error, **extra}))


def _slack_json(value: Any, error: str) -> Any:
    """A JSON argument, which form-encoded calls send as a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _slack_error(error) from None


def _block_errors(blocks: Any) -> list[str]:
    """Slack's complaints about a ``blocks`` argument (a few of its limits)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > 50:
        return ["no more than 50 items allowed [json-pointer:/blocks]"]
    errors = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            errors.append(f"missing required field: type [json-pointer:/blocks/{i}]")
            continue
        limit = {"section": 3000, "header": 150}.get(block["type"])
        text = (
            (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        )
        if limit is not None and len(text) > limit:
            errors.append(
                f"must be less than {limit + 1} characters [json-pointer:/blocks/{i}/text/text]"
            )
    return errors


class SlackState(FakeAPI):
    """Slack: channels, messages (with threads, metadata and reactions) and the bot's scopes.

    ``channels`` maps ids to names; ``messages`` holds ``{channel, ts, text, blocks,
    thread_ts, metadata, user, reactions: {name: [users]}}`` in posting order (the bot
    posts as ``bot_user``); ``scopes`` the bot token's scopes, checked per method.

    Served (POST or GET, JSON or form bodies): ``chat.postMessage``, ``chat.update``,
    ``reactions.add``.
    """

    service: Service = "slack"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.channels: dict[str, str] = {}
        self.messages: list[dict[str, Any]] = []
        self.scopes: set[str] = {"chat:write", "reactions:write"}
        self.bot_user = "UBOT"
        self.bot_id = "B1"
        self._ts = itertools.count(1)

    # Seeding ---------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self.channels[channel_id] = name.lstrip("#")

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0001",
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A message someone posted; its ``ts``."""
        with self._lock:
            return str(
                self._post(self._channel(channel), text, blocks, thread_ts, metadata, user)["ts"]
            )

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, RouteHandler]]:
        methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "reactions.add": self._react,
        }

        def serve(call: Callable[[dict[str, Any]], dict[str, Any]]) -> RouteHandler:
            return lambda request, params: Reply(200, {"ok": True, **call(_slack_args(request))})

        return [("*", re.escape(name), serve(call)) for name, call in methods.items()]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> Reply | None:
        given = request.headers.get("authorization")
        if given is None:
            given = _slack_args(request).get("token")
            if given is None:
                return Reply(200, {"ok": False, "error": "not_authed"})
            given = f"Bearer {given}"
        if given == f"Bearer {token}":
            return None
        return Reply(200, {"ok": False, "error": "invalid_auth"})

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> Reply | None:
        needed = _SLACK_SCOPES.get(request.path)
        if needed is None or needed in self.scopes:
            return None
        refusal = {"ok": False, "error": "missing_scope", "needed": needed}
        return Reply(200, {**refusal, "provided": ",".join(sorted(self.scopes))})

    def _unknown(self, request: ServiceRequest) -> Reply:
        return Reply(200, {"ok": False, "error": "unknown_method", "req_method": request.path})

    def default_error(self, status: int, message: str | None = None) -> Any:
        if status == 429:
            error = "ratelimited"
        elif status >= 500:
            error = "internal_error"
        else:
            error = "fatal_error"
        return {"ok": False, "error": error} | ({"detail": message} if message else {})

    def finish(self, request: ServiceRequest, reply: Reply) -> Reply:
        reply.headers.setdefault("x-oauth-scopes", ",".join(sorted(self.scopes)))
        reply.headers.setdefault("x-accepted-oauth-scopes", _SLACK_SCOPES.get(request.path, ""))
        return reply

    def _channel(self, given: Any) -> str:
        """The id of the channel named by an id, a name or ``#name``."""
        name = str(given or "")
        if name in self.channels:
            return name
        for channel_id, channel_name in self.channels.items():
            if channel_name == name.lstrip("#"):
                return channel_id
        raise _slack_error("channel_not_found")

    def _message(self, channel: str, ts: Any, error: str = "message_not_found") -> dict[str, Any]:
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == str(ts):
                return message
        raise _slack_error(error)

    def _post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        metadata: dict[str, Any] | None,
        user: str,
    ) -> dict[str, Any]:
        if thread_ts:
            parent = self._message(channel, thread_ts, "thread_not_found")
            thread_ts = parent["thread_ts"] or parent["ts"]
        micros = 100 * next(self._ts)
        message: dict[str, Any] = {
            "channel": channel,
            "ts": f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}",
            "text": text,
            "blocks": blocks,
            "thread_ts": thread_ts or None,
            "metadata": metadata,
            "user": user,
            "reactions": {},
        }
        self.messages.append(message)
        return message

    def _message_json(self, message: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {
            "type": "message",
            "user": message["user"],
            "text": message["text"],
            "ts": message["ts"],
        }
        if message["user"] == self.bot_user:
            found |= {"bot_id": self.bot_id, "app_id": "A1"}
        if message["blocks"]:
            found["blocks"] = copy.deepcopy(message["blocks"])
        if message["thread_ts"]:
            found["thread_ts"] = message["thread_ts"]
        replies = [m for m in self.messages if m["thread_ts"] == message["ts"] and m is not message]
        if replies:
            found |= {
                "thread_ts": message["ts"],
                "reply_count": len(replies),
                "reply_users": sorted({m["user"] for m in replies}),
                "latest_reply": replies[-1]["ts"],
            }
        if message["reactions"]:
            found["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in message["reactions"].items()
            ]
        if message["metadata"]:
            found["metadata"] = copy.deepcopy(message["metadata"])
        if message.get("edited"):
            found["edited"] = dict(message["edited"])
        return found

    def _content(self, args: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
        text = str(args.get("text") or "")
        blocks = _slack_json(args.get("blocks"), "invalid_blocks_format") or None
        if not text and not blocks and not args.get("attachments"):
            raise _slack_error("no_text")
        if len(text) > 40_000:
            raise _slack_error("msg_too_long")
        if blocks is not None and (errors := _block_errors(blocks)):
            raise _slack_error("invalid_blocks", errors=errors)
        return text, blocks

    # Handlers ---------------------------------------------------------------------------

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        text, blocks = self._content(args)
        metadata = _slack_json(args.get("metadata"), "invalid_metadata_format")
        if metadata is not None and not (isinstance(metadata, dict) and metadata.get("event_type")):
            raise _slack_error("invalid_metadata_format")
        thread_ts = args.get("thread_ts")
        message = self._post(
            channel, text, blocks, str(thread_ts) if thread_ts else None, metadata, self.bot_user
        )
        return {"channel": channel, "ts": message["ts"], "message": self._message_json(message)}

    def _own_message(self, args: dict[str, Any], key: str, refusal: str) -> dict[str, Any]:
        message = self._message(self._channel(args.get("channel")), args.get(key))
        if message["user"] != self.bot_user:
            raise _slack_error(refusal)
        return message

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._own_message(args, "ts", "cant_update_message")
        text, blocks = self._content(args)
        message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user, "ts": message["ts"]}
        found = {"channel": message["channel"], "ts": message["ts"], "text": text}
        return found | {"message": self._message_json(message)}

    def _reaction_target(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        message = self._message(self._channel(args.get("channel")), args.get("timestamp"))
        name = str(args.get("name") or "").strip(":")
        if not name:
            raise _slack_error("invalid_name")
        return message, name

    def _react(self, args: dict[str, Any]) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message["reactions"].setdefault(name, [])
        if self.bot_user in users:
            raise _slack_error("already_reacted")
        users.append(self.bot_user)
        return {}


def _slack_args(request: ServiceRequest) -> dict[str, Any]:
    """A Slack call's arguments: the query's, then the body's."""
    args: dict[str, Any] = dict(request.query)
    if isinstance(request.body, dict):
        args.update(request.body)
    return args

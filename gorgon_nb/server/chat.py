"""Chat: sessions and their messages over REST, requests and streamed answers over a WebSocket.

The shapes are in ``API.md``. WebSockets carry no XSRF header: as for Jupyter's own kernel
sockets, a socket needs the user's authentication (token or login cookie) and Jupyter's
origin check, which refuses sockets opened from another site's page.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from tornado import web, websocket

from gorgon_nb.errors import GorgonError, NotFoundError
from gorgon_nb.server.handlers import (
    AUTH_RESOURCE,
    ApiError,
    Backend,
    GorgonHandler,
    gorgon_errors,
    parse_body,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from gorgon_nb.chat import ChatService

__all__ = ["ChatSocket", "MessagesHandler", "RolesHandler", "SessionHandler", "SessionsHandler", "WorkflowsHandler"]

TITLE_LIMIT = 200
TITLE_HINT = 'send {"title": "a name for the chat"}'


class TitleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: StrictStr | None = Field(None, max_length=TITLE_LIMIT)


class ChatHandler(GorgonHandler):
    async def chat(self) -> ChatService:
        with gorgon_errors():
            return await asyncio.to_thread(self.backend.chat)


class SessionsHandler(ChatHandler):
    """``GET`` and ``POST /gorgon/api/chat/sessions``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        sessions = await self.in_thread(lambda store: [s.to_dict() for s in store.list_sessions()])
        self.finish(json.dumps({"sessions": sessions}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = parse_body(self.request.body or b"{}", TitleBody, TITLE_HINT)
        chat = await self.chat()
        with gorgon_errors():
            session = chat.create_session(body.title)
        self.set_status(201)
        self.finish(json.dumps(session.to_dict()))


class SessionHandler(ChatHandler):
    """``PATCH`` and ``DELETE /gorgon/api/chat/sessions/{id}``."""

    @web.authenticated
    @authorized
    async def patch(self, session_id: str) -> None:
        body = parse_body(self.request.body, TitleBody, TITLE_HINT)
        title = (body.title or "").strip()
        if not title:
            raise ApiError(400, f"the title is empty; {TITLE_HINT}")
        session = await self.in_thread(lambda store: store.rename_session(session_id, title))
        self.finish(json.dumps(session.to_dict()))

    @web.authenticated
    @authorized
    async def delete(self, session_id: str) -> None:
        chat = await self.chat()
        with gorgon_errors():
            await chat.delete_session(session_id)
        self.set_status(204)
        self.finish()


class MessagesHandler(ChatHandler):
    """``GET /gorgon/api/chat/sessions/{id}/messages``."""

    @web.authenticated
    @authorized
    async def get(self, session_id: str) -> None:
        chat = await self.chat()
        with gorgon_errors():
            messages = await asyncio.to_thread(chat.messages, session_id)
        self.finish(json.dumps({"messages": messages}, default=str))


class RolesHandler(ChatHandler):
    """``GET /gorgon/api/chat/roles``: who ``@role`` can ask."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        chat = await self.chat()
        roles = [{"name": r.name, "description": r.description, "icon": r.icon}
                 for r in chat.runner.config.roles.values()]
        self.finish(json.dumps({"roles": roles}))


class WorkflowsHandler(ChatHandler):
    """``GET /gorgon/api/chat/workflows``: what ``/run`` can start, with their inputs."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"workflows": await asyncio.to_thread(_workflows)}, default=str))


def _workflows() -> list[dict[str, Any]]:
    from gorgon_nb.workflow import Workflow, list_workflows

    found = []
    for name, path in sorted(list_workflows().items()):
        try:
            spec = Workflow.from_file(path).spec
        except GorgonError:  # a broken user workflow is left out; `gorgon validate` says why
            continue
        inputs = {key: {"type": value.type, "required": value.is_required, "default": value.default,
                        "description": value.description} for key, value in spec.inputs.items()}
        found.append({"name": name, "description": spec.description or spec.name or "", "inputs": inputs})
    return found


class ChatSocket(WebSocketMixin, websocket.WebSocketHandler, JupyterHandler):
    """``/gorgon/api/chat/sessions/{id}/ws``: send and stop; messages and deltas back."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Backend) -> None:
        self.backend = backend
        self.session_id = ""
        self._unsubscribe: Callable[[], None] | None = None

    @ws_authenticated
    async def get(self, session_id: str) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)):
            raise web.HTTPError(403, "not allowed to chat on this server")
        try:
            chat = await asyncio.to_thread(self.backend.chat)
            await asyncio.to_thread(chat.store.get_session, session_id)
        except NotFoundError as exc:
            raise web.HTTPError(404, exc.for_surface("sidebar")) from None
        except GorgonError as exc:
            raise web.HTTPError(503, exc.for_surface("sidebar")) from None
        self.chat, self.session_id = chat, session_id
        await super().get(session_id)

    def open(self, session_id: str) -> None:
        super().open(session_id)
        self.set_nodelay(True)  # a streamed piece goes out now, not after a delayed ACK (~40 ms)
        self._unsubscribe = self.chat.subscribe(session_id, self._send)
        for message in self.chat.streaming(session_id):  # what a socket opened mid-answer missed
            self._send({"type": "message", "message": message})

    def _send(self, payload: dict[str, Any]) -> None:
        self.write_message(json.dumps(payload, default=str))

    async def on_message(self, raw: str | bytes) -> None:
        try:
            request = json.loads(raw)
            kind = request["type"] if isinstance(request, dict) else None
        except (ValueError, KeyError):
            kind = None
        try:
            if kind == "send" and isinstance(request.get("text"), str):
                await self.chat.send(self.session_id, request["text"])
            elif kind == "stop":
                await self.chat.stop(self.session_id)
            else:
                self._error('send {"type": "send", "text": "..."} or {"type": "stop"}')
        except GorgonError as exc:
            self._error(exc.for_surface("sidebar"))
        except Exception:  # logged with its traceback; the client gets no details
            self.log.exception("gorgon: the chat failed")
            self._error("the chat failed; the Jupyter server's log has the details")

    def _error(self, message: str) -> None:
        self._send({"type": "error", "message": message})

    def on_close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

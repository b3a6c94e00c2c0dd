"""Chat: sessions and their messages over REST, requests and streamed answers over a WebSocket.

The shapes are in ``API.md``. WebSockets carry no XSRF header: as for Jupyter's own kernel
sockets, a socket needs the user's authentication (token or login cookie) and Jupyter's
origin check, which refuses sockets opened from another site's page.

A frame the socket cannot take (too large, nested too deep, not JSON, not one of the
``Frame`` models) gets an ``error`` frame back and the socket stays open; only a frame
past tornado's own limit (``websocket_max_message_size``) closes it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from tornado import web, websocket

from gorgon_nb.errors import GorgonError, NotFoundError
from gorgon_nb.server.base import AUTH_RESOURCE, GorgonHandler, Services, gorgon_errors
from gorgon_nb.server.inputs import (
    FRAME_LIMIT,
    ApiError,
    EmptyBody,
    Query,
    dumps,
    parse_body,
    read_json,
    validated,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from gorgon_nb.chat import ChatService

__all__ = ["FRAMES", "ChatSocket", "MessagesHandler", "RolesHandler", "SendFrame", "SessionHandler", "SessionsHandler",
           "StopFrame", "TitleBody", "WorkflowsHandler", "read_frame"]

TITLE_LIMIT = 200
TITLE_HINT = 'send {"title": "a name for the chat"}'
FRAME_HINT = 'send {"type": "send", "text": "..."} or {"type": "stop"}'
NO_QUERY = "this route takes no query"


class TitleBody(BaseModel):
    """The body of ``POST chat/sessions`` and ``PATCH chat/sessions/{id}``."""

    model_config = ConfigDict(extra="forbid")

    title: StrictStr | None = Field(None, max_length=TITLE_LIMIT)


class SendFrame(BaseModel):
    """A request to the chat: ``{"type": "send", "text": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["send"]
    text: StrictStr


class StopFrame(BaseModel):
    """``{"type": "stop"}``: stop the answer being written."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["stop"]


FRAMES: dict[Any, type[SendFrame | StopFrame]] = {"send": SendFrame, "stop": StopFrame}


def read_frame(raw: str | bytes) -> SendFrame | StopFrame:
    """A frame from the client as its model; ``ApiError`` with what is wrong otherwise
    (its ``type`` is not repeated: a message names the fields, never echoes a value)."""
    data = read_json(raw, what="the frame", limit=FRAME_LIMIT, hint=FRAME_HINT)
    model = FRAMES.get(data.get("type")) if isinstance(data, dict) else None
    if model is None:
        raise ApiError(400, f'the frame must be a JSON object whose "type" is "send" or "stop"; {FRAME_HINT}')
    return validated(model, data, "frame", FRAME_HINT)


class ChatHandler(GorgonHandler):
    async def chat(self) -> ChatService:
        with gorgon_errors():
            return await asyncio.to_thread(self.backend.chat)


class SessionsHandler(ChatHandler):
    """``GET`` and ``POST /gorgon/api/chat/sessions``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query(Query, NO_QUERY)
        sessions = await self.in_thread(lambda store: [s.to_dict() for s in store.chat.sessions()])
        self.finish(dumps({"sessions": sessions}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.query(Query, NO_QUERY)
        body = parse_body(self.request.body, TitleBody, TITLE_HINT, empty="{}")
        chat = await self.chat()
        with gorgon_errors():
            session = chat.create_session(body.title)
        self.set_status(201)
        self.finish(dumps(session.to_dict()))


class SessionHandler(ChatHandler):
    """``PATCH`` and ``DELETE /gorgon/api/chat/sessions/{id}``."""

    @web.authenticated
    @authorized
    async def patch(self, session_id: str) -> None:
        self.query(Query, NO_QUERY)
        body = parse_body(self.request.body, TitleBody, TITLE_HINT)
        title = (body.title or "").strip()
        if not title:
            raise ApiError(400, f"the title is empty; {TITLE_HINT}")
        session = await self.in_thread(lambda store: store.chat.rename_session(session_id, title))
        self.finish(dumps(session.to_dict()))

    @web.authenticated
    @authorized
    async def delete(self, session_id: str) -> None:
        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, "send no body", empty="{}")
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
        self.query(Query, NO_QUERY)
        chat = await self.chat()
        with gorgon_errors():
            messages = await asyncio.to_thread(chat.messages, session_id)
        self.finish(dumps({"messages": messages}))


class RolesHandler(ChatHandler):
    """``GET /gorgon/api/chat/roles``: who ``@role`` can ask."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query(Query, NO_QUERY)
        chat = await self.chat()
        roles = [{"name": r.name, "description": r.description, "icon": r.icon}
                 for r in chat.runner.config.roles.values()]
        self.finish(dumps({"roles": roles}))


class WorkflowsHandler(ChatHandler):
    """``GET /gorgon/api/chat/workflows``: what ``/run`` can start, with their inputs."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query(Query, NO_QUERY)
        self.finish(dumps({"workflows": await asyncio.to_thread(_workflows)}))


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

    def initialize(self, backend: Services) -> None:
        self.backend = backend
        self.session_id = ""
        self._unsubscribe: Callable[[], None] | None = None

    @ws_authenticated
    async def get(self, session_id: str) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)):
            raise web.HTTPError(403, "not allowed to chat on this server")
        try:
            chat = await asyncio.to_thread(self.backend.chat)
            await asyncio.to_thread(chat.store.chat.get_session, session_id)
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

    @property
    def max_message_size(self) -> int:
        """Frames up to four times ``FRAME_LIMIT`` are read, so one past the limit gets an
        error frame; tornado closes the socket only on larger ones."""
        return 4 * FRAME_LIMIT

    def _send(self, payload: dict[str, Any]) -> None:
        self.write_message(dumps(payload))

    async def on_message(self, raw: str | bytes) -> None:
        try:
            frame = read_frame(raw)
        except ApiError as exc:
            self._error(exc.message)
            return
        try:
            if isinstance(frame, SendFrame):
                await self.chat.send(self.session_id, frame.text)
            else:
                await self.chat.stop(self.session_id)
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

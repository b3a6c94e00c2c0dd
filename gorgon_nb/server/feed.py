"""The event feed: one WebSocket that keeps the sidebar's runs, approvals, jobs and badge live.

The store is shared by every process that runs workflows (kernels, terminals, scheduled
jobs), so the feed reads it, every half second, once for all open sockets, and sends
what changed: ``{"type": "runs", ...}``, ``{"type": "approvals", ...}``, ``{"type":
"jobs", ...}``, or ``{"type": "error", "message": ...}`` while the store cannot be read. A
socket gets the latest of each as soon as it opens.

Every frame is JSON that ``JSON.parse`` takes (``inputs.dumps``): a NaN or an infinity that
a row stored before they were refused still holds goes out as ``null``. A read that fails
for a reason of its own is logged and told as an ``error`` frame; the feed goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from gorgon_nb.errors import GorgonError
from gorgon_nb.server.approvals import approval_json, run_alive
from gorgon_nb.server.base import AUTH_RESOURCE, LIST_LIMIT, Services
from gorgon_nb.server.files import ServerFiles
from gorgon_nb.server.inputs import dumps
from gorgon_nb.server.jobs import jobs_payload
from gorgon_nb.server.runs import recent_runs

if TYPE_CHECKING:
    from gorgon_nb.store import Store

__all__ = ["INTERVAL", "Feed", "FeedSocket"]

INTERVAL = 0.5  # seconds between reads of the store

Listener = Callable[[str], object]
log = logging.getLogger(__name__)


def snapshot(store: Store, files: ServerFiles) -> list[dict[str, Any]]:
    pending = store.approvals.recent(status="pending", limit=LIST_LIMIT)
    alive = {run_id: run_alive(store, run_id) for run_id in {a.run_id for a in pending}}
    return [{"type": "runs", "runs": recent_runs(store)},
            {"type": "approvals", "approvals": [approval_json(a, alive[a.run_id]) for a in pending]},
            jobs_payload(store, files)]


class Feed:
    """Reads the store while someone listens, and tells every listener what changed."""

    def __init__(self, backend: Services) -> None:
        self.backend = backend
        self._listeners: set[Listener] = set()
        self._latest: dict[str, str] = {}  # the last text sent, by type
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.add(listener)
        for text in self._latest.values():
            listener(text)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while self._listeners:
            try:
                payloads = await asyncio.to_thread(lambda: snapshot(self.backend.get(), self.backend.files))
                self._latest.pop("error", None)
            except GorgonError as exc:
                payloads = [{"type": "error", "message": f"cannot read the gorgon store: {exc}"}]
            except Exception:  # logged with its traceback; the feed goes on
                log.exception("gorgon: the event feed could not read the store")
                payloads = [{"type": "error", "message": "the gorgon feed failed to read the store; the Jupyter "
                                                         "server's log has the details"}]
            for payload in payloads:
                text = dumps(payload)
                if self._latest.get(payload["type"]) != text:
                    self._latest[payload["type"]] = text
                    for listener in list(self._listeners):
                        try:
                            listener(text)
                        except websocket.WebSocketClosedError:
                            self._listeners.discard(listener)
            await asyncio.sleep(INTERVAL)
        self._latest.clear()  # nobody listens: the next listener gets fresh news


class FeedSocket(WebSocketMixin, websocket.WebSocketHandler, JupyterHandler):
    """``/gorgon/api/events``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Services, feed: Feed) -> None:
        self.backend, self.feed = backend, feed

    @ws_authenticated
    async def get(self) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)):
            raise web.HTTPError(403, "not allowed to read the gorgon feed on this server")
        await super().get()

    def open(self) -> None:
        super().open()
        self.set_nodelay(True)
        self.feed.subscribe(self.write_message)

    def on_close(self) -> None:
        self.feed.unsubscribe(self.write_message)

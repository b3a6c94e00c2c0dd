"""The server's composition root: the store, the chat service, the feed and the scheduler
that every gorgon handler shares, made once when the extension loads (``extension.py``)
and closed when the server stops. Handlers see it as ``base.Services``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gorgon_nb.server.feed import Feed
from gorgon_nb.server.files import ServerFiles

if TYPE_CHECKING:
    from gorgon_nb.chat import ChatService
    from gorgon_nb.server.scheduler import ServerScheduler
    from gorgon_nb.store import Store

__all__ = ["Backend"]


class Backend:
    """What the handlers share: the server's store, opened from ``load_config()`` on first
    use, then kept (a failed open is not kept, so fixing the config or the folder needs no
    restart), the chat service on that store, and the scheduler loop when the server runs
    one."""

    def __init__(self, files: ServerFiles | None = None) -> None:
        self.files = files or ServerFiles(Path.cwd().resolve())  # what JupyterLab can open
        self._store: Store | None = None
        self._chat: ChatService | None = None
        self.scheduler: ServerScheduler | None = None
        self._lock = threading.Lock()
        self.feed = Feed(self)

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                from gorgon_nb.config import load_config
                from gorgon_nb.store import Store

                self._store = Store(load_config().db_path)
            return self._store

    def chat(self) -> ChatService:
        store = self.get()
        with self._lock:
            if self._chat is None:
                from gorgon_nb.chat import ChatService
                from gorgon_nb.config import load_config
                from gorgon_nb.runner import Runner

                self._chat = ChatService(Runner(load_config(), store))
            return self._chat

    async def close(self) -> None:
        """Stop the scheduler (its running jobs go back to the queue), the feed and the chat's
        answers (their text so far is kept); close the store."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.feed.close()
        if self._chat is not None:
            await self._chat.close()
        if self._store is not None:
            self._store.close()

"""The extension's life in the Jupyter server: its routes when it loads, the scheduler once
the server's loop runs, and all of it stopped when the server stops.

jupyter_server 2 calls a stop hook only on extensions that are ``ExtensionApp``s
(``stop_extension``), so the extension is one, though it has no page or settings of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp

if TYPE_CHECKING:
    from gorgon_nb.server.backend import Backend

__all__ = ["GorgonExtension"]


class GorgonExtension(ExtensionApp):
    """``gorgon_nb.server``: the gorgon API under ``<base_url>gorgon/api/``."""

    name = "gorgon_nb"
    description = "The gorgon API: runs, approvals, chat, schedules and jobs for the Gorgon sidebar."

    backend: Backend | None = None

    def initialize_handlers(self) -> None:
        from gorgon_nb.server.backend import Backend
        from gorgon_nb.server.files import ServerFiles
        from gorgon_nb.server.routes import routes

        serverapp: Any = self.serverapp
        web_app = serverapp.web_app
        self.backend = Backend(ServerFiles.of(serverapp))
        web_app.settings["gorgon_backend"] = self.backend
        web_app.add_handlers(".*$", routes(web_app.settings["base_url"], self.backend))
        serverapp.log.info("gorgon_nb.server: the gorgon API is at %sgorgon/api/", web_app.settings["base_url"])
        self._plan_scheduler(serverapp, self.backend)

    def _plan_scheduler(self, serverapp: Any, backend: Backend) -> None:
        """The scheduler loop on the server's event loop, when ``[scheduler] enabled``.

        Extensions load before the loop runs: it starts the scheduler as soon as it does.
        """
        from gorgon_nb.config import load_config
        from gorgon_nb.errors import GorgonError
        from gorgon_nb.server.scheduler import ServerScheduler

        try:
            config = load_config()
        except GorgonError as exc:
            serverapp.log.warning("gorgon_nb.server: the scheduler is off: %s", exc)
            return
        if not config.scheduler.enabled:
            serverapp.log.info("gorgon_nb.server: the scheduler is off (set [scheduler] enabled = true in %s and "
                               "restart JupyterLab to run scheduled notebooks here, or run `gorgon scheduler`)",
                               config.file or config.home / "config.toml")
            return
        backend.scheduler = ServerScheduler(backend, config.scheduler, serverapp.log)
        serverapp.io_loop.add_callback(backend.scheduler.start)
        serverapp.log.info("gorgon_nb.server: the scheduler runs in this server (%s)", backend.scheduler.describe())

    async def stop_extension(self) -> None:
        """Stop the scheduler (its running jobs go back to the queue), the chat's answers
        (keeping their text so far) and the feed; close the store."""
        if self.backend is not None:
            await self.backend.close()

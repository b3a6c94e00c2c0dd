"""The Jupyter server extension: the gorgon API under ``<base_url>gorgon/api/`` (``API.md``).

Installing the package enables it (``etc/jupyter/jupyter_server_config.d/gorgon_nb.json``);
``jupyter server extension list`` shows it as ``gorgon_nb.server``. It serves the sidebar
(runs, approvals, chat, and a live feed of them) and lets the notebook's approval buttons
work while a cell blocks on its run: a busy kernel holds widget messages until the cell
ends, but the server is free, so the buttons post here and the decision goes straight to
the store, where the waiting run finds it. It lists and changes scheduled notebooks and
their jobs, and with ``[scheduler] enabled = true`` runs the scheduler loop itself.

Loading the extension imports only the handlers; the store opens on the first request (or
when the scheduler starts).
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension", "_unload_jupyter_server_extension",
           "routes"]

_ID = r"[A-Za-z0-9_-]{1,64}"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "gorgon_nb.server"}]


def routes(base_url: str, backend: Any) -> list[tuple[str, type, dict[str, Any]]]:
    """The URL routes of the extension, under ``base_url``."""
    from jupyter_server.utils import url_path_join

    from gorgon_nb.server import chat, feed, handlers, jobs, runs

    api = url_path_join(base_url, "gorgon", "api")
    shared = {"backend": backend}
    table: list[tuple[str, type, dict[str, Any]]] = [
        ("approvals", handlers.ApprovalsHandler, shared),
        (f"approvals/({_ID})", handlers.ApprovalHandler, shared),
        ("runs", runs.RunsHandler, shared),
        (f"runs/({_ID})", runs.RunHandler, shared),
        (f"runs/({_ID})/cancel", runs.CancelHandler, shared),
        ("chat/sessions", chat.SessionsHandler, shared),
        (f"chat/sessions/({_ID})", chat.SessionHandler, shared),
        (f"chat/sessions/({_ID})/messages", chat.MessagesHandler, shared),
        (f"chat/sessions/({_ID})/ws", chat.ChatSocket, shared),
        ("chat/roles", chat.RolesHandler, shared),
        ("chat/workflows", chat.WorkflowsHandler, shared),
        ("schedules", jobs.SchedulesHandler, shared),
        (f"schedules/({_ID})", jobs.ScheduleHandler, shared),
        (f"schedules/({_ID})/(pause|resume|run)", jobs.ScheduleActionHandler, shared),
        ("jobs", jobs.JobsHandler, shared),
        (f"jobs/({_ID})", jobs.JobHandler, shared),
        (f"jobs/({_ID})/cancel", jobs.JobCancelHandler, shared),
        ("events", feed.FeedSocket, {**shared, "feed": backend.feed}),
    ]
    return [(url_path_join(api, path), handler, arguments) for path, handler, arguments in table]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from gorgon_nb.server.handlers import Backend
    from gorgon_nb.server.jobs import ServerFiles

    web_app = serverapp.web_app
    backend = Backend(ServerFiles.of(serverapp))
    web_app.settings["gorgon_backend"] = backend
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"], backend))
    serverapp.log.info("gorgon_nb.server: the gorgon API is at %sgorgon/api/", web_app.settings["base_url"])
    _start_scheduler(serverapp, backend)


def _start_scheduler(serverapp: Any, backend: Any) -> None:
    """The scheduler loop on the server's event loop, when ``[scheduler] enabled``.

    Extensions load before the loop serves: the loop starts it as soon as it runs.
    """
    from gorgon_nb.config import load_config
    from gorgon_nb.errors import GorgonError
    from gorgon_nb.server.jobs import ServerScheduler

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


async def _unload_jupyter_server_extension(serverapp: Any) -> None:
    """Stop the scheduler (its running jobs go back to the queue), the chat's answers
    (keeping their text so far) and the feed."""
    backend = serverapp.web_app.settings.get("gorgon_backend")
    if backend is not None:
        await backend.close()

"""The Jupyter server extension: the gorgon API under ``<base_url>gorgon/api/`` (``API.md``).

Installing the package enables it (``etc/jupyter/jupyter_server_config.d/gorgon_nb.json``);
``jupyter server extension list`` shows it as ``gorgon_nb.server``. It serves the sidebar
(runs, approvals, chat, and a live feed of them) and lets the notebook's approval buttons
work while a cell blocks on its run: a busy kernel holds widget messages until the cell
ends, but the server is free, so the buttons post here and the decision goes straight to
the store, where the waiting run finds it. It lists and changes scheduled notebooks and
their jobs, and with ``[scheduler] enabled = true`` runs the scheduler loop itself.

Loading the extension (``extension.GorgonExtension``) imports only the handlers; the store
opens on the first request (or when the scheduler starts).
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "routes"]

_ID = r"[A-Za-z0-9_-]{1,64}"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # an ExtensionApp, not bare load/unload functions: jupyter_server 2 tells only
    # ExtensionApps that it stops (``stop_extension``)
    from gorgon_nb.server.extension import GorgonExtension

    return [{"module": "gorgon_nb.server", "app": GorgonExtension}]


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
        (".*", handlers.NotFoundHandler, shared),  # last: a 404 in the API's words, not Jupyter's page
    ]
    return [(url_path_join(api, path), handler, arguments) for path, handler, arguments in table]

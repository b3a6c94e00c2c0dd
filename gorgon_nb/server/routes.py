"""The URL routes of the gorgon API (``API.md``), each to its handler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_server.utils import url_path_join

from gorgon_nb.server import approvals, base, chat, feed, jobs, runs, tools, webhooks

if TYPE_CHECKING:
    from gorgon_nb.server.backend import Backend

__all__ = ["routes"]

_ID = r"[A-Za-z0-9_-]{1,64}"


def routes(base_url: str, backend: Backend) -> list[tuple[str, type, dict[str, Any]]]:
    """The URL routes of the extension, under ``base_url``."""
    api = url_path_join(base_url, "gorgon", "api")
    shared = {"backend": backend}
    table: list[tuple[str, type, dict[str, Any]]] = [
        ("approvals", approvals.ApprovalsHandler, shared),
        (f"approvals/({_ID})", approvals.ApprovalHandler, shared),
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
        ("tools", tools.ToolsHandler, shared),
        ("webhooks", webhooks.WebhooksHandler, shared),
        (f"webhooks/({_ID})", webhooks.WebhookHandler, shared),
        ("webhook-deliveries", webhooks.DeliveriesHandler, shared),
        (f"webhook-deliveries/({_ID})", webhooks.DeliveryHandler, shared),
        (f"webhook-deliveries/({_ID})/replay", webhooks.ReplayHandler, shared),
        ("events", feed.FeedSocket, {**shared, "feed": backend.feed}),
        (".*", base.NotFoundHandler, shared),  # last: a 404 in the API's words, not Jupyter's page
    ]
    routed = [(url_path_join(api, path), handler, arguments) for path, handler, arguments in table]
    # where senders post, outside the API: signed by HMAC, not by Jupyter's token (webhook_server.py)
    from gorgon_nb.config import load_config
    from gorgon_nb.scheduler.webhook_server import ROUTE, WebhookReceiver

    receiver = {"store": backend.get, "config": load_config}
    return [(url_path_join(base_url, ROUTE), WebhookReceiver, receiver), *routed]

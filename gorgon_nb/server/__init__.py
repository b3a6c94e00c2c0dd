"""The Jupyter server extension: the gorgon API under ``<base_url>gorgon/api/`` (``API.md``).

Installing the package enables it (``etc/jupyter/jupyter_server_config.d/gorgon_nb.json``);
``jupyter server extension list`` shows it as ``gorgon_nb.server``. It serves the sidebar
(runs, approvals, chat, and a live feed of them) and lets the notebook's approval buttons
work while a cell blocks on its run: a busy kernel holds widget messages until the cell
ends, but the server is free, so the buttons post here and the decision goes straight to
the store, where the waiting run finds it. It lists and changes scheduled notebooks and
their jobs, and with ``[scheduler] enabled = true`` runs the scheduler loop itself. It manages
webhooks and takes their deliveries at ``<base_url>gorgon/webhooks/NAME``, signed by HMAC
instead of Jupyter's token (``scheduler/webhook_server.py``).

Loading the extension (``extension.GorgonExtension``) imports the handlers (``routes``) and
makes the ``Backend`` they share (``backend``); the store opens on the first request (or
when the scheduler starts). ``base`` is what every handler shares; ``approvals``, ``runs``,
``chat``, ``jobs``, ``webhooks`` and ``feed`` are the routes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # an ExtensionApp, not bare load/unload functions: jupyter_server 2 tells only
    # ExtensionApps that it stops (``stop_extension``)
    from gorgon_nb.server.extension import GorgonExtension

    return [{"module": "gorgon_nb.server", "app": GorgonExtension}]

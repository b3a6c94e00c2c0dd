"""The Jupyter server extension: REST endpoints under ``<base_url>/gorgon/api/``.

Installing the package enables it (``etc/jupyter/jupyter_server_config.d/gorgon_nb.json``);
``jupyter server extension list`` shows it as ``gorgon_nb.server``. Its first job is to let
the notebook's approval buttons work while a cell blocks on its run: a busy kernel holds
widget messages until the cell ends, but the server is free, so the buttons post here and
the decision goes straight to the store, where the waiting run finds it.

Loading the extension imports only the handlers; the store opens on the first request.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "gorgon_nb.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from gorgon_nb.server.handlers import StoreHolder, handlers

    web_app = serverapp.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"], StoreHolder()))
    serverapp.log.info(
        "gorgon_nb.server: approvals API at %sgorgon/api/", web_app.settings["base_url"]
    )

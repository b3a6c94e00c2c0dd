"""``GET /gorgon/api/tools``: every tool an agent can be given, as ``gorgon tools`` lists them.

``?ref=files`` or ``?ref=mcp:fs`` lists one set (or one MCP server) instead of all. Listing
starts each declared MCP server and stops it again, on the server's event loop (the MCP
client is asynchronous), so a slow server delays only this answer. Each server has its
``startup_timeout``; the whole listing is bounded by the longest of them and a margin, so
a server that hangs after it started cannot hold the request open.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from gorgon_nb.server.base import GorgonHandler, Line, gorgon_errors
from gorgon_nb.server.inputs import ApiError, Query, dumps

if TYPE_CHECKING:
    from gorgon_nb.config import Config

__all__ = ["LISTING_MARGIN", "ToolsHandler", "ToolsQuery"]

TOOLS_HINT = "for example ?ref=files or ?ref=mcp:fs"
LISTING_MARGIN = 15.0  # seconds beyond the longest startup_timeout: the servers list their tools, then stop


class ToolsQuery(Query):
    """``GET tools?ref=REF``: one tool set, ``mcp``, or one MCP server as ``mcp:NAME``."""

    ref: Line = ""


def listing_deadline(config: Config) -> float:
    """Seconds the listing may take: the longest MCP server start, and a margin."""
    from gorgon_nb.config import MCPServerSettings

    default = MCPServerSettings.model_fields["startup_timeout"].default
    return max([default, *(server.startup_timeout for server in config.mcp_servers.values())]) + LISTING_MARGIN


class ToolsHandler(GorgonHandler):
    """``GET /gorgon/api/tools``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from gorgon_nb.config import load_config
        from gorgon_nb.tools.catalog import list_tools_async

        query = self.query(ToolsQuery, TOOLS_HINT)
        ref = query.ref.strip() or None
        with gorgon_errors():
            config = await asyncio.to_thread(load_config)  # fresh: a server declared since is listed
            deadline = listing_deadline(config)
            try:
                groups = await asyncio.wait_for(
                    list_tools_async(config, ref, workspace=self.backend.files.root), deadline)
            except TimeoutError:
                raise ApiError(504, f"listing the tools took more than {deadline:g} seconds; an MCP server may "
                                    "hang: list it alone (?ref=mcp:NAME) or check its command") from None
        payload: dict[str, Any] = {"groups": [group.as_json() for group in groups]}
        self.finish(dumps(payload))

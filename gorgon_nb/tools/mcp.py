"""``mcp``: the tools of the MCP servers declared in the config, through the official ``mcp`` SDK.

A server is declared once, in ``config.toml``::

    [mcp.servers.fs]                      # over stdio: gorgon starts it
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "."]
    env = { LOG_LEVEL = "warn" }
    [mcp.servers.search]                  # over streamable HTTP: it runs already
    url = "http://127.0.0.1:8000/mcp"
    headers = { Authorization = "Bearer ..." }

and named in a step's (or a role's) ``tools`` as ``mcp:fs`` (every tool of the server) or
``mcp:fs/read_text_file`` (one of them). The model sees each as ``mcp_fs_read_text_file``.

A server starts the first time a step of the run needs it, and stops when the run ends
(see ``engine.tools.RunResources``); a server that crashes is started again for the next
call. A tool whose annotations do not say it only reads (``readOnlyHint``) counts as a
write: its calls wait for a person's approval unless ``auto_approve`` (of the step, the
role, ``[tools]`` or the server) says otherwise. The values of a server's ``env`` and
``headers`` that hold credentials (see ``_mcp_session.looks_secret``) are never shown or kept.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import ToolError, did_you_mean
from gorgon_nb.model.tools import Tool, ToolSet

if TYPE_CHECKING:
    from gorgon_nb.config import Config, MCPServerSettings
    from gorgon_nb.tools._mcp_session import MCPConnection

__all__ = ["TOOLSET", "connection", "split_selector"]

_NAME = re.compile(r"[A-Za-z0-9_-]+")
USAGE = "write mcp:SERVER (every tool of a server) or mcp:SERVER/TOOL (one of them)"


def split_selector(selector: str | None) -> tuple[str, str | None]:
    """``fs/read_text_file`` -> (fs, read_text_file); ``fs`` -> (fs, None). ``ValueError`` when malformed."""
    if not selector:
        raise ValueError(f"an MCP reference names a server: {USAGE}")
    server, slash, tool = selector.partition("/")
    if not _NAME.fullmatch(server):
        raise ValueError(f"'{server}' is not an MCP server's name (letters, digits, '-' and '_'): {USAGE}")
    if slash and not tool.strip():
        raise ValueError(f"'mcp:{selector}' names no tool after the '/': {USAGE}")
    return server, (tool if slash else None)


def _close(name: str, known: Any) -> str:
    """`` (did you mean 'x'?)`` when a known name is close, else nothing (the caller lists them all)."""
    hint = did_you_mean(name, known)
    return f" ({hint})" if hint.startswith("did you mean") else ""


def _undeclared(name: str, config: Config) -> str:
    declared = sorted(config.mcp_servers)
    where = f"{config.file}" if config.file else "config.toml"
    if not declared:
        return (f"no MCP server '{name}' is declared: your config declares none. Add [mcp.servers.{name}] "
                f"with command (and args) or url to {where}")
    return (f"no MCP server '{name}' is declared in {where}{_close(name, declared)}; "
            f"declared: {', '.join(declared)}")


def check(selector: str | None, config: Config | None) -> str | None:
    """The reference's syntax; with a config, that it declares the server."""
    try:
        name, _ = split_selector(selector)
    except ValueError as exc:
        return str(exc)
    if config is not None and name not in config.mcp_servers:
        return _undeclared(name, config)
    return None


def settings(name: str, config: Config) -> MCPServerSettings:
    found = config.mcp_servers.get(name)
    if found is None:
        raise ToolError(_undeclared(name, config), fatal=True)
    return found


async def connection(name: str, ctx: Any) -> MCPConnection:
    """The run's connection to the server ``name``, started on first use."""
    server = settings(name, ctx.config)

    async def start() -> tuple[MCPConnection, Any]:
        from gorgon_nb.tools._mcp_session import MCPConnection

        held = MCPConnection(server, ctx.base_dir)
        await held.start()
        return held, held.stop

    return await ctx.resource(f"mcp:{name}", start)


async def tools(selector: str | None, ctx: Any) -> list[Tool]:
    try:
        name, wanted = split_selector(selector)
    except ValueError as exc:
        raise ToolError(str(exc), fatal=True) from None
    held = await connection(name, ctx)
    listed = {tool.name: tool for tool in held.tools}
    if wanted is not None and wanted not in listed:
        raise ToolError(f"the MCP server '{name}' has no tool '{wanted}'{_close(wanted, listed)}; "
                        f"its tools: {', '.join(sorted(listed)) or 'none'}", fatal=True)
    chosen = [listed[wanted]] if wanted is not None else list(listed.values())
    return [_tool(name, held.server, found) for found in chosen]


def _tool(server_name: str, server: MCPServerSettings, found: Any) -> Tool:
    annotations = found.annotations
    own = found.name

    async def run(arguments: dict[str, Any], ctx: Any) -> Any:
        from gorgon_nb.secrets import redact
        from gorgon_nb.tools._mcp_session import result_text

        held = await connection(server_name, ctx)
        result = await held.call(own, arguments, server.timeout)
        text = redact(result_text(result))  # a server may echo the token it was given
        if result.is_error:
            raise ToolError(text or f"{own} of the MCP server '{server_name}' failed and said nothing more")
        return text

    schema = dict(found.input_schema or {})
    schema.setdefault("type", "object")
    return Tool(
        name=f"mcp:{server_name}/{own}",
        description=(found.description or found.title or own).strip(),
        schema=schema,
        run=run,
        writes=not (annotations is not None and annotations.read_only_hint is True),
        idempotent=bool(annotations is not None and annotations.idempotent_hint),
        timeout=server.timeout,
    )


TOOLSET = ToolSet(
    key="mcp",
    description="the tools of the MCP servers declared in config.toml ([mcp.servers.NAME])",
    tools=tools,
    check=check,
    separator=":",
)

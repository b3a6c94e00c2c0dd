"""Every tool an agent can be given, listed outside any run (``gorgon tools``, ``%gorgon tools``).

Each tool set lists its tools with a stand-in for a run's tool context: the config, the
current folder as workspace, and resources (an MCP server) started for the listing and
stopped after it. A set that cannot list itself without a selector (``python``) lists
nothing; one that fails (an MCP server that does not start) gets a line that says why,
and the others are still listed. The MCP servers are listed one by one, as ``mcp:NAME``,
and started at once, side by side.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.tools import RunResources
from gorgon_nb.errors import GorgonError, UsageError, did_you_mean
from gorgon_nb.model.tools import ToolSet, all_toolsets, parse_tool_ref
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.integrations import Connections

__all__ = ["ListedTool", "ToolGroup", "list_tools", "list_tools_async"]


@dataclass(frozen=True)
class ListedTool:
    """One tool as a listing shows it: its reference, whether it writes, its description's first line."""

    name: str
    writes: bool
    description: str
    runs_code: bool = False


@dataclass
class ToolGroup:
    """The tools of one set (or one MCP server), or why they could not be listed."""

    ref: str  # files, mcp:fs
    description: str
    origin: str
    tools: list[ListedTool] = field(default_factory=list)
    error: str | None = None
    note: str | None = None  # why it lists no tools, when that is no error

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "description": self.description, "origin": self.origin, "error": self.error,
                "note": self.note,
                "tools": [{"name": t.name, "writes": t.writes, "runs_code": t.runs_code,
                           "description": t.description} for t in self.tools]}


class ListingContext:
    """What a tool set's ``tools`` is given when no run is going on (see ``engine.tools.ToolContext``)."""

    run_id = ""
    step_key = ""
    item = None
    allow_code = False

    def __init__(self, config: Config, workspace: Path | None = None) -> None:
        self.config = config
        self.workspace = (workspace or Path.cwd()).resolve()
        self.base_dir: Path | None = self.workspace
        self.resources = RunResources()
        self.notices: list[str] = []

    @property
    def integrations(self) -> Connections:
        from gorgon_nb.integrations import Connections

        return Connections(self.config)

    async def resource(self, key: str, start: Any) -> Any:
        return await self.resources.get(key, start)

    def notice(self, message: str, level: str = "info") -> None:
        self.notices.append(message)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _groups(config: Config, ref: str | None) -> list[tuple[ToolSet, str | None]]:
    """The (set, selector) pairs to list: every set (each MCP server on its own), or the one asked for."""
    sets = all_toolsets()
    if ref is not None:
        parsed = parse_tool_ref(ref)
        toolset = sets.get(parsed.toolset)
        if toolset is None:
            raise UsageError(f"no tool set '{parsed.toolset}' ({did_you_mean(parsed.toolset, sets)})")
        if toolset.key == "mcp" and parsed.selector is None:
            return [(toolset, name) for name in sorted(config.mcp_servers)] or [(toolset, None)]
        return [(toolset, parsed.selector)]
    pairs: list[tuple[ToolSet, str | None]] = []
    for key in sorted(sets):
        if key == "mcp" and config.mcp_servers:
            pairs += [(sets[key], name) for name in sorted(config.mcp_servers)]
        else:
            pairs.append((sets[key], None))
    return pairs


async def _one(toolset: ToolSet, selector: str | None, ctx: ListingContext) -> ToolGroup:
    ref = toolset.key + (toolset.separator + selector if selector else "")
    group = ToolGroup(ref, toolset.description, toolset.origin)
    server = ctx.config.mcp_servers.get(selector.partition("/")[0]) if toolset.key == "mcp" and selector else None
    if server is not None:
        from gorgon_nb.tools._mcp_session import describe_command

        group.description = f"the MCP server '{server.name}': {describe_command(server)}"
    if toolset.key == "mcp" and selector is None:
        where = ctx.config.file or ctx.config.home / "config.toml"
        group.note = f"no MCP server is declared: add [mcp.servers.NAME] to {where}"
        return group
    problem = None
    try:
        problem = toolset.check(selector, ctx.config) if toolset.check else None
        tools = await toolset.tools(selector, ctx)
    except Exception as exc:  # one set that cannot list itself must not hide the others
        message = exc.for_surface("cli") if isinstance(exc, GorgonError) else f"{type(exc).__name__}: {exc}"
        group.error = redact(problem or message)
        return group
    group.tools = [ListedTool(t.name, t.writes, _first_line(t.description), t.runs_code) for t in tools]
    if problem:  # listed, but a step cannot use them yet (a token to set)
        group.note = redact(problem)
    elif not tools:
        group.note = "it lists its tools only for a reference: name them in a step's tools"
    return group


async def list_tools_async(config: Config, ref: str | None = None, *, workspace: Path | None = None) -> list[ToolGroup]:
    """The tool groups, in order; the MCP servers started for it are stopped before it returns."""
    ctx = ListingContext(config, workspace)
    try:
        return list(await asyncio.gather(*(_one(toolset, selector, ctx) for toolset, selector in
                                           _groups(config, ref))))
    finally:
        await ctx.resources.aclose()


def list_tools(config: Config, ref: str | None = None, *, workspace: Path | None = None) -> list[ToolGroup]:
    """``list_tools_async`` from synchronous code, a notebook's cell included (whose thread may
    already run an event loop): it runs in a thread of its own."""
    found: list[list[ToolGroup]] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.append(asyncio.run(list_tools_async(config, ref, workspace=workspace)))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=work, name="gorgon-list-tools", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return found[0]

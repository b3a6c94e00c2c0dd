"""``mcp: SERVER/TOOL``: one tool of an MCP server, called directly ``with`` its arguments, no model.

::

    - id: listing
      mcp: fs/list_directory
      with: {path: "{{ inputs.folder }}"}

The server is one of the config's ``[mcp.servers.NAME]``; it starts when the step first
needs it and stops when the run ends. The step's output is what the tool answered (its
text). A tool whose annotations do not say it only reads waits for a person's approval
before it runs, its exact arguments shown, unless ``auto_approve: true`` on the step, or
the config's ``[tools] auto_approve`` or the server's ``auto_approve`` names it.

Such a write goes through the store's write journal, as an integration's does: a resumed
run takes the result of a call that was done, and one cut off while it ran fails its step
with what to check (unless the tool says calling it twice is harmless). A replay takes the
step's recorded output and calls nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from gorgon_nb.errors import Problem, StepError, ToolError
from gorgon_nb.model.approval import rejection
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.tools import ToolSet, find_toolset
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext
    from gorgon_nb.model.tools import Tool

__all__ = ["KIND", "MCPStep"]

USAGE = "write it as mcp: SERVER/TOOL (a server of your config's [mcp.servers], and one of its tools)"


class MCPStep(StepBase):
    """A call of one MCP tool: ``mcp`` names the server and the tool, ``with`` its arguments.

    A tool that may write waits for a person's approval first, unless ``auto_approve: true``
    (or the config's ``[tools]`` or ``[mcp.servers.NAME] auto_approve``) says otherwise.
    """

    mcp: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    auto_approve: StrictBool = False
    kind: Literal["mcp"] = "mcp"


def _toolset() -> ToolSet:
    found = find_toolset("mcp")
    if found is None:  # the tool set comes with gorgon-nb; only a broken install lacks it
        raise StepError("the 'mcp' tool set is not available: reinstall gorgon-nb")
    return found


def _syntax(reference: str) -> str | None:
    """What is wrong with ``SERVER/TOOL``, or None."""
    server, slash, tool = reference.strip().partition("/")
    if not slash or not server or not tool.strip():
        return f"'{reference}' does not name one tool: {USAGE}"
    toolset = _toolset()
    return toolset.check(reference.strip(), None) if toolset.check else None


def check(step: MCPStep, checks: KindChecks) -> None:
    problem = _syntax(step.mcp)
    if problem:
        checks.problem(("mcp",), problem)


def needs(step: MCPStep, config: Config) -> Problem | None:
    """The server must be declared in the config."""
    toolset = _toolset()
    problem = toolset.check(step.mcp.strip(), config) if toolset.check else None
    return Problem(problem, "mcp", "") if problem else None


async def _tool(step: MCPStep, ctx: StepContext) -> tuple[Tool, Any]:
    problem = _syntax(step.mcp)
    if problem:  # compile_workflow checks this; a step built by hand may not have been
        raise StepError(problem)
    tool_ctx = ctx.tool_context()
    try:
        found = await _toolset().tools(step.mcp.strip(), tool_ctx)
    except ToolError as exc:
        raise StepError(str(exc)) from None
    return found[0], tool_ctx


def _approved(step: MCPStep, config: Config, tool: Tool) -> bool:
    from gorgon_nb.engine.tools import tool_approved

    return tool_approved(step, config, tool, None)


async def run(step: MCPStep, ctx: StepContext) -> Any:
    """Call the tool once; a write waits for approval, and is not done twice across a resume."""
    tool, tool_ctx = await _tool(step, ctx)
    arguments = ctx.value("with") or {}
    if not isinstance(arguments, dict):
        raise StepError(f"'with' of step '{ctx.key}' must give the tool's arguments as a mapping, "
                        f"not {type(arguments).__name__}")
    journal = ctx.journal if tool.writes else None
    at = (ctx.run_id, ctx.key, ctx.item)
    if journal is not None and (record := journal.get(*at)) is not None:
        if record.state == "done":
            ctx.notice(f"{ctx.key}: {tool.name} was called before the run stopped; its result is used, "
                       "it was not called again")
            return record.result
        if not tool.idempotent:
            raise ToolError(
                f"the call of {tool.name} by step '{ctx.key}' was running when the run stopped, so what it writes "
                f"may or may not have happened. Check it; to call it again, start a new run from this step: "
                f"gorgon fork {ctx.run_id} --from {step.id}", fatal=True)
    if tool.writes and not _approved(step, ctx.config, tool):
        key = ctx.key if ctx.item is None else f"{ctx.key}[{ctx.item}]"
        decision = await ctx.approval("before", 1, f"{tool.name} ({key})", _preview(tool, arguments),
                                      approvers=[], timeout=None, on_timeout="reject", key=key)
        if not decision.approved:
            raise rejection(decision)
    if journal is not None:
        journal.note_sending(*at, "mcp", tool.name)
    import asyncio

    timeout = tool.timeout or 120.0
    try:
        try:
            async with asyncio.timeout(timeout):
                output = await tool.run(dict(arguments), tool_ctx)
        except TimeoutError:
            raise ToolError(f"{tool.name} did not finish within {timeout:g}s (the timeout of its server, "
                            f"[mcp.servers.{step.mcp.partition('/')[0]}])", unsure=True) from None
    except ToolError as exc:
        if journal is not None and not exc.unsure:
            journal.forget(*at)  # the server answered that it failed: a resume may call it again
        elif journal is not None and not tool.idempotent:
            exc.args = (f"{exc}. It may have written something anyway: check before running it again",)
        raise
    if journal is not None:
        journal.note_done(*at, output)
    return output


def _preview(tool: Tool, arguments: dict[str, Any]) -> str:
    shown = json.dumps(arguments, indent=2, default=str, ensure_ascii=False)
    return f"`{tool.name}` will be called with:\n\n```json\n{shown}\n```"


def preview(step: MCPStep, ctx: StepContext) -> str:
    """What an approval asked by ``approval: before`` on the step shows."""
    shown = json.dumps(ctx.value("with"), indent=2, default=str, ensure_ascii=False)
    return f"`mcp:{step.mcp}` will be called with:\n\n```json\n{shown}\n```"


KIND = StepKind(
    key="mcp", model=MCPStep, run=run, check=check, needs=needs, preview=preview,
    templates=lambda step: {"with": step.with_},
)

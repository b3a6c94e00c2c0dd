"""What the kinds that ask a model check of their ``tools`` (see ``gorgon_nb.model.tools``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import Problem, did_you_mean
from gorgon_nb.model.tools import all_toolsets, find_toolset, parse_tool_ref

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.compile import KindChecks

__all__ = ["check_tools", "tools_code_use", "tools_needs"]


def check_tools(step: Any, checks: KindChecks) -> None:
    """Each tool the step lists names a known tool set, and a tool the set has."""
    for index, ref in enumerate(step.tools or []):
        parsed = parse_tool_ref(ref)
        toolset = find_toolset(parsed.toolset)
        if toolset is None:
            checks.problem(("tools", index), f"unknown tool set '{parsed.toolset}' (in '{ref}')",
                           did_you_mean(parsed.toolset, all_toolsets()))
        elif toolset.check is not None and (problem := toolset.check(parsed.selector, None)):
            checks.problem(("tools", index), problem)


def tools_needs(step: Any, config: Config) -> Problem | None:
    """What the config lacks for the step's tools (an MCP server it does not declare)."""
    from gorgon_nb.engine.tools import step_tool_refs

    for ref in step_tool_refs(step, config, getattr(step, "role", None)):
        parsed = parse_tool_ref(ref)
        toolset = find_toolset(parsed.toolset)
        if toolset is None:
            return Problem(f"unknown tool set '{parsed.toolset}' (in '{ref}')", "tools",
                           did_you_mean(parsed.toolset, all_toolsets()))
        if toolset.check is not None and (problem := toolset.check(parsed.selector, config)):
            return Problem(problem, "tools", "")
    return None


def tools_code_use(step: Any, base_dir: Path | None, cell: bool) -> str | None:
    """What of the step's tools needs both consents: tools that run code, a workspace outside its folder."""
    running = []
    for ref in step.tools or []:
        parsed = parse_tool_ref(ref)
        toolset = find_toolset(parsed.toolset)
        if toolset is not None and toolset.runs_code(parsed.selector) and not (
                cell and parsed.toolset == "python" and (parsed.selector or "").startswith("__main__:")):
            running.append(ref)
    if running:
        return f"offers its model tools that run code ({', '.join(running)})"
    workspace = getattr(step, "workspace", None)
    if workspace:
        base = (base_dir or Path.cwd()).resolve()
        if not (base / Path(workspace).expanduser()).resolve().is_relative_to(base):
            return f"lets its tools work in {workspace}, outside the workflow's folder"
    return None

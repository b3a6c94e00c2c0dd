"""``gorgon tools`` and ``%gorgon tools``: every tool set's tools, the MCP servers started to list
theirs; a server that fails, or a set that raises, gets a line of its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from mcp_support import declare, npm_server
from support import env_without_keys

from gorgon_nb.config import load_config
from gorgon_nb.model.tools import Tool, ToolSet, find_toolset, register
from gorgon_nb.tools.catalog import list_tools

GORGON = str(Path(sys.executable).with_name("gorgon"))


async def _raising(selector: str | None, ctx: Any) -> list[Tool]:
    raise RuntimeError("this set is broken on purpose")


if find_toolset("listbroken") is None:
    register(ToolSet("listbroken", "a tool set that cannot list itself", _raising))


def gorgon(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GORGON, *args], env={**env_without_keys(), "GORGON_HOME": str(home), "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=180)


def servers(home: Path) -> None:
    declare(home, {"every": {"command": npm_server("everything")}, "gone": {"command": "no-such-mcp-server-here"}})


def test_gorgon_tools_lists_each_server_and_says_why_one_fails(home: Path) -> None:
    servers(home)
    done = gorgon(home, "tools")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"^mcp:every/echo\s+reads\s+Echoes back the input string", out, re.M)
    assert re.search(r"^mcp:every/toggle-simulated-logging\s+writes\s+", out, re.M)
    assert "mcp:gone" in out and "the MCP server 'gone' (started with no-such-mcp-server-here) could not start" in out
    assert "Traceback" not in out + done.stderr


def test_gorgon_tools_of_one_server_as_json(home: Path) -> None:
    servers(home)
    done = gorgon(home, "tools", "mcp:every/get-sum", "--json")
    assert done.returncode == 0, done.stderr
    (group,) = json.loads(done.stdout)
    assert group["ref"] == "mcp:every/get-sum" and group["error"] is None
    assert group["tools"] == [{"name": "mcp:every/get-sum", "writes": False, "runs_code": False,
                               "description": "Returns the sum of two numbers"}]


def test_gorgon_tools_of_a_failing_server_or_an_unknown_set_exits_non_zero(home: Path) -> None:
    servers(home)
    failed = gorgon(home, "tools", "mcp:gone")
    assert failed.returncode == 1 and "could not start: no such command" in failed.stdout
    unknown = gorgon(home, "tools", "mpc:every")
    assert unknown.returncode == 2 and "no tool set 'mpc'" in unknown.stderr and "did you mean 'mcp'" in unknown.stderr


def test_a_set_that_raises_is_one_line_and_the_others_are_listed(home: Path) -> None:
    servers(home)
    groups = {group.ref: group for group in list_tools(load_config())}
    assert groups["listbroken"].error == "RuntimeError: this set is broken on purpose"
    assert "mcp:every/echo" in [tool.name for tool in groups["mcp:every"].tools]
    assert groups["mcp:gone"].error and not groups["mcp:gone"].tools


def test_without_servers_the_listing_says_how_to_declare_one(home: Path) -> None:
    for ref in (None, "mcp"):
        groups = {group.ref: group for group in list_tools(load_config(), ref)}
        assert groups["mcp"].tools == [] and groups["mcp"].error is None
        assert groups["mcp"].note == f"no MCP server is declared: add [mcp.servers.NAME] to {home / 'config.toml'}"


def test_the_magic_lists_the_tools_in_a_notebook(home: Path, ip: InteractiveShell) -> None:
    servers(home)
    table = ip.run_line_magic("gorgon", "tools mcp:every")
    text = repr(table)
    assert "mcp:every/echo" in text and "Echoes back the input string" in text
    markdown = table._repr_markdown_()
    assert "| `mcp:every/get-sum` | reads |" in markdown
    failing = repr(ip.run_line_magic("gorgon", "tools mcp:gone"))
    assert "could not list: the MCP server 'gone'" in failing

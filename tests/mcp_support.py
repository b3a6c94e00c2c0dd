"""What the MCP tests share: the npm servers, a config that declares servers, a scripted model.

The official servers (``@modelcontextprotocol/server-filesystem`` and ``-everything``) are
installed by ``scripts/test.sh`` into ``.mcp-servers/`` at the versions pinned in
``tests/mcp-servers/``; a test run without them installs them the same way, and the tests
that need them are skipped only when npm itself is missing.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO

from gorgon_nb.model.tools import wire_name
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Completion, LLMRequest, ToolCall

SERVERS = REPO / ".mcp-servers"
PINNED = REPO / "tests" / "mcp-servers"


def npm_server(name: str) -> str:
    """The command of an official MCP server (``filesystem``, ``everything``), installed if need be."""
    command = SERVERS / "node_modules" / ".bin" / f"mcp-server-{name}"
    if command.exists():
        return str(command)
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so the official MCP servers cannot be (scripts/test.sh installs them)")
    SERVERS.mkdir(exist_ok=True)
    with (SERVERS / ".installing").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test worker may be installing them right now
        if not command.exists():
            for file in ("package.json", "package-lock.json"):
                shutil.copy(PINNED / file, SERVERS / file)
            subprocess.run([npm, "ci", "--prefix", str(SERVERS), "--no-audit", "--no-fund"], check=True,
                           capture_output=True, timeout=600)
    assert command.exists(), f"npm ci did not install {command}"
    return str(command)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def declare(home: Path, servers: dict[str, dict[str, Any]], extra: str = "") -> Path:
    """Write GORGON_HOME/config.toml declaring ``servers`` as ``[mcp.servers.NAME]``."""
    lines = [extra]
    for name, values in servers.items():
        lines.append(f"[mcp.servers.{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def python_server(log: Path, **more: Any) -> dict[str, Any]:
    """The test server of ``gorgon_nb.testing.mcp_server`` over stdio, logging calls to ``log``."""
    return {"command": sys.executable, "args": ["-m", "gorgon_nb.testing.mcp_server", "--stdio", "--log", str(log)],
            **more}


class Script:
    """A model (registered as ``offline``) that asks for the calls of its script, turn by turn, then
    answers with the results it read."""

    name = "offline"

    def __init__(self, *turns: list[tuple[str, dict[str, Any]]]) -> None:
        self.turns = turns
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest, *, on_delta: Any = None) -> Completion:
        self.requests.append(request)
        asked = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
        results = [m.content for m in request.messages if m.role == "tool"]
        if getattr(request, "tool_choice", None) == "none" or asked >= len(self.turns):
            return Completion("answer: " + " | ".join(results), Usage(calls=1))
        calls = tuple(ToolCall(f"c{asked}-{i}", wire_name(name), args) for i, (name, args) in
                      enumerate(self.turns[asked]))
        return Completion("", Usage(calls=1), tool_calls=calls)

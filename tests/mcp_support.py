"""What the MCP tests share: the npm servers and a config that declares servers.

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


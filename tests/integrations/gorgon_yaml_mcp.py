"""An MCP server over stdio with the GitHub and Slack tools Gorgon's MCP examples call.

``python gorgon_yaml_mcp.py LOG``: each call is logged to LOG as a JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main(log: Path) -> None:
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer("gorgon-yaml-test")
    reads = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
    writes = ToolAnnotations(read_only_hint=False, idempotent_hint=False)

    def logged(tool: str, **arguments: Any) -> None:
        with log.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")

    @server.tool(annotations=reads)
    def get_pull_request(owner: str, repo: str, pull_number: str) -> str:
        """A pull request's title and state."""
        logged("get_pull_request", owner=owner, repo=repo, pull_number=pull_number)
        return json.dumps({"title": f"PR {pull_number} of {owner}/{repo}", "state": "open"})

    @server.tool(annotations=reads)
    def get_pull_request_diff(owner: str, repo: str, pull_number: str) -> str:
        """A pull request's diff."""
        logged("get_pull_request_diff", owner=owner, repo=repo, pull_number=pull_number)
        return "--- a/app.py\n+++ b/app.py\n-    return a - b\n+    return a + b\n"

    @server.tool(annotations=writes)
    def send_message(channel: str, text: str) -> str:
        """Post a message to a channel."""
        logged("send_message", channel=channel, text=text)
        return json.dumps({"ok": True, "channel": channel})

    server.run("stdio")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

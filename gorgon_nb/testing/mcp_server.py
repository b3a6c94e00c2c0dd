"""A small MCP server for tests, built with the ``mcp`` SDK's ``MCPServer``: over streamable
HTTP on a loopback port, or over stdio.

Its tools: ``add`` (reads), ``note`` (writes: appends a line to a file), ``fail`` (answers
with an error result), ``hang`` (never answers in time), ``header`` (a request header it
got, over HTTP) and ``crash`` (the server dies mid-call). Every call is logged, as a JSON line, to the log file before it does anything,
so a test can count the calls a run made, across a crash or a resume::

    with MCPTestServer(tmp_path / "calls.jsonl") as server:   # a subprocess, over HTTP
        config = f'[mcp.servers.demo]\\nurl = "{server.url}"'
        ...
        assert [call["tool"] for call in server.calls()] == ["add", "note"]

Over stdio (a config's ``command``)::

    python -m gorgon_nb.testing.mcp_server --stdio --log calls.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["MCPTestServer", "build_server", "main", "stdio_command"]


def build_server(log: Path, notes: Path | None = None) -> Any:
    """The server (an ``mcp.server.mcpserver.MCPServer``), logging every call to ``log``."""
    import anyio
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations

    server = MCPServer("gorgon-test")
    reads = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
    writes = ToolAnnotations(read_only_hint=False, idempotent_hint=False)
    notes = notes or log.with_name(log.stem + ".notes.txt")

    def logged(tool: str, **arguments: Any) -> None:
        with log.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"tool": tool, "arguments": arguments, "pid": os.getpid()}) + "\n")

    @server.tool(annotations=reads)
    def add(a: int, b: int) -> str:
        """Add two whole numbers."""
        logged("add", a=a, b=b)
        return str(a + b)

    @server.tool(annotations=writes)
    async def note(text: str, wait: float = 0.0) -> str:
        """Append a line of text to the notes file (after ``wait`` seconds)."""
        logged("note", text=text, wait=wait)
        await anyio.sleep(wait)
        with notes.open("a", encoding="utf-8") as file:
            file.write(text + "\n")
        return f"noted: {text}"

    @server.tool(annotations=reads)
    def fail(message: str) -> str:
        """Answer with an error result saying ``message``."""
        logged("fail", message=message)
        raise ToolError(message)

    @server.tool(annotations=reads)
    async def hang(seconds: float = 3600.0) -> str:
        """Wait ``seconds`` before answering."""
        logged("hang", seconds=seconds)
        await anyio.sleep(seconds)
        return "woke up"

    def header(name: str, ctx: Any) -> str:
        """The value of the request's header ``name`` (over HTTP), or "(none)"."""
        logged("header", name=name)
        headers = {key.lower(): value for key, value in (ctx.headers or {}).items()}
        return headers.get(name.lower(), "(none)")

    header.__annotations__["ctx"] = Context  # the SDK passes the request's context to a parameter of this type
    server.tool(annotations=reads)(header)

    @server.tool(annotations=reads)
    def crash() -> str:
        """Make the server exit at once, in the middle of the call."""
        logged("crash")
        sys.stderr.write("gorgon-test: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)

    return server


def stdio_command(log: Path) -> tuple[str, list[str]]:
    """The command and args that start this server over stdio (for a config's ``[mcp.servers.NAME]``)."""
    return sys.executable, ["-m", "gorgon_nb.testing.mcp_server", "--stdio", "--log", str(log)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MCPTestServer:
    """The test server in a subprocess, over streamable HTTP at ``url``; ``calls()`` reads its log."""

    def __init__(self, log: Path, *, startup_timeout: float = 60.0) -> None:
        self.log = Path(log)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MCPTestServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gorgon_nb.testing.mcp_server", "--port", str(self.port), "--log", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the test MCP server exited at start (code {self._process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the test MCP server did not listen on port {self.port} within {self.startup_timeout:g}s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def calls(self) -> list[dict[str, Any]]:
        """Every call the server received, oldest first."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def __enter__(self) -> MCPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A small MCP server for tests.")
    parser.add_argument("--log", required=True, type=Path, help="the file each call is logged to (JSON lines)")
    parser.add_argument("--port", type=int, default=0, help="serve streamable HTTP on this loopback port")
    parser.add_argument("--stdio", action="store_true", help="serve over stdin and stdout")
    args = parser.parse_args(argv)
    server = build_server(args.log)
    if args.stdio:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port or _free_port())


if __name__ == "__main__":
    main()

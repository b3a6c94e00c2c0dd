"""One connection to an MCP server, held for a run: started, asked, and stopped.

The ``mcp`` SDK's clients are anyio context managers that must be entered and left in
the same task, so ``MCPConnection`` holds its transport and ``ClientSession`` in a task of
its own: the task enters them, initializes the session, lists the tools, says it is ready,
then waits until it is told to stop and leaves them. Calls come from other tasks; a
call races the holding task, so a server that dies mid-call fails that call at once
rather than leaving it to wait for an answer that will never come.

A server's stderr goes to a pipe read by a thread into a bounded buffer: it never spills
into a notebook's output, and its last lines explain a server that fails to start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import ToolError
from gorgon_nb.secrets import redact, remember

if TYPE_CHECKING:
    from gorgon_nb.config import MCPServerSettings

__all__ = ["MCPConnection", "StderrTail", "describe_command", "looks_secret", "result_text"]

STOP_SECONDS = 10.0  # the SDK bounds its own shutdown (stdin closed, then TERM, then KILL) well within this
TAIL_LINES = 40
logger = logging.getLogger("gorgon_nb.mcp")
# The SDK logs a server's hiccups (a session it could not end, a line it could not parse) as
# warnings; without a handler of its own they would reach stderr, and so a notebook's output.
logging.getLogger("mcp").addHandler(logging.NullHandler())


class StderrTail:
    """A pipe a server writes its stderr to, and the last lines of what it wrote."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        read, write = os.pipe()
        self.file = os.fdopen(write, "w")
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._read, args=(os.fdopen(read, "rb"),), daemon=True,
                                        name="gorgon-mcp-stderr")
        self._thread.start()

    def _read(self, pipe: Any) -> None:
        with pipe:
            for line in pipe:  # ends when every copy of the write end is closed (the server exited)
                self._lines.append(line.decode("utf-8", "replace").rstrip()[:500])

    def close(self) -> None:
        """Close this process's copy of the write end (the server keeps its own)."""
        with contextlib.suppress(OSError):
            self.file.close()

    def text(self, wait: float = 0.0) -> str:
        if wait:
            self._thread.join(wait)
        return redact("\n".join(line for line in self._lines if line))


_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|AUTH|CREDENTIAL|COOKIE|SESSION", re.IGNORECASE)


def looks_secret(name: str, value: str) -> bool:
    """Whether a variable or header holds a credential: by its name, or by a value shaped like a
    key (long, letters and digits, no spaces or slashes). A path or a log level is not one: it
    would otherwise be scrubbed from everything shown."""
    if not value.strip():
        return False
    if _SECRET_NAME.search(name):
        return True
    return (len(value) >= 20 and not re.search(r"[\s/\\]", value) and bool(re.search(r"\d", value))
            and bool(re.search(r"[A-Za-z]", value)))


def describe_command(server: MCPServerSettings) -> str:
    """How the server is reached, as a person would type it (secrets scrubbed)."""
    if server.url:
        return server.url
    return redact(shlex.join([server.command or "", *server.args]))


def _where(server: MCPServerSettings) -> str:
    return f"[mcp.servers.{server.name}] in your config.toml"


class MCPConnection:
    """An MCP server's session, held by a task of its own (see the module's docstring)."""

    def __init__(self, server: MCPServerSettings, base_dir: Path | None) -> None:
        self.server = server
        self.base_dir = base_dir
        self.tools: list[Any] = []  # the server's tools, as the SDK lists them (mcp.types.Tool)
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._tail: StderrTail | None = None
        self._restarting = asyncio.Lock()  # calls made side by side after a crash start it once
        for name, value in (*server.env.items(), *server.headers.items()):
            if looks_secret(name, value):  # a token given to the server must never be shown or kept
                remember(value)
                remember(value.split()[-1])  # "Bearer TOKEN": the token alone too

    # -- starting and stopping ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and list its tools; a fatal ``ToolError`` that says what to check."""
        server = self.server
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._tail = StderrTail() if server.command else None
        self._task = asyncio.create_task(self._hold(ready), name=f"gorgon-mcp-{server.name}")
        try:
            async with asyncio.timeout(server.startup_timeout):
                await asyncio.shield(ready)
        except TimeoutError:
            await self._abandon(ready)
            raise ToolError(self._failed(f"did not start within {server.startup_timeout:g}s (startup_timeout)"),
                            fatal=True) from None
        except BaseException:
            await self._abandon(ready)
            raise

    async def _abandon(self, ready: asyncio.Future[None]) -> None:
        await self.stop()
        if ready.done() and not ready.cancelled():
            ready.exception()  # seen: what the holder said as it was stopped is told otherwise

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            if self._session is None:
                task.cancel()  # still starting (a server that does not answer): nothing to end politely
            if not (await asyncio.wait({task}, timeout=STOP_SECONDS))[0]:
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_SECONDS)
        if self._tail is not None:
            self._tail.close()
        self._session = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self._session is not None

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        from mcp import ClientSession

        try:
            async with self._transport() as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self.tools = await _list_tools(session)
                self._session = session
                if self._tail is not None:
                    self._tail.close()  # the server holds its own copy; ours would keep the reader from its end
                ready.set_result(None)
                await self._stop.wait()
        except Exception as exc:
            if self._tail is not None:
                self._tail.close()  # so that the reader sees the end of what the server wrote
            if not ready.done():
                ready.set_exception(ToolError(self._failed(_reason(exc)), fatal=True))
            else:
                logger.info("the MCP server '%s' stopped: %s", self.server.name, redact(_reason(exc)))
        finally:
            self._session = None
            if not ready.done():
                ready.set_exception(ToolError(self._failed("stopped before it was ready"), fatal=True))

    def _transport(self) -> Any:
        server = self.server
        if server.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            client = create_mcp_http_client(headers=dict(server.headers) or None)
            return _with_client(client, streamable_http_client(server.url, http_client=client))
        from mcp import StdioServerParameters, stdio_client

        cwd = None
        if server.cwd:
            cwd = Path(server.cwd).expanduser()
            cwd = cwd if cwd.is_absolute() else (self.base_dir or Path.cwd()) / cwd
        parameters = StdioServerParameters(command=server.command or "", args=list(server.args),
                                           env=dict(server.env) or None, cwd=cwd)
        assert self._tail is not None
        return stdio_client(parameters, errlog=self._tail.file)

    def _failed(self, reason: str) -> str:
        server = self.server
        how = "reached at" if server.url else "started with"
        text = f"the MCP server '{server.name}' ({how} {describe_command(server)}) {reason}."
        stderr = self._tail.text(wait=1.0) if self._tail is not None else ""
        if stderr:
            text += f"\nIts last words on stderr:\n{stderr[-2000:]}"
        if server.url:
            text += f"\nCheck that the server runs and answers MCP at that URL ({_where(server)})."
        else:
            text += (f"\nCheck the command, its args and env in {_where(server)}: run the command in a terminal "
                     "to see whether it starts.")
        return text

    # -- calling -----------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> Any:
        """Call ``tool``; its result (``mcp.types.CallToolResult``), or a ``ToolError`` naming the server."""
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        name = self.server.name
        if not self.alive:
            async with self._restarting:
                if not self.alive:  # it stopped since (a crash in an earlier call): start it again
                    await self.stop()
                    await self.start()
        task = self._task
        assert task is not None
        call = asyncio.ensure_future(self._session.call_tool(tool, arguments, read_timeout_seconds=timeout))
        try:
            done, _ = await asyncio.wait({call, task}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            call.cancel()
            raise
        if call not in done:
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            await self.stop()
            raise ToolError(self._crashed(tool), unsure=True)
        try:
            return call.result()
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED or not self.alive:
                await self.stop()  # the next call starts it again
                raise ToolError(self._crashed(tool), unsure=True) from None
            if exc.code == REQUEST_TIMEOUT:
                raise ToolError(f"the MCP server '{name}' did not answer {tool} within {timeout:g}s (the timeout "
                                f"of {_where(self.server)})", unsure=True) from None
            raise ToolError(f"the MCP server '{name}' refused the call of {tool}: {redact(exc.message)}") from None
        except (ConnectionError, OSError) as exc:
            raise ToolError(f"the MCP server '{name}' could not be reached for {tool}: {redact(str(exc))}",
                            unsure=True) from None

    def _crashed(self, tool: str) -> str:
        text = f"the MCP server '{self.server.name}' stopped while {tool} ran; it is started again for the next call"
        stderr = self._tail.text(wait=1.0) if self._tail is not None else ""
        return text + (f". Its last words on stderr:\n{stderr[-1000:]}" if stderr else "")


@contextlib.asynccontextmanager
async def _with_client(client: Any, transport: Any) -> Any:
    async with client, transport as streams:
        yield streams


async def _list_tools(session: Any) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            from mcp import types

            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        found += page.tools
        cursor = page.next_cursor
        if not cursor or len(found) > 10_000:
            return found


def _reason(exc: BaseException) -> str:
    """Why a server could not be started or reached, from the exception the SDK raised."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions[:3])
    if isinstance(exc, FileNotFoundError):
        return f"could not start: no such command ({exc.filename or exc})"
    if isinstance(exc, PermissionError):
        return f"could not start: the command may not be run ({exc})"
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    if "Connection closed" in message or isinstance(exc, EOFError):
        return "exited before it answered"
    return f"failed: {type(exc).__name__}: {redact(message)}"


def result_text(result: Any) -> str:
    """What the model reads of a tool's result: its text, other kinds of content described briefly."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4:,} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource: {block.uri}" + (f" ({block.name})" if block.name else "") + "]")
        elif kind == "resource":
            inner = block.resource
            text = getattr(inner, "text", None)
            parts.append(text if text is not None else f"[resource: {inner.uri}, {inner.mime_type or 'binary'}]")
        else:
            parts.append(f"[{kind or type(block).__name__} content]")
    if not parts and result.structured_content is not None:
        import json

        return json.dumps(result.structured_content, default=str, ensure_ascii=False)
    return "\n".join(parts)

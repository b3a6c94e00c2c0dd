"""Just enough HTTP/1.1 for the loopback servers (``LLMServer``, ``ServiceServer``), on
asyncio streams in a thread, and the queue of faults both keep.

The standard library's ``http.server`` spends a thread per connection; here every
connection is a coroutine on one event loop, so hundreds of slow requests in flight are
cheap. The loop runs in a daemon thread so that sync and async callers can both use it.
"""

from __future__ import annotations

import asyncio
import http
import itertools
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

__all__ = [
    "Closed",
    "FaultQueue",
    "HTTPRequest",
    "LoopServer",
    "ResponseWriter",
    "Served",
    "read_request",
]

_request_ids = itertools.count(1)
T = TypeVar("T")


class Closed(Exception):
    """Stop serving this connection (the client left, or a fault closes it)."""


@dataclass
class HTTPRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""  # the target after "?", still URL-encoded

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


async def read_request(reader: asyncio.StreamReader) -> HTTPRequest | None:
    """The next request on a keep-alive connection, or ``None`` when the client is done."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length") or 0))
    path, _, query = target.partition("?")
    return HTTPRequest(method.upper(), path, headers, body, query)


class ResponseWriter:
    """Writes one response: a JSON body, or a chunked body sent piece by piece."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        # Set by the handler to learn the status it sent, even if the body is cut later.
        self.on_status: Callable[[int], None] | None = None

    async def head(
        self,
        status: int,
        content_type: str,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The status line and headers; ``length=None`` starts a chunked body."""
        if self.on_status is not None:
            self.on_status(status)
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Overloaded" if status == 529 else "Unknown"
        request_id = f"req_loopback{next(_request_ids)}"
        lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}"]
        # Anthropic names the header request-id, OpenAI x-request-id; the SDKs read them.
        lines += [f"request-id: {request_id}", f"x-request-id: {request_id}"]
        if length is None:
            lines += ["transfer-encoding: chunked", "cache-control: no-cache"]
        else:
            lines.append(f"content-length: {length}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self._writer.drain()

    async def json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, *, cut: bool = False
    ) -> None:
        """Send ``payload``; with ``cut``, send half of it and close the connection."""
        raw = json.dumps(payload).encode()
        await self.head(status, "application/json", len(raw), headers)
        self._writer.write(raw[: len(raw) // 2] if cut else raw)
        await self._writer.drain()
        if cut:
            raise Closed

    async def chunk(self, data: bytes) -> None:
        self._writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self._writer.drain()

    async def end_chunks(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()


Handler = Callable[[HTTPRequest, ResponseWriter], Awaitable[None]]


class LoopServer:
    """Serves ``handler`` on ``host:port`` from an event loop in a background thread."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                start = asyncio.start_server(
                    self._accept, self.host, self.port, limit=2**22, backlog=2048
                )
                self._server = loop.run_until_complete(start)
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="gorgon-llm-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._loop, self._thread = None, None
            raise failure[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task, writer in list(self._connections.items()):
                task.cancel()
                writer.close()
            await asyncio.gather(*self._connections, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._loop, self._thread, self._server = None, None, None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The task is made here rather than by asyncio.start_server so that stop() sees
        # every connection, even one whose task has not started yet.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections[task] = writer
        task.add_done_callback(lambda done: self._connections.pop(done, None))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_request(reader)) is not None:
                await self._handler(request, ResponseWriter(writer))
                if not request.keep_alive:
                    break
        except (Closed, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ValueError:  # a request line or chunk size that does not parse
            pass
        finally:
            writer.close()


class Served:
    """The address, ``start``/``stop`` and ``with`` of a server that keeps its ``LoopServer`` in ``_http``."""

    _http: LoopServer

    @property
    def url(self) -> str:
        return f"http://{self._http.host}:{self._http.port}"

    @property
    def port(self) -> int:
        return self._http.port

    def start(self) -> Self:
        if not self._http.running:
            self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(eq=False)  # removed by identity
class _Queued(Generic[T]):
    item: T
    uses: int


class FaultQueue(Generic[T]):
    """Faults that each apply to the next ``times`` requests they match, earliest first.

    Not locked: a server calls it under the lock that also guards its request log.
    """

    def __init__(self) -> None:
        self._queued: list[_Queued[T]] = []

    def add(self, item: T, times: int) -> None:
        self._queued.append(_Queued(item, times))

    def take(self, applies: Callable[[T], bool]) -> T | None:
        """The first item that ``applies`` to a request, with one of its uses spent."""
        for queued in self._queued:
            if applies(queued.item):
                queued.uses -= 1
                if queued.uses == 0:
                    self._queued.remove(queued)
                return queued.item
        return None

    @property
    def pending(self) -> list[T]:
        """Each queued item once for every use it has left."""
        return [queued.item for queued in self._queued for _ in range(queued.uses)]

    def clear(self) -> None:
        self._queued.clear()

"""A real HTTP server that speaks the OpenAI and Anthropic APIs on the loopback interface.

The official SDKs cannot be intercepted below their HTTP client, so tests point them at
this server with ``base_url``. It runs its own event loop in a background thread, which
makes it usable from sync and async tests alike, and serves each request as a coroutine,
so a hundred slow requests in flight cost next to nothing. Faults (error statuses,
dropped connections, truncated streams, slow first tokens) are queued per request.

    with LLMServer(latency=0.05) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")
        ...  # the code under test

Close the async SDK clients you point at it (``await client.close()``). An unclosed
``AsyncOpenAI`` or ``AsyncAnthropic`` schedules its cleanup from ``__del__`` on the loop
of whichever thread the garbage collector runs in, possibly this server's; collecting one
while another client was busy was seen to stall that other client's requests.

Tool calls: a responder may return ``ToolCalls`` instead of text, to ask for one call or
several in one turn (optionally after some ``text``); the server sends them in the
protocol's shape (OpenAI ``tool_calls`` with finish reason ``tool_calls``, Anthropic
``tool_use`` blocks with stop reason ``tool_use``; streamed, the arguments come in JSON
fragments). A request whose ``tool_choice`` is none gets the text alone, as from the
services. Each ``RecordedRequest`` notes the ``tools`` a request offered (their names)
and the ``tool_results`` its conversation carries back, so a test can script a model that
calls a tool and then answers from the result::

    def model(request: RecordedRequest) -> str | ToolCalls:
        if not request.tool_results:
            return ToolCalls(("lookup", {"q": "tea"}), ("lookup", {"q": "milk"}))
        return "Found: " + ", ".join(r.content for r in request.tool_results)

As the real services do, it refuses (HTTP 400) a conversation whose tool turns do not fit
together: a call without its result, a result without its call, and on Anthropic's API
tool blocks in a request that offers no tools.

Run ``python -m gorgon_nb.testing.llm_server --port 8765`` to serve from a shell.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from gorgon_nb.testing import _llm_cli, _wire, _wire_tools
from gorgon_nb.testing._http import (
    Closed,
    FaultQueue,
    HTTPRequest,
    LoopServer,
    ResponseWriter,
    Served,
)
from gorgon_nb.testing._wire import TokenCounts, WireProtocol
from gorgon_nb.testing._wire_tools import CallTool, ToolCalls, ToolResult

__all__ = ["CallTool", "Fault", "FaultKind", "LLMServer", "RecordedRequest", "Responder", "ToolCalls",
           "ToolResult", "main"]

FaultKind = Literal["status", "drop", "truncate", "slow_first_token", "stream_error"]
_ENDPOINTS: dict[tuple[str, str], WireProtocol] = {
    ("POST", "/v1/chat/completions"): "openai",
    ("POST", "/v1/messages"): "anthropic",
}


@dataclass(frozen=True)
class Fault:
    """Something to go wrong with one request.

    ``status``: answer ``status`` with the protocol's error body (and a ``Retry-After``
    header when ``retry_after`` is set). ``drop``: close the connection without a response.
    ``truncate``: send ``after_pieces`` text pieces, then close the connection in the
    middle of the body; with ``clean_close`` the HTTP body ends properly but the stream's
    final events are still missing (a plain reply is cut in half). ``slow_first_token``:
    wait ``delay`` seconds between the stream's first event and its first text (before
    a plain reply). ``stream_error``: send ``after_pieces`` pieces, then an error event
    (``status`` picks its type), as an overloaded service does (a plain request gets
    ``status``). ``path`` and ``protocol`` restrict which requests the fault applies to.
    """

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    message: str | None = None
    after_pieces: int = 1
    clean_close: bool = False
    delay: float = 1.0
    path: str | None = None
    protocol: WireProtocol | None = None

    def matches(self, protocol: WireProtocol, path: str) -> bool:
        if self.protocol is not None and self.protocol != protocol:
            return False
        return self.path is None or self.path == path


@dataclass
class RecordedRequest:
    """One request the server received, and what it answered."""

    protocol: WireProtocol
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    model: str | None = None
    stream: bool = False
    prompt: str = ""
    last_user_message: str = ""
    received_at: float = field(default_factory=time.time)
    status: int | None = None
    reply: str | None = None
    fault: FaultKind | None = None
    tools: list[str] = field(default_factory=list)  # the names of the tools offered
    tool_results: list[ToolResult] = field(default_factory=list)  # those in the conversation
    reply_calls: list[CallTool] = field(default_factory=list)  # the tool calls answered

    @property
    def tool_choice(self) -> str:
        """"none" when the request forbids tool calls (the tools only declared), else "auto"."""
        choice = self.body.get("tool_choice") if isinstance(self.body, dict) else None
        return "none" if choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none") else "auto"


Responder = Callable[[RecordedRequest], "str | ToolCalls | Awaitable[str | ToolCalls]"]


def default_responder(request: RecordedRequest) -> str:
    return f"Loopback reply to: {request.last_user_message[:80]}"


class LLMServer(Served):
    """An OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        latency: float = 0.0,
        responder: Responder | None = None,
        api_key: str | None = None,
        models: list[str] | None = None,
        context_limit: int | None = None,
        cached_tokens: int = 0,
        chunk_words: int = 3,
        *,
        cache_write_tokens: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.latency = latency
        self.responder: Responder = responder or default_responder
        self.api_key = api_key
        self.models = list(models) if models is not None else None
        self.context_limit = context_limit
        self.cached_tokens = cached_tokens
        self.cache_write_tokens = cache_write_tokens
        self.chunk_words = chunk_words
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: FaultQueue[Fault] = FaultQueue()
        self._ids = itertools.count(1)
        self._http = LoopServer(self._dispatch, host, port)

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._requests]

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return self._faults.pending

    def add_fault(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (after earlier faults)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.add(fault, times)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def _take_fault(self, protocol: WireProtocol, path: str) -> Fault | None:
        with self._lock:
            return self._faults.take(lambda fault: fault.matches(protocol, path))

    def _update(self, record: RecordedRequest, **changes: Any) -> None:
        # Records are read from other threads; change them only under the lock.
        with self._lock:
            for name, value in changes.items():
                setattr(record, name, value)

    async def _dispatch(self, request: HTTPRequest, out: ResponseWriter) -> None:
        key = (request.method, request.path)
        guessed: WireProtocol = "anthropic" if "anthropic-version" in request.headers else "openai"
        protocol = _ENDPOINTS.get(key, guessed)
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            body = None
        record = RecordedRequest(protocol, request.method, request.path, request.headers, body)
        out.on_status = lambda status: self._update(record, status=status)
        with self._lock:
            self._requests.append(record)
        if key == ("GET", "/v1/models"):
            models = self.models if self.models is not None else ["loopback-model"]
            await out.json(200, _wire.models_body(protocol, models))
        elif key not in _ENDPOINTS:
            message = f"Unknown request URL: {request.method} {request.path}"
            await out.json(404, _wire.error_body(protocol, 404, message, code="unknown_url"))
        elif not isinstance(body, dict):
            message = "The request body is not a JSON object."
            await out.json(400, _wire.error_body(protocol, 400, message))
        else:
            await self._complete(record, body, out)

    async def _complete(
        self, record: RecordedRequest, body: dict[str, Any], out: ResponseWriter
    ) -> None:
        protocol = record.protocol
        prompt, last_user = _wire.prompt_texts(protocol, body)
        model = str(body.get("model", ""))
        fault = self._take_fault(protocol, record.path)
        self._update(
            record,
            model=model,
            stream=bool(body.get("stream")),
            prompt=prompt,
            last_user_message=last_user,
            fault=fault.kind if fault else None,
            tools=_wire_tools.offered_tools(protocol, body),
            tool_results=_wire_tools.tool_results(protocol, body),
        )
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        prompt_tokens = _wire.count_tokens(prompt)

        async def refuse(
            status: int, message: str, code: str | None = None, **headers: str
        ) -> None:
            await out.json(status, _wire.error_body(protocol, status, message, code=code), headers)

        if fault is not None and fault.kind == "drop":
            raise Closed
        if fault is not None and fault.kind == "status":
            headers = {}
            if (after := fault.retry_after) is not None:
                headers["retry-after"] = (
                    str(int(after)) if float(after).is_integer() else str(after)
                )
            message = fault.message or f"Loopback fault: HTTP {fault.status}"
            await refuse(fault.status, message, **headers)
        elif not self._authorized(record.headers):
            await refuse(401, _wire.unauthorized_message(protocol), "invalid_api_key")
        elif self.models is not None and model not in self.models:
            await refuse(404, _wire.unknown_model_message(protocol, model), "model_not_found")
        elif (refusal := _wire.sampling_refusal(
            protocol, record.headers.get("anthropic-version", ""), body
        )) or (refusal := _wire_tools.tool_refusal(protocol, body)):
            await refuse(400, refusal)
        elif self.context_limit is not None and prompt_tokens > self.context_limit:
            message = _wire.context_length_message(protocol, prompt_tokens, self.context_limit)
            await refuse(400, message, "context_length_exceeded")
        else:
            try:
                text = self.responder(record)
                if inspect.isawaitable(text):
                    text = await text
            except Exception as exc:
                await refuse(500, f"The responder failed: {exc!r}")
                return
            if isinstance(text, ToolCalls) and record.tool_choice == "none":
                # as the services do: with tool_choice none the model answers in words
                await self._answer(record, body, text.text or "(no tool may be called now)", prompt_tokens, fault,
                                   out)
            elif isinstance(text, ToolCalls):
                await self._answer(record, body, text.text, prompt_tokens, fault, out, text)
            else:
                await self._answer(record, body, str(text), prompt_tokens, fault, out)

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        bearer = headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or headers.get("x-api-key") == self.api_key

    async def _answer(
        self,
        record: RecordedRequest,
        body: dict[str, Any],
        text: str,
        prompt_tokens: int,
        fault: Fault | None,
        out: ResponseWriter,
        calls: ToolCalls | None = None,
    ) -> None:
        protocol = record.protocol
        finish = "stop" if protocol == "openai" else "end_turn"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and _wire.count_tokens(text) > limit:
            text = " ".join(text.split()[:limit])
            finish = "length" if protocol == "openai" else "max_tokens"
        cached = min(self.cached_tokens, prompt_tokens)
        written = min(self.cache_write_tokens, prompt_tokens - cached)
        answered = _wire_tools.completion_tokens(text, calls) if calls else _wire.count_tokens(text)
        tokens = TokenCounts(prompt_tokens, answered, cached, written)
        self._update(record, reply=text, reply_calls=list(calls.calls) if calls else [])
        prefix = "chatcmpl-" if protocol == "openai" else "msg_"
        number = next(self._ids)
        ids = {"msg_id": f"{prefix}loopback{number}", "model": record.model or ""}
        if not record.stream:
            # Without a stream, the first token is the whole answer, and an error inside
            # the stream is an error status.
            if fault is not None and fault.kind == "slow_first_token":
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.kind == "stream_error":
                message = fault.message or "Overloaded"
                await out.json(fault.status, _wire.error_body(protocol, fault.status, message))
                return
            if calls is not None:
                payload = _wire_tools.tool_reply_body(
                    protocol, **ids, text=text, calls=calls, tokens=tokens, number=number
                )
            else:
                payload = _wire.reply_body(protocol, **ids, text=text, finish=finish, tokens=tokens)
            await out.json(200, payload, cut=fault is not None and fault.kind == "truncate")
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if calls is not None:
            frames = _wire_tools.tool_stream_frames(
                protocol, **ids, text=text, calls=calls, tokens=tokens,
                include_usage=include_usage, words=self.chunk_words, number=number,
            )
            await _send_stream(protocol, frames, fault, out)
            return
        frames = _wire.stream_frames(
            protocol,
            **ids,
            pieces=_wire.split_pieces(text, self.chunk_words),
            finish=finish,
            tokens=tokens,
            include_usage=include_usage,
        )
        await _send_stream(protocol, frames, fault, out)


async def _send_stream(
    protocol: WireProtocol, frames: _wire.StreamFrames, fault: Fault | None, out: ResponseWriter
) -> None:
    kind = fault.kind if fault is not None else None
    await out.head(200, "text/event-stream")
    for frame in frames.head:
        await out.chunk(frame)
    if fault is not None and kind == "slow_first_token":
        await asyncio.sleep(fault.delay)
    pieces = frames.pieces
    if fault is not None and kind in ("truncate", "stream_error"):
        pieces = pieces[: fault.after_pieces]
    for frame in pieces:
        await out.chunk(frame)
    if fault is not None and kind == "stream_error":
        # Anthropic reports overload mid-stream as overloaded_error (its HTTP 529).
        status = 529 if protocol == "anthropic" and fault.status == 500 else fault.status
        await out.chunk(_wire.stream_error_frame(protocol, status, fault.message or "Overloaded"))
    elif fault is not None and kind == "truncate":
        if not fault.clean_close:
            raise Closed
    else:
        for frame in frames.tail:
            await out.chunk(frame)
    await out.end_chunks()


def main(argv: list[str] | None = None) -> int:
    """Serve from a shell until Ctrl-C (the options are in ``_llm_cli``)."""
    return _llm_cli.serve(LLMServer, argv)


if __name__ == "__main__":
    raise SystemExit(main())

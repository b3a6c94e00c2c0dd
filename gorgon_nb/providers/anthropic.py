"""Anthropic's Messages API.

The ``anthropic`` SDK takes about a second to import, so it is imported on the first call,
not with this module. The client cache, the API key and the translation of SDK exceptions
into ``gorgon_nb.errors.ProviderError`` come from ``gorgon_nb.providers._sdk``; this module
adds the Messages API calls and what Anthropic's error answers mean.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import ProviderError, ProviderUnavailable
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers._sdk import ErrorKind, SDKErrors, SDKProvider, emit, tool_arguments
from gorgon_nb.providers.base import Completion, LLMRequest, Message, TextCallback, ToolCall

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = ["AnthropicProvider"]

_KEY_ENV = "ANTHROPIC_API_KEY"
_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
# The API's wordings for a prompt that does not fit, e.g. "prompt is too long: 210000
# tokens > 200000 maximum" and "input length and `max_tokens` exceed context limit: ...".
_CONTEXT_WORDING = re.compile(r"prompt is too long|exceed context limit|context window", re.I)
# Error types, as sent in error bodies and stream events, and what they mean.
_ERROR_TYPES: dict[str, ErrorKind] = {
    "authentication_error": "auth",
    "permission_error": "auth",
    "rate_limit_error": "rate_limit",
    "not_found_error": "not_found",
}
# Error types that mean "the service had a problem".
_UNAVAILABLE_TYPES = {"api_error", "overloaded_error", "timeout_error"}


class AnthropicProvider(SDKProvider["AsyncAnthropic"]):
    """Claude models through the Anthropic API (key: ``api_key`` or ``ANTHROPIC_API_KEY``)."""

    default_base_url = "https://api.anthropic.com"
    default_key_env = _KEY_ENV
    example_model = "claude-sonnet-4-5"

    def __init__(
        self,
        name: str = "anthropic",
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        super().__init__(name, api_key, base_url, _KEY_ENV, timeout)

    async def _answer(
        self, client: AsyncAnthropic, params: dict[str, Any], model: str
    ) -> Completion:
        message = await client.messages.create(**params)
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = tuple(ToolCall(block.id, block.name, tool_arguments(block.input))
                      for block in message.content if block.type == "tool_use")
        u = message.usage
        counts = (u.input_tokens, u.output_tokens, u.cache_read_input_tokens)
        usage = _usage(*counts, u.cache_creation_input_tokens)
        return Completion(text, usage, message.model or model, message.stop_reason, calls)

    async def _stream(
        self, client: AsyncAnthropic, params: dict[str, Any], model: str, on_delta: TextCallback
    ) -> Completion:
        pieces: list[str] = []
        counts: dict[str, int | None] = {}
        reported, stop_reason, finished = "", None, False
        # Tool calls by content block index: id, name, the input the block opened with, and
        # the pieces of its JSON input (which, when any come, replace the opening input).
        calls: dict[int, tuple[str, str, Any, list[str]]] = {}
        # The raw event stream rather than messages.stream(): the helper hides an early
        # end (it hands back a partial message), and this loop must notice one.
        stream = await client.messages.create(**params, stream=True)
        async with stream:
            async for event in stream:
                if event.type == "message_start":
                    reported = event.message.model
                    counts |= {k: getattr(event.message.usage, k, None) for k in _COUNT_FIELDS}
                elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                    block = event.content_block
                    calls[event.index] = (block.id, block.name, block.input, [])
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    pieces.append(event.delta.text)
                    emit(on_delta, event.delta.text)
                elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    if event.index in calls:
                        calls[event.index][3].append(event.delta.partial_json)
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason
                    # Counts on message_delta are running totals; absent ones keep their value.
                    for k in _COUNT_FIELDS:
                        if (value := getattr(event.usage, k, None)) is not None:
                            counts[k] = value
                elif event.type == "message_stop":
                    finished = True
        if not finished:
            raise self._stream_cut_off(model, "message_stop", len(pieces))
        usage = _usage(*(counts.get(k) for k in _COUNT_FIELDS))
        asked = tuple(ToolCall(id_, name, tool_arguments("".join(parts) if parts else opened or {}))
                      for _, (id_, name, opened, parts) in sorted(calls.items()))
        return Completion("".join(pieces), usage, reported or model, stop_reason, asked)

    def _new_client(self, options: dict[str, Any]) -> AsyncAnthropic:
        import anthropic

        return anthropic.AsyncAnthropic(**options, http_client=anthropic.DefaultAsyncHttpxClient())

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": _messages(request.messages, bool(request.tools)),
        }
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.schema}
                for t in request.tools
            ]
            if request.tool_choice == "none":  # a tool loop's last ask: the tools stay declared
                params["tool_choice"] = {"type": "none"}
        if request.system:  # the API rejects an empty system prompt
            params["system"] = request.system
        # request.temperature is left out on purpose: API version 2026-10-21, which SDK 2.x
        # sends, answers 400 to any temperature, top_p or top_k (SDK 2.x dropped them too).
        return params

    def _error_classes(self) -> SDKErrors:
        import anthropic

        return SDKErrors.of(anthropic, anthropic.AnthropicError)

    def _error_detail(self, exc: Any) -> str:
        return str(exc.api_message or exc.message)

    def _error_kind(self, exc: Any, status: int, detail: str) -> ErrorKind | None:
        kind = str(exc.type or "")
        if kind in _ERROR_TYPES:
            return _ERROR_TYPES[kind]
        if status == 413 or _CONTEXT_WORDING.search(detail):
            return "context"
        return "unavailable" if kind in _UNAVAILABLE_TYPES else None

    def _status_error(self, exc: Any, model: str) -> ProviderError:
        error = super()._status_error(exc, model)
        if isinstance(error, ProviderUnavailable) and exc.status_code < 400:
            # An error event inside a stream that had started on an HTTP 200.
            return ProviderUnavailable(
                f"{self.name} failed in the middle of its answer ({exc.type or ''}): "
                f"{self._error_detail(exc)}",
                provider=self.name,
                model=model,
            )
        return error


def _messages(messages: list[Message], tools: bool) -> list[dict[str, Any]]:
    """The Messages API's turns: an assistant's tool calls become ``tool_use`` blocks after its
    text, and the results that follow them one user turn of ``tool_result`` blocks. The API
    refuses those blocks in a request that offers no tools (the engine keeps a loop's tools
    declared to its end, with ``tool_choice`` none), so there they are told in words instead."""
    out: list[dict[str, Any]] = []
    after_tool = False
    for m in messages:
        if m.role == "tool":
            block: dict[str, Any] = (
                {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content,
                 "is_error": m.is_error}
                if tools
                else {"type": "text", "text": _result_in_words(m)}
            )
            if not block.get("content", True):
                del block["content"]  # a result with no text has no content (the API refuses empty text)
            if after_tool:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            if tools:
                blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                           for c in m.tool_calls]
            else:
                blocks += [{"type": "text", "text": f"(I called the tool {c.name} with "
                                                    f"{json.dumps(c.arguments, ensure_ascii=False)}, "
                                                    f"call {c.id}.)"} for c in m.tool_calls]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
        after_tool = m.role == "tool"
    return out


def _result_in_words(message: Message) -> str:
    failed = " failed" if message.is_error else ""
    return f"(The tool call {message.tool_call_id}{failed}: {message.content})"


def _usage(
    uncached: int | None, output: int | None, read: int | None, written: int | None
) -> Usage:
    # Anthropic's input_tokens leaves out the cached part; Usage.input_tokens counts it all.
    return Usage(
        input_tokens=(uncached or 0) + (read or 0) + (written or 0),
        output_tokens=output or 0,
        cache_read_tokens=read or 0,
        cache_write_tokens=written or 0,
        calls=1,
    )

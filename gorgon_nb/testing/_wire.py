"""Payloads of the OpenAI chat-completions and Anthropic messages APIs, as the loopback
server sends them.

The shapes carry every field the real services send, not only the ones the official SDKs
read, so that stricter OpenAI-compatible clients accept them too. Token counts are
whitespace-separated words: deterministic, and close enough to make budgets testable.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "StreamFrames",
    "TokenCounts",
    "WireProtocol",
    "context_length_message",
    "count_tokens",
    "error_body",
    "models_body",
    "prompt_texts",
    "reply_body",
    "sampling_refusal",
    "split_pieces",
    "stream_error_frame",
    "stream_frames",
    "unauthorized_message",
    "unknown_model_message",
]

WireProtocol = Literal["openai", "anthropic"]

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class TokenCounts:
    prompt: int
    completion: int
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class StreamFrames:
    """A streamed answer cut where faults need it: ``head`` precedes the first text
    piece, ``pieces`` carry the text, ``tail`` holds the events that mark a finished
    stream (finish reason, usage, the end marker)."""

    head: list[bytes]
    pieces: list[bytes]
    tail: list[bytes]


def count_tokens(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    """The text of a message ``content``: a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # A tool result's text is part of the prompt too (it is in a block of its own).
        parts = [_text_of(b.get("content")) if b.get("type") == "tool_result" else b.get("text", "")
                 for b in content if isinstance(b, dict) and b.get("type") != "tool_use"]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def prompt_texts(protocol: WireProtocol, body: dict[str, Any]) -> tuple[str, str]:
    """``(whole prompt, last user message)`` of a request body."""
    parts: list[str] = []
    if protocol == "anthropic":
        parts.append(_text_of(body.get("system", "")))
    last_user = ""
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content", "")
        text = _text_of(content)
        parts.append(text)
        # A user turn that only carries tool results is not what the user last said.
        results_only = isinstance(content, list) and all(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
        if message.get("role") == "user" and not (results_only and content):
            last_user = text
    return "\n".join(p for p in parts if p), last_user


def split_pieces(text: str, words_per_piece: int) -> list[str]:
    """``text`` in pieces of ``words_per_piece`` words that join back to exactly ``text``."""
    tokens = re.findall(r"\s*\S+\s*", text)
    if not tokens:
        return [text] if text else []
    step = max(1, words_per_piece)
    return ["".join(tokens[i : i + step]) for i in range(0, len(tokens), step)]


def error_body(
    protocol: WireProtocol, status: int, message: str, *, code: str | None = None
) -> dict[str, Any]:
    if protocol == "openai":
        default = "server_error" if status >= 500 else "invalid_request_error"
        return {
            "error": {
                "message": message,
                "type": _OPENAI_ERROR_TYPES.get(status, default),
                "param": None,
                "code": code,
            }
        }
    default = "api_error" if status >= 500 else "invalid_request_error"
    kind = _ANTHROPIC_ERROR_TYPES.get(status, default)
    return {"type": "error", "error": {"type": kind, "message": message}}


def unauthorized_message(protocol: WireProtocol) -> str:
    # Never echo the key back: tests print these messages.
    return "Incorrect API key provided." if protocol == "openai" else "invalid x-api-key"


def unknown_model_message(protocol: WireProtocol, model: str) -> str:
    if protocol == "openai":
        return f"The model `{model}` does not exist or you do not have access to it."
    return f"model: {model}"


def context_length_message(protocol: WireProtocol, tokens: int, limit: int) -> str:
    if protocol == "openai":
        return (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages."
        )
    return f"prompt is too long: {tokens} tokens > {limit} maximum"


def sampling_refusal(protocol: WireProtocol, version: str, body: dict[str, Any]) -> str | None:
    """The 400 message Anthropic's API version 2026-10-21 gives to sampling parameters."""
    if protocol != "anthropic" or version < "2026-10-21":
        return None
    sent = [name for name in ("temperature", "top_p", "top_k") if name in body]
    return f"{sent[0]}: Extra inputs are not permitted" if sent else None


def _openai_usage(tokens: TokenCounts) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.completion,
        "total_tokens": tokens.prompt + tokens.completion,
        "prompt_tokens_details": {"cached_tokens": tokens.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _anthropic_usage(tokens: TokenCounts, output_tokens: int) -> dict[str, Any]:
    # Anthropic reports the uncached part of the prompt as input_tokens.
    uncached = max(0, tokens.prompt - tokens.cache_read - tokens.cache_write)
    return {
        "input_tokens": uncached,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": tokens.cache_read,
        "cache_creation_input_tokens": tokens.cache_write,
    }


def reply_body(
    protocol: WireProtocol, *, msg_id: str, model: str, text: str, finish: str, tokens: TokenCounts
) -> dict[str, Any]:
    if protocol == "openai":
        return {
            "id": msg_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": _openai_usage(tokens),
            "system_fingerprint": None,
        }
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": finish,
        "stop_sequence": None,
        "usage": _anthropic_usage(tokens, tokens.completion),
    }


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _anthropic_event(data: dict[str, Any]) -> bytes:
    return _sse(data, event=str(data["type"]))


def stream_frames(
    protocol: WireProtocol,
    *,
    msg_id: str,
    model: str,
    pieces: list[str],
    finish: str,
    tokens: TokenCounts,
    include_usage: bool,
) -> StreamFrames:
    if protocol == "openai":
        base = {"id": msg_id, "object": "chat.completion.chunk", "created": int(time.time())}
        base |= {"model": model, "system_fingerprint": None}
        # With include_usage the real API sends "usage": null on every chunk but the last.
        extra: dict[str, Any] = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return _sse({**base, "choices": [choice], **extra})

        tail = [chunk({}, finish)]
        if include_usage:
            tail.append(_sse({**base, "choices": [], "usage": _openai_usage(tokens)}))
        tail.append(_sse("[DONE]"))
        return StreamFrames(
            head=[chunk({"role": "assistant", "content": "", "refusal": None})],
            pieces=[chunk({"content": p}) for p in pieces],
            tail=tail,
        )
    start_message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(tokens, 1),
    }
    head = [
        _anthropic_event({"type": "message_start", "message": start_message}),
        _anthropic_event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        _anthropic_event({"type": "ping"}),
    ]
    body = [
        _anthropic_event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        )
        for p in pieces
    ]
    tail = [
        _anthropic_event({"type": "content_block_stop", "index": 0}),
        _anthropic_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": finish, "stop_sequence": None},
                "usage": {"output_tokens": tokens.completion},
            }
        ),
        _anthropic_event({"type": "message_stop"}),
    ]
    return StreamFrames(head=head, pieces=body, tail=tail)


def stream_error_frame(protocol: WireProtocol, status: int, message: str) -> bytes:
    """An error sent inside a stream that had already started (as both services do when
    they overload mid-answer)."""
    body = error_body(protocol, status, message)
    return _anthropic_event(body) if protocol == "anthropic" else _sse(body)


def models_body(protocol: WireProtocol, models: list[str]) -> dict[str, Any]:
    if protocol == "openai":
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in models
            ],
        }
    return {
        "data": [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ],
        "has_more": False,
        "first_id": models[0] if models else None,
        "last_id": models[-1] if models else None,
    }

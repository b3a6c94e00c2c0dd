"""Tool calls on the wire, as the loopback LLM server speaks them: the calls a responder
scripts (``ToolCalls``), their encoding in the OpenAI and Anthropic shapes (streamed and
not), and what a request tells about tools (the tools it offers, the results it carries,
and the mistakes the real services refuse).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.testing._wire import (
    StreamFrames,
    TokenCounts,
    WireProtocol,
    _anthropic_event,
    _anthropic_usage,
    _sse,
    reply_body,
    split_pieces,
    stream_frames,
)

__all__ = ["CallTool", "ToolCalls", "ToolResult", "completion_tokens", "offered_tools", "tool_refusal", "tool_reply_body",
           "tool_results", "tool_stream_frames"]


@dataclass(frozen=True)
class CallTool:
    """One call the scripted model asks for. ``arguments`` is sent as JSON, or as it is
    when it is a string (to script arguments that are not valid JSON); ``id`` is made up
    when not given (``call_loopbackN`` / ``toolu_loopbackN``)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, init=False)
class ToolCalls:
    """What a responder returns to ask for tool calls instead of (or after) text::

        ToolCalls(("lookup", {"q": "tea"}), CallTool("lookup", {"q": "milk"}), text="Looking.")

    Each call is a ``CallTool`` or a ``(name, arguments)`` pair; several are asked for in
    one turn (parallel calls)."""

    calls: tuple[CallTool, ...]
    text: str

    def __init__(self, *calls: CallTool | tuple[str, dict[str, Any] | str], text: str = "") -> None:
        made = tuple(c if isinstance(c, CallTool) else CallTool(c[0], c[1]) for c in calls)
        if not made:
            raise ValueError("ToolCalls needs at least one call")
        object.__setattr__(self, "calls", made)
        object.__setattr__(self, "text", text)


@dataclass(frozen=True)
class ToolResult:
    """A tool result a request carried back to the model: the call's id, the tool's name
    (from the assistant turn that asked for it), the text, and whether it was an error
    (Anthropic's ``is_error``; OpenAI has no such flag: always False there)."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


def _arguments_text(call: CallTool) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def completion_tokens(text: str, calls: ToolCalls) -> int:
    return len(text.split()) + sum(len(_arguments_text(c).split()) + 1 for c in calls.calls)


def offered_tools(protocol: WireProtocol, body: dict[str, Any]) -> list[str]:
    """The names of the tools a request offers."""
    names: list[str] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            named = tool.get("function", {}) if protocol == "openai" else tool
            if isinstance(named, dict) and isinstance(named.get("name"), str):
                names.append(named["name"])
    return names


def _blocks(message: Any, kind: str) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind] if isinstance(content, list) else []


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def tool_results(protocol: WireProtocol, body: dict[str, Any]) -> list[ToolResult]:
    """The tool results in a request's conversation, oldest first."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    names: dict[str, str] = {}
    found: list[ToolResult] = []
    for message in messages:
        if protocol == "openai":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    names[str(call.get("id"))] = str((call.get("function") or {}).get("name", ""))
            if message.get("role") == "tool":
                call_id = str(message.get("tool_call_id", ""))
                found.append(ToolResult(call_id, names.get(call_id, ""), _text(message.get("content"))))
        else:
            for block in _blocks(message, "tool_use"):
                names[str(block.get("id"))] = str(block.get("name", ""))
            for block in _blocks(message, "tool_result"):
                call_id = str(block.get("tool_use_id", ""))
                found.append(ToolResult(call_id, names.get(call_id, ""), _text(block.get("content")),
                                        bool(block.get("is_error"))))
    return found


def tool_refusal(protocol: WireProtocol, body: dict[str, Any]) -> str | None:
    """The 400 message the real service gives to a conversation whose tool turns do not fit
    together, or None."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if protocol == "anthropic":
        used = any(_blocks(m, "tool_use") or _blocks(m, "tool_result") for m in messages)
        if used and not body.get("tools"):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
        for index, message in enumerate(messages):
            asked = [str(b.get("id")) for b in _blocks(message, "tool_use")]
            following = messages[index + 1] if index + 1 < len(messages) else None
            answered = {str(b.get("tool_use_id")) for b in _blocks(following, "tool_result")}
            if missing := [a for a in asked if a not in answered]:
                return (f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks "
                        f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                        "corresponding `tool_result` block in the next message.")
        return None
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        if message.get("role") == "tool":
            call_id = str(message.get("tool_call_id"))
            if call_id not in open_calls:
                return (f"Invalid parameter: messages with role 'tool' must be a response to a preceding "
                        f"message with 'tool_calls' (messages.[{index}].tool_call_id {call_id}).")
            open_calls.discard(call_id)
            continue
        if open_calls:
            return ("An assistant message with 'tool_calls' must be followed by tool messages responding "
                    f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(sorted(open_calls))}")
        open_calls = {str(c.get("id")) for c in message.get("tool_calls") or [] if isinstance(c, dict)}
    return None


def _with_ids(protocol: WireProtocol, calls: ToolCalls, first: int) -> list[tuple[str, CallTool]]:
    prefix = "call_loopback" if protocol == "openai" else "toolu_loopback"
    return [(c.id or f"{prefix}{first}_{i}", c) for i, c in enumerate(calls.calls)]


def tool_reply_body(protocol: WireProtocol, *, msg_id: str, model: str, text: str, calls: ToolCalls,
                    tokens: TokenCounts, number: int) -> dict[str, Any]:
    """A reply (not streamed) that asks for ``calls`` after ``text``."""
    finish = "tool_calls" if protocol == "openai" else "tool_use"
    body = reply_body(protocol, msg_id=msg_id, model=model, text=text, finish=finish, tokens=tokens)
    named = _with_ids(protocol, calls, number)
    if protocol == "openai":
        message = body["choices"][0]["message"]
        message["content"] = text or None
        message["tool_calls"] = [
            {"id": id_, "type": "function", "function": {"name": c.name, "arguments": _arguments_text(c)}}
            for id_, c in named
        ]
    else:
        body["content"] = ([{"type": "text", "text": text}] if text else []) + [
            {"type": "tool_use", "id": id_, "name": c.name, "input": c.arguments} for id_, c in named
        ]
    return body


def tool_stream_frames(protocol: WireProtocol, *, msg_id: str, model: str, text: str, calls: ToolCalls,
                       tokens: TokenCounts, include_usage: bool, words: int, number: int) -> StreamFrames:
    """A streamed reply that asks for ``calls`` after ``text``: the text pieces, then each
    call (its name, then its arguments' JSON in a few fragments) count as ``pieces``."""
    named = _with_ids(protocol, calls, number)
    pieces: list[bytes] = []
    if protocol == "openai":
        plain = stream_frames(protocol, msg_id=msg_id, model=model, pieces=split_pieces(text, words),
                              finish="tool_calls", tokens=tokens, include_usage=include_usage)
        first = json.loads(plain.head[0].decode()[len("data: "):])
        pieces += plain.pieces
        for index, (id_, call) in enumerate(named):
            opening = {"index": index, "id": id_, "type": "function", "function": {"name": call.name, "arguments": ""}}
            pieces.append(_openai_delta(first, {"tool_calls": [opening]}))
            for fragment in _fragments(_arguments_text(call)):
                more = {"index": index, "function": {"arguments": fragment}}
                pieces.append(_openai_delta(first, {"tool_calls": [more]}))
        return StreamFrames(plain.head, pieces, plain.tail)
    start: dict[str, Any] = {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                             "content": [], "stop_reason": None, "stop_sequence": None, "usage": _anthropic_usage(tokens, 1)}
    head = [_anthropic_event({"type": "message_start", "message": start}), _anthropic_event({"type": "ping"})]
    block = 0
    if text:
        pieces.append(_anthropic_event({"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}))
        pieces += [_anthropic_event({"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": p}}) for p in split_pieces(text, words)]
        pieces.append(_anthropic_event({"type": "content_block_stop", "index": 0}))
        block = 1
    for id_, call in named:
        opening = {"type": "tool_use", "id": id_, "name": call.name, "input": {}}
        pieces.append(_anthropic_event({"type": "content_block_start", "index": block, "content_block": opening}))
        pieces += [_anthropic_event({"type": "content_block_delta", "index": block,
                                     "delta": {"type": "input_json_delta", "partial_json": f}})
                   for f in _fragments(_arguments_text(call))]
        pieces.append(_anthropic_event({"type": "content_block_stop", "index": block}))
        block += 1
    tail = [
        _anthropic_event({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                          "usage": {"output_tokens": tokens.completion}}),
        _anthropic_event({"type": "message_stop"}),
    ]
    return StreamFrames(head, pieces, tail)


def _openai_delta(first: dict[str, Any], delta: dict[str, Any]) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    return _sse({**first, "choices": [choice]})


def _fragments(text: str, size: int = 8) -> list[str]:
    """JSON text cut in pieces of ``size`` characters, as the services stream it (anywhere,
    even inside a string)."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


"""OpenAI chat completions, and any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio).

The ``openai`` SDK is imported on the first call, not with this module. The client cache,
the API key and the translation of SDK exceptions into ``gorgon_nb.errors.ProviderError``
come from ``gorgon_nb.providers._sdk``; this module adds the chat completions calls, the
keyless compatible servers and what OpenAI's error answers mean.
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
    from openai import AsyncOpenAI
    from openai.types import CompletionUsage

__all__ = ["OpenAIProvider"]

# A compatible server without authentication still needs some key: the SDK refuses none.
_PLACEHOLDER_KEY = "not-needed"
_NO_KEY_ENVS = ("", "OPENAI_API_KEY")
_CONTEXT_WORDING = re.compile(
    r"context[ _]length|context window|too many tokens|prompt is too long", re.I
)
# Error types of a stream's error event that mean "the service had a problem".
_UNAVAILABLE_TYPES = {"server_error", "overloaded_error"}


class OpenAIProvider(SDKProvider["AsyncOpenAI"]):
    """The OpenAI API, or an OpenAI-compatible one at ``base_url``.

    The key is ``api_key``, else the ``api_key_env`` environment variable. A provider with
    another ``name`` and a ``base_url`` (a local Ollama or vLLM) may go without: it then
    sends a placeholder key.
    """

    default_base_url = "https://api.openai.com/v1"
    default_key_env = "OPENAI_API_KEY"

    def __init__(
        self,
        name: str = "openai",
        api_key: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
    ) -> None:
        super().__init__(name, api_key, base_url, api_key_env or "", timeout)

    async def _answer(self, client: AsyncOpenAI, params: dict[str, Any], model: str) -> Completion:
        response = await client.chat.completions.create(**params, stream=False)
        if not response.choices:
            raise ProviderError(
                f"{self.name} returned no answer (an empty 'choices' list).",
                provider=self.name,
                model=model,
            )
        choice = response.choices[0]
        calls = tuple(
            ToolCall(call.id, call.function.name, tool_arguments(call.function.arguments))
            for call in choice.message.tool_calls or ()
            if getattr(call, "function", None) is not None  # custom (non-function) tools are not offered
        )
        return Completion(
            text=choice.message.content or "",
            usage=_usage(response.usage),
            model=response.model or model,
            finish_reason=choice.finish_reason,
            tool_calls=calls,
        )

    async def _stream(
        self, client: AsyncOpenAI, params: dict[str, Any], model: str, on_delta: TextCallback
    ) -> Completion:
        pieces: list[str] = []
        finish: str | None = None
        usage: CompletionUsage | None = None
        reported = ""
        # Tool calls come in fragments by index: the first carries the id and the name, the
        # rest pieces of the arguments' JSON text (some compatible servers repeat the id and
        # the name in every fragment, so the first of each is kept).
        calls: dict[int, tuple[list[str], list[str], list[str]]] = {}
        stream = await client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            async for chunk in stream:
                reported = reported or chunk.model
                usage = chunk.usage or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                if text := choice.delta.content:
                    pieces.append(text)
                    emit(on_delta, text)
                for fragment in choice.delta.tool_calls or ():
                    id_, name, arguments = calls.setdefault(fragment.index, ([], [], []))
                    id_.append(fragment.id or "")
                    if (function := fragment.function) is not None:
                        name.append(function.name or "")
                        arguments.append(_text(function.arguments))
        # A stream closed cleanly but early ends without error; only the finish reason
        # tells it apart from a complete one (usage may be missing on compatible servers).
        if finish is None:
            raise self._stream_cut_off(model, "finish reason", len(pieces))
        asked = tuple(
            ToolCall(_first(id_), _first(name), tool_arguments("".join(arguments)))
            for _, (id_, name, arguments) in sorted(calls.items())
        )
        return Completion("".join(pieces), _usage(usage), reported or model, finish, asked)

    def _new_client(self, options: dict[str, Any]) -> AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(**options, http_client=openai.DefaultAsyncHttpxClient())

    def _fallback_key(self) -> str | None:
        # A compatible endpoint (another name, a base URL) with no key variable of its own
        # is taken to need no key; one with its own variable gets the missing-key error.
        if self.base_url is not None and self.name != "openai" and self.api_key_env in _NO_KEY_ENVS:
            return _PLACEHOLDER_KEY
        return None

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [_message(m) for m in request.messages]
        # OpenAI deprecated max_tokens and refuses it for reasoning models; compatible
        # servers (Ollama, vLLM, llama.cpp) have supported max_tokens for longer.
        limit = "max_completion_tokens" if self.name == "openai" else "max_tokens"
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            limit: request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.schema}}
                for t in request.tools
            ]
            if request.tool_choice == "none":  # a tool loop's last ask: the tools stay declared
                params["tool_choice"] = "none"
        return params

    def _error_classes(self) -> SDKErrors:
        import openai

        return SDKErrors.of(openai, openai.OpenAIError)

    def _error_detail(self, exc: Any) -> str:
        # The SDK's message repeats the status ("Error code: 429 - ..."); the body's is plainer.
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else None
        return detail if isinstance(detail, str) else str(getattr(exc, "message", "") or "")

    def _error_kind(self, exc: Any, status: int, detail: str) -> ErrorKind | None:
        if str(getattr(exc, "code", "") or "") == "context_length_exceeded" or (
            status in (400, 413) and _CONTEXT_WORDING.search(detail)
        ):
            return "context"
        return "unavailable" if status in (408, 409) else None

    def _api_error(self, exc: Exception, model: str) -> ProviderError:
        # An error event inside a stream that had started: there is no HTTP status.
        kind = str(getattr(exc, "type", "") or "")
        error_cls = ProviderUnavailable if kind in _UNAVAILABLE_TYPES else ProviderError
        return error_cls(
            f"{self.name} reported an error in the middle of its answer: "
            f"{getattr(exc, 'message', exc)}",
            provider=self.name,
            model=model,
        )


def _message(m: Message) -> dict[str, Any]:
    """One chat message: an assistant's tool calls, a tool's result, or plain text."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        return {
            "role": "assistant",
            "content": m.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _json_text(c.arguments)}}
                for c in m.tool_calls
            ],
        }
    return {"role": m.role, "content": m.content}


def _first(pieces: list[str]) -> str:
    return next((piece for piece in pieces if piece), "")


def _text(arguments: Any) -> str:
    # A compatible server may send the arguments as an object rather than JSON text.
    return arguments if isinstance(arguments, str) else json.dumps(arguments) if arguments else ""


def _json_text(arguments: dict[str, Any]) -> str:
    # Arguments that were not a JSON object go back as the model sent them.
    if set(arguments) == {"__invalid__"} and isinstance(arguments["__invalid__"], str):
        return arguments["__invalid__"]
    return json.dumps(arguments, ensure_ascii=False)


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage(calls=1)
    details = usage.prompt_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cache_read_tokens=(details.cached_tokens or 0) if details else 0,
        cache_write_tokens=(getattr(details, "cache_write_tokens", None) or 0) if details else 0,
        calls=1,
    )

"""The provider interface: one request in, text (or tool calls) and token usage out.

A provider implements a single coroutine, ``complete``. When ``on_delta`` is given the
provider streams and calls it with each piece of text as it arrives; either way it
returns the whole ``Completion``. Providers translate their SDK's exceptions into
``gorgon_nb.errors.ProviderError`` subclasses at this boundary and never retry on their
own: retries, backoff and circuit breaking belong to the executor.

Tools: a request may offer ``tools`` (``ToolSpec``: a wire name, a description and a
JSON schema of the arguments). The model may answer with ``tool_calls`` beside (or
instead of) text; the engine runs them and asks again with the assistant's message (its
``tool_calls``) and one ``tool`` message per result, in the order of the calls. Each
vendor module turns these into its own wire shape (Anthropic's ``tool_use`` and
``tool_result`` blocks, OpenAI's ``tool_calls`` and ``role: tool`` messages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from gorgon_nb.model.usage import Usage

__all__ = ["Completion", "LLMRequest", "Message", "Provider", "TextCallback", "ToolCall", "ToolSpec"]

TextCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model is offered it: ``name`` matches ``^[A-Za-z0-9_-]{1,64}$`` (what
    both APIs accept), ``schema`` is the JSON schema of its arguments (an object)."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for: the vendor's call ``id``, the tool's wire ``name``, and
    its ``arguments`` (parsed; a model that sent arguments that are not a JSON object gets
    ``{"__invalid__": "<what it sent>"}``, answered as an error)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class Message:
    """A turn of the conversation. An ``assistant`` message may carry ``tool_calls``; a
    ``tool`` message is the result of the call ``tool_call_id`` (``is_error`` when the
    tool failed or was refused), its ``content`` the text the model reads."""

    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(slots=True)
class LLMRequest:
    """What a step asks of a model.

    ``role`` and ``step_id`` are metadata (the offline provider uses the role to shape
    its answer); ``json_schema`` is set when the step wants JSON back (an empty dict means
    "any JSON").
    """

    model: str
    messages: list[Message]
    system: str = ""
    max_tokens: int = 4096
    temperature: float | None = None
    json_schema: dict[str, Any] | None = None
    role: str | None = None
    step_id: str | None = None
    timeout: float | None = None
    tools: tuple[ToolSpec, ...] = ()
    # "none": the tools are only shown (a conversation that used them must still declare
    # them to Anthropic's API), and the model must answer without calling one.
    tool_choice: Literal["auto", "none"] = "auto"


@dataclass(slots=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """An LLM backend. ``name`` is the prefix users write in ``provider:model``."""

    name: str

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        """Answer ``request``; stream text to ``on_delta`` when it is given."""
        ...

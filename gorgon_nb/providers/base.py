"""The provider interface: one request in, text and token usage out.

A provider implements a single coroutine, ``complete``. When ``on_delta`` is given the
provider streams and calls it with each piece of text as it arrives; either way it
returns the whole ``Completion``. Providers translate their SDK's exceptions into
``gorgon_nb.errors.ProviderError`` subclasses at this boundary and never retry on their
own: retries, backoff and circuit breaking belong to the executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from gorgon_nb.model.usage import Usage

__all__ = ["Completion", "LLMRequest", "Message", "Provider", "TextCallback"]

TextCallback = Callable[[str], None]


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


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


@dataclass(slots=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None


@runtime_checkable
class Provider(Protocol):
    """An LLM backend. ``name`` is the prefix users write in ``provider:model``."""

    name: str

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        """Answer ``request``; stream text to ``on_delta`` when it is given."""
        ...

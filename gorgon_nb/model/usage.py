"""Token usage and cost, summed across calls, steps and runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Usage", "format_cost", "format_tokens"]


@dataclass(slots=True)
class Usage:
    """Tokens used and what they cost.

    ``input_tokens`` counts every prompt token, cached ones included (the convention of
    OpenAI and of genai-prices); ``cache_read_tokens`` and ``cache_write_tokens`` say how
    many of them were cache hits and writes. ``cost_usd`` is the sum of the calls whose
    price is known; ``unpriced_calls`` counts the calls whose price is not, so a total is
    never silently low.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost(self) -> float | None:
        """Dollars, or ``None`` when no call had a known price."""
        if self.unpriced_calls and self.unpriced_calls == self.calls:
            return None
        return self.cost_usd

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.calls + other.calls,
            self.cost_usd + other.cost_usd,
            self.unpriced_calls + other.unpriced_calls,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        if not data:
            return cls()
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def format_cost(usage: Usage) -> str:
    """``$0.0123``, ``$0`` for free calls, ``unknown``, or ``$0.0123 + unknown``."""
    if usage.calls == 0:
        return "-"
    if usage.cost is None:
        return "unknown"
    cost = usage.cost_usd
    text = "$0" if not cost else f"${cost:.4f}" if cost >= 0.0001 else f"${cost:.2g}"
    return text + (" + unknown" if usage.unpriced_calls else "")


def format_tokens(usage: Usage) -> str:
    if usage.calls == 0:
        return "-"
    return f"{usage.input_tokens:,} in / {usage.output_tokens:,} out"

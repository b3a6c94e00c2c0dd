"""Dollar cost of calls, from genai-prices. A price nobody knows stays unknown, never guessed."""

from __future__ import annotations

from functools import lru_cache

from gorgon_nb.config import ProviderSettings
from gorgon_nb.model.usage import Usage

__all__ = ["price_usage", "unit_prices"]

_PRICES_PROVIDER = {"anthropic": "anthropic", "openai": "openai"}


def _calc(settings: ProviderSettings, model: str, usage: Usage) -> float | None:
    import genai_prices

    usage_in = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        if settings.kind in _PRICES_PROVIDER:
            result = genai_prices.calc_price(usage_in, model, provider_id=_PRICES_PROVIDER[settings.kind])
        elif settings.base_url:  # a hosted compatible API genai-prices may know by its address
            result = genai_prices.calc_price(usage_in, model, provider_api_url=settings.base_url)
        else:
            return None
    except LookupError:
        return None
    return float(result.total_price)


def price_usage(settings: ProviderSettings, model: str, usage: Usage) -> Usage:
    """``usage`` of one call with ``cost_usd`` filled in, or counted as unpriced."""
    if settings.free:
        usage.cost_usd, usage.unpriced_calls = 0.0, 0
        return usage
    cost = _calc(settings, model, usage)
    if cost is None:
        usage.cost_usd, usage.unpriced_calls = 0.0, usage.calls or 1
    else:
        usage.cost_usd, usage.unpriced_calls = cost, 0
    return usage


@lru_cache(maxsize=256)
def unit_prices(settings: ProviderSettings, model: str) -> tuple[float, float] | None:
    """Dollars per input token and per output token, for budget checks before a call."""
    if settings.free:
        return (0.0, 0.0)
    # A small call: a million tokens would land in a long-context price tier.
    sample = 1_000
    per_input = _calc(settings, model, Usage(input_tokens=sample, calls=1))
    per_output = _calc(settings, model, Usage(output_tokens=sample, calls=1))
    if per_input is None or per_output is None:
        return None
    return per_input / sample, per_output / sample

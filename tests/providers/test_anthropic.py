"""AnthropicProvider against the loopback server, through the real anthropic SDK.

What it shares with OpenAIProvider (errors, transport failures, the client per event loop)
is tested for both providers in test_sdk_providers.py; the fixtures are in conftest.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gorgon_nb.errors import ContextLengthError, ProviderAuthError, ProviderUnavailable
from gorgon_nb.providers.anthropic import AnthropicProvider
from gorgon_nb.providers.base import Message, Provider
from gorgon_nb.testing import Fault, LLMServer

if TYPE_CHECKING:
    from conftest import Vendor

VENDOR = "anthropic"


async def test_plain_completion(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider
) -> None:
    request = vendor.ask(system="be terse", max_tokens=50, temperature=0.3)
    request.messages[:0] = [Message("user", "first"), Message("assistant", "noted")]
    result = await provider.complete(request)
    assert result.text == "Loopback reply to: one two three four"
    assert (result.model, result.finish_reason) == ("claude-test", "end_turn")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.calls) == (8, 7, 1)
    assert (result.usage.cost_usd, result.usage.unpriced_calls) == (0.0, 0)
    body = server.requests[0].body
    assert body["system"] == "be terse" and body["max_tokens"] == 50
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    # API version 2026-10-21 answers 400 to any temperature, so it is never sent.
    assert "temperature" not in body
    assert isinstance(provider, Provider)


async def test_no_system_prompt_is_left_out(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider
) -> None:
    await provider.complete(vendor.ask())
    assert "system" not in server.requests[0].body


async def test_streaming_feeds_on_delta(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider
) -> None:
    server.chunk_words = 2
    pieces: list[str] = []
    result = await provider.complete(vendor.ask(), on_delta=pieces.append)
    assert len(pieces) == 4 and "".join(pieces) == result.text
    assert result.text == "Loopback reply to: one two three four"
    assert (result.model, result.finish_reason) == ("claude-test", "end_turn")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (4, 7)
    assert server.requests[0].body["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_tokens_count_as_input(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider, stream: bool
) -> None:
    server.cached_tokens, server.cache_write_tokens = 2, 1
    result = await provider.complete(vendor.ask(), on_delta=(lambda _: None) if stream else None)
    # The API reports 1 uncached + 2 read + 1 written; Usage counts all four as input.
    usage = result.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (4, 2, 1)


async def test_missing_key_names_the_variable(vendor: Vendor, server: LLMServer) -> None:
    provider = AnthropicProvider(base_url=server.anthropic_base_url)  # no error yet
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(vendor.ask())
    assert "ANTHROPIC_API_KEY" in str(err.value) and err.value.env_var == "ANTHROPIC_API_KEY"
    assert server.requests == []


async def test_key_from_the_environment(
    vendor: Vendor, server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", vendor.secret)
    provider = AnthropicProvider(base_url=server.anthropic_base_url)
    assert (await provider.complete(vendor.ask())).text
    await provider.aclose()
    assert server.requests[0].status == 200


async def test_overloaded_is_unavailable(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider
) -> None:
    # 529 is Anthropic's own status for an overloaded service, in a reply or a stream.
    server.add_fault(Fault("status", status=529))
    server.add_fault(Fault("stream_error"))
    with pytest.raises(ProviderUnavailable) as reply:
        await provider.complete(vendor.ask())
    with pytest.raises(ProviderUnavailable) as stream:
        await provider.complete(vendor.ask(), on_delta=lambda _: None)
    assert reply.value.status == 529
    assert "overloaded_error" in str(stream.value) and stream.value.status is None


async def test_context_length_quotes_the_api(
    vendor: Vendor, server: LLMServer, provider: AnthropicProvider
) -> None:
    server.context_limit = 3
    with pytest.raises(ContextLengthError, match="prompt is too long: 4 tokens > 3 maximum"):
        await provider.complete(vendor.ask())

"""OpenAIProvider against the loopback server, through the real openai SDK.

What it shares with AnthropicProvider is tested for both in test_sdk_providers.py; the
fixtures are in conftest.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gorgon_nb.errors import (
    ProviderAuthError,
    ProviderUnavailable,
)
from gorgon_nb.providers.base import Message, Provider
from gorgon_nb.providers.openai import OpenAIProvider
from gorgon_nb.testing import LLMServer

if TYPE_CHECKING:
    from conftest import Vendor

VENDOR = "openai"
both_vendors = pytest.mark.both_vendors


async def test_plain_completion(
    vendor: Vendor, server: LLMServer, provider: OpenAIProvider
) -> None:
    request = vendor.ask(system="be terse", temperature=0.3, max_tokens=50)
    request.messages[:0] = [Message("user", "first"), Message("assistant", "noted")]
    result = await provider.complete(request)
    assert result.text == "Loopback reply to: one two three four"
    assert (result.model, result.finish_reason) == ("gpt-test", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.calls) == (8, 7, 1)
    assert (result.usage.cost_usd, result.usage.unpriced_calls) == (0.0, 0)
    body = server.requests[0].body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    # max_tokens is deprecated by OpenAI and refused by its reasoning models.
    assert (body["max_completion_tokens"], body["temperature"], body["stream"]) == (50, 0.3, False)
    assert "max_tokens" not in body
    assert isinstance(provider, Provider)


async def test_streaming_feeds_on_delta(
    vendor: Vendor, server: LLMServer, provider: OpenAIProvider
) -> None:
    server.chunk_words = 1
    pieces: list[str] = []
    result = await provider.complete(vendor.ask(), on_delta=pieces.append)
    assert len(pieces) == 7 and "".join(pieces) == result.text
    assert result.text == "Loopback reply to: one two three four"
    assert (result.finish_reason, result.usage.input_tokens, result.usage.output_tokens) == (
        "stop",
        4,
        7,
    )
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "temperature" not in body


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_tokens(
    vendor: Vendor, server: LLMServer, provider: OpenAIProvider, stream: bool
) -> None:
    server.cached_tokens = 3
    result = await provider.complete(vendor.ask(), on_delta=(lambda _: None) if stream else None)
    assert (result.usage.input_tokens, result.usage.cache_read_tokens) == (4, 3)
    assert result.usage.cache_write_tokens == 0


async def test_missing_key_names_the_variable(vendor: Vendor, server: LLMServer) -> None:
    provider = OpenAIProvider()  # constructing never fails, even without a key
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(vendor.ask())
    assert "OPENAI_API_KEY" in str(err.value) and err.value.env_var == "OPENAI_API_KEY"
    custom = OpenAIProvider(
        name="groq", base_url=server.openai_base_url, api_key_env="GROQ_API_KEY"
    )
    with pytest.raises(ProviderAuthError, match="GROQ_API_KEY"):
        await custom.complete(vendor.ask())
    assert server.requests == []


async def test_key_from_the_environment(
    vendor: Vendor, server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", vendor.secret)
    provider = OpenAIProvider(name="vllm", base_url=server.openai_base_url, api_key_env="MY_KEY")
    assert (await provider.complete(vendor.ask())).text
    assert server.requests[0].headers["authorization"] == f"Bearer {vendor.secret}"
    await provider.aclose()


@pytest.mark.parametrize("api_key_env", ["", "OPENAI_API_KEY"])
async def test_compatible_endpoint_without_key(vendor: Vendor, api_key_env: str) -> None:
    with LLMServer() as server:
        ollama = OpenAIProvider(
            name="ollama", base_url=server.openai_base_url, api_key_env=api_key_env
        )
        result = await ollama.complete(vendor.ask(), on_delta=lambda _: None)
        await ollama.aclose()
        assert result.text.startswith("Loopback reply")
        assert server.requests[0].headers["authorization"] == "Bearer not-needed"
        assert server.requests[0].body["max_tokens"] == 4096  # what compatible servers know


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("ollama", "Is the server running? Start it (ollama serve), or point OLLAMA_HOST"),
        ("vllm", "Is the server running? Start it, or point the base_url under [providers.vllm]"),
        ("openai", "Check the network connection"),
    ],
    ids=["ollama", "vllm", "openai"],
)
async def test_refused_connection_advice_fits_the_server(
    vendor: Vendor, closed_port: int, name: str, advice: str
) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    provider = OpenAIProvider(name=name, api_key="k", base_url=url)
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask())
    assert str(err.value).startswith(f"Cannot connect to {name} at {url} (")
    assert advice in str(err.value) and ("OLLAMA_HOST" in str(err.value)) == (name == "ollama")

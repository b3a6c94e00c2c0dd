"""AnthropicProvider against the loopback server, through the real anthropic SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from gorgon_nb.errors import (
    ContextLengthError,
    ModelNotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)
from gorgon_nb.providers.anthropic import AnthropicProvider
from gorgon_nb.providers.base import LLMRequest, Message, Provider
from gorgon_nb.testing import Fault, LLMServer

SECRET = "sk-ant-test-secret-0123456789"


def ask(text: str = "one two three four", **kwargs: object) -> LLMRequest:
    return LLMRequest(model="claude-test", messages=[Message("user", text)], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer(api_key=SECRET) as s:
        yield s


@pytest.fixture
async def provider(server: LLMServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(api_key=SECRET, base_url=server.anthropic_base_url)
    yield p
    await p.aclose()


async def test_plain_completion(server: LLMServer, provider: AnthropicProvider) -> None:
    request = ask(system="be terse", max_tokens=50, temperature=0.3)
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


async def test_no_system_prompt_is_left_out(server: LLMServer, provider: AnthropicProvider) -> None:
    await provider.complete(ask())
    assert "system" not in server.requests[0].body


async def test_streaming_feeds_on_delta(server: LLMServer, provider: AnthropicProvider) -> None:
    server.chunk_words = 2
    pieces: list[str] = []
    result = await provider.complete(ask(), on_delta=pieces.append)
    assert len(pieces) == 4 and "".join(pieces) == result.text
    assert result.text == "Loopback reply to: one two three four"
    assert (result.model, result.finish_reason) == ("claude-test", "end_turn")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (4, 7)
    assert server.requests[0].body["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_tokens_count_as_input(
    server: LLMServer, provider: AnthropicProvider, stream: bool
) -> None:
    server.cached_tokens, server.cache_write_tokens = 2, 1
    result = await provider.complete(ask(), on_delta=(lambda _: None) if stream else None)
    # The API reports 1 uncached + 2 read + 1 written; Usage counts all four as input.
    usage = result.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (4, 2, 1)


async def test_missing_key_names_the_variable(server: LLMServer) -> None:
    provider = AnthropicProvider(base_url=server.anthropic_base_url)  # no error yet
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask())
    assert "ANTHROPIC_API_KEY" in str(err.value) and err.value.env_var == "ANTHROPIC_API_KEY"
    assert server.requests == []


async def test_key_from_the_environment(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    provider = AnthropicProvider(base_url=server.anthropic_base_url)
    assert (await provider.complete(ask())).text
    await provider.aclose()
    assert server.requests[0].status == 200


async def test_wrong_key_is_an_auth_error_without_the_key(server: LLMServer) -> None:
    provider = AnthropicProvider(api_key="sk-ant-wrong-987", base_url=server.anthropic_base_url)
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask(), on_delta=lambda _: None)
    await provider.aclose()
    assert err.value.status == 401 and "ANTHROPIC_API_KEY" in str(err.value)
    assert "sk-ant-wrong-987" not in str(err.value) and SECRET not in str(err.value)
    assert (err.value.provider, err.value.model, err.value.retryable) == (
        "anthropic",
        "claude-test",
        False,
    )


async def test_forbidden_is_an_auth_error(server: LLMServer, provider: AnthropicProvider) -> None:
    server.add_fault(Fault("status", status=403))
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask())
    assert err.value.status == 403


@pytest.mark.parametrize("stream", [False, True])
async def test_rate_limit_carries_retry_after(
    server: LLMServer, provider: AnthropicProvider, stream: bool
) -> None:
    server.add_fault(Fault("status", status=429, retry_after=2.5))
    server.add_fault(Fault("status", status=429))
    on_delta = (lambda _: None) if stream else None
    with pytest.raises(RateLimitError) as first:
        await provider.complete(ask(), on_delta=on_delta)
    with pytest.raises(RateLimitError) as second:
        await provider.complete(ask(), on_delta=on_delta)
    assert (first.value.retry_after, first.value.status, first.value.retryable) == (2.5, 429, True)
    assert second.value.retry_after is None


@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors_are_unavailable(
    server: LLMServer, provider: AnthropicProvider, status: int
) -> None:
    server.add_fault(Fault("status", status=status))
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(ask())
    assert err.value.status == status and err.value.retryable


@pytest.mark.parametrize(
    "fault",
    [Fault("drop"), Fault("truncate"), Fault("truncate", clean_close=True), Fault("stream_error")],
    ids=["drop", "cut", "clean-close", "error-event"],
)
async def test_broken_streams_are_unavailable(
    server: LLMServer, provider: AnthropicProvider, fault: Fault
) -> None:
    server.add_fault(fault)
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(ask(), on_delta=pieces.append)
    assert err.value.retryable and err.value.provider == "anthropic"
    if fault.kind == "truncate":
        # The SDK raises a bare httpx2 error for the cut, and nothing for the clean close.
        assert "cut off" in str(err.value) and pieces == ["Loopback reply to: "]
    if fault.kind == "stream_error":
        assert "overloaded_error" in str(err.value) and err.value.status is None


async def test_dropped_and_truncated_plain_requests(
    server: LLMServer, provider: AnthropicProvider
) -> None:
    server.add_fault(Fault("drop"))
    server.add_fault(Fault("truncate"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="Lost the connection"):
            await provider.complete(ask())


@pytest.mark.parametrize("stream", [False, True])
async def test_timeouts_are_unavailable(
    server: LLMServer, provider: AnthropicProvider, stream: bool
) -> None:
    # Streaming, the headers come at once and the first text late: the SDK then lets a
    # bare httpx2.ReadTimeout through, which must be translated too.
    if stream:
        server.add_fault(Fault("slow_first_token", delay=3.0))
    else:
        server.latency = 3.0
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        await provider.complete(ask(timeout=0.3), on_delta=(lambda _: None) if stream else None)


async def test_unknown_model(server: LLMServer, provider: AnthropicProvider) -> None:
    server.models = ["claude-real"]
    with pytest.raises(ModelNotFoundError) as err:
        await provider.complete(ask())
    assert "'claude-test'" in str(err.value) and "Pick another model" in str(err.value)
    assert err.value.status == 404


async def test_context_length(server: LLMServer, provider: AnthropicProvider) -> None:
    server.context_limit = 3
    with pytest.raises(ContextLengthError) as err:
        await provider.complete(ask())
    assert "prompt is too long: 4 tokens > 3 maximum" in str(err.value)
    assert "Shorten the context" in str(err.value) and err.value.status == 400


async def test_other_client_errors_are_plain_provider_errors(
    server: LLMServer, provider: AnthropicProvider
) -> None:
    server.add_fault(Fault("status", status=400, message="max_tokens: 999999 > 64000"))
    with pytest.raises(ProviderError) as err:
        await provider.complete(ask())
    assert type(err.value) is ProviderError and "max_tokens: 999999 > 64000" in str(err.value)


async def test_on_delta_errors_are_not_provider_errors(provider: AnthropicProvider) -> None:
    def broken(_: str) -> None:
        raise KeyError("widget gone")

    with pytest.raises(KeyError, match="widget gone"):
        await provider.complete(ask(), on_delta=broken)


def test_a_new_event_loop_gets_a_new_client() -> None:
    with LLMServer() as server:
        provider = AnthropicProvider(api_key="k", base_url=server.anthropic_base_url)
        first = asyncio.run(provider.complete(ask("a b")))
        second = asyncio.run(provider.complete(ask("c d"), on_delta=lambda _: None))
        asyncio.run(provider.aclose())
    assert (first.text, second.text) == ("Loopback reply to: a b", "Loopback reply to: c d")


def test_importing_the_module_does_not_import_the_sdk() -> None:
    code = "import sys, gorgon_nb.providers.anthropic; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

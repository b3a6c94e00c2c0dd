"""OpenAIProvider against the loopback server, through the real openai SDK."""

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
from gorgon_nb.providers.base import LLMRequest, Message, Provider
from gorgon_nb.providers.openai import OpenAIProvider
from gorgon_nb.testing import Fault, LLMServer

SECRET = "sk-test-secret-0123456789"


def ask(text: str = "one two three four", **kwargs: object) -> LLMRequest:
    return LLMRequest(model="gpt-test", messages=[Message("user", text)], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer(api_key=SECRET) as s:
        yield s


@pytest.fixture
async def provider(server: LLMServer) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(api_key=SECRET, base_url=server.openai_base_url)
    yield p
    await p.aclose()


async def test_plain_completion(server: LLMServer, provider: OpenAIProvider) -> None:
    request = ask(system="be terse", temperature=0.3, max_tokens=50)
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


async def test_streaming_feeds_on_delta(server: LLMServer, provider: OpenAIProvider) -> None:
    server.chunk_words = 1
    pieces: list[str] = []
    result = await provider.complete(ask(), on_delta=pieces.append)
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
async def test_cached_tokens(server: LLMServer, provider: OpenAIProvider, stream: bool) -> None:
    server.cached_tokens = 3
    result = await provider.complete(ask(), on_delta=(lambda _: None) if stream else None)
    assert (result.usage.input_tokens, result.usage.cache_read_tokens) == (4, 3)
    assert result.usage.cache_write_tokens == 0


async def test_missing_key_names_the_variable(server: LLMServer) -> None:
    provider = OpenAIProvider()  # constructing never fails, even without a key
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask())
    assert "OPENAI_API_KEY" in str(err.value) and err.value.env_var == "OPENAI_API_KEY"
    custom = OpenAIProvider(
        name="groq", base_url=server.openai_base_url, api_key_env="GROQ_API_KEY"
    )
    with pytest.raises(ProviderAuthError, match="GROQ_API_KEY"):
        await custom.complete(ask())
    assert server.requests == []


async def test_key_from_the_environment(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    provider = OpenAIProvider(name="vllm", base_url=server.openai_base_url, api_key_env="MY_KEY")
    assert (await provider.complete(ask())).text
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    await provider.aclose()


@pytest.mark.parametrize("api_key_env", ["", "OPENAI_API_KEY"])
async def test_compatible_endpoint_without_key(api_key_env: str) -> None:
    with LLMServer() as server:
        ollama = OpenAIProvider(
            name="ollama", base_url=server.openai_base_url, api_key_env=api_key_env
        )
        result = await ollama.complete(ask(), on_delta=lambda _: None)
        await ollama.aclose()
        assert result.text.startswith("Loopback reply")
        assert server.requests[0].headers["authorization"] == "Bearer not-needed"
        assert server.requests[0].body["max_tokens"] == 4096  # what compatible servers know


async def test_wrong_key_is_an_auth_error_without_the_key(server: LLMServer) -> None:
    provider = OpenAIProvider(api_key="sk-wrong-key-987", base_url=server.openai_base_url)
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask())
    await provider.aclose()
    assert err.value.status == 401 and "OPENAI_API_KEY" in str(err.value)
    assert "sk-wrong-key-987" not in str(err.value) and SECRET not in str(err.value)
    assert (err.value.provider, err.value.model, err.value.retryable) == (
        "openai",
        "gpt-test",
        False,
    )


async def test_forbidden_is_an_auth_error(server: LLMServer, provider: OpenAIProvider) -> None:
    server.add_fault(Fault("status", status=403))
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(ask())
    assert err.value.status == 403


@pytest.mark.parametrize("stream", [False, True])
async def test_rate_limit_carries_retry_after(
    server: LLMServer, provider: OpenAIProvider, stream: bool
) -> None:
    server.add_fault(Fault("status", status=429, retry_after=7))
    server.add_fault(Fault("status", status=429))
    on_delta = (lambda _: None) if stream else None
    with pytest.raises(RateLimitError) as first:
        await provider.complete(ask(), on_delta=on_delta)
    with pytest.raises(RateLimitError) as second:
        await provider.complete(ask(), on_delta=on_delta)
    assert (first.value.retry_after, first.value.status, first.value.retryable) == (7.0, 429, True)
    assert second.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unavailable(
    server: LLMServer, provider: OpenAIProvider, status: int
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
    server: LLMServer, provider: OpenAIProvider, fault: Fault
) -> None:
    server.add_fault(fault)
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(ask(), on_delta=pieces.append)
    assert err.value.retryable and err.value.provider == "openai"
    if fault.kind == "truncate":
        assert "cut off" in str(err.value) and pieces == ["Loopback reply to: "]


async def test_dropped_and_truncated_plain_requests(
    server: LLMServer, provider: OpenAIProvider
) -> None:
    server.add_fault(Fault("drop"))
    server.add_fault(Fault("truncate"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="Lost the connection"):
            await provider.complete(ask())


async def test_timeout_is_unavailable(server: LLMServer, provider: OpenAIProvider) -> None:
    server.latency = 2.0
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        await provider.complete(ask(timeout=0.2))


async def test_unknown_model(server: LLMServer, provider: OpenAIProvider) -> None:
    server.models = ["gpt-real"]
    with pytest.raises(ModelNotFoundError) as err:
        await provider.complete(ask())
    assert "'gpt-test'" in str(err.value) and "Pick another model" in str(err.value)
    assert err.value.status == 404


async def test_context_length(server: LLMServer, provider: OpenAIProvider) -> None:
    server.context_limit = 3
    with pytest.raises(ContextLengthError) as err:
        await provider.complete(ask())
    assert "Shorten the context" in str(err.value) and "bigger context window" in str(err.value)
    assert err.value.status == 400


async def test_other_client_errors_are_plain_provider_errors(
    server: LLMServer, provider: OpenAIProvider
) -> None:
    server.add_fault(Fault("status", status=422, message="max_tokens is too large"))
    with pytest.raises(ProviderError) as err:
        await provider.complete(ask())
    assert type(err.value) is ProviderError and "max_tokens is too large" in str(err.value)


async def test_on_delta_errors_are_not_provider_errors(provider: OpenAIProvider) -> None:
    def broken(_: str) -> None:
        raise KeyError("widget gone")

    with pytest.raises(KeyError, match="widget gone"):
        await provider.complete(ask(), on_delta=broken)


def test_a_new_event_loop_gets_a_new_client() -> None:
    with LLMServer() as server:
        provider = OpenAIProvider(api_key="k", base_url=server.openai_base_url)
        first = asyncio.run(provider.complete(ask("a b")))
        second = asyncio.run(provider.complete(ask("c d")))
        asyncio.run(provider.aclose())
    assert (first.text, second.text) == ("Loopback reply to: a b", "Loopback reply to: c d")


def test_importing_the_module_does_not_import_the_sdk() -> None:
    code = "import sys, gorgon_nb.providers.openai; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

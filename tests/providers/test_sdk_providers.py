"""What both SDK providers share (``gorgon_nb.providers._sdk``), tested for each of them."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from gorgon_nb.errors import (
    ContextLengthError,
    ModelNotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)
from gorgon_nb.providers._sdk import SDKProvider
from gorgon_nb.testing import Fault, LLMServer

if TYPE_CHECKING:
    from conftest import Vendor

both_vendors = pytest.mark.both_vendors


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_wrong_key_is_an_auth_error_without_the_key(
    vendor: Vendor, server: LLMServer, stream: bool
) -> None:
    provider = vendor.provider(server, api_key="sk-wrong-key-987")
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(vendor.ask(), on_delta=(lambda _: None) if stream else None)
    await provider.aclose()
    assert err.value.status == 401 and vendor.key_env in str(err.value)
    assert "sk-wrong-key-987" not in str(err.value) and vendor.secret not in str(err.value)
    assert (err.value.provider, err.value.model, err.value.retryable) == (
        vendor.name,
        vendor.model,
        False,
    )


@both_vendors
async def test_forbidden_is_an_auth_error(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]
) -> None:
    server.add_fault(Fault("status", status=403))
    with pytest.raises(ProviderAuthError) as err:
        await provider.complete(vendor.ask())
    assert err.value.status == 403


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_rate_limit_carries_retry_after(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool
) -> None:
    server.add_fault(Fault("status", status=429, retry_after=2.5))
    server.add_fault(Fault("status", status=429))
    on_delta = (lambda _: None) if stream else None
    with pytest.raises(RateLimitError) as first:
        await provider.complete(vendor.ask(), on_delta=on_delta)
    with pytest.raises(RateLimitError) as second:
        await provider.complete(vendor.ask(), on_delta=on_delta)
    assert (first.value.retry_after, first.value.status, first.value.retryable) == (2.5, 429, True)
    assert second.value.retry_after is None


@both_vendors
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unavailable(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], status: int
) -> None:
    server.add_fault(Fault("status", status=status))
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask())
    assert err.value.status == status and err.value.retryable


@both_vendors
@pytest.mark.parametrize(
    "fault",
    [Fault("drop"), Fault("truncate"), Fault("truncate", clean_close=True), Fault("stream_error")],
    ids=["drop", "cut", "clean-close", "error-event"],
)
async def test_broken_streams_are_unavailable(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], fault: Fault
) -> None:
    server.add_fault(fault)
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask(), on_delta=pieces.append)
    assert err.value.retryable and err.value.provider == vendor.name
    assert "Cannot connect" not in str(err.value)
    if fault.kind == "truncate":
        # anthropic lets a bare httpx2 error through for the cut, and nothing for the
        # clean close; openai wraps the cut in its APIConnectionError.
        assert "cut off" in str(err.value) and pieces == ["Loopback reply to: "]
    if fault.kind == "stream_error":
        assert "in the middle of its answer" in str(err.value) and err.value.status is None


@both_vendors
async def test_dropped_and_truncated_plain_requests(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]
) -> None:
    server.add_fault(Fault("drop"))
    server.add_fault(Fault("truncate"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="Lost the connection"):
            await provider.complete(vendor.ask())


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_is_not_a_lost_stream(
    vendor: Vendor, closed_port: int, stream: bool
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    provider = vendor.make(api_key="k", base_url=url)
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask(), on_delta=(lambda _: None) if stream else None)
    await provider.aclose()
    message = str(err.value)
    assert message.startswith(f"Cannot connect to {vendor.name} at {url} (")
    assert "Check the network connection" in message and "OLLAMA_HOST" not in message
    assert "Lost the connection" not in message and "cut off" not in message
    assert err.value.retryable and err.value.provider == vendor.name


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_refused_connection_names_the_base_url_the_sdk_read_from_the_environment(
    vendor: Vendor, closed_port: int, stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No base URL configured: the SDK takes OPENAI_BASE_URL / ANTHROPIC_BASE_URL itself.
    variable = f"{vendor.name.upper()}_BASE_URL"
    url = f"http://127.0.0.1:{closed_port}/v1"
    monkeypatch.setenv(variable, url)
    provider = vendor.make(api_key="k")
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask(), on_delta=(lambda _: None) if stream else None)
    await provider.aclose()
    message = str(err.value)
    assert message.startswith(f"Cannot connect to {vendor.name} at {url} ("), message
    assert f"api.{vendor.name}.com" not in message
    assert f"The URL comes from {variable}" in message and f"unset {variable}" in message


@both_vendors
async def test_a_url_with_credentials_is_named_without_them(vendor: Vendor, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    provider = vendor.make(api_key="k", base_url=f"http://user:hunter2-pass@127.0.0.1:{closed_port}/v1")
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask())
    await provider.aclose()
    assert str(err.value).startswith(f"Cannot connect to {vendor.name} at {url} (")
    assert "hunter2" not in str(err.value)


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_a_key_echoed_in_an_error_body_is_scrubbed(
    vendor: Vendor, server: LLMServer, stream: bool
) -> None:
    # A key not in the environment (passed in): the provider registers it as it sends it.
    key = "Zq8-handed-in-key-4f1e9a2b7c"
    server.api_key = key
    provider = vendor.provider(server, api_key=key)
    server.add_fault(Fault("status", status=400, message=f"malformed header: Bearer {key}"))
    server.add_fault(Fault("status", status=503, message=f"upstream refused {key}"))
    on_delta = (lambda _: None) if stream else None
    with pytest.raises(ProviderError) as rejected:
        await provider.complete(vendor.ask(), on_delta=on_delta)
    with pytest.raises(ProviderUnavailable) as unavailable:
        await provider.complete(vendor.ask(), on_delta=on_delta)
    await provider.aclose()
    assert "malformed header: Bearer ***" in str(rejected.value)
    assert "upstream refused ***" in str(unavailable.value)


@both_vendors
@pytest.mark.parametrize("how", ["ConnectError", "ConnectTimeout", "APITimeoutError"])
async def test_connect_errors_and_timeouts_are_connect_failures(
    vendor: Vendor, server: LLMServer, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx2's connect errors raised directly, and the SDK's timeout for a connect that
    # timed out (hard to provoke for real: it takes an address that swallows packets).
    cause: Exception = httpx2.ConnectError("refused")
    if how != "ConnectError":
        cause = httpx2.ConnectTimeout("timed out")
    error = cause
    if how == "APITimeoutError":
        sdk = importlib.import_module(vendor.name)
        error = sdk.APITimeoutError(request=httpx2.Request("POST", vendor.base_url(server)))
        error.__cause__ = cause
    provider = vendor.provider(server)

    async def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(provider, "_answer", fail)
    with pytest.raises(ProviderUnavailable) as err:
        await provider.complete(vendor.ask())
    where = f"Cannot connect to {vendor.name} at {vendor.base_url(server)} ({cause})."
    assert str(err.value).startswith(where) and err.value.retryable


@both_vendors
@pytest.mark.parametrize("stream", [False, True])
async def test_timeouts_are_unavailable(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool
) -> None:
    # Streaming, the headers come at once and the first text late: anthropic then lets a
    # bare httpx2.ReadTimeout through, which must be translated too.
    if stream:
        server.add_fault(Fault("slow_first_token", delay=3.0))
    else:
        server.latency = 3.0
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        await provider.complete(
            vendor.ask(timeout=0.3), on_delta=(lambda _: None) if stream else None
        )


@both_vendors
async def test_unknown_model(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]
) -> None:
    server.models = ["some-real-model"]
    with pytest.raises(ModelNotFoundError) as err:
        await provider.complete(vendor.ask())
    assert f"'{vendor.model}'" in str(err.value) and "Pick another model" in str(err.value)
    assert f"check the base URL {vendor.base_url(server)}" in str(err.value)
    assert err.value.status == 404


@both_vendors
async def test_context_length(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]
) -> None:
    server.context_limit = 3
    with pytest.raises(ContextLengthError) as err:
        await provider.complete(vendor.ask())
    assert "4 tokens" in str(err.value)  # the server's own words
    assert "Shorten the context" in str(err.value) and "bigger context window" in str(err.value)
    assert err.value.status == 400


@both_vendors
@pytest.mark.parametrize("status", [400, 422])
async def test_other_client_errors_are_plain_provider_errors(
    vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], status: int
) -> None:
    server.add_fault(Fault("status", status=status, message="max_tokens: 999999 > 64000"))
    with pytest.raises(ProviderError) as err:
        await provider.complete(vendor.ask())
    assert type(err.value) is ProviderError and "max_tokens: 999999 > 64000" in str(err.value)
    assert err.value.status == status


@both_vendors
async def test_on_delta_errors_are_not_provider_errors(
    vendor: Vendor, provider: SDKProvider[Any]
) -> None:
    def broken(_: str) -> None:
        raise KeyError("widget gone")

    with pytest.raises(KeyError, match="widget gone"):
        await provider.complete(vendor.ask(), on_delta=broken)


@both_vendors
def test_a_new_event_loop_gets_a_new_client(vendor: Vendor) -> None:
    with LLMServer() as server:
        provider = vendor.provider(server, api_key="k")
        first = asyncio.run(provider.complete(vendor.ask("a b")))
        second = asyncio.run(provider.complete(vendor.ask("c d"), on_delta=lambda _: None))
        asyncio.run(provider.aclose())
    assert (first.text, second.text) == ("Loopback reply to: a b", "Loopback reply to: c d")


@both_vendors
def test_importing_the_module_does_not_import_the_sdk(vendor: Vendor) -> None:
    code = f"import sys, gorgon_nb.providers.{vendor.name}; print({vendor.name!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

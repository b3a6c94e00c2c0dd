"""The two SDK providers as test subjects, and their fixtures.

A test module names its provider with ``VENDOR = "anthropic"`` (or ``"openai"``); the
``vendor``, ``server`` and ``provider`` fixtures follow it. A test marked
``@pytest.mark.both_vendors`` runs once for each provider instead.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gorgon_nb.providers._sdk import SDKProvider
from gorgon_nb.providers.anthropic import AnthropicProvider
from gorgon_nb.providers.base import LLMRequest, Message
from gorgon_nb.providers.openai import OpenAIProvider
from gorgon_nb.testing import LLMServer


@dataclass(frozen=True)
class Vendor:
    """One SDK provider, with what the loopback server expects of it."""

    name: str  # the provider's default name, and the SDK module's
    model: str
    secret: str
    key_env: str
    make: Callable[..., SDKProvider[Any]]
    base_url: Callable[[LLMServer], str]

    def ask(self, text: str = "one two three four", **kwargs: Any) -> LLMRequest:
        return LLMRequest(model=self.model, messages=[Message("user", text)], **kwargs)

    def provider(self, server: LLMServer, **kwargs: Any) -> SDKProvider[Any]:
        """A provider pointed at ``server``, with the right key unless ``kwargs`` say otherwise."""
        return self.make(**{"api_key": self.secret, "base_url": self.base_url(server), **kwargs})


ANTHROPIC = Vendor(
    name="anthropic",
    model="claude-test",
    secret="sk-ant-test-secret-0123456789",
    key_env="ANTHROPIC_API_KEY",
    make=AnthropicProvider,
    base_url=lambda server: server.anthropic_base_url,
)
OPENAI = Vendor(
    name="openai",
    model="gpt-test",
    secret="sk-test-secret-0123456789",
    key_env="OPENAI_API_KEY",
    make=OpenAIProvider,
    base_url=lambda server: server.openai_base_url,
)
VENDORS = {v.name: v for v in (ANTHROPIC, OPENAI)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_vendors: run the test for each SDK provider")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_vendors"):
        metafunc.parametrize("vendor", list(VENDORS), indirect=True)


@pytest.fixture
def vendor(request: pytest.FixtureRequest) -> Vendor:
    """The module's ``VENDOR``, or each in turn for a test marked ``both_vendors``."""
    return VENDORS[getattr(request, "param", None) or request.module.VENDOR]


@pytest.fixture
def server(vendor: Vendor) -> Iterator[LLMServer]:
    with LLMServer(api_key=vendor.secret) as s:
        yield s


@pytest.fixture
async def provider(vendor: Vendor, server: LLMServer) -> AsyncIterator[SDKProvider[Any]]:
    p = vendor.provider(server)
    yield p
    await p.aclose()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, read and closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port

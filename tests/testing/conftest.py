"""Fixtures of the loopback server tests: a running server and real SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import openai
import pytest

from gorgon_nb.testing import LLMServer


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as s:
        yield s


# The clients are closed explicitly: an unclosed async SDK client schedules its own
# cleanup from __del__ on whatever event loop runs in the thread where the garbage
# collector fires, which can be the server's loop, and that stalls other requests.
@pytest.fixture
async def oai(server: LLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def ant(server: LLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="k", max_retries=0
    )
    yield client
    await client.close()

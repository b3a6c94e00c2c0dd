"""Faults of the loopback LLM server, and what the real SDKs do about each one.

As pinned down here (openai 3.x, anthropic 2.x, both on httpx2):

* dropped connection (no response at all): both raise ``APIConnectionError`` whose
  ``__cause__`` is ``httpx2.RemoteProtocolError("Server disconnected without sending a
  response.")``, streaming or not.
* stream cut mid-body (socket closed before the last chunk): both raise
  ``APIConnectionError`` whose ``__cause__`` is ``httpx2.RemoteProtocolError`` ("incomplete
  chunked read"), for ``create(stream=True)`` and anthropic's ``messages.stream()`` alike
  (anthropic before 2.17 let the bare httpx2 error escape from the iteration).
* stream that ends cleanly at the HTTP level but without its final events: both end
  silently. openai: no chunk carries a ``finish_reason``, no usage chunk arrives, and
  ``get_final_completion()`` returns ``finish_reason=None`` and ``usage=None``.
  anthropic: no ``message_stop`` event; ``get_final_message()`` returns
  ``stop_reason=None`` and the ``output_tokens`` of ``message_start``.
* error event inside a started stream: openai raises a plain ``APIError`` (no status);
  anthropic raises ``APIStatusError`` with ``status_code == 200`` and ``type`` set to the
  error's type.
* read timeout while waiting for the first token: both raise ``APITimeoutError`` (anthropic
  before 2.17 let the bare ``httpx2.ReadTimeout`` escape).

The SDKs' versions come from requirements.lock; a release that changes any of this fails
here first, and gorgon's own translation of each fault is tested through the engine in
tests/engine/test_faults.py.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import pytest

from gorgon_nb.testing import Fault, LLMServer

# Any: the one list serves both SDKs, whose message types differ.
USER: Any = [{"role": "user", "content": "one two three four five six seven"}]
EXPECTED = "Loopback reply to: one two three four five six seven"



async def test_429_carries_retry_after(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("status", status=429, retry_after=7), times=2)
    with pytest.raises(openai.RateLimitError) as oerr:
        await oai.chat.completions.create(model="m", messages=USER)
    assert oerr.value.response.headers["retry-after"] == "7"
    with pytest.raises(anthropic.RateLimitError) as aerr:
        await ant.messages.create(model="c", max_tokens=10, messages=USER, stream=True)
    assert aerr.value.response.headers["retry-after"] == "7"
    assert aerr.value.type == "rate_limit_error"
    assert server.pending_faults == []
    assert (await oai.chat.completions.create(model="m", messages=USER)).choices[0].message.content
    assert [r.status for r in server.requests] == [429, 429, 200]


async def test_server_errors(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("status", status=500, message="boom"))
    server.add_fault(Fault("status", status=529, protocol="anthropic"))
    with pytest.raises(openai.InternalServerError) as oerr:
        await oai.chat.completions.create(model="m", messages=USER)
    assert oerr.value.status_code == 500 and "boom" in oerr.value.message
    with pytest.raises(anthropic.OverloadedError) as aerr:
        await ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert aerr.value.type == "overloaded_error"


async def test_protocol_filter_leaves_other_protocol_alone(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("status", status=503, protocol="anthropic"))
    assert (await oai.chat.completions.create(model="m", messages=USER)).choices[0].message.content
    with pytest.raises(anthropic.ServiceUnavailableError):
        await ant.messages.create(model="c", max_tokens=10, messages=USER)


@pytest.mark.parametrize("stream", [False, True])
async def test_drop(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic, stream: bool
) -> None:
    server.add_fault(Fault("drop"), times=2)
    with pytest.raises(openai.APIConnectionError) as oerr:
        await oai.chat.completions.create(model="m", messages=USER, stream=stream)
    assert isinstance(oerr.value.__cause__, httpx2.RemoteProtocolError)
    with pytest.raises(anthropic.APIConnectionError) as aerr:
        await ant.messages.create(model="c", max_tokens=10, messages=USER, stream=stream)
    assert "without sending a response" in str(aerr.value.__cause__)
    assert [(r.status, r.fault) for r in server.requests] == [(None, "drop")] * 2


async def test_truncated_stream_raises(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("truncate", after_pieces=2), times=2)
    pieces: list[str] = []
    with pytest.raises(openai.APIConnectionError) as oerr:
        async for chunk in await oai.chat.completions.create(model="m", messages=USER, stream=True):
            pieces.append(chunk.choices[0].delta.content or "")
    assert "incomplete chunked read" in str(oerr.value.__cause__)
    assert "".join(pieces) == "Loopback reply to: one two three "
    with pytest.raises(anthropic.APIConnectionError) as aerr:
        async with ant.messages.stream(model="c", max_tokens=10, messages=USER) as stream:
            async for _ in stream.text_stream:
                pass
    assert isinstance(aerr.value.__cause__, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(aerr.value.__cause__)


async def test_truncated_plain_reply_raises(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("truncate"), times=2)
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model="m", messages=USER)
    with pytest.raises(anthropic.APIConnectionError) as aerr:
        await ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert "without sending complete message body" in str(aerr.value.__cause__)


async def test_cleanly_truncated_stream_ends_silently(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("truncate", clean_close=True), times=3)
    stream = await oai.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in chunks)
    raw = await ant.messages.create(model="c", max_tokens=10, messages=USER, stream=True)
    kinds = [event.type async for event in raw]
    assert "message_stop" not in kinds and "message_delta" not in kinds
    async with ant.messages.stream(model="c", max_tokens=10, messages=USER) as helper:
        final = await helper.get_final_message()
    assert final.stop_reason is None and final.content[0].type == "text"


async def test_error_event_inside_stream(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("stream_error"), times=2)
    with pytest.raises(openai.APIError) as oerr:
        async for _ in await oai.chat.completions.create(model="m", messages=USER, stream=True):
            pass
    assert not isinstance(oerr.value, openai.APIStatusError) and oerr.value.type == "server_error"
    with pytest.raises(anthropic.APIStatusError) as aerr:
        async for _ in await ant.messages.create(
            model="c", max_tokens=10, messages=USER, stream=True
        ):
            pass
    assert (aerr.value.status_code, aerr.value.type) == (200, "overloaded_error")


async def test_slow_first_token(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("slow_first_token", delay=3.0), times=2)
    # The headers arrive at once, so create() returns; the first text does not come
    # within the read timeout.
    stream = await oai.chat.completions.create(model="m", messages=USER, stream=True, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        async for _ in stream:
            pass
    raw = await ant.messages.create(
        model="c", max_tokens=10, messages=USER, stream=True, timeout=0.5
    )
    with pytest.raises(anthropic.APITimeoutError) as aerr:
        async for _ in raw:
            pass
    assert isinstance(aerr.value.__cause__, httpx2.ReadTimeout)
    server.add_fault(Fault("slow_first_token", delay=0.05))
    reply = await oai.chat.completions.create(model="m", messages=USER, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in reply]) == EXPECTED
    assert [r.fault for r in server.requests] == ["slow_first_token"] * 3


async def test_stream_faults_on_plain_requests(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.add_fault(Fault("stream_error", status=503))
    server.add_fault(Fault("slow_first_token", delay=0.01, protocol="anthropic"))
    with pytest.raises(openai.InternalServerError) as err:
        await oai.chat.completions.create(model="m", messages=USER)
    assert err.value.status_code == 503
    message = await ant.messages.create(model="c", max_tokens=50, messages=USER)
    assert message.content[0].type == "text" and message.content[0].text == EXPECTED
    assert [r.fault for r in server.requests] == ["stream_error", "slow_first_token"]

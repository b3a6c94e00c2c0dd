"""The loopback LLM server, driven by the real OpenAI and Anthropic SDKs: replies,
streams, usage, refusals, the request log, concurrency and the command line.

Faults, and what each SDK does about them, are in ``test_llm_server_faults.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from gorgon_nb.testing import Fault, LLMServer, RecordedRequest

# Any: the one list serves both SDKs, whose message types differ.
USER: Any = [{"role": "user", "content": "one two three four five six seven"}]
EXPECTED = "Loopback reply to: one two three four five six seven"



async def test_openai_plain_reply_and_request_log(
    server: LLMServer, oai: openai.AsyncOpenAI
) -> None:
    system: Any = {"role": "system", "content": "be brief"}
    result = await oai.chat.completions.create(model="gpt-x", messages=[system, *USER])
    assert result.choices[0].message.content == EXPECTED
    assert (result.model, result.choices[0].finish_reason) == ("gpt-x", "stop")
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 10)
    [request] = server.requests
    assert (request.protocol, request.method, request.path) == (
        "openai",
        "POST",
        "/v1/chat/completions",
    )
    assert (request.model, request.stream, request.status) == ("gpt-x", False, 200)
    assert request.prompt == "be brief\none two three four five six seven"
    assert request.reply == EXPECTED and request.fault is None
    assert request.headers["authorization"] == "Bearer k"
    assert request.body["messages"][0] == system


def test_sync_clients(server: LLMServer) -> None:
    with openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(model="m", messages=USER)
        assert reply.choices[0].message.content == EXPECTED
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0) as ac:
        message = ac.messages.create(model="c", max_tokens=50, messages=USER)
        assert message.content[0].type == "text" and message.content[0].text == EXPECTED
        with ac.messages.stream(model="c", max_tokens=50, messages=USER) as stream:
            assert "".join(stream.text_stream) == EXPECTED
    assert [r.protocol for r in server.requests] == ["openai", "anthropic", "anthropic"]


async def test_openai_create_stream(server: LLMServer, oai: openai.AsyncOpenAI) -> None:
    server.chunk_words = 2
    pieces, finishes, usages = [], [], []
    stream = await oai.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finishes.append(chunk.choices[0].finish_reason)
        if chunk.usage:
            usages.append(chunk.usage)
    assert "".join(pieces) == EXPECTED
    assert len([p for p in pieces if p]) == 5  # ten words in pieces of two
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(7, 10)]
    assert server.requests[0].stream is True


async def test_openai_stream_without_usage_option(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="m", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


async def test_openai_stream_helper(oai: openai.AsyncOpenAI) -> None:
    deltas = []
    async with oai.chat.completions.stream(
        model="m", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        async for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
        final = await stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content == EXPECTED
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.completion_tokens == 10


async def test_anthropic_plain_reply(server: LLMServer, ant: anthropic.AsyncAnthropic) -> None:
    message = await ant.messages.create(
        model="claude-x", max_tokens=100, system="be brief", messages=USER
    )
    assert message.content[0].type == "text" and message.content[0].text == EXPECTED
    assert (message.model, message.stop_reason) == ("claude-x", "end_turn")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 10)
    request = server.requests[0]
    assert (request.protocol, request.path, request.prompt) == (
        "anthropic",
        "/v1/messages",
        "be brief\none two three four five six seven",
    )


async def test_anthropic_create_stream_events(ant: anthropic.AsyncAnthropic) -> None:
    stream = await ant.messages.create(model="c", max_tokens=100, messages=USER, stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == EXPECTED
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.output_tokens == 10 and delta.delta.stop_reason == "end_turn"


async def test_anthropic_stream_helper(ant: anthropic.AsyncAnthropic) -> None:
    async with ant.messages.stream(model="c", max_tokens=100, messages=USER) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == 4 and "".join(pieces) == EXPECTED
    assert (final.stop_reason, final.usage.output_tokens, final.usage.input_tokens) == (
        "end_turn",
        10,
        7,
    )


async def test_cached_tokens(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.cached_tokens, server.cache_write_tokens = 4, 2
    reply = await oai.chat.completions.create(model="m", messages=USER)
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert (reply.usage.prompt_tokens, reply.usage.prompt_tokens_details.cached_tokens) == (7, 4)
    message = await ant.messages.create(model="c", max_tokens=100, messages=USER)
    usage = message.usage
    # Anthropic's input_tokens is the uncached rest of the prompt.
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (1, 4, 2)
    async with ant.messages.stream(model="c", max_tokens=100, messages=USER) as stream:
        streamed = (await stream.get_final_message()).usage
    assert (streamed.input_tokens, streamed.cache_read_input_tokens) == (1, 4)


async def test_max_tokens_cuts_the_reply(
    oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    reply = await oai.chat.completions.create(model="m", messages=USER, max_tokens=3)
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
        "Loopback reply to:",
        "length",
    )
    message = await ant.messages.create(model="c", max_tokens=2, messages=USER)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 2


async def test_wrong_key_is_401_in_each_shape(server: LLMServer) -> None:
    server.api_key = "right"
    bad_oai = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="wrong", max_retries=0)
    bad_ant = anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="wrong", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as oerr:
        await bad_oai.chat.completions.create(model="m", messages=USER)
    assert oerr.value.status_code == 401 and oerr.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as aerr:
        await bad_ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert aerr.value.type == "authentication_error"
    await bad_oai.close()
    await bad_ant.close()
    async with httpx2.AsyncClient() as http:
        body = {"model": "c", "max_tokens": 5, "messages": USER}
        ok = await http.post(server.url + "/v1/messages", json=body, headers={"x-api-key": "right"})
    assert ok.status_code == 200
    assert [r.status for r in server.requests] == [401, 401, 200]


async def test_unknown_model_is_404(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.models = ["known"]
    with pytest.raises(openai.NotFoundError) as oerr:
        await oai.chat.completions.create(model="nope", messages=USER)
    assert oerr.value.code == "model_not_found" and "nope" in oerr.value.message
    with pytest.raises(anthropic.NotFoundError) as aerr:
        await ant.messages.create(model="nope", max_tokens=10, messages=USER)
    assert aerr.value.type == "not_found_error"
    assert [m.id for m in (await oai.models.list()).data] == ["known"]
    assert [m.id for m in (await ant.models.list()).data] == ["known"]
    ok = await oai.chat.completions.create(model="known", messages=USER)
    assert ok.model == "known"


async def test_context_limit_is_400(
    server: LLMServer, oai: openai.AsyncOpenAI, ant: anthropic.AsyncAnthropic
) -> None:
    server.context_limit = 5
    with pytest.raises(openai.BadRequestError) as oerr:
        await oai.chat.completions.create(model="m", messages=USER)
    assert oerr.value.code == "context_length_exceeded"
    assert "maximum context length is 5 tokens" in oerr.value.message
    with pytest.raises(anthropic.BadRequestError) as aerr:
        await ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert aerr.value.api_message == "prompt is too long: 7 tokens > 5 maximum"
    assert aerr.value.type == "invalid_request_error"


async def test_concurrent_requests_are_served_together(
    server: LLMServer, oai: openai.AsyncOpenAI
) -> None:
    server.latency = 0.2
    arrived: list[RecordedRequest] = []
    everyone_here = asyncio.Event()  # created here, used on the server's loop: it binds lazily

    async def wait_for_all(request: RecordedRequest) -> str:
        arrived.append(request)
        if len(arrived) == 100:
            everyone_here.set()
        # If the server answered one request at a time, this would never be set.
        await asyncio.wait_for(everyone_here.wait(), 10)
        return request.last_user_message.upper()

    server.responder = wait_for_all
    calls = [
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": f"n{i}"}])
        for i in range(100)
    ]
    replies = await asyncio.gather(*calls)
    assert [r.choices[0].message.content for r in replies] == [f"N{i}" for i in range(100)]
    assert len(server.requests) == 100


async def test_responder_failure_and_reset(server: LLMServer, oai: openai.AsyncOpenAI) -> None:
    def broken(request: RecordedRequest) -> str:
        raise RuntimeError("no answer")

    server.responder = broken
    server.add_fault(Fault("drop", protocol="anthropic"))
    with pytest.raises(openai.InternalServerError) as err:
        await oai.chat.completions.create(model="m", messages=USER)
    assert "no answer" in err.value.message
    snapshot = server.requests
    server.reset()
    assert len(snapshot) == 1 and server.requests == [] and server.pending_faults == []


async def test_unknown_path_and_fixed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with LLMServer(port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        async with httpx2.AsyncClient() as http:
            missing = await http.get(server.url + "/v2/nothing")
            models = await http.get(server.openai_base_url + "/models")
    assert missing.status_code == 404 and "error" in missing.json()
    assert models.json()["data"][0]["id"] == "loopback-model"


def test_cli_serves_until_interrupted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "gorgon_nb.testing.llm_server",
        "--port",
        str(port),
        "--latency",
        "0",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert proc.stdout is not None
        assert f"127.0.0.1:{port}/v1" in proc.stdout.readline()
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0
        ) as client:
            reply = client.chat.completions.create(model="m", messages=USER)
        assert reply.choices[0].message.content == EXPECTED
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "Warning" not in stderr


async def test_anthropic_refuses_sampling_parameters_like_api_2026_10_21(server: LLMServer) -> None:
    body = {"model": "c", "max_tokens": 5, "messages": USER, "temperature": 1.0}
    async with httpx2.AsyncClient() as http:
        new = await http.post(
            server.url + "/v1/messages", json=body, headers={"anthropic-version": "2026-10-21"}
        )
        old = await http.post(
            server.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
        )
    assert new.status_code == 400
    assert new.json()["error"]["message"] == "temperature: Extra inputs are not permitted"
    assert old.status_code == 200


async def test_fault_path_filter(server: LLMServer, oai: openai.AsyncOpenAI) -> None:
    server.add_fault(Fault("status", status=418, path="/v1/messages"))
    assert (await oai.chat.completions.create(model="m", messages=USER)).choices
    assert len(server.pending_faults) == 1 and server.requests[0].fault is None

"""Scripted tool calls of the loopback server, read by the real SDKs and their own stream
helpers; what it records of the tools and results it is sent; the tool turns it refuses."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gorgon_nb.testing import CallTool, Fault, LLMServer, ToolCalls, ToolResult

USER: Any = [{"role": "user", "content": "weather please"}]
OAI_TOOLS: Any = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}},
                  {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}]
ANT_TOOLS: Any = [{"name": "weather", "input_schema": {"type": "object"}},
                  {"name": "clock", "input_schema": {"type": "object"}}]
SCRIPT = ToolCalls(CallTool("weather", {"city": "Oslo"}, id="w1"), ("clock", {"city": "Lima, Peru"}),
                   text="One moment.")


def test_tool_calls_need_a_call() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        ToolCalls()


async def test_openai_plain_and_with_the_stream_helper(server: LLMServer, oai: openai.AsyncOpenAI) -> None:
    server.responder = lambda r: SCRIPT
    reply = await oai.chat.completions.create(model="m", messages=USER, tools=OAI_TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "One moment."
    calls: Any = choice.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("w1", "weather", '{"city": "Oslo"}'), (calls[1].id, "clock", '{"city": "Lima, Peru"}')]
    async with oai.chat.completions.stream(model="m", messages=USER, tools=OAI_TOOLS) as stream:
        final = await stream.get_final_completion()
    streamed: Any = final.choices[0].message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in streamed] == [
        ("weather", '{"city": "Oslo"}'), ("clock", '{"city": "Lima, Peru"}')]
    assert final.choices[0].finish_reason == "tool_calls" and final.choices[0].message.content == "One moment."
    assert [r.reply_calls for r in server.requests] == [list(SCRIPT.calls)] * 2
    assert [r.tools for r in server.requests] == [["weather", "clock"]] * 2


async def test_anthropic_plain_and_with_the_stream_helper(server: LLMServer, ant: anthropic.AsyncAnthropic) -> None:
    server.responder = lambda r: SCRIPT
    message = await ant.messages.create(model="c", max_tokens=100, messages=USER, tools=ANT_TOOLS)
    assert message.stop_reason == "tool_use"
    text, weather, clock = message.content
    assert text.type == "text" and text.text == "One moment."
    assert weather.type == "tool_use" and (weather.id, weather.name, weather.input) == ("w1", "weather", {"city": "Oslo"})
    assert clock.type == "tool_use" and clock.input == {"city": "Lima, Peru"} and clock.id.startswith("toolu_")
    async with ant.messages.stream(model="c", max_tokens=100, messages=USER, tools=ANT_TOOLS) as stream:
        final = await stream.get_final_message()
    assert [b.input for b in final.content if b.type == "tool_use"] == [{"city": "Oslo"}, {"city": "Lima, Peru"}]
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == message.usage.output_tokens


async def test_calls_without_text_and_faults_on_their_frames(server: LLMServer, ant: anthropic.AsyncAnthropic,
                                                             oai: openai.AsyncOpenAI) -> None:
    server.responder = lambda r: ToolCalls(("weather", {"city": "a city with a long name"}))
    message = await ant.messages.create(model="c", max_tokens=100, messages=USER, tools=ANT_TOOLS)
    assert [b.type for b in message.content] == ["tool_use"]
    server.add_fault(Fault("truncate", after_pieces=2, clean_close=True))
    async with oai.chat.completions.stream(model="m", messages=USER, tools=OAI_TOOLS) as stream:
        events = [event async for event in stream]
    chunks = [e for e in events if e.type == "chunk"]
    assert all(c.chunk.choices[0].finish_reason is None for c in chunks if c.chunk.choices)  # cut before the end
    fragments = [c for c in chunks if c.chunk.choices and c.chunk.choices[0].delta.tool_calls]
    assert len(fragments) == 2  # the call's opening and one piece of its arguments


async def test_results_are_recorded_with_their_tools_names(server: LLMServer, ant: anthropic.AsyncAnthropic,
                                                           oai: openai.AsyncOpenAI) -> None:
    server.responder = lambda r: f"{len(r.tool_results)} results"
    oai_messages: Any = [*USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "b", "content": "noon"}]
    reply = await oai.chat.completions.create(model="m", messages=oai_messages, tools=OAI_TOOLS)
    assert reply.choices[0].message.content == "2 results"
    ant_messages: Any = [*USER, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "a", "name": "weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "is_error": True,
                                      "content": [{"type": "text", "text": "no sun"}]}]}]
    await ant.messages.create(model="c", max_tokens=50, messages=ant_messages, tools=ANT_TOOLS)
    first, second = server.requests
    assert first.tool_results == [ToolResult("a", "weather", "sunny"), ToolResult("b", "clock", "noon")]
    assert second.tool_results == [ToolResult("a", "weather", "no sun", True)]
    assert second.last_user_message == "weather please"  # a turn of results is not the user speaking
    assert "no sun" in second.prompt


async def test_tool_turns_that_do_not_fit_are_refused(server: LLMServer, ant: anthropic.AsyncAnthropic,
                                                      oai: openai.AsyncOpenAI) -> None:
    asked: Any = [*USER, {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "weather",
                                                            "input": {}}]}]
    answered: Any = [*asked, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
                                                             "content": "sunny"}]}]
    with pytest.raises(anthropic.BadRequestError, match="must define tools"):
        await ant.messages.create(model="c", max_tokens=50, messages=answered)
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks"):
        await ant.messages.create(model="c", max_tokens=50, messages=[*asked, *USER], tools=ANT_TOOLS)
    stray: Any = [*USER, {"role": "tool", "tool_call_id": "zz", "content": "sunny"}]
    with pytest.raises(openai.BadRequestError, match="must be a response to a preceding"):
        await oai.chat.completions.create(model="m", messages=stray)
    unanswered: Any = [*USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]}, *USER]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: a"):
        await oai.chat.completions.create(model="m", messages=unanswered, tools=OAI_TOOLS)
    assert [r.status for r in server.requests] == [400] * 4

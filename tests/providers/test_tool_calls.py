"""Tool calls through both SDK providers and the loopback server's scripted model: what is
sent (the tools, the assistant's calls, the results) and what comes back, streamed and not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from gorgon_nb.errors import ProviderError
from gorgon_nb.providers._sdk import SDKProvider
from gorgon_nb.providers.base import Completion, LLMRequest, Message, ToolCall, ToolSpec
from gorgon_nb.testing import CallTool, LLMServer, RecordedRequest, ToolCalls

if TYPE_CHECKING:
    from conftest import Vendor

both_vendors = pytest.mark.both_vendors
streamed = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])

WEATHER = ToolSpec("get_weather", "The weather in a city.", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
CLOCK = ToolSpec("get_time", "The time in a city.", {"type": "object", "properties": {"city": {"type": "string"}}})


async def ask(provider: SDKProvider[Any], request: LLMRequest, stream: bool) -> tuple[Completion, list[str]]:
    pieces: list[str] = []
    completion = await provider.complete(request, on_delta=pieces.append if stream else None)
    return completion, pieces


@both_vendors
@streamed
async def test_a_scripted_call_comes_back_as_a_tool_call(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool) -> None:
    server.responder = lambda r: ToolCalls(("get_weather", {"city": "Paris", "units": ["C", "F"]}),
                                           text="Let me check the weather.")
    completion, pieces = await ask(provider, vendor.ask("weather in Paris?", tools=(WEATHER, CLOCK)), stream)
    [call] = completion.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris", "units": ["C", "F"]})
    assert call.id and completion.text == "Let me check the weather."
    assert completion.finish_reason == ("tool_calls" if vendor.name == "openai" else "tool_use")
    assert "".join(pieces) == (completion.text if stream else "")  # text still streams
    assert completion.usage.output_tokens > 5  # the call's arguments count as output
    [request] = server.requests
    assert request.tools == ["get_weather", "get_time"]
    sent = request.body["tools"][0]
    if vendor.name == "openai":
        assert sent == {"type": "function", "function": {"name": "get_weather", "description": WEATHER.description,
                                                         "parameters": WEATHER.schema}}
    else:
        assert sent == {"name": "get_weather", "description": WEATHER.description, "input_schema": WEATHER.schema}


@both_vendors
@streamed
async def test_parallel_calls_keep_their_order_and_ids(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool) -> None:
    server.responder = lambda r: ToolCalls(
        CallTool("get_weather", {"city": "Oslo"}, id="c-1"), CallTool("get_time", {"city": "Lima"}, id="c-2"),
        ("get_weather", {"city": "a long name that is streamed in several fragments of JSON"}))
    completion, pieces = await ask(provider, vendor.ask("three things", tools=(WEATHER, CLOCK)), stream)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls[:2]] == [
        ("c-1", "get_weather", {"city": "Oslo"}), ("c-2", "get_time", {"city": "Lima"})]
    third = completion.tool_calls[2]
    assert third.arguments == {"city": "a long name that is streamed in several fragments of JSON"}
    assert third.id not in ("c-1", "c-2") and completion.text == "" and pieces == []


@both_vendors
@streamed
async def test_arguments_that_are_not_an_object_are_marked_invalid(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool) -> None:
    server.responder = lambda r: ToolCalls(("get_weather", '{"city": "Par'), ("get_time", "[1, 2]"))
    completion, _ = await ask(provider, vendor.ask("x", tools=(WEATHER, CLOCK)), stream)
    first, second = completion.tool_calls
    assert first.arguments == {"__invalid__": '{"city": "Par'}
    assert set(second.arguments) == {"__invalid__"} and "1" in second.arguments["__invalid__"]


@both_vendors
@streamed
async def test_results_go_back_in_the_vendors_shape(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any], stream: bool) -> None:
    def model(request: RecordedRequest) -> str | ToolCalls:
        if not request.tool_results:
            return ToolCalls(("get_weather", {"city": "Oslo"}), ("get_time", {"city": "Oslo"}), text="Checking.")
        return "; ".join(f"{r.name}={r.content}{'!' if r.is_error else ''}" for r in request.tool_results)

    server.responder = model
    request = vendor.ask("weather and time in Oslo", tools=(WEATHER, CLOCK), system="be brief")
    first, _ = await ask(provider, request, stream)
    a, b = first.tool_calls
    request.messages += [Message("assistant", first.text, tool_calls=first.tool_calls),
                         Message("tool", "rainy, 4 C", tool_call_id=a.id),
                         Message("tool", "ValueError: no clock", tool_call_id=b.id, is_error=True)]
    answer, _ = await ask(provider, request, stream)
    error_mark = "!" if vendor.name == "anthropic" else ""  # OpenAI has no error flag on results
    assert answer.text == f"get_weather=rainy, 4 C; get_time=ValueError: no clock{error_mark}"
    assert answer.tool_calls == () and answer.finish_reason in ("stop", "end_turn")
    second = server.requests[1]
    assert second.last_user_message == "weather and time in Oslo"
    sent = second.body["messages"]
    if vendor.name == "openai":
        assert sent[2] == {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": a.id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
            {"id": b.id, "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Oslo"}'}}]}
        assert sent[3:] == [{"role": "tool", "tool_call_id": a.id, "content": "rainy, 4 C"},
                            {"role": "tool", "tool_call_id": b.id, "content": "ValueError: no clock"}]
    else:
        assert sent[1] == {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": a.id, "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": b.id, "name": "get_time", "input": {"city": "Oslo"}}]}
        assert sent[2:] == [{"role": "user", "content": [  # the two results in ONE user turn
            {"type": "tool_result", "tool_use_id": a.id, "content": "rainy, 4 C", "is_error": False},
            {"type": "tool_result", "tool_use_id": b.id, "content": "ValueError: no clock", "is_error": True}]}]


@both_vendors
async def test_a_last_ask_without_tools_still_carries_the_calls(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]) -> None:
    server.responder = lambda r: f"offered {len(r.tools)}: {r.prompt.count('Oslo')}"
    call = ToolCall("c-9", "get_weather", {"city": "Oslo"})
    request = LLMRequest(
        vendor.model, [Message("user", "weather in Oslo"), Message("assistant", "", tool_calls=(call,)),
                       Message("tool", "Oslo: rainy", tool_call_id="c-9")])
    answer = await provider.complete(request)  # no tools: Anthropic refuses tool blocks then
    assert answer.text.startswith("offered 0: ") and int(answer.text.split(": ")[1]) >= 2
    assert "tools" not in server.requests[0].body


@both_vendors
async def test_a_request_without_tools_is_what_it_always_was(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]) -> None:
    await provider.complete(vendor.ask("hello there", system="sys"))
    body = server.requests[0].body
    assert "tools" not in body and server.requests[0].tools == [] and server.requests[0].tool_results == []
    user = {"role": "user", "content": "hello there"}
    assert body["messages"] == ([{"role": "system", "content": "sys"}, user] if vendor.name == "openai" else [user])


@both_vendors
async def test_the_server_refuses_a_call_without_its_result(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]) -> None:
    call = ToolCall("c-1", "get_weather", {"city": "Oslo"})
    request = LLMRequest(vendor.model, [Message("user", "hi"), Message("assistant", "", tool_calls=(call,)),
                                        Message("user", "and?")], tools=(WEATHER,))
    with pytest.raises(ProviderError) as err:
        await provider.complete(request)
    assert err.value.status == 400 and "c-1" in str(err.value)


@both_vendors
async def test_an_empty_result_is_sent_as_the_api_takes_it(
        vendor: Vendor, server: LLMServer, provider: SDKProvider[Any]) -> None:
    server.responder = lambda r: f"{len(r.tool_results)} result: {r.tool_results[0].content!r}"
    call = ToolCall("c-1", "get_weather", {})
    request = LLMRequest(vendor.model, [Message("user", "hi"), Message("assistant", "", tool_calls=(call,)),
                                        Message("tool", "", tool_call_id="c-1")], tools=(WEATHER,))
    answer = await provider.complete(request)
    assert answer.text == "1 result: ''"
    sent = server.requests[0].body["messages"][-1]
    if vendor.name == "anthropic":
        assert sent == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c-1", "is_error": False}]}
    else:
        assert sent == {"role": "tool", "tool_call_id": "c-1", "content": ""}

"""The offline provider with tools: which tools it calls, with what arguments, and its answer
once the results are in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gorgon_nb.model.tools import wire_name
from gorgon_nb.providers.base import Completion, LLMRequest, Message, ToolSpec
from gorgon_nb.providers.offline import OfflineProvider


def spec(reference: str, *required: str, **properties: dict[str, Any]) -> ToolSpec:
    props = {name: {"type": "string"} for name in required} | properties
    schema = {"type": "object", "properties": props, "required": [*required, *properties]}
    return ToolSpec(wire_name(reference), f"the tool {reference}", schema)


WRITE = spec("files.write_file", "path", "content")
READ = spec("mcp:fs/read_text_file", "path")
DESCRIBE = spec("kernel.describe_dataframe", "name", rows={"type": "integer", "default": 5})
RUN = spec("kernel.run_code", "code")
SHELL = spec("shell.run", "command", timeout={"type": "number"}, check={"type": "boolean"})
ALL = (WRITE, READ, DESCRIBE, RUN, SHELL)


async def complete(prompt: str, tools: tuple[ToolSpec, ...] = ALL, stream: bool = False, **kwargs: Any
                   ) -> tuple[Completion, list[str]]:
    pieces: list[str] = []
    request = LLMRequest("offline", [Message("user", prompt)], tools=tools, **kwargs)
    completion = await OfflineProvider().complete(request, on_delta=pieces.append if stream else None)
    return completion, pieces


def calls(completion: Completion) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for c in completion.tool_calls]


@pytest.mark.parametrize("stream", [False, True])
async def test_it_calls_the_named_tools_in_the_order_first_named(stream: bool) -> None:
    prompt = ("Read data.csv with mcp:fs/read_text_file, look at `sales` with kernel_describe_dataframe, "
              "then read it again with mcp:fs/read_text_file.")
    completion, pieces = await complete(prompt, stream=stream)
    assert calls(completion) == [("mcp_fs_read_text_file", {"path": "data.csv"}),
                                 ("kernel_describe_dataframe", {"name": "sales", "rows": 5})]
    assert completion.text == "" and pieces == [] and completion.finish_reason == "tool_calls"
    assert len({c.id for c in completion.tool_calls}) == 2
    assert completion.usage.calls == 1 and completion.usage.output_tokens > 0


async def test_a_json_object_after_the_name_is_the_arguments() -> None:
    prompt = 'Create it: `files.write_file` {"path": "hello.py", "content": "print(1)"} and run `ls -la` with shell.run'
    completion, _ = await complete(prompt)
    assert calls(completion) == [("files_write_file", {"path": "hello.py", "content": "print(1)"}),
                                 ("shell_run", {"command": "ls -la", "timeout": 0, "check": False})]


async def test_arguments_are_filled_from_the_prompt_by_their_names() -> None:
    prompt = "Use kernel.run_code on this, then files.write_file and shell.run:\n```python\nx = 41 + 1\n```"
    completion, _ = await complete(prompt, role="builder")
    run, write, shell = completion.tool_calls
    assert run.arguments == {"code": "x = 41 + 1"}
    assert write.arguments["path"] == "notes.md"  # no file named in the prompt
    assert write.arguments["content"].startswith("[offline]")  # what the builder would answer
    assert shell.arguments["command"] == "ls"
    bare, _ = await complete("kernel.run_code and kernel.describe_dataframe, please")
    assert calls(bare) == [("kernel_run_code", {"code": 'print("hello")'}),
                           ("kernel_describe_dataframe", {"name": "", "rows": 5})]


async def test_no_named_tool_means_no_call_and_the_usual_answer() -> None:
    plain = LLMRequest("offline", [Message("user", "Write the files for a CSV export")], role="builder")
    expected = OfflineProvider().answer(plain)
    completion, _ = await complete("Write the files for a CSV export", role="builder")
    assert completion.tool_calls == () and completion.text == expected
    unoffered, _ = await complete("use files.write_file", tools=(READ,))
    assert unoffered.tool_calls == () and unoffered.text.startswith("[offline]")


async def test_it_answers_from_the_results_with_errors_marked() -> None:
    provider = OfflineProvider()
    first, _ = await complete("read notes.txt with mcp:fs/read_text_file and run `pwd` with shell.run",
                              role="analyst")
    read, shell = first.tool_calls
    messages = [Message("user", "read notes.txt with mcp:fs/read_text_file and run `pwd` with shell.run"),
                Message("assistant", "", tool_calls=first.tool_calls),
                Message("tool", "line " * 100, tool_call_id=read.id),
                Message("tool", "PermissionError: not allowed", tool_call_id=shell.id, is_error=True)]
    answer = await provider.complete(LLMRequest("offline", messages, tools=ALL, role="analyst"))
    assert answer.tool_calls == () and answer.finish_reason == "stop"
    before = provider.answer(LLMRequest("offline", messages[:1], role="analyst"))
    text, tools = answer.text.split("\n\nFrom the tools:\n")
    assert text == before  # the answer it gives without tools, then the list
    quoted, failed = tools.split("\n")
    assert quoted.startswith("- mcp_fs_read_text_file: line line") and quoted.endswith("…")
    assert len(quoted) < 240
    assert failed == "- shell_run (error): PermissionError: not allowed"


async def test_a_json_answer_stays_json_before_the_list() -> None:
    provider = OfflineProvider()
    first, _ = await complete("use kernel.describe_dataframe on `df`")
    [call] = first.tool_calls
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    messages = [Message("user", "use kernel.describe_dataframe on `df`"),
                Message("assistant", "", tool_calls=(call,)), Message("tool", "3 columns", tool_call_id=call.id)]
    answer = await provider.complete(LLMRequest("offline", messages, tools=ALL, json_schema=schema))
    body, listed = answer.text.split("\n\nFrom the tools:\n")
    assert set(json.loads(body)) == {"summary"} and listed == "- kernel_describe_dataframe: 3 columns"


async def test_the_same_request_makes_the_same_calls() -> None:
    prompt = "files.write_file report.md, then mcp:fs/read_text_file"
    one, _ = await complete(prompt)
    two, _ = await complete(prompt)
    assert one.tool_calls == two.tool_calls
    assert [c.arguments["path"] for c in one.tool_calls] == ["report.md", "report.md"]

"""A 50-call tool loop: what gorgon-nb adds to each tool call, durable store included.

One ``llm`` step whose model asks for one tool call per answer, 50 times, then answers.
The model is a scripted provider in this process (no network, no sleeping), the tool an
``async`` Python function that adds two numbers. gorgon-nb runs it with its SQLite store
(each model answer and each tool call recorded as it happens, events stored). The
anchors, in the same process with the same model and tool:

- a bare loop: ask, run the tool, append its result, ask again (nothing stored);
- the same loop keeping a journal in SQLite (WAL, ``synchronous=NORMAL``): each tool call
  inserted before it runs and updated with its result, one commit each, which is the
  least a loop that survives a crash must write.

Time inside the model is measured and subtracted from every figure, so each is the loop's
own cost per tool call. "cold" is the first run in the process, "warm" the median of the
others.

    python benchmarks/tool_loop.py [--calls 50] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gorgon_nb.config import load_config
from gorgon_nb.model.tools import Tool, ToolSet, register
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Completion, LLMRequest, Message, ToolCall, ToolSpec
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

SCHEMA = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}


async def add(arguments: dict[str, Any], _ctx: Any = None) -> float:
    return float(arguments["a"]) + float(arguments["b"])


async def _bench_tools(selector: str | None, _ctx: Any) -> list[Tool]:
    return [Tool("bench.add", "Add two numbers.", SCHEMA, add)]


register(ToolSet("bench", "the benchmark's tools", _bench_tools))


class LoopModel:
    """Asks for ``calls`` tool calls, one per answer, then answers; counts its own time."""

    name = "offline"

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.seconds = 0.0

    async def complete(self, request: LLMRequest, *, on_delta: Any = None) -> Completion:
        start = time.perf_counter()
        try:
            made = sum(1 for m in request.messages if m.role == "tool")
            if made >= self.calls or request.tool_choice == "none":
                return Completion(f"done after {made} calls", Usage(input_tokens=10, output_tokens=5, calls=1))
            name = request.tools[0].name
            return Completion("", Usage(input_tokens=10, output_tokens=5, calls=1),
                              tool_calls=(ToolCall(f"call-{made}", name, {"a": made, "b": 1}),))
        finally:
            self.seconds += time.perf_counter() - start


def workflow(calls: int) -> Workflow:
    return Workflow.from_dict({"id": "tool_loop", "steps": [
        {"id": "loop", "llm": "Add numbers with bench.add until you are done.", "tools": ["bench"],
         "max_tool_calls": calls + 1}]})


def run_gorgon(calls: int, folder: Path) -> float:
    config = load_config(env={"GORGON_HOME": str(folder)})
    model = LoopModel(calls)
    with Store(folder / "gorgon.db") as store:
        runner = Runner(config, store=store)
        runner.runtime.providers.register(model)
        start = time.perf_counter()
        result = runner.run(workflow(calls))
        elapsed = time.perf_counter() - start
    assert result.status == "succeeded", result.error
    assert result.steps["loop"].output == f"done after {calls} calls", result.steps["loop"].output
    return (elapsed - model.seconds) / calls


async def _bare(calls: int, journal: sqlite3.Connection | None) -> float:
    model = LoopModel(calls)
    spec = ToolSpec("bench_add", "Add two numbers.", SCHEMA)
    messages = [Message("user", "Add numbers with bench.add until you are done.")]
    start = time.perf_counter()
    index = 0
    while True:
        completion = await model.complete(LLMRequest(model="loop", messages=list(messages), tools=(spec,)))
        if not completion.tool_calls:
            break
        messages.append(Message("assistant", completion.text, tool_calls=completion.tool_calls))
        for call in completion.tool_calls:
            if journal is not None:
                journal.execute("INSERT INTO calls (idx, tool, arguments, state) VALUES (?, ?, ?, 'running')",
                                (index, call.name, json.dumps(call.arguments)))
                journal.commit()
            result = await add(call.arguments)
            if journal is not None:
                journal.execute("UPDATE calls SET state = 'done', result = ? WHERE idx = ?", (json.dumps(result), index))
                journal.commit()
            messages.append(Message("tool", json.dumps(result), tool_call_id=call.id))
            index += 1
    elapsed = time.perf_counter() - start
    assert index == calls
    return (elapsed - model.seconds) / calls


def run_bare(calls: int, folder: Path, durable: bool) -> float:
    journal = None
    if durable:
        journal = sqlite3.connect(folder / "journal.db")
        journal.execute("PRAGMA journal_mode=WAL")
        journal.execute("PRAGMA synchronous=NORMAL")
        journal.execute("CREATE TABLE calls (idx INTEGER PRIMARY KEY, tool TEXT, arguments TEXT, state TEXT, "
                        "result TEXT)")
    try:
        return asyncio.run(_bare(calls, journal))
    finally:
        if journal is not None:
            journal.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    figures: dict[str, list[float]] = {"gorgon-nb (durable)": [], "bare loop": [], "bare loop + SQLite journal": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            figures["gorgon-nb (durable)"].append(run_gorgon(args.calls, folder))
            figures["bare loop"].append(run_bare(args.calls, folder, durable=False))
            figures["bare loop + SQLite journal"].append(run_bare(args.calls, folder, durable=True))
    print(f"{args.calls}-call tool loop, ms per tool call (model time subtracted), {args.repeat} runs")
    print(f"{'':30} {'cold':>8} {'warm':>8}")
    for name, values in figures.items():
        warm = statistics.median(values[1:]) if len(values) > 1 else values[0]
        print(f"{name:30} {values[0] * 1000:8.3f} {warm * 1000:8.3f}")
    gorgon = statistics.median(figures["gorgon-nb (durable)"][1:] or figures["gorgon-nb (durable)"])
    journal = statistics.median(figures["bare loop + SQLite journal"][1:] or figures["bare loop + SQLite journal"])
    print(f"gorgon-nb / bare loop with a journal (warm): {gorgon / journal:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Engine overhead per step: a 200-step chain with the durable SQLite store and the offline provider.

Runs the same chain on gorgon-nb and, when it is installed, on LangGraph with its SQLite
checkpointer (``pip install langgraph langgraph-checkpoint-sqlite``), in the same process,
and prints milliseconds per step and the ratio. Both keep every step's output durably:
gorgon-nb as step rows, LangGraph as a state channel merging each node's output, and both
databases use WAL with ``synchronous=NORMAL``. Time spent inside the offline provider is
measured and subtracted, so "overhead" is the engine's own cost per step.

    python benchmarks/engine_overhead.py [--steps 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from gorgon_nb.config import load_config
from gorgon_nb.providers.base import Completion, LLMRequest, Message
from gorgon_nb.providers.offline import OfflineProvider
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

ROLES = ["planner", "builder", "tester", "reviewer"]


class State(TypedDict):
    """LangGraph's state: every node's output merged in, as gorgon-nb keeps every step's."""

    outputs: Annotated[dict[str, str], operator.or_]
    last: str


class TimedOffline(OfflineProvider):
    """The offline provider, counting the time spent answering."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    async def complete(self, request: LLMRequest, *, on_delta: Any = None) -> Completion:
        start = time.perf_counter()
        try:
            return await super().complete(request, on_delta=on_delta)
        finally:
            self.seconds += time.perf_counter() - start


def chain(steps: int) -> dict[str, Any]:
    body = [{"id": "s0", "agent": "planner", "task": "Start the chain"}]
    for i in range(1, steps):
        body.append({"id": f"s{i}", "agent": ROLES[i % 4], "task": f"Step {i}",
                     "context": f"{{{{ steps.s{i - 1}.output[:200] }}}}"})
    return {"id": "chain", "steps": body}


async def gorgon_once(steps: int, folder: Path) -> tuple[float, float]:
    provider = TimedOffline()
    store = Store(folder / f"gorgon-{time.monotonic_ns()}.db")
    runner = Runner(load_config(), store)
    runner.runtime.providers.register(provider)
    workflow = Workflow.from_dict(chain(steps))
    start = time.perf_counter()
    result = await runner.arun(workflow, model="offline")
    wall = time.perf_counter() - start
    assert result.ok and len(result.steps) == steps, result.error
    store.close()
    return wall, provider.seconds


async def langgraph_once(steps: int, folder: Path) -> tuple[float, float]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.graph import END, START, StateGraph

    provider = TimedOffline()

    def node(i: int) -> Any:
        async def run(state: State) -> dict[str, Any]:
            role = "planner" if i == 0 else ROLES[i % 4]
            task = "Start the chain" if i == 0 else f"Task: Step {i}\n\nContext:\n{state['last'][:200]}"
            request = LLMRequest(model="offline", messages=[Message("user", task)], role=role)
            completion = await provider.complete(request, on_delta=lambda _text: None)
            return {"outputs": {f"s{i}": completion.text}, "last": completion.text}
        return run

    graph = StateGraph(State)
    for i in range(steps):
        graph.add_node(f"s{i}", node(i))
        graph.add_edge(START if i == 0 else f"s{i - 1}", f"s{i}")
    graph.add_edge(f"s{steps - 1}", END)
    async with aiosqlite.connect(folder / f"langgraph-{time.monotonic_ns()}.db") as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        saver = AsyncSqliteSaver(conn)
        app = graph.compile(checkpointer=saver)
        start = time.perf_counter()
        state = await app.ainvoke({"outputs": {}, "last": ""}, {"configurable": {"thread_id": "bench"},
                                                                 "recursion_limit": steps + 10})
        wall = time.perf_counter() - start
    assert len(state["outputs"]) == steps
    return wall, provider.seconds


def measure(label: str, once: Any, steps: int, repeat: int, folder: Path) -> float | None:
    try:
        runs = [asyncio.run(once(steps, folder)) for _ in range(repeat + 1)][1:]  # the first warms imports
    except ImportError as exc:
        print(f"{label:<28} skipped ({exc.name} not installed: pip install langgraph langgraph-checkpoint-sqlite)")
        return None
    walls = [w for w, _ in runs]
    overheads = [(w - p) for w, p in runs]
    wall_ms = statistics.median(walls) * 1000 / steps
    over_ms = statistics.median(overheads) * 1000 / steps
    print(f"{label:<28} {wall_ms:8.3f} ms/step wall   {over_ms:8.3f} ms/step engine overhead   "
          f"(median of {repeat} runs of {steps} steps)")
    return over_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {args.steps}-step chain, offline provider, durable SQLite store")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = measure("gorgon-nb", gorgon_once, args.steps, args.repeat, folder)
        theirs = measure("langgraph + AsyncSqliteSaver", langgraph_once, args.steps, args.repeat, folder)
    if ours is not None and theirs is not None:
        print(f"ratio: langgraph overhead / gorgon-nb overhead = {theirs / ours:.1f}x")
    if ours is not None:
        print(f"target: under 0.5 ms/step -> {'met' if ours < 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

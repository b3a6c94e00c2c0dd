"""Fan-out: N parallel agent steps against the loopback LLM server with latency L.

Ideally the run takes about L, not N x L. The steps go through the real OpenAI SDK to
``gorgon_nb.testing.LLMServer`` (an OpenAI-compatible provider with concurrency N), with
the durable SQLite store on. Prints the wall time over the ideal, for N separate steps
and for one ``for_each`` step over N items.

    python benchmarks/fanout.py [--steps 100] [--latency 0.2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow


def separate_steps(n: int) -> dict[str, Any]:
    steps = [{"id": f"review_{i}", "agent": "reviewer", "task": f"Review module {i}"} for i in range(n)]
    return {"id": "fanout", "defaults": {"model": "loopback:bench"}, "steps": steps}


def one_mapped_step(n: int) -> dict[str, Any]:
    return {"id": "fanout_each", "defaults": {"model": "loopback:bench"},
            "inputs": {"modules": {"type": "list", "default": [f"module {i}" for i in range(n)]}},
            "steps": [{"id": "review", "agent": "reviewer", "for_each": "inputs.modules", "as": "module",
                       "task": "Review {{ module }}"}]}


@contextmanager
def serve(latency: float) -> Iterator[str]:
    """The loopback server in its own process, as a real API is: it must not share our CPU."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "gorgon_nb.testing.llm_server", "--port", str(port),
                                "--latency", str(latency)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the loopback server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait()


async def sdk_alone(base_url: str, n: int, repeat: int) -> list[float]:
    """The same N concurrent calls made directly with the SDK, without gorgon-nb."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0,
                                http_client=openai.DefaultAsyncHttpxClient())

    async def one(i: int) -> Any:
        return await client.chat.completions.create(
            model="bench", max_tokens=4096, messages=[{"role": "user", "content": f"Task: Review module {i}"}])

    walls = []
    try:
        for _ in range(repeat + 1):
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            walls.append(time.perf_counter() - start)
    finally:
        await client.close()
    return walls[1:]


async def timed(runner: Runner, data: dict[str, Any]) -> float:
    workflow = Workflow.from_dict(data)
    start = time.perf_counter()
    result = await runner.arun(workflow)
    wall = time.perf_counter() - start
    assert result.ok, result.error
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve(args.latency) as base_url:
        home = Path(tmp)
        (home / "config.toml").write_text(
            f'[providers.loopback]\nkind = "openai-compatible"\nbase_url = "{base_url}"\n'
            f'model = "bench"\nconcurrency = {args.steps}\nfree = true\n')
        os.environ["GORGON_HOME"] = str(home)
        runner = Runner(load_config(), Store(home / "bench.db"))
        print(f"{args.steps} agent steps, loopback server latency {args.latency * 1000:.0f} ms, "
              f"real OpenAI SDK, durable SQLite store; median of {args.repeat} runs")
        floor = statistics.median(asyncio.run(sdk_alone(base_url, args.steps, args.repeat)))
        print(f"{'SDK alone':<18} wall {floor * 1000:7.0f} ms   {floor / args.latency:.2f}x ideal   "
              f"(the same {args.steps} calls straight through AsyncOpenAI: the floor here)")
        for label, build in (("separate steps", separate_steps), ("one for_each step", one_mapped_step)):
            async def measure(build: Any = build) -> list[float]:
                await timed(runner, build(args.steps))  # warm-up: SDK import and client start
                return [await timed(runner, build(args.steps)) for _ in range(args.repeat)]

            wall = statistics.median(asyncio.run(measure()))
            print(f"{label:<18} wall {wall * 1000:7.0f} ms   {wall / args.latency:.2f}x ideal   "
                  f"{wall / floor:.2f}x the SDK alone   (target: within 1.3x of ideal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

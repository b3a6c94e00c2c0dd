"""An MCP tool call through gorgon-nb against the same call made directly with the ``mcp`` SDK.

The tool is ``echo`` of the official ``@modelcontextprotocol/server-everything``, started
over stdio (``scripts/test.sh`` installs it into ``.mcp-servers/``). The figure is the
time of one call once the server runs:

- gorgon-nb: a workflow whose first step calls ``echo`` once (the server starts for the
  run there) and whose second, an ``mcp: every/echo`` step with a ``for_each`` of N items
  run one after the other (``max_parallel: 1``), calls it N times, with the durable SQLite
  store: each item's output and the step's events recorded. The second step's own time
  (from its record), divided by N;
- the anchor: ``stdio_client`` and ``ClientSession`` entered, initialized, the tools
  listed, then ``call_tool`` N times, timed and divided by N.

"cold" is the first repetition in the process, "warm" the median of the others.

    python benchmarks/mcp_tool_call.py [--calls 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

SERVER = Path(__file__).resolve().parent.parent / ".mcp-servers" / "node_modules" / ".bin" / "mcp-server-everything"


def workflow(calls: int) -> Workflow:
    return Workflow.from_dict({"id": "mcp_calls", "steps": [
        {"id": "start", "mcp": "every/echo", "with": {"message": "start"}},
        {"id": "echo", "mcp": "every/echo", "for_each": list(range(calls)), "max_parallel": 1,
         "with": {"message": "call {{ item }}"}, "depends_on": "start"}]})


def run_gorgon(calls: int, folder: Path) -> float:
    (folder / "config.toml").write_text(f'[mcp.servers.every]\ncommand = "{SERVER}"\n')
    config = load_config(env={"GORGON_HOME": str(folder)})
    with Store(folder / "gorgon.db") as store:
        result = Runner(config, store=store).run(workflow(calls))
    assert result.status == "succeeded", result.error
    assert result.outputs["echo"][-1] == f"Echo: call {calls - 1}", result.outputs["echo"]
    step = result.steps["echo"]
    assert step.started_at is not None and step.ended_at is not None
    return (step.ended_at - step.started_at) / calls


async def _direct(calls: int) -> float:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    with open(os.devnull, "w") as stderr:
        async with stdio_client(StdioServerParameters(command=str(SERVER)), errlog=stderr) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            start = time.perf_counter()
            for index in range(calls):
                answer = await session.call_tool("echo", {"message": f"call {index}"})
                assert answer.content[0].text == f"Echo: call {index}"
            return (time.perf_counter() - start) / calls


def run_direct(calls: int) -> float:
    return asyncio.run(_direct(calls))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not SERVER.exists():
        print(f"{SERVER} is missing: run ./scripts/test.sh once (it installs the MCP servers)", file=sys.stderr)
        return 2
    figures: dict[str, list[float]] = {"gorgon-nb (durable)": [], "mcp SDK directly": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            figures["gorgon-nb (durable)"].append(run_gorgon(args.calls, Path(tmp)))
            figures["mcp SDK directly"].append(run_direct(args.calls))
    print(f"MCP tool call (the everything server's echo over stdio), ms per call, {args.calls} calls a run, "
          f"{args.repeat} runs")
    print(f"{'':22} {'cold':>8} {'warm':>8}")
    for name, values in figures.items():
        warm = statistics.median(values[1:] or values)
        print(f"{name:22} {values[0] * 1000:8.3f} {warm * 1000:8.3f}")
    gorgon = statistics.median(figures["gorgon-nb (durable)"][1:] or figures["gorgon-nb (durable)"])
    direct = statistics.median(figures["mcp SDK directly"][1:] or figures["mcp SDK directly"])
    print(f"gorgon-nb adds {(gorgon - direct) * 1000:.2f} ms to a call (warm): {gorgon / direct:.1f}x the direct call")
    return 0


if __name__ == "__main__":
    sys.exit(main())

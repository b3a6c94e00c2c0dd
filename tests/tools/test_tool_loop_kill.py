"""A tool loop killed with SIGKILL, resumed by ``gorgon resume``, and replayed.

Three witnesses, all outside the ``gorgon`` processes: the loopback LLM server (in this
process) logs every model request, the MCP test server (its own process, over stdio from
the run) logs every tool call, and the store says what was recorded before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_support import declare, python_server
from support import until

from gorgon_nb.store import Store
from gorgon_nb.testing import LLMServer, RecordedRequest, ToolCalls

GORGON = str(Path(sys.executable).with_name("gorgon"))
# turn by turn: the calls the model asks for; the third turn asks for two at once
TURNS = [
    [("mcp_demo_add", {"a": 1, "b": 1})],
    [("mcp_demo_add", {"a": 2, "b": 2})],
    [("mcp_demo_hang", {"seconds": 6}), ("mcp_demo_add", {"a": 3, "b": 3})],
]


def model(request: RecordedRequest) -> str | ToolCalls:
    turn = _turn(request)
    if turn < len(TURNS) and request.tool_choice != "none":
        return ToolCalls(*TURNS[turn])
    return "All done: " + "; ".join(r.content for r in request.tool_results)


def _turn(request: RecordedRequest) -> int:
    """The turn a request is in, from the results it carries back."""
    answered = len(request.tool_results)
    done = 0
    for turn, calls in enumerate(TURNS):
        if answered < done + len(calls):
            return turn
        done += len(calls)
    return len(TURNS)


@pytest.fixture
def llm(home: Path, tmp_path: Path) -> Iterator[tuple[LLMServer, Path]]:
    with LLMServer(responder=model) as server:
        log = tmp_path / "mcp-calls.jsonl"
        declare(home, {"demo": python_server(log)},
                extra=f'[providers.loop]\nkind = "openai-compatible"\nbase_url = "{server.openai_base_url}"\n'
                      'model = "m"\nfree = true\n')
        yield server, log


def gorgon(home: Path, *args: str, wait: bool = True) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(GORGON_HOME=str(home), COLUMNS="200")
    if wait:
        return subprocess.run([GORGON, *args], capture_output=True, text=True, env=env, timeout=180)
    return subprocess.Popen([GORGON, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)




def journal(home: Path) -> tuple[str, dict[tuple[str, int], str]]:
    """The last run's id and its tool calls' states by (tool, index)."""
    with Store(home / "gorgon.db") as store:
        runs = store.runs.recent(1)
        if not runs:
            return "", {}
        return runs[0].run_id, {(r.tool, r.key.index): r.state for r in store.tools.of_run(runs[0].run_id)}


def tool_log(log: Path) -> Counter[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(json.dumps([c["tool"], c["arguments"]], sort_keys=True) for c in map(json.loads, lines))


def test_a_killed_tool_loop_resumes_and_replays_without_repeating_a_finished_call(
        home: Path, tmp_path: Path, llm: tuple[LLMServer, Path]) -> None:
    server, log = llm
    workflow = tmp_path / "loop.yaml"
    workflow.write_text("id: loop\nsteps:\n  - id: work\n    llm: Add up, then wait.\n    model: 'loop:m'\n"
                        "    tools: ['mcp:demo']\n")
    process = gorgon(home, "run", str(workflow), wait=False)
    # killed while the hang of the third turn runs and everything before it is recorded
    wanted = {("mcp:demo/add", 0): "done", ("mcp:demo/add", 1): "done", ("mcp:demo/hang", 2): "running",
              ("mcp:demo/add", 3): "done"}
    run_id = until(lambda: (lambda found: found[0] if found[1] == wanted else None)(journal(home)), timeout=90)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    finished_before = {call for call, count in tool_log(log).items() if '"hang"' not in call}
    asked_before = len(server.requests)
    assert asked_before == 3  # one model request per turn so far

    resumed = gorgon(home, "resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    calls = tool_log(log)
    assert all(calls[call] == 1 for call in finished_before), calls  # no finished call ran again
    assert sum(count for call, count in calls.items() if '"hang"' in call) == 2  # cut off, it reads: again
    answered = [len(r.tool_results) for r in server.requests]
    assert answered == [0, 1, 2, 4], answered  # each turn asked once: the resume asked only the last
    with Store(home / "gorgon.db") as store:
        result = store.runs.get(run_id)
    assert result.status == "succeeded", result.error
    assert str(result.steps["work"].output).startswith("All done: 2; 4; woke up; 6")

    replayed = gorgon(home, "replay", run_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert tool_log(log) == calls  # the replay ran no tool
    assert len(server.requests) == 4  # and asked no model

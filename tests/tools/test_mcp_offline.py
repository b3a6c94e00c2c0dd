"""MCP tools called by the offline model in real workflows, and a ``gorgon run`` killed during
its tool loop: the resumed run repeats no call that had finished (the server's log says so)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mcp_support import declare, npm_server, python_server

from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

GORGON = str(Path(sys.executable).with_name("gorgon"))


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_offline_model_calls_the_mcp_tools_its_prompt_names(home: Path) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml("""id: offline_mcp
steps:
  - id: ask
    agent: analyst
    model: offline
    task: 'Add with mcp:every/get-sum {"a": 19, "b": 23} and say mcp:every/echo {"message": "all done"}'
    tools: ["mcp:every"]
"""))
        assert result.status is RunStatus.SUCCEEDED, result.error
        records = sorted(store.tools.of_run(result.run_id), key=lambda r: r.key.index)
    assert [(r.tool, r.result) for r in records] == [("mcp:every/get-sum", "The sum of 19 and 23 is 42."),
                                                     ("mcp:every/echo", "Echo: all done")]
    answer = result.outputs["ask"]
    assert "From the tools:" in answer and "The sum of 19 and 23 is 42." in answer


def test_a_killed_tool_loop_resumes_without_repeating_a_finished_call(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log)})
    workflow = tmp_path / "loop.yaml"
    workflow.write_text("""id: loop
steps:
  - id: work
    llm: 'Use mcp:demo/add {"a": 20, "b": 22} and mcp:demo/hang {"seconds": 8}'
    model: offline
    tools: ["mcp:demo"]
""")
    env = {**os.environ, "GORGON_HOME": str(home)}
    process = subprocess.Popen([GORGON, "run", str(workflow)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90

    def states() -> dict[str, str]:
        with Store(home / "gorgon.db") as store:
            runs = store.runs.recent(1)
            return {r.tool: r.state for r in store.tools.of_run(runs[0].run_id)} if runs else {}

    # killed once the add has answered (and its answer is recorded) while the hang still runs
    while states() != {"mcp:demo/add": "done", "mcp:demo/hang": "running"} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {c["tool"] for c in calls(log)} == {"add", "hang"}, calls(log)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    with Store(home / "gorgon.db") as store:
        (stopped,) = store.runs.recent(1)
        before = {r.tool: r.state for r in store.tools.of_run(stopped.run_id)}
        resumed = Runner(load_config(), store).resume(stopped.run_id)
    assert before == {"mcp:demo/add": "done", "mcp:demo/hang": "running"}
    assert resumed.status is RunStatus.SUCCEEDED, resumed.error
    tools = [c["tool"] for c in calls(log)]
    assert tools.count("add") == 1  # finished before the kill: served from the record
    assert tools.count("hang") == 2  # cut off, and it only reads: called again
    assert "42" in resumed.outputs["work"] and "woke up" in resumed.outputs["work"]

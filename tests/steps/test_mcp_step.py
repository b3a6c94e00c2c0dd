"""The ``mcp: SERVER/TOOL`` step kind: one tool called directly, no model; approvals of writes,
replay from the record, and a write cut off by a killed process not made twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_support import declare, npm_server, python_server

from gorgon_nb.config import load_config
from gorgon_nb.errors import GorgonError, WorkflowError
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

GORGON = str(Path(sys.executable).with_name("gorgon"))


@pytest.fixture
def runner(home: Path) -> Iterator[Runner]:
    with Store(home / "gorgon.db") as store:
        yield Runner(load_config(), store)


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_read_only_tool_runs_with_its_templated_arguments(home: Path) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml("""id: echo
inputs:
  who: {type: string, default: world}
steps:
  - id: hello
    mcp: every/echo
    with: {message: "hello {{ inputs.who }}"}
  - id: sum
    mcp: every/get-sum
    with: {a: 2, b: 40}
"""), {"who": "gorgon"})
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert result.outputs == {"hello": "Echo: hello gorgon", "sum": "The sum of 2 and 40 is 42."}
        assert store.approvals.recent(status=None) == []  # read-only tools wait for no one


NOTE = """id: noting
steps:
  - id: add
    mcp: demo/add
    with: {a: 1, b: 2}
  - id: note
    mcp: demo/note
    with: {text: "sum is {{ steps.add.output }}"}
"""


async def test_a_write_waits_for_approval_with_its_arguments(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log)})
    with Store(home / "gorgon.db") as store:
        runner = Runner(load_config(), store)
        execution = runner.execution(Workflow.from_yaml(NOTE))
        task = asyncio.create_task(execution.execute())
        deadline = time.monotonic() + 60
        while not (pending := runner.approvals(status="pending")) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert pending, "the write never asked for approval"
        assert pending[0].step_key == "note" and "mcp:demo/note" in pending[0].title
        assert '"text": "sum is 3"' in pending[0].preview
        assert [c["tool"] for c in calls(log)] == ["add"]  # nothing written while it waits
        runner.approve(execution.result.run_id, approve=True, by="dana")
        result = await task
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs["note"] == "noted: sum is 3"
    assert [c["tool"] for c in calls(log)] == ["add", "note"]


async def test_a_rejected_write_fails_its_step_and_writes_nothing(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log)})
    with Store(home / "gorgon.db") as store:
        runner = Runner(load_config(), store)
        execution = runner.execution(Workflow.from_yaml(NOTE))
        task = asyncio.create_task(execution.execute())
        deadline = time.monotonic() + 60
        while not runner.approvals(status="pending") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        runner.approve(execution.result.run_id, approve=False, comment="not today", by="dana")
        result = await task
    assert result.status is RunStatus.FAILED
    assert "not today" in (result.steps["note"].error or "")
    assert [c["tool"] for c in calls(log)] == ["add"]


@pytest.mark.parametrize("where", ["step", "server"])
def test_auto_approve_lets_a_write_run_at_once(home: Path, tmp_path: Path, where: str) -> None:
    log = tmp_path / "calls.jsonl"
    server = python_server(log, **({"auto_approve": ["note"]} if where == "server" else {}))
    declare(home, {"demo": server})
    text = NOTE + ("    auto_approve: true\n" if where == "step" else "")
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml(text))
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert store.approvals.recent(status=None) == []
    assert [c["tool"] for c in calls(log)] == ["add", "note"]


def test_a_replay_calls_no_tool(home: Path, tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log, auto_approve=True)})
    runner = Runner(load_config(), runner.store)
    first = runner.run(Workflow.from_yaml(NOTE))
    assert first.status is RunStatus.SUCCEEDED, first.error
    replayed = runner.replay(first.run_id)
    assert replayed.status is RunStatus.SUCCEEDED, replayed.error
    assert replayed.outputs == first.outputs == {"add": "3", "note": "noted: sum is 3"}
    assert [c["tool"] for c in calls(log)] == ["add", "note"]  # from the first run only


def test_a_step_that_names_no_tool_or_an_undeclared_server_is_refused(home: Path, runner: Runner) -> None:
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_yaml("id: w\nsteps:\n  - id: a\n    mcp: every\n").compile(None)
    assert "'every' does not name one tool" in str(caught.value)
    declare(home, {"every": {"command": "unused"}})
    with pytest.raises(GorgonError) as refused:
        Runner(load_config(), runner.store).run(Workflow.from_yaml("id: w\nsteps:\n  - id: a\n    mcp: evry/echo\n"))
    assert "no MCP server 'evry'" in str(refused.value) and "did you mean 'every'" in str(refused.value)


def test_an_unknown_tool_fails_the_step_listing_the_servers_tools(home: Path, runner: Runner) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    result = Runner(load_config(), runner.store).run(
        Workflow.from_yaml("id: w\nsteps:\n  - id: a\n    mcp: every/ecko\n    with: {message: hi}\n"))
    assert result.status is RunStatus.FAILED
    assert "has no tool 'ecko' (did you mean 'echo'?)" in (result.steps["a"].error or "")


def test_a_write_cut_off_by_a_killed_process_is_not_made_again_on_resume(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log, auto_approve=True)})
    workflow = tmp_path / "slow.yaml"
    workflow.write_text("""id: slow
steps:
  - id: first
    mcp: demo/note
    with: {text: one}
  - id: second
    mcp: demo/note
    with: {text: two, wait: 60}
    depends_on: first
""")
    env = {**os.environ, "GORGON_HOME": str(home)}
    process = subprocess.Popen([GORGON, "run", str(workflow)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while len(calls(log)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls(log)) == 2, "the second write never started"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    with Store(home / "gorgon.db") as store:
        (stopped,) = store.runs.recent(1)
        resumed = Runner(load_config(), store).resume(stopped.run_id)
    assert resumed.status is RunStatus.FAILED
    error = resumed.steps["second"].error or ""
    assert "may or may not have happened" in error and f"gorgon fork {stopped.run_id} --from second" in error
    assert resumed.outputs["first"] == "noted: one"
    assert [c["arguments"]["text"] for c in calls(log)] == ["one", "two"]  # neither was sent again


def test_a_write_the_server_refused_is_not_held_against_a_resume(home: Path, tmp_path: Path) -> None:
    """The server answered that the write failed: nothing may have been written, so the
    journal forgets it, and the step's error is the server's own, without a warning."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    declare(home, {"fs": {"command": npm_server("filesystem"), "args": [str(allowed)]}})
    text = ("id: w\nsteps:\n  - id: write\n    mcp: fs/write_file\n    auto_approve: true\n"
            f"    with: {{path: '{tmp_path / 'outside.txt'}', content: hello}}\n")
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml(text))
        assert result.status is RunStatus.FAILED
        error = result.steps["write"].error or ""
        assert "outside" in error.lower() or "denied" in error.lower(), error
        assert "may have written something anyway" not in error
        assert store.writes.get(result.run_id, "write", None) is None
    assert not (tmp_path / "outside.txt").exists()

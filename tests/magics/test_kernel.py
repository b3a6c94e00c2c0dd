"""The magics in a real ipykernel: an interrupt cancels the run; a background run goes on."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from gorgon_nb.model.run import RunStatus, StepStatus
from gorgon_nb.store import Store

SLOW = """%%gorgon
steps:
  - id: first
    agent: planner
    task: plan a picnic
  - id: nap
    python: asyncio:sleep
    args: {delay: 30}
    depends_on: first
"""


def start(home: Path) -> tuple[KernelManager, Any]:
    """A real kernel in ``home``, with no API keys, the extension loaded."""
    manager = KernelManager(kernel_name="python3")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    manager.start_kernel(env={**env, "GORGON_HOME": str(home)})
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    reply = client.execute_interactive("%load_ext gorgon_nb", timeout=60)
    assert reply["content"]["status"] == "ok"
    return manager, client


@pytest.fixture
def kernel(home: Path) -> Iterator[Any]:
    manager, client = start(home)
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def latest_run(home: Path) -> Any:
    with Store(home / "gorgon.db") as store:
        runs = store.runs.recent(1)
        return store.runs.get(runs[0].run_id) if runs else None


def test_interrupting_the_kernel_cancels_the_run(kernel: Any, home: Path) -> None:
    manager, client = kernel
    msg_id = client.execute(SLOW)
    napping = wait_for(lambda: (run := latest_run(home)) and "nap" in run.steps and run)
    assert napping.status is RunStatus.RUNNING
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "MagicError"
    assert "recorded as cancelled" in reply["content"]["evalue"]
    assert "Traceback" not in "".join(reply["content"]["traceback"])
    run = latest_run(home)
    assert run.status is RunStatus.CANCELLED
    assert run.steps["first"].status is StepStatus.SUCCEEDED and run.steps["first"].output
    assert run.steps["nap"].status is StepStatus.CANCELLED
    # the kernel is still usable
    assert client.execute_interactive("1 + 1", timeout=30)["content"]["status"] == "ok"


def test_a_background_run_goes_on_after_its_cell(kernel: Any, home: Path) -> None:
    _, client = kernel
    body = "%%gorgon --background --out quick\nsteps:\n  - id: a\n    agent: planner\n    task: plan\n" \
           "  - id: wait\n    python: asyncio:sleep\n    args: {delay: 4}\n    depends_on: a\n"
    reply = client.execute_interactive(body, timeout=30)
    assert reply["content"]["status"] == "ok"

    def status() -> str:
        answer = client.execute_interactive("", user_expressions={"s": "quick.status.value"}, timeout=30)
        return str(answer["content"]["user_expressions"]["s"]["data"]["text/plain"]).strip("'")

    assert status() == "running"  # the cell returned while the run went on
    assert wait_for(lambda: status() == "succeeded")
    assert latest_run(home).status is RunStatus.SUCCEEDED


def test_a_killed_kernel_leaves_a_run_the_next_kernel_resumes(home: Path) -> None:
    gated = "%%gorgon --background\nsteps:\n  - id: draft\n    agent: documenter\n    task: a note\n" \
            "  - id: publish\n    approval: Publish?\n"
    first, client = start(home)
    assert client.execute_interactive(gated, timeout=60)["content"]["status"] == "ok"
    waiting = wait_for(lambda: (run := latest_run(home)) and run.status is RunStatus.WAITING and run)
    client.stop_channels()
    os.kill(first.provisioner.process.pid, signal.SIGKILL)  # the kernel dies with the run waiting in it
    first.provisioner.process.wait()

    with Store(home / "gorgon.db") as store:
        store.approvals.decide(store.approvals.recent()[0].id, approve=True, by="erin")  # while nothing runs it
    second, client = start(home)
    try:
        reply = client.execute_interactive(f"%gorgon resume {waiting.run_id}", timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        second.shutdown_kernel(now=True)
    run = latest_run(home)
    assert run.run_id == waiting.run_id and run.status is RunStatus.SUCCEEDED
    assert run.steps["publish"].output["by"] == "erin"

"""Durable runs with real processes: kill -9, resume elsewhere, and count the calls the model got.

The loopback LLM server runs in this process; the runs run in `gorgon` subprocesses that
call it over TCP, so its request log is the witness of what was called, and how often.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import until

from gorgon_nb.config import load_config
from gorgon_nb.errors import ApprovalError
from gorgon_nb.model.run import RunResult, RunStatus, StepStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import LLMServer, RecordedRequest

GORGON = str(Path(sys.executable).with_name("gorgon"))


@pytest.fixture
def server(home: Path) -> Iterator[LLMServer]:
    with LLMServer(latency=0.15) as running:
        (home / "config.toml").write_text(
            f'[providers.loop]\nkind = "openai-compatible"\nbase_url = "{running.openai_base_url}"\n'
            'model = "m"\nconcurrency = 8\nfree = true\n')
        yield running


def chain(tmp_path: Path, *steps: str, extra: str = "") -> Path:
    """A workflow of agent steps in a chain; each prompt names its step, so the log can count them."""
    lines = ["id: chain", "defaults: {model: 'loop:m', retry: {attempts: 2, backoff: 0}}", extra, "steps:"]
    for index, step in enumerate(steps):
        lines += [f"  - id: {step}", "    agent: planner", f"    task: do step {step}"]
        if index:
            lines.append(f"    context: '{{{{ steps.{steps[index - 1]}.output }}}}'")
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def calls(server: LLMServer) -> Counter[str]:
    return Counter(r.last_user_message.split("do step ")[1].split()[0].split("\n")[0]
                   for r in server.requests if "do step " in r.last_user_message)


def gorgon(home: Path, *args: str, wait: bool = True) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(GORGON_HOME=str(home), COLUMNS="200")
    command = [GORGON, *args]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)




def latest(home: Path) -> RunResult | None:
    with Store(home / "gorgon.db") as store:
        runs = store.runs.recent(1)
        return store.runs.get(runs[0].run_id) if runs else None


def step_status(home: Path, key: str) -> str | None:
    run = latest(home)
    return str(run.steps[key].status) if run and key in run.steps else None


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def test_killed_mid_run_and_resumed_elsewhere_calls_no_finished_step_again(
        server: LLMServer, home: Path, tmp_path: Path) -> None:
    workflow = chain(tmp_path, "a", "b", "c", "d")
    running = gorgon(home, "run", str(workflow), "-q", wait=False)
    until(lambda: step_status(home, "c") == "running")  # a and b are done; c's call is in flight
    kill(running)
    stopped = latest(home)
    assert stopped is not None and stopped.status is RunStatus.RUNNING  # what a dead process leaves
    listed = gorgon(home, "runs")
    assert "stopped" in listed.stdout and f"gorgon resume {stopped.run_id}" in listed.stdout

    resumed = gorgon(home, "resume", stopped.run_id, "-q")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run = latest(home)
    assert run is not None and run.run_id == stopped.run_id and run.status is RunStatus.SUCCEEDED
    assert all(run.steps[k].status is StepStatus.SUCCEEDED for k in "abcd")
    counted = calls(server)
    assert counted["a"] == 1 and counted["b"] == 1 and counted["d"] == 1  # finished: never called again
    assert counted["c"] in (1, 2)  # in flight at the kill: its answer was never received
    with Store(home / "gorgon.db") as store:
        seqs = [e.seq for e in store.runs.events(run.run_id)]
        assert seqs == list(range(1, len(seqs) + 1))  # one history, the resume's events after the first's
        assert [e.kind for e in store.runs.events(run.run_id)].count("run_resumed") == 1


def test_killed_while_waiting_for_approval_honours_a_decision_taken_meanwhile(
        server: LLMServer, home: Path, tmp_path: Path) -> None:
    workflow = chain(tmp_path, "a", "b", "c")
    text = workflow.read_text().replace("    task: do step b\n", "    task: do step b\n    approval: after\n")
    workflow.write_text(text)
    running = gorgon(home, "run", str(workflow), "-q", wait=False)
    until(lambda: step_status(home, "b") == "waiting")
    kill(running)
    run_id = latest(home).run_id  # type: ignore[union-attr]
    waiting = gorgon(home, "approvals")
    assert "pending (run stopped)" in waiting.stdout
    shown = gorgon(home, "approvals", "--show")
    with Store(home / "gorgon.db") as store:
        [asked] = store.approvals.recent(run_id=run_id)
    assert asked.preview and asked.preview.split()[-1] in shown.stdout  # the output to approve, shown
    approved = gorgon(home, "approve", run_id, "-m", "fine by me", "--by", "alice")
    assert approved.returncode == 0 and "approved 'Approve the output of b'" in approved.stdout

    resumed = gorgon(home, "resume", run_id, "-q")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert latest(home).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
    assert calls(server) == Counter({"a": 1, "b": 1, "c": 1})  # b's answer came from the record
    with Store(home / "gorgon.db") as store:
        [decision] = store.approvals.recent(status=None, run_id=run_id)
        assert (decision.decided_by, decision.comment, str(decision.status)) == ("alice", "fine by me", "approved")


def _decide(home: str, approval_id: str, who: str, barrier: Any, results: Any) -> None:
    os.environ["GORGON_HOME"] = home
    with Store(Path(home) / "gorgon.db") as store:
        barrier.wait(30)
        try:
            store.approvals.decide(approval_id, approve=who == "alice", by=who)
            results.put((who, "decided"))
        except ApprovalError as exc:
            results.put((who, str(exc)))


def test_two_processes_deciding_at_once_exactly_one_wins(home: Path) -> None:
    from gorgon_nb.model.approval import ApprovalRequest

    with Store(home / "gorgon.db") as store:
        run = RunResult("race000001", "wf")
        store.runs.create(run, source=None, source_format=None)
        request, _ = store.approvals.request(ApprovalRequest("", run.run_id, "s", "gate", "Deploy?"))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    deciders = [context.Process(target=_decide, args=(str(home), request.id, who, barrier, results))
                for who in ("alice", "bob")]
    for process in deciders:
        process.start()
    for process in deciders:
        process.join(60)
    outcome = dict(results.get(timeout=5) for _ in deciders)
    winners = [who for who, said in outcome.items() if said == "decided"]
    assert len(winners) == 1
    loser = next(who for who in outcome if who not in winners)
    assert f"by {winners[0]}" in outcome[loser] and "your decision was not recorded" in outcome[loser]
    with Store(home / "gorgon.db") as store:
        assert store.approvals.get(request.id).decided_by == winners[0]


def test_budget_exceeded_then_resumed_with_more(server: LLMServer, home: Path, tmp_path: Path) -> None:
    workflow = chain(tmp_path, "a", "b", "c", "d", extra="budget: {max_tokens: 500}")
    stopped = gorgon(home, "run", str(workflow), "-q")
    assert stopped.returncode == 1 and "token budget reached" in stopped.stdout
    run = latest(home)
    assert run is not None and run.status is RunStatus.FAILED and run.error_type == "BudgetExceededError"
    done = {k for k, s in run.steps.items() if s.status is StepStatus.SUCCEEDED}
    assert done and "d" not in done
    before = calls(server)

    resumed = gorgon(home, "resume", run.run_id, "--max-tokens", "100000", "-q")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert latest(home).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
    after = calls(server)
    assert all(after[k] == 1 for k in done)  # what was done before is not paid again
    assert set(after) == {"a", "b", "c", "d"} and sum(after.values()) - sum(before.values()) == 4 - len(done)


def test_replay_gives_the_same_outputs_with_no_calls(server: LLMServer, config: Any, home: Path,
                                                     tmp_path: Path) -> None:
    runner = Runner(load_config(), Store(home / "gorgon.db"))
    original = runner.run(chain(tmp_path, "a", "b"))
    assert original.ok
    made = len(server.requests)
    replayed = runner.replay(original.run_id)
    assert replayed.ok and replayed.run_id != original.run_id
    assert replayed.outputs == original.outputs
    assert len(server.requests) == made  # not one call
    assert replayed.cost == 0 and replayed.usage.total_tokens == original.usage.total_tokens
    assert runner.store.db.execute("SELECT replay_of FROM runs WHERE id = ?",  # type: ignore[union-attr]
                                   [replayed.run_id]).fetchone()[0] == original.run_id


def test_fork_reuses_everything_upstream(server: LLMServer, home: Path, tmp_path: Path) -> None:
    workflow = chain(tmp_path, "a", "b", "c")
    text = workflow.read_text().replace("id: chain\n", "id: chain\ninputs: {tone: {default: plain}}\n")
    workflow.write_text(text.replace("task: do step c", "task: do step c in a {{ inputs.tone }} tone"))
    runner = Runner(load_config(), Store(home / "gorgon.db"))
    original = runner.run(workflow)
    forked = runner.fork(original.run_id, "c", {"tone": "cheerful"})
    assert forked.ok and forked.inputs["tone"] == "cheerful"
    assert forked.outputs["a"] == original.outputs["a"] and forked.outputs["b"] == original.outputs["b"]
    assert calls(server) == Counter({"a": 1, "b": 1, "c": 2})
    assert "cheerful" in server.requests[-1].last_user_message


def hold_step(server: LLMServer, step: str) -> None:
    """The server answers ``step`` only after a minute, so a run is surely still in it when a
    test acts on it from another process; the other steps are answered at once."""
    answer = server.responder

    async def respond(request: RecordedRequest) -> str:
        if f"do step {step}" in request.last_user_message:
            await asyncio.sleep(60)
        return answer(request)

    server.responder = respond


def test_cancel_from_another_process(server: LLMServer, home: Path, tmp_path: Path) -> None:
    hold_step(server, "b")
    running = gorgon(home, "run", str(chain(tmp_path, "a", "b", "c", "d", "e")), "-q", wait=False)
    until(lambda: step_status(home, "b") == "running")
    cancelled = gorgon(home, "cancel", latest(home).run_id)  # type: ignore[union-attr]
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    output, _ = running.communicate(timeout=60)
    run = latest(home)
    assert run is not None and run.status is RunStatus.CANCELLED
    assert run.steps["a"].status is StepStatus.SUCCEEDED and "e" not in run.steps
    assert "cancelled on request" in output


def test_cancel_says_so_when_the_run_ends_on_its_own_first(home: Path) -> None:
    # This process stands for the run's owner: alive, so the cancel is only requested, and
    # the run then succeeds before any check of the request.
    with Store(home / "gorgon.db") as store:
        store.runs.create(RunResult(run_id="ownrun0001", workflow_id="wf", started_at=time.time()),
                          source="id: wf", source_format="yaml")
        cancel = subprocess.Popen([GORGON, "cancel", "ownrun0001", "--wait", "120"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, "GORGON_HOME": str(home)})
        assert cancel.stdout is not None
        assert cancel.stdout.readline().startswith("asked the process running ownrun0001 to stop")
        store.control.set_status("ownrun0001", "succeeded")
        out, err = cancel.communicate(timeout=60)
    assert cancel.returncode == 1, err
    assert "run ownrun0001 ended (succeeded) before the cancel reached it" in " ".join(out.split())


def test_a_live_run_cannot_be_resumed_and_a_dead_one_can_be_cancelled(server: LLMServer, home: Path,
                                                                      tmp_path: Path) -> None:
    hold_step(server, "b")
    running = gorgon(home, "run", str(chain(tmp_path, "a", "b", "c")), "-q", wait=False)
    run_id = until(lambda: step_status(home, "b") == "running" and latest(home)).run_id  # type: ignore[union-attr]
    refused = gorgon(home, "resume", run_id)
    assert refused.returncode == 2 and "is still running (process" in refused.stderr
    kill(running)
    cancelled = gorgon(home, "cancel", run_id)
    assert "cancelled (no process was running it)" in cancelled.stdout
    assert latest(home).status is RunStatus.CANCELLED  # type: ignore[union-attr]


async def test_approval_timeout_takes_its_declared_outcome(runner: Runner) -> None:
    from gorgon_nb.workflow import Workflow

    text = """id: t
steps:
  - id: gate
    approval: Deploy?
    timeout: 0.3
    on_timeout: approve
  - id: other
    approval: Delete it?
    timeout: 0.3
"""
    result = await runner.arun(Workflow.from_yaml(text))
    assert result.steps["gate"].status is StepStatus.SUCCEEDED
    assert result.outputs["gate"]["by"] == "timeout"
    assert result.steps["other"].status is StepStatus.FAILED
    assert result.steps["other"].error == "'Delete it?' was rejected by the timeout"


async def test_a_rejected_step_is_sent_back_with_the_comment(runner: Runner, server: LLMServer) -> None:
    import asyncio

    from gorgon_nb.workflow import Workflow

    text = """id: revise
defaults: {model: 'loop:m'}
steps:
  - id: draft
    agent: documenter
    task: do step draft
    approval: {mode: after, max_revisions: 1}
"""
    execution = Runner(load_config(), runner.store).execution(Workflow.from_yaml(text))
    task = asyncio.create_task(execution.execute())
    for approve, comment in ((False, "shorter please"), (True, None)):
        while not runner.approvals(status="pending"):
            await asyncio.sleep(0.05)
        runner.approve(execution.result.run_id, approve=approve, comment=comment, by="carol")
        await asyncio.sleep(0.5)
    result = await task
    assert result.ok and calls(server)["draft"] == 2
    resent = server.requests[-1].last_user_message
    assert "rejected by carol, who said:\nshorter please" in resent and "Your previous answer:" in resent

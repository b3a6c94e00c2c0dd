"""shell.run through the engine, with real commands: where they run, what the model reads,
approval with the command shown, both consents, a timeout that kills the whole group."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from toolbench import act

from gorgon_nb.errors import UsageError
from gorgon_nb.runner import Runner
from gorgon_nb.secrets import refresh
from gorgon_nb.tools._process import OUTPUT_LIMIT
from gorgon_nb.workflow import Workflow


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


async def test_a_command_runs_in_the_workspace_once_approved(runner: Runner, tmp_path: Path, ws: Path) -> None:
    command = "pwd; echo to-out; echo to-err >&2; echo made > made.txt; exit 3"
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": command})], allow_code=True)
    assert acted.result.ok, acted.result.error
    (approval,) = acted.approvals
    assert f"```sh\n{command}\n```" in approval.preview and str(ws.resolve()) in approval.preview
    (read,) = acted.read
    assert json.loads(read) == {"exit_code": 3, "stdout": f"{ws.resolve()}\nto-out\n", "stderr": "to-err\n"}
    assert acted.errors == [False]  # a failing command is a result the model reads, not a broken tool
    assert (ws / "made.txt").read_text(encoding="utf-8") == "made\n"


async def test_a_rejected_command_does_not_run(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["shell.run"], [("shell.run", {"command": "touch ran.txt"})],
                      allow_code=True, approve=False, comment="not on my machine")
    assert acted.result.ok, acted.result.error
    assert acted.read == ["this call was rejected by alice, who said: not on my machine. Do not repeat it as it was."]
    assert not (ws / "ran.txt").exists()


@pytest.mark.parametrize(("file_allows", "caller_allows"), [(True, False), (False, True)])
async def test_without_both_consents_the_run_does_not_start(runner: Runner, tmp_path: Path, ws: Path,
                                                            file_allows: bool, caller_allows: bool) -> None:
    with pytest.raises(UsageError) as caught:
        await act(runner, tmp_path, ["shell"], [("shell.run", {"command": "touch ran.txt"})],
                  allow_code=caller_allows, file_allows=file_allows)
    assert "offers its model tools that run code (shell)" in str(caught.value)
    assert not (ws / "ran.txt").exists()


async def test_a_command_past_its_timeout_is_killed_with_its_children(runner: Runner, tmp_path: Path,
                                                                      ws: Path) -> None:
    command = "sleep 300 & echo $! > child.pid; echo started; wait"
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": command, "timeout": 2})],
                      allow_code=True, auto_approve=True)
    assert acted.result.ok, acted.result.error
    (read,) = acted.read
    assert read.startswith("the command did not finish within 2s and was stopped (its whole process group killed)")
    assert "started" in read
    assert acted.errors == [True]
    child = int((ws / "child.pid").read_text(encoding="utf-8"))
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


async def test_a_run_cut_off_mid_command_kills_its_process_group(runner: Runner, tmp_path: Path,
                                                                   ws: Path) -> None:
    command = "sleep 300 & echo $! > child.pid; wait"
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": command, "timeout": 600})],
                      allow_code=True, auto_approve=True, head="timeout: 3s\n")
    assert not acted.result.ok
    assert "3s" in (acted.result.error or ""), acted.result.error
    child = int((ws / "child.pid").read_text(encoding="utf-8"))
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is dead


async def test_long_output_keeps_its_start_and_its_end(runner: Runner, tmp_path: Path, ws: Path) -> None:
    command = "echo FIRST; head -c 200000 /dev/zero | tr '\\0' 'a'; echo; echo LAST"
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": command})], allow_code=True,
                      auto_approve=True)
    stdout = json.loads(acted.read[0])["stdout"]
    assert stdout.startswith("FIRST\naaa") and stdout.endswith("aaa\nLAST\n")
    assert "bytes not shown" in stdout and len(stdout) < OUTPUT_LIMIT + 200


async def test_secrets_in_the_output_are_scrubbed(runner: Runner, tmp_path: Path, ws: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_API_KEY", "demo-secret-value-0123456789")
    refresh()
    (ws / "leak.txt").write_text("key=demo-secret-value-0123456789\n")
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": "cat leak.txt"})],
                      allow_code=True, auto_approve=True)
    assert json.loads(acted.read[0])["stdout"] == "key=***\n"
    assert runner.store is not None
    (record,) = runner.store.tools.of_run(acted.result.run_id)
    assert "demo-secret-value" not in json.dumps(record.result)


async def test_a_command_does_not_see_the_keys_and_tokens(runner: Runner, tmp_path: Path, ws: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_API_KEY", "demo-secret-value-0123456789")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notarealtoken0123456789abcdef")
    monkeypatch.setenv("DEMO_PLAIN", "visible")
    command = 'echo "[${DEMO_API_KEY:-unset}] [${GITHUB_TOKEN:-unset}] [$DEMO_PLAIN]"'
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": command})],
                      allow_code=True, auto_approve=True)
    assert json.loads(acted.read[0])["stdout"] == "[unset] [unset] [visible]\n"


async def test_bad_arguments_are_the_models_to_read(runner: Runner, tmp_path: Path, ws: Path) -> None:
    acted = await act(runner, tmp_path, ["shell"], [("shell.run", {"command": ""}),
                                                    ("shell.run", {"command": "true", "timeout": "soon"})],
                      allow_code=True, auto_approve=True)
    assert acted.read == ["'command' must be the shell command to run, as a string",
                          "'timeout' must be a number of seconds above 0, not 'soon'"]


async def test_the_offline_model_runs_the_command_its_prompt_names(runner: Runner, tmp_path: Path, ws: Path) -> None:
    path = tmp_path / "offline.gorgon.yaml"
    path.write_text("id: offline_runs\nallow_code: true\nsteps:\n  - id: run\n"
                    "    llm: Say hello with shell.run, as `echo hello from the shell`.\n"
                    "    tools: [shell]\n    workspace: ws\n    auto_approve: true\n", encoding="utf-8")
    result = await runner.arun(Workflow.from_file(path), allow_code=True)
    assert result.ok, result.error
    assert runner.store is not None
    (record,) = runner.store.tools.of_run(result.run_id)
    assert record.tool == "shell.run" and record.arguments == {"command": "echo hello from the shell"}
    assert json.loads(record.result) == {"exit_code": 0, "stdout": "hello from the shell\n", "stderr": ""}
    assert "hello from the shell" in result.outputs["run"]

"""MCP servers as tools, in real runs: the official npm servers over stdio, the test server over
streamable HTTP and over stdio; approvals of writes, a crash mid-call, a hanging tool, a
server that does not start, and a token that never reaches the store.

The model is a scripted provider (``gorgon_nb.testing.ScriptedModel``) asking for the calls a test names;
the servers, the SDK, the tool loop, the store and its approvals are all real.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_support import declare, npm_server, python_server

from gorgon_nb.config import load_config
from gorgon_nb.errors import GorgonError
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver, ScriptedModel
from gorgon_nb.testing.mcp_server import MCPTestServer
from gorgon_nb.tools._mcp_session import looks_secret
from gorgon_nb.workflow import Workflow


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(home / "gorgon.db") as opened:
        yield opened


def run(home: Path, store: Store, model: ScriptedModel, tools: str, **options: Any) -> Any:
    """Run a one-step workflow whose step offers ``tools`` to the scripted model."""
    runner = Runner(load_config(), store)
    runner.runtime.providers.register(model)
    return runner, runner.run(Workflow.from_yaml(f"""id: act
steps:
  - id: act
    llm: do it
    tools: {tools}
"""), **options)


def results(store: Store, run_id: str) -> list[tuple[str, str, bool]]:
    return [(r.tool, r.result, r.is_error) for r in sorted(store.tools.of_run(run_id), key=lambda r: r.key.index)]


def test_the_filesystem_server_reads_freely_and_writes_once_approved(home: Path, store: Store, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("first line\n")
    declare(home, {"fs": {"command": npm_server("filesystem"), "args": [str(workspace)]}})
    model = ScriptedModel([("mcp:fs/list_directory", {"path": str(workspace)}),
                           ("mcp:fs/read_text_file", {"path": str(workspace / "notes.txt")})],
                          [("mcp:fs/write_file", {"path": str(workspace / "out.txt"), "content": "written by a tool"})])
    with Approver(store.path or home / "gorgon.db") as person:
        _, result = run(home, store, model, "[mcp:fs]")
    decided = [a.title + "\n" + a.preview for a in person.seen]
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert (workspace / "out.txt").read_text() == "written by a tool"
    (listing, _, _), (read, text, _), (write, _, write_error) = results(store, result.run_id)
    assert (listing, read, write) == ("mcp:fs/list_directory", "mcp:fs/read_text_file", "mcp:fs/write_file")
    assert "first line" in text and not write_error
    # only the write waited, its exact arguments shown
    assert len(decided) == 1 and "mcp:fs/write_file" in decided[0] and "written by a tool" in decided[0]
    offered = {spec.name for spec in model.requests[0].tools}
    assert {"mcp_fs_read_text_file", "mcp_fs_write_file", "mcp_fs_list_directory"} <= offered


def test_a_rejected_write_is_not_made_and_the_model_reads_why(home: Path, store: Store, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    declare(home, {"fs": {"command": npm_server("filesystem"), "args": [str(workspace)]}})
    model = ScriptedModel([("mcp:fs/write_file", {"path": str(workspace / "out.txt"), "content": "no"})])
    with Approver(store.path or home / "gorgon.db", approve=False, comment="not there", by="ann"):
        _, result = run(home, store, model, "[mcp:fs/write_file]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert not (workspace / "out.txt").exists()
    assert "rejected by ann, who said: not there" in result.outputs["act"]


def test_the_everything_server_echoes_and_adds(home: Path, store: Store) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    model = ScriptedModel([("mcp:every/echo", {"message": "hello there"}), ("mcp:every/get-sum", {"a": 2, "b": 40})])
    _, result = run(home, store, model, '["mcp:every/echo", "mcp:every/get-sum"]')
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert results(store, result.run_id) == [("mcp:every/echo", "Echo: hello there", False),
                                             ("mcp:every/get-sum", "The sum of 2 and 40 is 42.", False)]
    assert [spec.name for spec in model.requests[0].tools] == ["mcp_every_echo", "mcp_every_get-sum"]


def test_content_other_than_text_is_described_briefly(home: Path, store: Store) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    model = ScriptedModel([("mcp:every/get-tiny-image", {}), ("mcp:every/get-resource-links", {"count": 2})])
    _, result = run(home, store, model, '["mcp:every/get-tiny-image", "mcp:every/get-resource-links"]')
    assert result.status is RunStatus.SUCCEEDED, result.error
    (_, image, _), (_, links, _) = results(store, result.run_id)
    assert "[image: image/png, " in image and " bytes]" in image
    assert links.count("[resource: ") == 2


def test_a_server_over_streamable_http_with_an_error_result(home: Path, store: Store, tmp_path: Path) -> None:
    with MCPTestServer(tmp_path / "calls.jsonl") as server:
        declare(home, {"demo": {"url": server.url, "auto_approve": ["note"]}})
        model = ScriptedModel([("mcp:demo/add", {"a": 2, "b": 3}), ("mcp:demo/fail", {"message": "no such row"}),
                        ("mcp:demo/note", {"text": "remember me"})])
        _, result = run(home, store, model, "[mcp:demo]")
        calls = server.calls()
    assert result.status is RunStatus.SUCCEEDED, result.error
    (_, added, _), (_, failed, fail_error), (_, noted, _) = results(store, result.run_id)
    assert (added, noted) == ("5", "noted: remember me")  # note is auto-approved by the server's config
    assert fail_error and "no such row" in failed
    assert sorted(call["tool"] for call in calls) == ["add", "fail", "note"]  # asked in one turn: side by side
    assert (tmp_path / "calls.notes.txt").read_text() == "remember me\n"


def test_headers_reach_a_server_over_http_and_their_token_is_never_shown(home: Path, store: Store,
                                                                         tmp_path: Path) -> None:
    token = "zq-header-token-31337"
    with MCPTestServer(tmp_path / "calls.jsonl") as server:
        declare(home, {"demo": {"url": server.url, "headers": {"Authorization": f"Bearer {token}"}}})
        _, result = run(home, store, ScriptedModel([("mcp:demo/header", {"name": "authorization"})]), "[mcp:demo/header]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert results(store, result.run_id) == [("mcp:demo/header", "***", False)]  # it got there (not "(none)"), unseen
    assert token not in str(result.outputs) + "".join(str(e) for e in store.runs.events(result.run_id))


def test_a_server_that_crashes_mid_call_is_named_and_started_again(home: Path, store: Store, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"flaky": python_server(log)})
    model = ScriptedModel([("mcp:flaky/crash", {})], [("mcp:flaky/add", {"a": 1, "b": 1})])
    _, result = run(home, store, model, "[mcp:flaky]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    (_, crashed, crash_error), (_, added, add_error) = results(store, result.run_id)
    assert crash_error and "the MCP server 'flaky' stopped while crash ran" in crashed
    assert "crashing on purpose" in crashed  # the tail of its stderr says why
    assert (added, add_error) == ("2", False)
    pids = {call["tool"]: call["pid"] for call in (json.loads(line) for line in log.read_text().splitlines())}
    assert pids["crash"] != pids["add"]  # a new server process answered the next call


def test_a_hanging_tool_times_out_with_the_server_named(home: Path, store: Store, tmp_path: Path) -> None:
    declare(home, {"slow": python_server(tmp_path / "calls.jsonl", timeout=1.5)})
    model = ScriptedModel([("mcp:slow/hang", {})], [("mcp:slow/add", {"a": 20, "b": 22})])
    _, result = run(home, store, model, "[mcp:slow]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    (_, hung, hang_error), (_, added, _) = results(store, result.run_id)
    assert hang_error and "slow" in hung and "1.5s" in hung
    assert added == "42"  # the server still answers after a call of it timed out


@pytest.mark.parametrize(("server", "said"), [
    ({"command": "no-such-mcp-server-command"}, "could not start: no such command"),
    ({"command": "python3", "args": ["-c", "import sys; sys.stderr.write('missing API key\\n'); sys.exit(2)"]},
     "missing API key"),
    ({"command": "sleep", "args": ["60"], "startup_timeout": 1}, "did not start within 1s"),
])
def test_a_server_that_does_not_start_fails_the_step_saying_which_and_what_to_check(
        home: Path, store: Store, server: dict[str, Any], said: str) -> None:
    declare(home, {"broken": server})
    model = ScriptedModel([("mcp:broken/anything", {})])
    _, result = run(home, store, model, "[mcp:broken]")
    assert result.status is RunStatus.FAILED
    error = result.steps["act"].error or ""
    assert "the MCP server 'broken'" in error and server["command"] in error and said in error
    assert "[mcp.servers.broken]" in error
    assert model.requests == []  # the model was never asked: the step has no tools to offer


def test_an_unknown_tool_of_a_server_lists_its_tools(home: Path, store: Store) -> None:
    declare(home, {"every": {"command": npm_server("everything")}})
    _, result = run(home, store, ScriptedModel(), "[mcp:every/ecko]")
    assert result.status is RunStatus.FAILED
    error = result.steps["act"].error or ""
    assert "has no tool 'ecko'" in error and "did you mean 'echo'" in error and "get-sum" in error


def test_an_undeclared_server_is_refused_before_the_run(home: Path, store: Store, tmp_path: Path) -> None:
    declare(home, {"fs": {"command": "unused"}, "every": {"command": "unused"}})
    with pytest.raises(GorgonError) as caught:
        run(home, store, ScriptedModel(), "[mcp:evrey]")
    message = str(caught.value)
    assert "no MCP server 'evrey'" in message and "did you mean 'every'" in message and "declared: every, fs" in message
    assert store.runs.recent(5) == []


def test_a_malformed_reference_is_refused_when_the_workflow_is_checked() -> None:
    with pytest.raises(GorgonError) as caught:
        Workflow.from_yaml("id: w\nsteps:\n  - id: a\n    llm: x\n    tools: ['mcp:', 'mcp:fs/']\n").compile(None)
    message = str(caught.value)
    assert "an MCP reference names a server" in message and "names no tool after the '/'" in message


def test_a_token_in_a_servers_env_never_reaches_the_store(home: Path, store: Store) -> None:
    token = "zq-not-a-real-token-4711"
    folder = str(home / "data-folder-2026")
    declare(home, {"every": {"command": npm_server("everything"),
                             "env": {"SERVICE_AUTH": token, "DATA_DIR": folder}}})
    model = ScriptedModel([("mcp:every/get-env", {})])
    _, result = run(home, store, model, "[mcp:every/get-env]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    (_, env, _), = results(store, result.run_id)
    assert "SERVICE_AUTH" in env and token not in env  # the server got it; the record shows ***
    assert folder in env  # a path is no secret: it is shown as it is
    dump = "\n".join(str(event) for event in store.runs.events(result.run_id)) + str(result.outputs)
    assert token not in dump


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("GITHUB_TOKEN", "abc", True),
    ("Authorization", "Bearer x", True),
    ("X-Api-Key", "short", True),
    ("LOG_LEVEL", "warn", False),
    ("DATA_DIR", "/home/me/project/with/a/long/path/2026", False),
    ("GREETING", "hello there, a long sentence of words 42", False),
    ("OPAQUE", "a8f3k2m9x7q1w5e4r6t0y2u8", True),
    ("EMPTY_TOKEN", "", False),
])
def test_which_values_of_a_servers_config_count_as_secrets(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


def test_the_server_stops_when_the_run_ends(home: Path, store: Store, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    declare(home, {"demo": python_server(log)})
    _, result = run(home, store, ScriptedModel([("mcp:demo/add", {"a": 1, "b": 2})]), "[mcp:demo]")
    assert result.status is RunStatus.SUCCEEDED, result.error
    pid = json.loads(log.read_text().splitlines()[0])["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

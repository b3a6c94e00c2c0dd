"""Before anything runs: unknown actions and parameters, missing tokens, and where to see them."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError, IntegrationError, WorkflowError
from gorgon_nb.runner import Runner
from gorgon_nb.workflow import Workflow, check_text

GORGON = str(Path(sys.executable).with_name("gorgon"))
ISSUE = "id: t\nsteps:\n  - id: file\n    github: create_issue\n    with: {repo: o/r, title: T}\n"


def test_actions_and_their_parameters_are_checked_with_hints() -> None:
    text = """id: t
steps:
  - id: a
    github: create_isue
  - id: b
    notion: create_page
    with: {database: x}
  - id: c
    slack: post_message
    with: {channel: general}
  - id: d
    slack: post_message
    approval: after
    with: {channel: general, text: hi}
"""
    problems = check_text(text, path="t.yaml")
    assert [(p.field, p.line, p.message, p.hint) for p in problems] == [
        ("a.github", 4, "unknown github action 'create_isue'", "did you mean 'create_issue'?"),
        ("b.with.database", 7, "create_page takes no 'database'", "did you mean 'database_id'?"),
        ("c.with", 10, "post_message needs text",
         "give it under 'with:' (it takes: channel, text, thread_ts, format)"),
        ("d.approval", 13, "post_message writes, so it can only be approved before it runs",
         "use approval: before (what writes get by default)"),
    ]


def test_a_missing_token_is_named_by_validate_before_anything_runs(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "issue.yaml"
    path.write_text(ISSUE)
    done = subprocess.run([GORGON, "validate", str(path)], capture_output=True, text=True,
                          env={"GORGON_HOME": str(home), "PATH": "/usr/bin", "COLUMNS": "200"})
    assert done.returncode == 2
    assert "issue.yaml:4: file.github: GitHub steps need a token: set GITHUB_TOKEN" in done.stdout
    with pytest.raises(ConfigError, match="GitHub steps need a token: set GITHUB_TOKEN"):
        Runner(load_config(), store=False).prepare(Workflow.from_yaml(ISSUE))


def test_the_token_may_come_from_the_config_file(home: Path) -> None:
    (home / "config.toml").write_text('[integrations.github]\ntoken = "ghp_from_the_config_file"\n')
    config = load_config()
    assert config.token("github") == "ghp_from_the_config_file"
    assert Workflow.from_yaml(ISSUE).problems(config) == []
    from gorgon_nb.secrets import redact

    assert redact("token ghp_from_the_config_file") == "token ***"


def test_an_unknown_service_in_the_config_is_an_error(home: Path) -> None:
    (home / "config.toml").write_text('[integrations.gitlab]\ntoken = "x"\n')
    with pytest.raises(ConfigError, match=r"integrations\.gitlab: unknown service; known: github, notion, slack"):
        load_config()


def test_a_base_url_must_be_a_url(home: Path) -> None:
    (home / "config.toml").write_text('[integrations.github]\nbase_url = "ghe.example.com/api/v3"\n')
    with pytest.raises(ConfigError, match=r"integrations\.github\.base_url: .*'ghe\.example\.com/api/v3' is not a URL"):
        load_config()


def test_providers_magic_shows_which_services_are_ready(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-set-for-the-test")
    shell = InteractiveShell.instance()
    if "gorgon" not in shell.magics_manager.magics["line"]:
        shell.run_line_magic("load_ext", "gorgon_nb")
    table = shell.run_line_magic("gorgon", "providers")
    text = table._repr_markdown_()
    assert "| github | service | - | ✗ not configured: set GITHUB_TOKEN |" in text
    assert "| slack | service | - | ✓ ready (SLACK_BOT_TOKEN is set) |" in text
    assert "xoxb-set-for-the-test" not in text


def test_a_workflow_with_an_unknown_kind_value_type_is_reported(home: Path) -> None:
    with pytest.raises(WorkflowError):
        Workflow.from_yaml("id: t\nsteps:\n  - {id: a, github: [create_issue]}\n").compile(load_config())


@pytest.fixture
def hangs_up() -> Iterator[int]:
    """A port that reads each request and closes the connection without an answer."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("service", ["github", "notion", "slack"])
def test_a_write_whose_connection_dropped_may_have_happened_and_a_refused_one_did_not(
        service: str, hangs_up: int) -> None:
    from gorgon_nb.config import IntegrationSettings
    from gorgon_nb.integrations import Connections, find_action

    write = {"github": ("create_issue", {"repo": "o/r", "title": "T"}),
             "notion": ("append_blocks", {"page_id": "p", "content": "x"}),
             "slack": ("post_message", {"channel": "general", "text": "hi"})}[service]
    found = find_action(service, write[0])
    assert found is not None
    outcomes = {}
    for name, port in (("dropped", hangs_up), ("refused", closed_port())):
        config = load_config()
        base = {"github": "", "notion": "", "slack": "/api/"}[service]
        config.integrations[service] = IntegrationSettings(token_env="T", token="token-for-the-test",
                                                           base_url=f"http://127.0.0.1:{port}{base}")
        connections = Connections(config)
        with pytest.raises(IntegrationError) as caught:
            connections.call(found, connections.client(service), write[1])
        outcomes[name] = (caught.value.retryable, caught.value.unsure)
    assert outcomes == {"dropped": (True, True), "refused": (True, False)}

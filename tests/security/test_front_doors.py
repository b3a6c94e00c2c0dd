"""A model answer that echoes a key shows it nowhere gorgon itself prints or sends it: the
terminal (the summary, --json, the live progress), the run view a notebook keeps, and what
the Jupyter server answers and streams (REST, feed and chat frames share one writer)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import env_without_keys

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.server.inputs import dumps
from gorgon_nb.store import Store
from gorgon_nb.testing import LLMServer, RecordedRequest
from gorgon_nb.widgets import RunView
from gorgon_nb.workflow import Workflow

KEY = "sk-loopback-front-door-0123456789abcdef"  # the provider's own key, set in the environment
GITHUB = "ghp_" + "Z" * 36  # a key of another service, known by its shape only
WORKFLOW = "id: echo\nsteps:\n  - id: say\n    llm: Tell me a secret.\n    model: openai:gpt-5.5\n"


def _echo(request: RecordedRequest) -> str:
    return f"Here you are: {KEY}, and {GITHUB}. Keep them safe."


@pytest.fixture
def server(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMServer]:
    with LLMServer(api_key=KEY, models=["gpt-5.5"], responder=_echo) as running:
        (home / "config.toml").write_text(f'[providers.openai]\nbase_url = "{running.openai_base_url}"\n')
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield running


def _clean(text: str) -> None:
    assert KEY not in text and GITHUB not in text, text


@pytest.mark.parametrize("options", [[], ["--json"], ["-q"]])
def test_the_terminal_never_prints_it(server: LLMServer, home: Path, tmp_path: Path, options: list[str]) -> None:
    (tmp_path / "echo.yaml").write_text(WORKFLOW)
    env = {**env_without_keys(), "GORGON_HOME": str(home), "OPENAI_API_KEY": KEY, "COLUMNS": "200"}
    done = subprocess.run([str(Path(sys.executable).with_name("gorgon")), "run", "echo.yaml", *options],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r.status for r in server.requests] == [200]  # the model did answer with the keys
    _clean(done.stdout)
    _clean(done.stderr)
    assert "Here you are: ***, and ***." in " ".join(done.stdout.split())  # the answer is shown, scrubbed
    if options == ["--json"]:
        assert json.loads(done.stdout)["outputs"]["say"] == "Here you are: ***, and ***. Keep them safe."


def test_the_run_view_a_notebook_keeps_never_shows_it(server: LLMServer, home: Path, store: Store) -> None:
    result = Runner(load_config(), store).run(Workflow.from_yaml(WORKFLOW))
    assert result.ok, result.error
    view = RunView.from_result(result, store.runs.events(result.run_id))
    for form in (view.to_text(), view.to_markdown(), json.dumps(view.steps)):
        assert KEY not in form and GITHUB not in form
    assert "Here you are: ***, and ***." in view.to_text()


def test_what_the_server_writes_never_holds_it(server: LLMServer) -> None:
    load_config()  # registers the provider's key variable, as the server's start does
    frame = dumps({"type": "delta", "text": f"a key: {KEY} / {GITHUB}", "nested": [{"output": KEY}]})
    assert KEY not in frame and GITHUB not in frame
    assert json.loads(frame) == {"type": "delta", "text": "a key: *** / ***", "nested": [{"output": "***"}]}

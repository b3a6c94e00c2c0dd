"""``gorgon webhook`` and ``gorgon webhooks``, run as real subprocesses on a real store.

Deliveries are made in this process by the same function the HTTP handler calls
(``receive``), so the commands list and replay real deliveries without a server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_cli import Done, gorgon

from gorgon_nb.config import load_config
from gorgon_nb.scheduler.webhook_server import receive
from gorgon_nb.store import Store
from gorgon_nb.testing.webhooks import github_headers, push_payload

GORGON_FILES = Path(__file__).resolve().parent / "gorgon_webhooks"
SECRET = "it-is-a-shared-secret-0123456789"
ENV = {"PUSH_SECRET": SECRET}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding Gorgon's push webhook beside its workflow, as Gorgon ships them."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, root / name)
    return root


def run(home: Path, folder: Path, *args: str, env: dict[str, str] | None = None) -> Done:
    return gorgon(home, *args, env=ENV if env is None else env, cwd=folder)


def test_gorgons_webhook_file_imports_as_it_is(home: Path, folder: Path) -> None:
    made = run(home, folder, "webhook", "create", "--from", "webhook_github_push.json", "--secret-env", "PUSH_SECRET",
               "--json")
    assert made.code == 0, made
    webhook = json.loads(made.out)
    assert (webhook["name"], webhook["workflow"], webhook["root"]) == ("github_push_handler",
                                                                       "simple_ai_completion.json", str(folder))
    assert [m["target_variable"] for m in webhook["payload_mappings"]] == ["repo_name", "pusher", "commit_message"]
    assert "{{repo_name}}" in webhook["inputs"]["prompt"] and SECRET not in made.out
    listed = run(home, folder, "webhook", "list")
    assert "github_push_handler" in listed.out and "$PUSH_SECRET" in listed.out
    assert "no deliveries yet" in run(home, folder, "webhooks", "deliveries").out
    again = run(home, folder, "webhook", "create", "--from", "webhook_github_push.json", "--secret-env",
                "PUSH_SECRET")
    assert again.code == 2 and "exists already" in again.flat


def test_a_webhook_without_a_secret_is_refused_with_what_to_do(home: Path, folder: Path) -> None:
    unset = run(home, folder, "webhook", "create", "--from", "webhook_github_push.json", env={})
    assert unset.code == 2
    assert "pass --secret-env VARIABLE" in unset.flat and "[webhooks.github_push_handler]" in unset.flat
    missing = run(home, folder, "webhook", "create", "push", "simple_ai_completion.json", "--secret-env", "NOT_SET",
                  env={})
    assert missing.code == 2 and "$NOT_SET, which is not set here" in missing.flat
    (home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[webhooks.push]\nsecret_env = "PUSH_SECRET"\n')
    configured = run(home, folder, "webhook", "create", "push", "simple_ai_completion.json", "--json")
    assert configured.code == 0, configured
    assert json.loads(configured.out)["secret_source"] == "[webhooks.push] in the config"


def test_deliveries_are_listed_and_a_rate_limited_one_replayed(home: Path, folder: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    made = run(home, folder, "webhook", "create", "push", "simple_ai_completion.json", "--secret-env", "PUSH_SECRET",
               "-v", "prompt=Summarise {{repo}}", "--map", "repository.full_name=repo", "--rate", "1")
    assert made.code == 0, made
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    with Store(load_config().db_path) as store:
        answers = []
        for delivery in ("d-1", "d-2"):
            body = push_payload("octo/hello", message=delivery)
            answers.append(receive(store, load_config(), "push", body, github_headers(SECRET, body, delivery=delivery)))
        assert [a.status for a in answers] == [202, 429]
        limited = answers[1].body["delivery"]

        listed = run(home, folder, "webhooks", "deliveries", "push", "--json")
        assert [(d["status"], d["replayable"]) for d in json.loads(listed.out)] == [("rate_limited", True),
                                                                                     ("accepted", False)]
        table = run(home, folder, "webhooks", "deliveries")
        assert "rate limited" in table.out and "accepted" in table.out

        shown = run(home, folder, "webhooks", "show", limited)
        assert "rate_limited" in shown.out and "octo/hello" in shown.out
        replayed = run(home, folder, "webhooks", "replay", limited)

        assert replayed.code == 0 and f"delivery {limited} replayed as" in replayed.flat
        jobs = store.jobs.recent(10)
        assert len(jobs) == 2
        # simple_ai_completion's one input is prompt: the mapped repo only fills it
        assert jobs[0].parameters == {"prompt": "Summarise octo/hello"}
        twice = run(home, folder, "webhooks", "replay", limited)
        assert twice.code == 2 and "replayed already" in twice.flat

    paused = run(home, folder, "webhook", "pause", "push")
    assert paused.code == 0 and "paused" in paused.out
    deleted = run(home, folder, "webhook", "delete", "push")
    assert deleted.code == 0 and "no webhooks yet" in run(home, folder, "webhooks").out
    assert run(home, folder, "webhook", "delete", "push").code == 2


def test_inputs_the_workflow_lacks_are_refused_when_the_webhook_is_made(home: Path, folder: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = run(home, folder, "webhook", "create", "push", "simple_ai_completion.json", "--secret-env", "PUSH_SECRET",
                "-v", "style=short")
    assert fixed.code == 2
    assert "the workflow simple_ai_completion.json has no input 'style' (its inputs: prompt)" in fixed.flat
    mapped = run(home, folder, "webhook", "create", "push", "simple_ai_completion.json", "--secret-env", "PUSH_SECRET",
                 "--map", "repository.full_name=repo")
    assert mapped.code == 2 and "goes to 'repo', which is no input of the workflow" in mapped.flat
    with Store(load_config().db_path) as store:
        assert store.webhooks.all() == []


def test_the_workflow_a_webhook_file_names_is_found_in_the_folders_workflows(home: Path, folder: Path) -> None:
    (folder / "workflows").mkdir()
    (folder / "simple_ai_completion.json").rename(folder / "workflows" / "simple_ai_completion.json")
    made = run(home, folder, "webhook", "create", "--from", "webhook_github_push.json", "--secret-env", "PUSH_SECRET",
               "--json")
    assert made.code == 0, made
    assert json.loads(made.out)["workflow"] == "workflows/simple_ai_completion.json"
    (folder / "workflows" / "simple_ai_completion.json").unlink()
    missing = run(home, folder, "webhook", "create", "again", "--from", "webhook_github_push.json",
                  "--secret-env", "PUSH_SECRET")
    assert missing.code == 2
    assert "no workflow 'simple_ai_completion' beside the file, in" in missing.flat

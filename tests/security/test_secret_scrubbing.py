"""Secrets stay secret: the store file, errors, events, logs and the stored workflow text,
with the real SDKs against the loopback servers and a real SQLite file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import gorgon_nb.secrets
from gorgon_nb.config import load_config
from gorgon_nb.engine.compile import content_hash
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.secrets import redact
from gorgon_nb.steps.agent import AgentStep
from gorgon_nb.store import Store
from gorgon_nb.testing import Fault, LLMServer, ServiceServer
from gorgon_nb.workflow import Workflow

# Shaped like no known kind of key, held in a variable whose name looks like nothing secret:
# only its registration by the config keeps it out.
VLLM_KEY = "Zq8vLLM-cred-4f1e9a2b7c0d"


def store_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    return b"".join(path.read_bytes() for path in sorted(db.parent.glob(db.name + "*")))


async def test_a_custom_providers_key_echoed_in_errors_reaches_no_surface(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LLMServer(api_key=VLLM_KEY, models=["qwen"]) as server:
        (home / "config.toml").write_text(
            f'[providers.vllm]\nkind = "openai-compatible"\nbase_url = "{server.openai_base_url}"\n'
            f'model = "qwen"\napi_key_env = "VLLM_CRED"\n')
        monkeypatch.setenv("VLLM_CRED", VLLM_KEY)
        server.add_fault(Fault("status", status=503, message=f"upstream saw Authorization: Bearer {VLLM_KEY}"))
        server.add_fault(Fault("status", status=400, message=f"bad request, Authorization: Bearer {VLLM_KEY}"))
        workflow = Workflow.from_dict({
            "id": "custom", "defaults": {"model": "vllm:qwen", "retry": {"attempts": 3, "backoff": 0}},
            "steps": [{"id": "ask", "agent": "planner", "task": "Plan a picnic"}]})
        events: list[Event] = []
        db = home / "gorgon.db"
        with Store(db) as store:
            result = await Runner(load_config(), store).arun(workflow, on_event=events.append)
            stored = store.runs.get(result.run_id)
            assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {VLLM_KEY}"] * 2
            assert result.status is RunStatus.FAILED
            shown = [result.error or "", result.steps["ask"].error or "", stored.error or "",
                     stored.steps["ask"].error or "", json.dumps([e.to_dict()["data"] for e in events])]
            assert "bad request, Authorization: Bearer ***" in (result.steps["ask"].error or "")
            assert any("upstream saw Authorization: Bearer ***" in json.dumps(e.to_dict()["data"]) for e in events
                       if e.kind == "step_retry")
            assert all(VLLM_KEY not in text for text in shown)
            on_disk = store_bytes(db)
    assert b"bad request, Authorization: Bearer ***" in on_disk
    assert VLLM_KEY.encode() not in on_disk


def test_every_credential_the_config_names_is_registered_when_it_is_loaded(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"LOCAL_LLM_CRED": "first-value-1234", "GH_CRED_FOR_TEST": "second-value-5678"}
    (home / "config.toml").write_text(
        '[providers.local]\nkind = "openai-compatible"\nbase_url = "http://gpu-box:8000/v1"\n'
        'api_key_env = "LOCAL_LLM_CRED"\n[integrations.github]\ntoken_env = "GH_CRED_FOR_TEST"\n')
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(gorgon_nb.secrets, "_cache", (0.0, ()))
    text = "used first-value-1234 and second-value-5678"
    assert redact(text) == text  # names that look like nothing secret
    load_config()
    assert redact(text) == "used *** and ***"


def test_a_config_read_from_another_mapping_registers_the_values_in_it(home: Path) -> None:
    (home / "config.toml").write_text(
        '[providers.local]\nkind = "openai-compatible"\nbase_url = "http://gpu-box:8000/v1"\n'
        'api_key_env = "MAPPED_CRED"\n')
    load_config(env={"GORGON_HOME": str(home), "MAPPED_CRED": "only-in-the-mapping-99"})
    assert redact("key only-in-the-mapping-99") == "key ***"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("openai sk-proj-Ab12Cd34Ef56Gh78Ij90Kl.", "openai ***."),
        ("anthropic sk-ant-api03-xY7_zZ9-0123456789abcdefgh", "anthropic ***"),
        ("slack xoxb-123456789012-1234567890123-AbCdEf", "slack ***"),
        ("github ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "github ***"),
        ("github github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github ***"),
        ('notion "secret_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"', 'notion "***"'),
        ("notion ntn_AbCdEfGhIjKlMnOpQrStUvWxYz0123", "notion ***"),
        ("settings.secret_key and SECRET_KEY", "settings.secret_key and SECRET_KEY"),
        ("a task-list-for-the-whole-team-2024", "a task-list-for-the-whole-team-2024"),
        ("sk-learn and scikit-learn", "sk-learn and scikit-learn"),
        ("ask-the-reviewer-about-it-1234567", "ask-the-reviewer-about-it-1234567"),
    ],
)
def test_text_shaped_like_a_key_is_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted


async def test_a_key_written_in_the_workflow_file_is_not_stored(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTS_PASSWORD", "hunter2-horse-battery")
    literal = ("sk-proj-Ab12Cd34Ef56Gh78Ij90Kl", "xoxb-123456789012-abcdefABCDEF", "hunter2-horse-battery")
    text = ("id: literal\nsteps:\n  - id: ask\n    agent: planner\n"
            f'    task: "Post with {literal[0]} and {literal[1]}, the password is {literal[2]}"\n'
            f"    context: {literal[0]}\n")
    db = home / "gorgon.db"
    with Store(db) as store:
        runner = Runner(load_config(), store)
        result = await runner.arun(Workflow.from_yaml(text))
        assert result.ok, result.error
        source, _, _ = store.runs.source(result.run_id)
        scrubbed = text
        for value in literal:
            scrubbed = scrubbed.replace(value, "REDACTED")
        assert source == scrubbed
        assert store.runs.get(result.run_id).workflow_hash == content_hash(text)  # of the original
        # A plain word, not "***": the value that was a bare key still reads as YAML.
        _, stored = runner.stored_workflow(result.run_id)
        step = stored.spec.steps[0]
        assert isinstance(step, AgentStep) and step.context == "REDACTED"
        on_disk = store_bytes(db)
    assert b"Post with REDACTED and REDACTED" in on_disk and b"Post with *** and ***" in on_disk
    assert all(value.encode() not in on_disk for value in literal)


# -- logs ----------------------------------------------------------------------------------------

SDK_LOGGERS = ["notion_client", "slack_sdk", "github", "httpx2", "openai", "anthropic",
               "openai._base_client", "anthropic._base_client"]


@pytest.fixture
def sdks_imported() -> None:
    import anthropic  # noqa: F401
    import github  # noqa: F401
    import httpx2  # noqa: F401
    import notion_client  # noqa: F401
    import openai  # noqa: F401
    import slack_sdk  # noqa: F401


@pytest.mark.parametrize("name", SDK_LOGGERS)
def test_what_an_sdk_logs_is_scrubbed_once_the_config_is_loaded(
        name: str, sdks_imported: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    token = "ntn-plain-token-0123456789"
    monkeypatch.setenv("NOTION_TOKEN", token)
    load_config()
    caplog.set_level(logging.DEBUG, logger=name)
    logger = logging.getLogger(name)
    logger.warning("API token is invalid: %s", token)
    try:
        raise RuntimeError(f"refused {token}")
    except RuntimeError:
        logger.exception("request failed")
    assert "API token is invalid: ***" in caplog.text and "RuntimeError: refused ***" in caplog.text
    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)


def test_the_filter_is_installed_once_per_logger(sdks_imported: None) -> None:
    for _ in range(3):
        load_config()
    filters = [f for f in logging.getLogger("openai").filters if isinstance(f, gorgon_nb.secrets.RedactingFilter)]
    assert len(filters) == 1


def test_a_notion_token_quoted_by_the_server_stays_out_of_the_log(
        home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    token = "secret_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"
    with ServiceServer(tokens={"notion": token}) as svc:
        svc.notion.add_database("db-tasks", title="Tasks", properties={"Name": "title"})
        (home / "config.toml").write_text(f'[integrations.notion]\nbase_url = "{svc.notion_url}"\n')
        monkeypatch.setenv("NOTION_TOKEN", token)
        body: dict[str, Any] = {"object": "error", "status": 401, "code": "unauthorized",
                                "message": f"API token is invalid: {token}"}
        for method in ("GET", "POST"):
            svc.fault("notion", method, "/v1/*", status=401, body=body, times=5)
        caplog.set_level(logging.WARNING)
        workflow = Workflow.from_yaml("id: t\nsteps:\n  - id: rows\n    notion: query_database\n"
                                      "    with: {database_id: db-tasks}\n")
        with Store(home / "gorgon.db") as store:
            result = Runner(load_config(), store).run(workflow)
    assert result.status is RunStatus.FAILED
    assert "API token is invalid: ***" in (result.steps["rows"].error or "")
    assert "request fail" in caplog.text and "API token is invalid: ***" in caplog.text
    assert token not in caplog.text and token not in capfd.readouterr().err

"""The chat service: requests parsed, answers streamed and kept, delegations, workflows, stop."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.chat import ChatError, ChatService, parse_request
from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import list_workflows

ROLES = {"supervisor": 1, "planner": 1, "reviewer": 1}
WORKFLOWS = {"dev_plan_build_test_review": 1}


def test_requests_are_parsed() -> None:
    assert parse_request("hello there", ROLES, WORKFLOWS).kind == "supervisor"
    asked = parse_request("@reviewer  check this ", ROLES, WORKFLOWS)
    assert (asked.kind, asked.role, asked.text) == ("agent", "reviewer", "check this")
    run = parse_request("/run dev_plan_build_test_review feature_request=Add a CSV export language=\"py thon\"",
                        ROLES, WORKFLOWS)
    assert run.kind == "workflow" and run.workflow == "dev_plan_build_test_review"
    assert run.inputs == {"feature_request": "Add a CSV export", "language": "py thon"}


@pytest.mark.parametrize(("text", "says"), [
    ("   ", "empty"),
    ("@wizard do magic", "unknown role '@wizard'"),
    ("@planne plan", "did you mean 'planner'"),
    ("@planner", "write what you ask"),
    ("/deploy now", "unknown command '/deploy'"),
    ("/run", "name the workflow"),
    ("/run dev_plan", "no workflow named 'dev_plan' .*dev_plan_build_test_review"),
    ("/run dev_plan_build_test_review oops", "'oops' is not key=value"),
    ("/run dev_plan_build_test_review x=\"open", "cannot read the /run line"),
    ("x" * 20_001, "too long"),
])
def test_bad_requests_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ChatError, match=says):
        parse_request(text, ROLES, WORKFLOWS)


class Recorder:
    """A listener, as a WebSocket is one."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)

    def messages(self) -> dict[str, dict[str, Any]]:
        """The last state of every message, by id."""
        return {p["message"]["id"]: p["message"] for p in self.payloads if p["type"] == "message"}

    def deltas(self, message_id: str) -> str:
        return "".join(p["text"] for p in self.payloads if p["type"] == "delta" and p["message_id"] == message_id)


def service_with(home: Path, store: Store, delay: float = 0.0) -> ChatService:
    if delay:
        (home / "config.toml").write_text(f"[offline]\ndelay = {delay}\n")
    return ChatService(Runner(load_config(), store))


async def finished(service: ChatService, session_id: str) -> None:
    for _ in range(400):
        if not service.answering(session_id) and not service._workflows.get(session_id):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the chat did not finish")


async def test_the_supervisor_answers_with_visible_delegations(home: Path, store: Store) -> None:
    service = service_with(home, store)
    session = service.create_session()
    heard = Recorder()
    service.subscribe(session.id, heard)
    await service.send(session.id, "Plan and build a CSV loader, then review it")
    await finished(service, session.id)

    stored = service.messages(session.id)
    user, answer, *delegates = sorted(stored, key=lambda m: m["seq"])
    assert user["role"] == "user" and user["content"] == "Plan and build a CSV loader, then review it"
    assert answer["agent"] == "supervisor" and answer["status"] == "done" and answer["icon"]
    assert [d["agent"] for d in delegates] == ["planner", "builder", "reviewer"]
    assert all(d["parent_id"] == answer["id"] and d["status"] == "done" and d["content"] for d in delegates)
    assert [d["meta"]["delegation"]["index"] for d in delegates] == [0, 1, 2]
    # what streamed is what was kept, message by message
    assert heard.deltas(answer["id"]) == answer["content"]
    for delegate in delegates:
        assert heard.deltas(delegate["id"]) == delegate["content"]
    assert heard.messages()[answer["id"]]["status"] == "done"
    assert answer["meta"]["usage"]["tokens"] > 0
    # the session is named after its first request and the answer is a run of its own
    assert store.chat.get_session(session.id).title == "Plan and build a CSV loader, then review it"
    run = store.runs.get(answer["run_id"])
    assert run.workflow_id == "chat" and run.ok


async def test_a_role_is_asked_directly_with_the_conversation_as_context(home: Path, store: Store) -> None:
    service = service_with(home, store)
    session = service.create_session("Review")
    await service.send(session.id, "What is a CSV file?")
    await finished(service, session.id)
    await service.send(session.id, "@reviewer review the loader")
    await finished(service, session.id)
    last = service.messages(session.id)[-1]
    assert last["agent"] == "reviewer" and last["status"] == "done" and not last["parent_id"]
    run = store.runs.get(last["run_id"])
    assert "What is a CSV file?" in run.inputs["context"]
    assert store.chat.get_session(session.id).title == "Review"  # a given title is kept


async def test_one_answer_at_a_time_and_nothing_stored_when_refused(home: Path, store: Store) -> None:
    service = service_with(home, store, delay=0.05)
    session = service.create_session()
    await service.send(session.id, "@planner plan a picnic")
    with pytest.raises(ChatError, match="still answering"):
        await service.send(session.id, "@planner and a dinner")
    with pytest.raises(ChatError, match="unknown role"):
        await service.send(session.id, "@chef cook")
    assert [m["role"] for m in service.messages(session.id)] == ["user", "agent"]
    await service.stop(session.id)


async def test_stop_keeps_what_was_said(home: Path, store: Store) -> None:
    service = service_with(home, store, delay=0.05)
    session = service.create_session()
    heard = Recorder()
    service.subscribe(session.id, heard)
    await service.send(session.id, "@planner plan a picnic for twelve people")
    while not [p for p in heard.payloads if p["type"] == "delta"]:
        await asyncio.sleep(0.01)
    assert await service.stop(session.id)
    assert not service.answering(session.id)
    answer = service.messages(session.id)[-1]
    assert answer["status"] == "stopped"
    assert answer["content"] and answer["content"] == heard.deltas(answer["id"])
    assert store.runs.get(answer["run_id"]).status == "cancelled"
    assert not await service.stop(session.id)  # nothing left to stop


async def test_a_missing_key_is_refused_with_the_variable_to_set(home: Path, store: Store) -> None:
    (home / "config.toml").write_text('[defaults]\nmodel = "anthropic:claude-sonnet-5-5"\n')
    service = ChatService(Runner(load_config(), store))
    session = service.create_session()
    with pytest.raises(ChatError, match="ANTHROPIC_API_KEY"):
        await service.send(session.id, "hello")
    assert service.messages(session.id) == []


async def test_a_workflow_runs_from_the_chat_and_shows_its_progress(home: Path, store: Store) -> None:
    service = service_with(home, store)
    session = service.create_session()
    heard = Recorder()
    service.subscribe(session.id, heard)
    await service.send(session.id, "/run dev_plan_build_test_review feature_request=Add a CSV export")
    assert not service.answering(session.id)  # the conversation can go on
    await finished(service, session.id)
    message = service.messages(session.id)[-1]
    assert message["role"] == "workflow" and message["status"] == "done"
    assert message["meta"]["inputs"] == {"feature_request": "Add a CSV export"}
    assert set(message["meta"]["steps"].values()) == {"succeeded"}
    run = store.runs.get(message["run_id"])
    assert run.ok and run.workflow_id == "dev_plan_build_test_review"
    assert message["run_id"] in message["content"] and "succeeded" in message["content"]
    progress = [p["message"]["content"] for p in heard.payloads
                if p["type"] == "message" and p["message"]["id"] == message["id"]]
    assert any("running" in text for text in progress)  # it was shown as it went


async def test_a_workflow_with_a_missing_input_is_refused(home: Path, store: Store) -> None:
    service = service_with(home, store)
    session = service.create_session()
    assert "dev_plan_build_test_review" in list_workflows()
    with pytest.raises(ChatError, match="feature_request") as refused:
        await service.send(session.id, "/run dev_plan_build_test_review")
    assert "add feature_request=... to the /run line" in str(refused.value)
    assert "-v" not in str(refused.value) and "inputs=" not in str(refused.value)
    assert service.messages(session.id) == []


async def test_a_server_that_died_leaves_no_message_streaming(home: Path, store: Store) -> None:
    service = service_with(home, store, delay=0.05)
    session = service.create_session()
    await service.send(session.id, "@planner plan a long trip")
    # the streamed text is saved at least every second: wait for the first save
    deadline = time.monotonic() + 30
    while not store.chat.messages(session.id)[-1].content:
        assert time.monotonic() < deadline, "the streamed text was never saved"
        await asyncio.sleep(0.1)
    again = ChatService(Runner(load_config(), store))  # the next server start
    answer = again.messages(session.id)[-1]
    assert answer["status"] == "interrupted" and answer["content"]
    await service.stop(session.id)


async def test_sessions_are_listed_renamed_and_deleted(home: Path, store: Store) -> None:
    service = service_with(home, store)
    first, second = service.create_session("first"), service.create_session()
    await service.send(second.id, "@planner hi")
    await finished(service, second.id)
    listed = store.chat.sessions()
    assert [s.id for s in listed] == [second.id, first.id]
    assert listed[0].preview  # the start of the last message
    store.chat.rename_session(first.id, "renamed")
    await service.delete_session(second.id)
    assert [(s.id, s.title) for s in store.chat.sessions()] == [(first.id, "renamed")]
    assert store.chat.messages(first.id) == []


async def test_a_spent_budget_and_a_failing_provider_are_said_in_the_answer(
        home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from gorgon_nb.testing import Fault, LLMServer

    key = "sk-loopback-chat-budget"
    with LLMServer(api_key=key) as server:
        (home / "config.toml").write_text(
            f'[defaults]\nmodel = "openai:gpt-5.5"\n[budget]\ndaily_usd = 0.000001\n'
            f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
        monkeypatch.setenv("OPENAI_API_KEY", key)
        service = ChatService(Runner(load_config(), store))
        session = service.create_session()
        await service.send(session.id, "@planner plan a picnic")  # spends the day's budget
        await finished(service, session.id)
        await service.send(session.id, "@planner and a dinner")
        await finished(service, session.id)
        spent = service.messages(session.id)[-1]
        assert spent["status"] == "error" and "budget" in spent["meta"]["error"]

        (home / "config.toml").write_text(
            f'[defaults]\nmodel = "openai:gpt-5.5"\n[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
        service = ChatService(Runner(load_config(), store))
        server.add_fault(Fault("status", status=401, message="invalid key"), times=10)
        await service.send(session.id, "@planner and a lunch")
        await finished(service, session.id)
        refused = service.messages(session.id)[-1]
        assert refused["status"] == "error" and "OPENAI_API_KEY" in refused["meta"]["error"]
        assert key not in json.dumps(service.messages(session.id))


async def test_a_changed_config_is_used_without_a_restart(home: Path, store: Store) -> None:
    service = service_with(home, store)
    session = service.create_session()
    (home / "config.toml").write_text('[defaults]\nmodel = "anthropic:claude-sonnet-5-5"\n')
    with pytest.raises(ChatError, match=r"ANTHROPIC_API_KEY.*restart"):
        await service.send(session.id, "@planner plan")
    (home / "config.toml").write_text('[defaults]\nmodel = "offline"\n[offline]\ndelay = 0.001\n')
    await service.send(session.id, "@planner plan")
    await finished(service, session.id)
    assert service.messages(session.id)[-1]["meta"]["usage"]["model"] == "offline"


async def test_messages_being_written_come_with_their_text_so_far(home: Path, store: Store) -> None:
    service = service_with(home, store, delay=0.02)
    session = service.create_session()
    await service.send(session.id, "@planner plan a long trip with many stops")
    await asyncio.sleep(0.3)
    [live] = service.streaming(session.id)
    listed = service.messages(session.id)[-1]
    assert live["status"] == listed["status"] == "streaming"
    assert listed["content"] and listed["content"].startswith(store.chat.messages(session.id)[-1].content)
    await finished(service, session.id)
    assert service.streaming(session.id) == []


def test_session_previews_are_plain_words(store: Store) -> None:
    from gorgon_nb.store.chat import ChatMessage

    session = store.chat.create_session("t")
    store.chat.add_message(
        ChatMessage("", session.id, 0, "agent", "## Plan\n\n- **Load** the [CSV](http://x) with `csv`"))
    assert store.chat.sessions()[0].preview == "Plan Load the CSV with csv"

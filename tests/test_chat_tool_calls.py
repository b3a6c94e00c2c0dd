"""The chat carries an answer's tool calls in its message: listed, their status kept, bounded.

A real chat service, store and tool set, with a scripted model in this process for the
role that has the tools.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from test_chat import Recorder, finished
from tool_runs import WAIT_SECONDS

from gorgon_nb import chat
from gorgon_nb.chat import TOOL_TEXT_LIMIT, ChatService
from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ScriptedModel


def tooled_service(home: Path, store: Store, model: ScriptedModel) -> ChatService:
    (home / "config.toml").write_text('[roles.analyst]\ntools = ["uitools"]\n')
    service = ChatService(Runner(load_config(), store))
    service.runner.runtime.providers.register(model)
    return service


async def test_an_answers_calls_are_listed_under_it_with_their_status(home: Path, store: Store) -> None:
    model = ScriptedModel([("uitools.look", {"name": "sales"}), ("uitools.broken", {})],
                   [("uitools.save", {"path": "sum.txt", "text": "3"})])
    service = tooled_service(home, store, model)
    session = service.create_session()
    heard = Recorder()
    service.subscribe(session.id, heard)
    await service.send(session.id, "@analyst how many sales rows?")

    # the write waits for a person: the message says so while it waits
    deadline = time.monotonic() + WAIT_SECONDS
    while not (waiting := [p for p in store.approvals.recent() if p.status == "pending"]):
        assert time.monotonic() < deadline, "no approval was asked"
        await asyncio.sleep(0.02)
    answer = next(m for m in service.messages(session.id) if m["role"] == "agent")
    assert answer["status"] == "streaming"
    assert [c["status"] for c in answer["meta"]["tool_calls"]] == ["ok", "error", "waiting"]
    assert answer["meta"]["tool_calls"][2]["approval"] == waiting[0].id
    store.approvals.decide(waiting[0].id, approve=True, by="ann")
    await finished(service, session.id)

    answer = next(m for m in service.messages(session.id) if m["role"] == "agent")
    assert answer["status"] == "done"
    calls = answer["meta"]["tool_calls"]
    assert [(c["index"], c["tool"], c["status"]) for c in calls] == [
        (0, "uitools.look", "ok"), (1, "uitools.broken", "error"), (2, "uitools.save", "ok")]
    assert calls[0]["arguments"] == '{"name": "sales"}' and calls[0]["result"] == "found sales: 3 rows"
    assert calls[2]["result"] == "saved 1 characters to sum.txt"
    # every listener saw each change as it came, and the store kept the last
    seen = [p["message"]["meta"].get("tool_calls", []) for p in heard.payloads
            if p["type"] == "message" and p["message"]["id"] == answer["id"]]
    first = next(c for c in seen if c)
    assert [(c["tool"], c["status"], c["result"]) for c in first] == [("uitools.look", "running", "")]
    assert any(c[-1]["status"] == "waiting" for c in seen if len(c) == 3)
    assert store.chat.messages(session.id)[-1].meta["tool_calls"] == calls


async def test_a_rejected_call_says_so_and_the_list_is_bounded(home: Path, store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "TOOL_CALLS_KEPT", 5)  # a step makes at most 20 calls: keep fewer to see the bound
    turns = [[("uitools.look", {"name": "x" * 1000})] for _ in range(7)]
    turns.append([("uitools.save", {"path": "a.txt", "text": "a"})])
    service = tooled_service(home, store, ScriptedModel(*turns))
    session = service.create_session()
    await service.send(session.id, "@analyst look it all up")
    deadline = time.monotonic() + WAIT_SECONDS
    while not (waiting := [p for p in store.approvals.recent() if p.status == "pending"]):
        assert time.monotonic() < deadline, "no approval was asked"
        assert service.answering(session.id), service.messages(session.id)
        await asyncio.sleep(0.02)
    store.approvals.decide(waiting[0].id, approve=False, by="ann", comment="no files")
    await finished(service, session.id)
    meta = next(m for m in service.messages(session.id) if m["role"] == "agent")["meta"]
    assert len(meta["tool_calls"]) == 5 and meta["tool_calls_dropped"] == 3
    assert all(len(c["arguments"]) <= TOOL_TEXT_LIMIT for c in meta["tool_calls"])
    last = meta["tool_calls"][-1]
    assert (last["tool"], last["status"]) == ("uitools.save", "rejected")
    assert last["result"].startswith("this call was rejected by ann, who said: no files")

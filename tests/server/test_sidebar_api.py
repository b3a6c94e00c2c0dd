"""The sidebar's API: runs, chat sessions and their WebSocket, and the live event feed.

A real Jupyter server in the test process (pytest-jupyter) with the extension, the real
store in the test's GORGON_HOME, real runs, and real WebSocket connections.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_client import Fetch, body, call
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from gorgon_nb.runner import Runner
from gorgon_nb.testing import LLMServer
from gorgon_nb.workflow import Workflow

WAIT = 15.0
KEY = "sk-loopback-chat-0001"

GATED = """
id: gated
name: Gated
steps:
  - id: draft
    agent: planner
    task: Plan a picnic
  - id: sign_off
    approval: Send the plan?
    preview: "{{ steps.draft.output }}"
    depends_on: draft
"""


class Socket:
    """A WebSocket client that keeps what it received."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    async def until(self, done: Callable[[list[dict[str, Any]]], Any], timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := done(self.received)):
            left = deadline - time.monotonic()
            assert left > 0, f"not received in time; got {[p['type'] for p in self.received]}"
            raw = await asyncio.wait_for(self.connection.read_message(), left)
            assert raw is not None, "the server closed the socket"
            self.received.append(json.loads(raw))
        return found

    async def send(self, payload: Any) -> None:
        await self.connection.write_message(payload if isinstance(payload, str) else json.dumps(payload))

    def messages(self) -> dict[str, dict[str, Any]]:
        return {p["message"]["id"]: p["message"] for p in self.received if p["type"] == "message"}

    def text(self, message_id: str) -> str:
        return "".join(p["text"] for p in self.received if p["type"] == "delta" and p["message_id"] == message_id)


@pytest.fixture
def socket(jp_ws_fetch: Callable[..., Awaitable[WebSocketClientConnection]]) -> Callable[..., Awaitable[Socket]]:
    opened: list[Socket] = []

    async def open_(*path: str, **options: Any) -> Socket:
        connection = await jp_ws_fetch("gorgon", "api", *path, **options)
        opened.append(Socket(connection))
        return opened[-1]

    yield open_  # type: ignore[misc]
    for each in opened:
        each.connection.close()


async def new_session(jp_fetch: Fetch, title: str | None = None) -> dict[str, Any]:
    response = await call(jp_fetch, "chat", "sessions", method="POST", data={"title": title} if title else {})
    assert response.code == 201
    return body(response)


def answered(socket: Socket) -> Callable[[list[dict[str, Any]]], Any]:
    """Every message of the last request ended."""
    def check(_: list[dict[str, Any]]) -> Any:
        messages = socket.messages()
        agents = [m for m in messages.values() if m["role"] != "user"]
        return agents and all(m["status"] != "streaming" for m in agents) and messages
    return check


# -- runs -----------------------------------------------------------------------------------


async def test_runs_list_detail_and_filters(jp_fetch: Fetch) -> None:
    runner = Runner()
    done = await runner.arun(Workflow.from_yaml(GATED.split("  - id: sign_off")[0]))
    runs = body(await call(jp_fetch, "runs"))["runs"]
    assert [r["run_id"] for r in runs] == [done.run_id]
    summary = runs[0]
    assert summary["status"] == "succeeded" and summary["workflow_name"] == "Gated"
    assert summary["tokens"]["total"] == done.usage.total_tokens > 0
    assert summary["duration"] > 0 and not summary["stopped"] and summary["waiting"] == 0
    detail = body(await call(jp_fetch, "runs", done.run_id[:6]))["run"]  # a prefix will do
    assert detail["run_id"] == done.run_id
    [step] = detail["steps"]
    assert step["key"] == "draft" and step["role"] == "planner" and step["output"] == done.outputs["draft"]
    assert step["output_html"].startswith("<")
    failed = body(await call(jp_fetch, "runs", params={"status": "failed"}))["runs"]
    assert failed == []


@pytest.mark.parametrize(("query", "says"), [
    ({"status": "lost"}, "unknown status 'lost'"),
    ({"limit": "0"}, "limit must be a whole number"),
    ({"chat": "maybe"}, "chat must be true or false"),
])
async def test_bad_run_queries_are_400(jp_fetch: Fetch, query: dict[str, str], says: str) -> None:
    response = await call(jp_fetch, "runs", params=query)
    assert response.code == 400 and says in body(response)["message"]


async def test_an_unknown_run_is_404_and_an_ended_one_cannot_be_cancelled(jp_fetch: Fetch) -> None:
    missing = await call(jp_fetch, "runs", "nosuchrun")
    assert missing.code == 404 and "nosuchrun" in body(missing)["message"]
    done = await Runner().arun(Workflow.from_yaml(GATED.split("  - id: sign_off")[0]))
    ended = await call(jp_fetch, "runs", done.run_id, "cancel", method="POST", data={})
    assert ended.code == 409 and "already ended" in body(ended)["message"]


async def test_cancel_stops_a_waiting_run(jp_fetch: Fetch) -> None:
    runner = Runner()
    execution = runner.execution(Workflow.from_yaml(GATED))
    task = asyncio.create_task(execution.execute())
    store = runner.store
    assert store is not None
    while not store.approvals.recent(run_id=execution.result.run_id):
        await asyncio.sleep(0.05)
    waiting = body(await call(jp_fetch, "runs"))["runs"][0]
    assert waiting["status"] == "waiting" and waiting["waiting"] == 1 and not waiting["stopped"]
    response = await call(jp_fetch, "runs", execution.result.run_id, "cancel", method="POST", data={})
    assert body(response) == {"result": "requested"}
    result = await asyncio.wait_for(task, WAIT)
    assert result.status == "cancelled"


# -- chat over REST -------------------------------------------------------------------------


async def test_sessions_are_created_listed_renamed_and_deleted(jp_fetch: Fetch) -> None:
    first = await new_session(jp_fetch, "Plans")
    second = await new_session(jp_fetch)
    assert second["title"] == "New chat"
    listed = body(await call(jp_fetch, "chat", "sessions"))["sessions"]
    assert [s["id"] for s in listed] == [second["id"], first["id"]]
    renamed = await call(jp_fetch, "chat", "sessions", first["id"], method="PATCH", data={"title": "Trips"})
    assert body(renamed)["title"] == "Trips"
    deleted = await call(jp_fetch, "chat", "sessions", second["id"], method="DELETE")
    assert deleted.code == 204
    assert [s["title"] for s in body(await call(jp_fetch, "chat", "sessions"))["sessions"]] == ["Trips"]
    gone = await call(jp_fetch, "chat", "sessions", second["id"], "messages")
    assert gone.code == 404 and "no chat session" in body(gone)["message"]


async def test_conversations_survive_a_server_restart(jp_fetch: Fetch) -> None:
    from gorgon_nb.chat import ChatService

    earlier = ChatService(Runner())  # the chat of a server that ran before this one
    session = earlier.create_session("Before the restart")
    await earlier.send(session.id, "@planner plan a picnic")
    while earlier.answering(session.id):
        await asyncio.sleep(0.02)
    listed = body(await call(jp_fetch, "chat", "sessions"))["sessions"]
    assert [(s["id"], s["title"]) for s in listed] == [(session.id, "Before the restart")]
    messages = body(await call(jp_fetch, "chat", "sessions", session.id, "messages"))["messages"]
    assert [(m["role"], m["agent"], m["status"]) for m in messages] == [("user", None, "done"),
                                                                       ("agent", "planner", "done")]


@pytest.mark.parametrize(("method", "data", "says"), [
    ("POST", "not json", "not JSON"),
    ("POST", [1, 2], "must be a JSON object"),
    ("POST", {"title": 7}, "title"),
    ("POST", {"title": "x", "color": "red"}, "color"),
    ("PATCH", {"title": "   "}, "the title is empty"),
    ("PATCH", {"title": "x" * 201}, "at most 200"),
])
async def test_bad_session_bodies_are_400(jp_fetch: Fetch, method: str, data: Any, says: str) -> None:
    path = ("chat", "sessions") if method == "POST" else ("chat", "sessions", (await new_session(jp_fetch))["id"])
    response = await call(jp_fetch, *path, method=method, data=data)
    assert response.code == 400, response.body
    assert says in body(response)["message"] and body(response)["api"] == "gorgon"


async def test_roles_and_workflows_for_the_composer(jp_fetch: Fetch) -> None:
    roles = {r["name"]: r for r in body(await call(jp_fetch, "chat", "roles"))["roles"]}
    assert {"supervisor", "planner", "reviewer"} <= set(roles) and roles["planner"]["icon"]
    workflows = {w["name"]: w for w in body(await call(jp_fetch, "chat", "workflows"))["workflows"]}
    dev = workflows["dev_plan_build_test_review"]
    assert dev["inputs"]["feature_request"]["required"] is True


# -- chat over the WebSocket ----------------------------------------------------------------


async def test_the_supervisor_streams_an_attributed_answer(jp_fetch: Fetch, socket: Any) -> None:
    session = await new_session(jp_fetch)
    ws = await socket("chat", "sessions", session["id"], "ws")
    await ws.send({"type": "send", "text": "Plan and build a CSV loader, then review it"})
    streamed = await ws.until(answered(ws))
    stored = body(await call(jp_fetch, "chat", "sessions", session["id"], "messages"))["messages"]
    assert [m["id"] for m in stored] == sorted(streamed, key=lambda i: streamed[i]["seq"])
    user, answer, *delegates = stored
    assert user["role"] == "user" and answer["agent"] == "supervisor" and answer["status"] == "done"
    assert [d["agent"] for d in delegates] == ["planner", "builder", "reviewer"]
    assert all(d["parent_id"] == answer["id"] and d["icon"] for d in delegates)
    assert ws.text(answer["id"]) == answer["content"] != ""
    assert all(ws.text(d["id"]) == d["content"] for d in delegates)
    # the chat's runs are not the user's runs
    assert body(await call(jp_fetch, "runs"))["runs"] == []
    chat_runs = body(await call(jp_fetch, "runs", params={"chat": "true"}))["runs"]
    assert [r["run_id"] for r in chat_runs] == [answer["run_id"]]


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    with LLMServer(api_key=KEY, chunk_words=1) as running:
        yield running


async def test_a_real_sdk_answer_streams_through_the_socket(
        jp_fetch: Fetch, socket: Any, llm_server: LLMServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "config.toml").write_text(f'[defaults]\nmodel = "openai:gpt-5.5"\n'
                                      f'[providers.openai]\nbase_url = "{llm_server.openai_base_url}"\n')
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    session = await new_session(jp_fetch)
    ws = await socket("chat", "sessions", session["id"], "ws")
    await ws.send({"type": "send", "text": "@planner plan a picnic for six"})
    messages = await ws.until(answered(ws))
    answer = next(m for m in messages.values() if m["role"] == "agent")
    assert answer["status"] == "done" and answer["agent"] == "planner"
    assert answer["content"].startswith("Loopback reply to:") and "plan a picnic for six" in answer["content"]
    assert len([p for p in ws.received if p["type"] == "delta"]) > 3  # it came in pieces
    assert ws.text(answer["id"]) == answer["content"]
    [request] = llm_server.requests
    assert request.stream and request.model == "gpt-5.5"
    assert KEY not in json.dumps(ws.received)


async def test_refused_requests_say_why_and_store_nothing(jp_fetch: Fetch, socket: Any) -> None:
    session = await new_session(jp_fetch)
    ws = await socket("chat", "sessions", session["id"], "ws")
    for sent, says in [("not json", "send {\"type\": \"send\""),
                       ({"type": "dance"}, "send {\"type\": \"send\""),
                       ({"type": "send", "text": 42}, "send {\"type\": \"send\""),
                       ({"type": "send", "text": "@wizard hi"}, "unknown role '@wizard'"),
                       ({"type": "send", "text": "/run nothing_here"}, "no workflow named 'nothing_here'")]:
        await ws.send(sent)
        error = await ws.until(lambda got: got and got[-1]["type"] == "error" and got[-1])
        assert says in error["message"]
        ws.received.clear()
    stored = body(await call(jp_fetch, "chat", "sessions", session["id"], "messages"))["messages"]
    assert stored == []


async def test_stop_ends_the_answer_at_once_and_keeps_its_text(
        jp_fetch: Fetch, socket: Any, home: Path) -> None:
    (home / "config.toml").write_text("[offline]\ndelay = 0.05\n")
    session = await new_session(jp_fetch)
    ws = await socket("chat", "sessions", session["id"], "ws")
    await ws.send({"type": "send", "text": "@planner plan a long journey"})
    await ws.until(lambda got: any(p["type"] == "delta" for p in got))
    await ws.send({"type": "send", "text": "@planner and another"})
    busy = await ws.until(lambda got: [p for p in got if p["type"] == "error"])
    assert "still answering" in busy[0]["message"]
    await ws.send({"type": "stop"})
    stopped = await ws.until(lambda _: [m for m in ws.messages().values() if m["status"] == "stopped"])
    answer = body(await call(jp_fetch, "chat", "sessions", session["id"], "messages"))["messages"][-1]
    assert answer["id"] == stopped[0]["id"] and answer["status"] == "stopped"
    assert answer["content"] and answer["content"] == ws.text(answer["id"])


async def test_a_socket_opened_mid_answer_gets_the_text_so_far(jp_fetch: Fetch, socket: Any, home: Path) -> None:
    (home / "config.toml").write_text("[offline]\ndelay = 0.02\n")
    session = await new_session(jp_fetch)
    first = await socket("chat", "sessions", session["id"], "ws")
    await first.send({"type": "send", "text": "@planner plan a long journey with many stops"})
    await first.until(lambda got: sum(p["type"] == "delta" for p in got) > 5)
    late = await socket("chat", "sessions", session["id"], "ws")
    snapshot = await late.until(lambda got: got and got[0])
    assert snapshot["type"] == "message" and snapshot["message"]["status"] == "streaming"
    assert snapshot["message"]["content"]  # what was said before it connected
    await late.until(answered(late))
    answer = body(await call(jp_fetch, "chat", "sessions", session["id"], "messages"))["messages"][-1]
    assert snapshot["message"]["content"] + late.text(answer["id"]) == answer["content"]


async def test_two_sockets_on_one_session_both_hear_the_answer(jp_fetch: Fetch, socket: Any) -> None:
    session = await new_session(jp_fetch)
    first = await socket("chat", "sessions", session["id"], "ws")
    second = await socket("chat", "sessions", session["id"], "ws")
    await first.send({"type": "send", "text": "@reviewer review my loader"})
    one, two = await first.until(answered(first)), await second.until(answered(second))
    assert one == two


async def test_a_workflow_runs_from_the_chat(jp_fetch: Fetch, socket: Any) -> None:
    session = await new_session(jp_fetch)
    ws = await socket("chat", "sessions", session["id"], "ws")
    await ws.send({"type": "send", "text": "/run dev_plan_build_test_review feature_request=Add a CSV export"})
    messages = await ws.until(answered(ws))
    run_message = next(m for m in messages.values() if m["role"] == "workflow")
    assert run_message["status"] == "done" and run_message["meta"]["workflow"] == "dev_plan_build_test_review"
    runs = body(await call(jp_fetch, "runs"))["runs"]
    assert [r["run_id"] for r in runs] == [run_message["run_id"]] and runs[0]["status"] == "succeeded"


# -- the feed -------------------------------------------------------------------------------


async def test_the_feed_follows_an_approval_from_request_to_decision(jp_fetch: Fetch, socket: Any) -> None:
    feed = await socket("events")
    await feed.until(lambda got: {p["type"] for p in got} >= {"runs", "approvals"})
    runner = Runner()
    execution = runner.execution(Workflow.from_yaml(GATED))
    task = asyncio.create_task(execution.execute())
    run_id = execution.result.run_id

    def latest(kind: str) -> Callable[[list[dict[str, Any]]], Any]:
        return lambda got: next((p for p in reversed(got) if p["type"] == kind), None)

    pending = await feed.until(lambda got: (p := latest("approvals")(got)) and p["approvals"] and p)
    [approval] = pending["approvals"]
    assert approval["run_id"] == run_id and approval["title"] == "Send the plan?"
    assert approval["preview_html"] and approval["run_alive"]
    runs = latest("runs")(feed.received)["runs"]
    assert runs[0]["run_id"] == run_id and runs[0]["waiting"] == 1

    decided = await call(jp_fetch, "approvals", approval["id"], method="POST", data={"decision": "approve"})
    assert decided.code == 200
    result = await asyncio.wait_for(task, WAIT)
    assert result.ok
    await feed.until(lambda got: (p := latest("approvals")(got)) and p["approvals"] == [])
    await feed.until(lambda got: (p := latest("runs")(got)) and p["runs"][0]["status"] == "succeeded")


# -- who may connect ------------------------------------------------------------------------


async def test_sockets_and_requests_need_authentication(
        jp_fetch: Fetch, socket: Any, http_server_client: Any, jp_base_url: str) -> None:
    session = await new_session(jp_fetch)
    for path in (("events",), ("chat", "sessions", session["id"], "ws")):
        with pytest.raises(HTTPClientError) as refused:
            await socket(*path, headers={"Authorization": "token wrong"})
        assert refused.value.code == 403
    for path in ("runs", "chat/sessions", f"chat/sessions/{session['id']}/messages", "chat/roles"):
        response = await http_server_client.fetch(f"{jp_base_url}gorgon/api/{path}", raise_error=False)
        assert response.code == 403, path


async def test_a_socket_from_another_site_is_refused(jp_fetch: Fetch, jp_http_port: int, jp_base_url: str) -> None:
    """A browser's login cookie goes with any page's socket: Jupyter's origin check stops
    another site's page from using it (a token login needs no such check)."""
    session = await new_session(jp_fetch)
    login = await jp_fetch("gorgon", "api", "runs")  # sets the login cookie for 127.0.0.1:PORT
    cookie = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}gorgon/api/chat/sessions/{session['id']}/ws"

    def opening(**headers: str) -> Awaitable[WebSocketClientConnection]:
        return websocket_connect(HTTPRequest(url, headers={"Cookie": cookie, **headers}))

    with pytest.raises(HTTPClientError) as refused:
        await opening(Origin="https://evil.example")
    assert refused.value.code == 403
    same_site = Socket(await opening(Origin=f"http://127.0.0.1:{jp_http_port}"))
    await same_site.send({"type": "bogus"})
    error = await same_site.until(lambda got: got and got[-1])
    assert error["type"] == "error" and "bogus" not in error["message"]
    same_site.connection.close()


async def test_an_unknown_session_socket_is_404(socket: Any) -> None:
    with pytest.raises(HTTPClientError) as missing:
        await socket("chat", "sessions", "nosuchsession", "ws")
    assert missing.value.code == 404


async def test_cookie_logins_need_the_xsrf_token_to_change_chats(
        jp_fetch: Fetch, http_server_client: Any, jp_base_url: str) -> None:
    login = await jp_fetch("gorgon", "api", "runs")
    session_cookie = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    url = f"{jp_base_url}gorgon/api/chat/sessions"
    forged = await http_server_client.fetch(url, method="POST", body="{}", headers={"Cookie": session_cookie},
                                            raise_error=False)
    assert forged.code == 403 and "_xsrf" in json.loads(forged.body)["message"]
    xsrf = "0a1b2c3d" * 4
    sent = await http_server_client.fetch(url, method="POST", body="{}", raise_error=False,
                                          headers={"Cookie": f"{session_cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf})
    assert sent.code == 201

"""The approvals REST API of the server extension, against real runs waiting on real stores.

Each test starts a Jupyter server in the test process (pytest-jupyter) and, on the same
event loop, a run that waits at an approval gate; the server and the run share only the
store in the test's GORGON_HOME, as a Jupyter server and a kernel do.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from tornado.httpclient import HTTPResponse

from gorgon_nb.engine.executor import Execution
from gorgon_nb.model.approval import COMMENT_LIMIT, ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.server import _jupyter_server_extension_points
from gorgon_nb.server.backend import Backend
from gorgon_nb.server.extension import GorgonExtension
from gorgon_nb.workflow import Workflow

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 15.0
DECIDER = "ada"  # GORGON_USER: who a shared-token server records as deciding

RELEASE = """
id: release
name: Release
steps:
  - id: notes
    python: html:unescape
    args: {s: "## Release 1.2\\n\\n- faster exports"}
  - id: sign_off
    approval: Ship release 1.2?
    preview: "{{ steps.notes.output }}"
    depends_on: notes
"""

RESTRICTED = RELEASE.replace("depends_on: notes", "depends_on: notes\n    approvers: [bob]")

Fetch = Callable[..., Awaitable[HTTPResponse]]


@dataclass
class Waiting:
    """A run started in the test, stopped at its approval gate."""

    runner: Runner
    execution: Execution
    task: asyncio.Task[RunResult]
    approval: ApprovalRequest

    async def result(self) -> RunResult:
        return await asyncio.wait_for(asyncio.shield(self.task), WAIT_SECONDS)

    def stored(self) -> ApprovalRequest:
        store = self.runner.store
        assert store is not None
        return store.approvals.get(self.approval.id)


@pytest.fixture(autouse=True)
def decider(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GORGON_USER", DECIDER)
    return DECIDER


@pytest.fixture
async def start_waiting() -> AsyncIterator[Callable[[str], Awaitable[Waiting]]]:
    started: list[Waiting] = []

    async def start(workflow: str = RELEASE) -> Waiting:
        runner = Runner()  # the default store: GORGON_HOME/gorgon.db, the server's too
        execution = runner.execution(Workflow.from_yaml(workflow))
        task = asyncio.create_task(execution.execute())
        store, run_id = runner.store, execution.result.run_id
        assert store is not None
        deadline = time.monotonic() + WAIT_SECONDS
        while not (pending := store.approvals.recent(run_id=run_id)):
            assert not task.done(), f"the run ended without waiting: {task.result()}"
            assert time.monotonic() < deadline, "the run never asked for approval"
            await asyncio.sleep(0.05)
        waiting = Waiting(runner, execution, task, pending[0])
        started.append(waiting)
        return waiting

    yield start
    for waiting in started:
        waiting.task.cancel()
        await asyncio.gather(waiting.task, return_exceptions=True)


@pytest.fixture
async def waiting(start_waiting: Callable[[str], Awaitable[Waiting]]) -> Waiting:
    return await start_waiting(RELEASE)


def decoded(response: HTTPResponse) -> Any:
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def decide(
    jp_fetch: Fetch, approval_id: str, body: Any, headers: dict[str, str] | None = None
) -> HTTPResponse:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    response: HTTPResponse = await jp_fetch(
        "gorgon",
        "api",
        "approvals",
        approval_id,
        method="POST",
        body=raw,
        headers=headers,
        raise_error=False,
    )
    return response


# -- reading --------------------------------------------------------------------------------


async def test_list_and_get(jp_fetch: Fetch, waiting: Waiting) -> None:
    run_id = waiting.execution.result.run_id
    listed = decoded(await jp_fetch("gorgon", "api", "approvals"))["approvals"]
    assert [a["id"] for a in listed] == [waiting.approval.id]
    first = listed[0]
    assert first["title"] == "Ship release 1.2?"
    assert first["preview"] == "## Release 1.2\n\n- faster exports"
    assert (first["status"], first["kind"], first["step_key"], first["run_id"]) == (
        "pending",
        "gate",
        "sign_off",
        run_id,
    )
    assert first["run_alive"] is True and first["approvers"] == [] and first["decided_by"] is None

    one = decoded(await jp_fetch("gorgon", "api", "approvals", waiting.approval.id))
    assert one == first

    by_prefix = await jp_fetch(
        "gorgon", "api", "approvals", params={"run": run_id[:6], "status": "all"}
    )
    assert [a["id"] for a in decoded(by_prefix)["approvals"]] == [waiting.approval.id]
    none_approved = await jp_fetch("gorgon", "api", "approvals", params={"status": "approved"})
    assert decoded(none_approved) == {"approvals": []}


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"status": "maybe"}, 400, "unknown status 'maybe'"),
        ({"limit": "0"}, 400, "limit must be"),
        ({"run": "zzzzzz"}, 404, "no run 'zzzzzz'"),
    ],
)
async def test_bad_queries(
    jp_fetch: Fetch, waiting: Waiting, params: dict[str, str], code: int, message: str
) -> None:
    response = await jp_fetch("gorgon", "api", "approvals", params=params, raise_error=False)
    assert response.code == code
    assert message in decoded(response)["message"]


async def test_unknown_approval_is_404(jp_fetch: Fetch) -> None:
    got = await jp_fetch("gorgon", "api", "approvals", "nosuchid", raise_error=False)
    posted = await decide(jp_fetch, "nosuchid", {"decision": "approve"})
    for response in (got, posted):
        assert response.code == 404
        answer = decoded(response)
        assert answer["message"].startswith("no approval 'nosuchid'")
        assert answer["api"] == "gorgon"  # so the widget does not take it for a missing extension


# -- deciding -------------------------------------------------------------------------------


async def test_approve_lets_the_waiting_run_finish(jp_fetch: Fetch, waiting: Waiting) -> None:
    response = await decide(
        jp_fetch, waiting.approval.id, {"decision": "approve", "comment": " ship it "}
    )
    assert response.code == 200
    answer = decoded(response)
    assert (answer["id"], answer["status"], answer["decided_by"], answer["comment"]) == (
        waiting.approval.id,
        "approved",
        DECIDER,
        "ship it",
    )
    result = await waiting.result()
    assert result.ok, result.error
    gate = result.steps["sign_off"].output
    assert (gate["approved"], gate["by"], gate["comment"]) == (True, DECIDER, "ship it")
    stored = waiting.stored()
    assert (stored.status, stored.decided_by, stored.comment) == ("approved", DECIDER, "ship it")


async def test_reject_with_a_comment_fails_the_gate(jp_fetch: Fetch, waiting: Waiting) -> None:
    response = await decide(
        jp_fetch, waiting.approval.id, {"decision": "reject", "comment": "not yet"}
    )
    assert response.code == 200
    assert decoded(response)["status"] == "rejected"
    result = await waiting.result()
    assert str(result.status) == "failed"
    assert "'Ship release 1.2?' was rejected by ada: not yet" in (result.error or "")
    assert waiting.stored().comment == "not yet"


async def test_deciding_twice_is_a_conflict(jp_fetch: Fetch, waiting: Waiting) -> None:
    assert (await decide(jp_fetch, waiting.approval.id, {"decision": "approve"})).code == 200
    again = await decide(jp_fetch, waiting.approval.id, {"decision": "reject"})
    assert again.code == 409
    message = decoded(again)["message"]
    assert "already approved by ada" in message and "not recorded" in message
    assert waiting.stored().status == "approved"


async def test_only_the_named_approvers_may_decide(
    jp_fetch: Fetch, start_waiting: Callable[[str], Awaitable[Waiting]]
) -> None:
    waiting = await start_waiting(RESTRICTED)
    response = await decide(jp_fetch, waiting.approval.id, {"decision": "approve"})
    assert response.code == 403
    assert (
        decoded(response)["message"]
        == "'ada' may not decide 'Ship release 1.2?'; its approvers are bob"
    )
    assert waiting.stored().pending


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "the request body is not JSON"),
        ("", "the request body must be a JSON object"),
        ('["approve"]', "the request body must be a JSON object"),
        ({}, "decision: Field required"),
        ({"decision": "maybe"}, "decision: Input should be 'approve' or 'reject'"),
        ({"decision": "approve", "comment": 5}, "comment: Input should be a valid string"),
        ({"decision": "approve", "comment": "x" * (COMMENT_LIMIT + 1)}, "at most 5000 characters"),
        ({"decision": "approve", "by": "mallory"}, "by: Extra inputs are not permitted"),
    ],
    ids=[
        "not-json",
        "empty",
        "list",
        "no-decision",
        "unknown-decision",
        "comment-number",
        "comment-too-long",
        "extra-field",
    ],
)
async def test_bad_bodies_are_400(
    jp_fetch: Fetch, waiting: Waiting, body: Any, message: str
) -> None:
    response = await decide(jp_fetch, waiting.approval.id, body)
    assert response.code == 400
    text = decoded(response)["message"]
    assert message in text and '"decision": "approve" | "reject"' in text
    assert waiting.stored().pending


# -- who may call, and who is recorded ------------------------------------------------------


async def test_requests_without_the_token_are_refused(
    jp_fetch: Fetch, http_server_client: Any, jp_base_url: str, waiting: Waiting
) -> None:
    url = f"{jp_base_url}gorgon/api/approvals"
    listed = await http_server_client.fetch(url, raise_error=False)
    posted = await http_server_client.fetch(
        f"{url}/{waiting.approval.id}",
        method="POST",
        body=json.dumps({"decision": "approve"}),
        raise_error=False,
    )
    wrong = await decide(
        jp_fetch,
        waiting.approval.id,
        {"decision": "approve"},
        headers={"Authorization": "token not-the-token"},
    )
    assert [r.code for r in (listed, posted, wrong)] == [403, 403, 403]
    assert waiting.stored().pending


async def test_cookie_logins_need_the_xsrf_token(
    jp_fetch: Fetch, http_server_client: Any, jp_base_url: str, waiting: Waiting
) -> None:
    # a browser's session: the login cookie the server set when the token was used
    login = await jp_fetch("gorgon", "api", "approvals")
    cookies = [c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("username-") for c in cookies), cookies
    session = "; ".join(cookies)
    url = f"{jp_base_url}gorgon/api/approvals/{waiting.approval.id}"
    body = json.dumps({"decision": "approve", "comment": "from the browser"})

    by_cookie = await http_server_client.fetch(url, headers={"Cookie": session}, raise_error=False)
    assert by_cookie.code == 200  # reading needs no XSRF token
    forged = await http_server_client.fetch(
        url, method="POST", body=body, headers={"Cookie": session}, raise_error=False
    )
    assert forged.code == 403
    assert "_xsrf" in decoded(forged)["message"]
    assert waiting.stored().pending

    xsrf = "5f0c2a9e" * 4  # what JupyterLab sends: the _xsrf cookie, echoed in a header
    sent = await http_server_client.fetch(
        url,
        method="POST",
        body=body,
        raise_error=False,
        headers={"Cookie": f"{session}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
    )
    assert sent.code == 200, sent.body
    assert waiting.stored().comment == "from the browser"


class NamedUsers(IdentityProvider):
    """A server that knows its users (as JupyterHub does): token logins are Grace's."""

    def generate_anonymous_user(self, handler: Any) -> User:
        return User("grace", name="Grace Hopper")


class ReadOnly(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


@pytest.mark.parametrize(
    "jp_server_config",
    [
        {
            "ServerApp": {
                "jpserver_extensions": {"gorgon_nb.server": True},
                "identity_provider_class": NamedUsers,
            }
        }
    ],
)
async def test_a_named_jupyter_user_is_recorded(jp_fetch: Fetch, waiting: Waiting) -> None:
    response = await decide(jp_fetch, waiting.approval.id, {"decision": "approve"})
    assert response.code == 200
    assert decoded(response)["decided_by"] == "grace"
    assert waiting.stored().decided_by == "grace"


@pytest.mark.parametrize(
    "jp_server_config",
    [
        {
            "ServerApp": {
                "jpserver_extensions": {"gorgon_nb.server": True},
                "authorizer_class": ReadOnly,
            }
        }
    ],
)
async def test_the_servers_authorizer_decides_who_may_write(
    jp_fetch: Fetch, waiting: Waiting
) -> None:
    assert (await jp_fetch("gorgon", "api", "approvals")).code == 200
    response = await decide(jp_fetch, waiting.approval.id, {"decision": "approve"})
    assert response.code == 403
    assert "not authorized to write on resource: gorgon" in decoded(response)["message"]
    assert waiting.stored().pending


async def test_unexpected_errors_leak_no_details(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Backend) -> Any:
        raise RuntimeError("secret detail in /home/ada/.private")

    monkeypatch.setattr(Backend, "get", broken)
    response = await jp_fetch("gorgon", "api", "approvals", raise_error=False)
    assert response.code == 500
    answer = decoded(response)
    assert "server's log" in answer["message"]
    assert not re.search(r"secret|Traceback|\.private", response.body.decode())


async def test_a_broken_store_says_why(jp_fetch: Fetch, home: Path) -> None:
    (home / "gorgon.db").mkdir()  # a folder where the store's file should be
    response = await jp_fetch("gorgon", "api", "approvals", raise_error=False)
    assert response.code == 503
    assert "cannot open the store" in decoded(response)["message"]


# -- packaging ------------------------------------------------------------------------------


def test_the_extension_is_enabled_by_the_installed_config() -> None:
    assert _jupyter_server_extension_points() == [{"module": "gorgon_nb.server", "app": GorgonExtension}]
    config = json.loads((REPO / "jupyter-config/server-config/gorgon_nb.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"gorgon_nb.server": True}}}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["jupyter-config/server-config"] == "etc/jupyter/jupyter_server_config.d"

"""Webhook deliveries to a real Jupyter server: ``POST /gorgon/webhooks/NAME``, signed with
GitHub's scheme and sent without Jupyter's token, as GitHub sends them.

The webhook is Gorgon's own ``webhook_github_push.json`` beside its workflow, both
byte for byte as Gorgon ships them, copied into the server's root. A delivery queues a
scheduler job; running it is the scheduler's business, so these tests read the job row.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.model.webhooks import sign
from gorgon_nb.scheduler.webhook_server import BODY_LIMIT
from gorgon_nb.scheduler.webhooks import create_webhook, import_gorgon_webhook
from gorgon_nb.store import Store
from gorgon_nb.testing.webhooks import github_headers, push_payload

GORGON_FILES = Path(__file__).resolve().parents[1] / "gorgon_webhooks"
SECRET = "it-is-a-shared-secret-0123456789"
NAME = "github_push_handler"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(load_config().db_path) as opened:
        yield opened


@pytest.fixture
def gorgon_hook(store: Store, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Gorgon's GitHub push webhook, imported as it is, its secret in $PUSH_SECRET."""
    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, jp_root_dir / name)
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    import_gorgon_webhook(store, load_config(), jp_root_dir / "webhook_github_push.json", root=jp_root_dir,
                          secret_env="PUSH_SECRET")
    return NAME


async def deliver(client: Any, base_url: str, name: str, body: bytes, headers: dict[str, str]) -> Any:
    """A POST as a sender makes it: no token, no cookie."""
    return await client.fetch(f"{base_url}gorgon/webhooks/{name}", method="POST", body=body, headers=headers,
                              raise_error=False)


def counts(store: Store) -> tuple[int, int]:
    """Deliveries and jobs in the store."""
    return len(store.webhooks.deliveries(limit=500)), len(store.jobs.recent(500))


async def test_a_github_push_starts_the_workflow_with_the_mapped_inputs(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    body = push_payload("octo/hello", pusher="alice", message="Fix the parser")
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body,
                         github_headers(SECRET, body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"))
    assert sent.code == 202, sent.body
    answer = json.loads(sent.body)
    job = store.jobs.get(answer["job"])
    assert job.notebook == "simple_ai_completion.json" and job.schedule_id is None
    assert job.parameters == {
        "prompt": "Summarize this code push: Repository octo/hello, pushed by alice, commit: Fix the parser",
        "repo_name": "octo/hello", "pusher": "alice", "commit_message": "Fix the parser"}
    delivery = store.webhooks.delivery(answer["delivery"])
    assert (delivery.status, delivery.event, delivery.job_id) == ("accepted", "push", job.id)
    assert delivery.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert json.loads(delivery.payload)["repository"]["full_name"] == "octo/hello"


async def test_a_path_missing_from_the_payload_is_said_and_its_input_left_out(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    body = json.dumps({"repository": {"full_name": "octo/hello"}}).encode()
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body))
    assert sent.code == 202, sent.body
    delivery = store.webhooks.delivery(json.loads(sent.body)["delivery"])
    assert "pusher.name" in delivery.reason and "head_commit.message" in delivery.reason
    parameters = store.jobs.get(delivery.job_id or "").parameters
    assert parameters["repo_name"] == "octo/hello" and "pusher" not in parameters
    assert parameters["prompt"].startswith("Summarize this code push: Repository octo/hello, pushed by {{pusher}}")


@pytest.mark.parametrize("signature", [
    None,  # not signed
    "sha256=" + "0" * 64,  # signed with nothing
    "another-secret-of-some-length",  # the body signed with another secret
    "sha1=deadbeef",  # the scheme of GitHub's older header
])
async def test_a_delivery_without_a_valid_signature_is_refused_and_nothing_is_stored(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str, signature: str | None) -> None:
    body = push_payload()
    headers = github_headers(SECRET, body)
    del headers["X-Hub-Signature-256"]
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature if "=" in signature else sign(signature, body)
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, headers)
    assert sent.code == 401 and "X-Hub-Signature-256" in json.loads(sent.body)["message"]
    assert counts(store) == (0, 0)


async def test_a_signature_of_another_body_is_refused(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    headers = github_headers(SECRET, push_payload("octo/hello"))
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, push_payload("evil/repo"), headers)
    assert sent.code == 401 and counts(store) == (0, 0)


async def test_the_same_delivery_starts_once(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    body = push_payload()
    headers = github_headers(SECRET, body, delivery="d-1")
    first = await deliver(http_server_client, jp_base_url, gorgon_hook, body, headers)
    again = await deliver(http_server_client, jp_base_url, gorgon_hook, body, headers)
    assert (first.code, again.code) == (202, 200)
    assert json.loads(again.body)["delivery"] == json.loads(first.body)["delivery"]
    assert json.loads(again.body)["job"] == json.loads(first.body)["job"]
    assert len(store.jobs.recent(500)) == 1
    assert [d.status for d in store.webhooks.deliveries()] == ["duplicate", "accepted"]
    # without a delivery id, the same body is the same delivery
    plain = {k: v for k, v in github_headers(SECRET, b'{"a": 1}').items() if k != "X-GitHub-Delivery"}
    codes = [(await deliver(http_server_client, jp_base_url, gorgon_hook, b'{"a": 1}', plain)).code for _ in "12"]
    assert codes == [202, 200] and len(store.jobs.recent(500)) == 2


async def test_over_the_rate_a_delivery_gets_429_with_retry_after_and_can_be_replayed(
        jp_fetch: Any, http_server_client: Any, jp_base_url: str, store: Store, jp_root_dir: Path,
        gorgon_hook: str) -> None:
    create_webhook(store, load_config(), "once_a_minute", "simple_ai_completion.json", root=jp_root_dir,
                   secret_env="PUSH_SECRET", rate=1, inputs={"prompt": "hi"})
    sent = []
    for delivery in ("r-1", "r-2"):
        body = push_payload(message=delivery)
        sent.append(await deliver(http_server_client, jp_base_url, "once_a_minute", body,
                                  github_headers(SECRET, body, delivery=delivery)))
    assert [s.code for s in sent] == [202, 429]
    assert 1 <= int(sent[1].headers["Retry-After"]) <= 60
    limited = store.webhooks.delivery(json.loads(sent[1].body)["delivery"])
    assert limited.status == "rate_limited" and limited.job_id is None and len(store.jobs.recent(500)) == 1

    replayed = await jp_fetch("gorgon", "api", "webhook-deliveries", limited.id, "replay", method="POST", body="{}")
    again = json.loads(replayed.body)["delivery"]
    assert again["replay_of"] == limited.id and again["status"] == "accepted"
    assert store.jobs.get(again["job_id"]).parameters["prompt"] == "hi"
    twice = await jp_fetch("gorgon", "api", "webhook-deliveries", limited.id, "replay", method="POST", body="{}",
                           raise_error=False)
    assert twice.code == 409 and "replayed already" in json.loads(twice.body)["message"]
    accepted = await jp_fetch("gorgon", "api", "webhook-deliveries", again["id"], "replay", method="POST",
                              body="{}", raise_error=False)
    assert accepted.code == 409 and len(store.jobs.recent(500)) == 2


async def test_a_webhook_whose_secret_is_gone_answers_503_and_stores_nothing(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSH_SECRET")
    body = push_payload()
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body))
    assert sent.code == 503 and "secret" in json.loads(sent.body)["message"]
    assert counts(store) == (0, 0)


async def test_a_body_too_large_is_413_and_an_unknown_webhook_404(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    body = b'{"pad": "' + b"x" * BODY_LIMIT + b'"}'
    large = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body))
    assert large.code == 413
    small = push_payload()
    unknown = await deliver(http_server_client, jp_base_url, "nobody", small, github_headers(SECRET, small))
    assert unknown.code == 404 and json.loads(unknown.body) == {"message": "not found"}
    assert counts(store) == (0, 0)


async def test_bodies_that_are_not_json_objects_are_recorded_as_refused(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    for body in (b"not json", b"[1, 2]"):
        sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body))
        assert sent.code == 400
    assert [d.status for d in store.webhooks.deliveries()] == ["refused", "refused"]
    assert store.webhooks.deliveries()[0].reason == "the body is not a JSON object"
    assert store.jobs.recent(500) == []


async def test_githubs_ping_and_a_paused_webhook_start_nothing(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    ping = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body, event="ping"))
    assert ping.code == 200
    store.webhooks.set_paused(gorgon_hook, True)
    push = push_payload()
    paused = await deliver(http_server_client, jp_base_url, gorgon_hook, push, github_headers(SECRET, push))
    assert paused.code == 503 and json.loads(paused.body)["reason"] == "the webhook is paused"
    assert store.jobs.recent(500) == []


async def test_a_failed_delivery_is_recorded_and_replayed_once_the_workflow_is_back(
        jp_fetch: Any, http_server_client: Any, jp_base_url: str, store: Store, jp_root_dir: Path,
        gorgon_hook: str) -> None:
    workflow = jp_root_dir / "simple_ai_completion.json"
    moved = workflow.rename(jp_root_dir / "elsewhere.json")
    body = push_payload()
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, github_headers(SECRET, body))
    assert sent.code == 500 and "no longer under" in json.loads(sent.body)["reason"]
    failed = store.webhooks.deliveries()[0]
    assert failed.status == "failed" and failed.replayable and store.jobs.recent(500) == []
    moved.rename(workflow)
    replayed = await jp_fetch("gorgon", "api", "webhook-deliveries", failed.id, "replay", method="POST", body="")
    job = store.jobs.get(json.loads(replayed.body)["delivery"]["job_id"])
    assert job.parameters["repo_name"] == "octo/hello"


async def test_githubs_form_encoded_deliveries_are_read_too(
        http_server_client: Any, jp_base_url: str, store: Store, gorgon_hook: str) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": push_payload("octo/form").decode()}).encode()
    headers = {**github_headers(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    sent = await deliver(http_server_client, jp_base_url, gorgon_hook, body, headers)
    assert sent.code == 202, sent.body
    assert store.jobs.get(json.loads(sent.body)["job"]).parameters["repo_name"] == "octo/form"

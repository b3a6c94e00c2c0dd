"""The webhooks API under ``/gorgon/api/``: create, list, delete, deliveries and replay,
behind Jupyter's authentication and XSRF protection like every gorgon route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_client import Fetch, body, call

from gorgon_nb.config import load_config
from gorgon_nb.store import Store
from gorgon_nb.testing.webhooks import github_headers, push_payload

SECRET = "it-is-a-shared-secret-0123456789"
WORKFLOW = ("id: summary\nsteps:\n  - id: say\n    llm: 'Summarise {{ inputs.repo }} ({{ inputs.style }})'\n"
            "inputs:\n  repo: {type: string}\n  style: {default: long}\n")


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(load_config().db_path) as opened:
        yield opened


@pytest.fixture
def workflow(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (jp_root_dir / "flows").mkdir()
    (jp_root_dir / "flows" / "summary.yaml").write_text(WORKFLOW)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return "flows/summary.yaml"


def hook(**more: Any) -> dict[str, Any]:
    return {"name": "push", "workflow": "flows/summary.yaml", "secret_env": "HOOK_SECRET",
            "payload_mappings": [{"source_path": "repository.full_name", "target_variable": "repo"}], **more}


async def test_a_webhook_is_created_listed_delivered_to_and_deleted(
        jp_fetch: Fetch, http_server_client: Any, jp_base_url: str, store: Store, workflow: str) -> None:
    created = await call(jp_fetch, "webhooks", method="POST", data=hook(inputs={"style": "short"}, rate=5))
    assert created.code == 201, created.body
    made = body(created)
    assert made["url_path"] == f"{jp_base_url}gorgon/webhooks/push" and made["secret_set"] is True
    assert (made["workflow"], made["rate"], made["secret_source"]) == (workflow, 5, "$HOOK_SECRET")
    assert SECRET not in created.body.decode()
    assert [w["name"] for w in body(await call(jp_fetch, "webhooks"))["webhooks"]] == ["push"]

    payload = push_payload("octo/hello")
    sent = await http_server_client.fetch(made["url_path"], method="POST", body=payload,
                                          headers=github_headers(SECRET, payload), raise_error=False)
    assert sent.code == 202
    listed = body(await call(jp_fetch, "webhook-deliveries", params={"webhook": "push"}))["deliveries"]
    assert [(d["status"], d["job_id"]) for d in listed] == [("accepted", json.loads(sent.body)["job"])]
    assert "payload" not in listed[0]
    one = body(await call(jp_fetch, "webhook-deliveries", listed[0]["id"]))["delivery"]
    assert json.loads(one["payload"])["repository"]["full_name"] == "octo/hello"
    assert store.jobs.get(one["job_id"]).parameters == {"style": "short", "repo": "octo/hello"}

    deleted = await call(jp_fetch, "webhooks", "push", method="DELETE")
    assert deleted.code == 204 and store.webhooks.all() == []
    gone = await http_server_client.fetch(made["url_path"], method="POST", body=payload,
                                          headers=github_headers(SECRET, payload), raise_error=False)
    assert gone.code == 404


@pytest.mark.parametrize(("data", "said"), [
    (hook(secret_env="NOT_SET_ANYWHERE"), "$NOT_SET_ANYWHERE, which is not set"),
    (hook(secret_env=""), "[webhooks.push]"),
    (hook(secret_env="9f86d081884c7d659a2feaa0c55ad015"), "the NAME of an environment variable"),
    (hook(workflow="flows/missing.yaml"), "no workflow file flows/missing.yaml"),
    (hook(workflow="../outside.yaml"), "outside"),
    (hook(name="no spaces"), "the last part of its URL"),
    (hook(rate=0), "rate"),
    (hook(payload_mappings=[{"source_path": "a.b", "target_variable": "not a name"}]), "target_variable"),
    (hook(secret="inline"), "secret"),
])
async def test_bad_webhooks_get_a_400_that_says_what_to_do(
        jp_fetch: Fetch, store: Store, workflow: str, data: dict[str, Any], said: str) -> None:
    refused = await call(jp_fetch, "webhooks", method="POST", data=data)
    assert refused.code == 400, refused.body
    assert said in body(refused)["message"]
    assert store.webhooks.all() == []


async def test_a_short_secret_is_refused(jp_fetch: Fetch, store: Store, workflow: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "short")
    refused = await call(jp_fetch, "webhooks", method="POST", data=hook())
    assert refused.code == 400 and "at least 16" in body(refused)["message"]


async def test_unknown_names_and_deliveries_are_404(jp_fetch: Fetch, store: Store) -> None:
    for path in (("webhooks", "nobody"), ("webhook-deliveries", "nothing")):
        assert (await call(jp_fetch, *path)).code == 404
    assert (await call(jp_fetch, "webhook-deliveries", params={"webhook": "nobody"})).code == 404
    assert (await call(jp_fetch, "webhook-deliveries", "nothing", "replay", method="POST")).code == 404


async def test_the_api_needs_the_token_and_cookie_logins_the_xsrf_token(
        jp_fetch: Fetch, http_server_client: Any, jp_base_url: str, store: Store, workflow: str) -> None:
    url = f"{jp_base_url}gorgon/api/webhooks"
    anonymous = [await http_server_client.fetch(url, raise_error=False),
                 await http_server_client.fetch(url, method="POST", body=json.dumps(hook()), raise_error=False)]
    assert [r.code for r in anonymous] == [403, 403]
    login = await jp_fetch("gorgon", "api", "webhooks")
    session = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    forged = await http_server_client.fetch(url, method="POST", body=json.dumps(hook()),
                                            headers={"Cookie": session}, raise_error=False)
    assert forged.code == 403 and "_xsrf" in json.loads(forged.body)["message"]
    assert store.webhooks.all() == []
    xsrf = "5f0c2a9e" * 4
    sent = await http_server_client.fetch(url, method="POST", body=json.dumps(hook()), raise_error=False,
                                          headers={"Cookie": f"{session}; _xsrf={xsrf}", "X-XSRFToken": xsrf})
    assert sent.code == 201 and [w.name for w in store.webhooks.all()] == ["push"]

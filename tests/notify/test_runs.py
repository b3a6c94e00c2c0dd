"""Runs tell their targets: email through a real SMTP server, a signed webhook, the loopback Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

import pytest
from notify_support import (
    HOOK_SECRET,
    SLACK_TOKEN,
    SMTP_PASSWORD,
    Mailbox,
    Receiver,
    free_port,
    write_config,
)

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError
from gorgon_nb.notify import deliver_due, wait_for_sends
from gorgon_nb.runner import Runner
from gorgon_nb.scheduler.loop import Scheduler
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver, ServiceServer
from gorgon_nb.workflow import Workflow

FAILING = """
id: nightly_report
name: Nightly report
notify: oncall
steps:
  - {id: fetch, checkpoint: fetched}
  - {id: boom, python: "builtins:int", args: {x: not a number}, depends_on: fetch}
"""


def smtp_config(port: int) -> str:
    return f"""
[notifications.smtp]
host = "127.0.0.1"
port = {port}
starttls = false
user = "robot"
password_env = "SMTP_PASSWORD"
from = "gorgon@example.com"

[notifications.targets.oncall]
email = "oncall@example.com, lead@example.com"
"""


def secrets_absent(home: Path, text: str = "") -> None:
    for path in home.glob("*.db*"):
        data = path.read_bytes()
        for secret in (SMTP_PASSWORD, HOOK_SECRET, SLACK_TOKEN):
            assert secret.encode() not in data, f"{secret} in {path.name}"
    for secret in (SMTP_PASSWORD, HOOK_SECRET, SLACK_TOKEN):
        assert secret not in text


def test_a_failing_run_emails_its_targets_once(home: Path, smtp: tuple[int, Mailbox],
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    port, box = smtp
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    write_config(home, smtp_config(port))
    caplog.set_level(logging.DEBUG)
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml(FAILING))
        assert not result.ok
        assert wait_for_sends()
        (note,) = store.notifications.recent()
        assert (note.target, note.event, note.state, note.attempts) == ("oncall", "failed", "sent", 1)
    (recipients, mail), = box.messages
    assert recipients == ["oncall@example.com", "lead@example.com"]
    assert box.logins == [("robot", SMTP_PASSWORD)]
    assert mail["Subject"] == f"Nightly report: run {result.run_id} failed"
    assert (mail["From"], mail["To"]) == ("gorgon@example.com", "oncall@example.com, lead@example.com")
    assert (mail["X-Gorgon-Event"], mail["X-Gorgon-Run"]) == ("failed", result.run_id)
    body = mail.get_payload(decode=True).decode()
    assert "The run of Nightly report failed at step 'boom'." in body
    assert "Step: boom" in body and "Error: step 'boom' failed:" in body
    assert f"See: gorgon show {result.run_id}" in body
    secrets_absent(home, caplog.text)


def test_a_run_that_waits_for_approval_posts_to_slack_once(home: Path, svc: ServiceServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    write_config(home, f"""
[integrations.slack]
base_url = "{svc.slack_url}"

[notifications]
always = ["team"]
link = "http://lab.example/gorgon/runs/{{run_id}}"

[notifications.targets.team]
slack = "#ci"
on = ["waiting"]
""")
    workflow = Workflow.from_yaml("""
id: deploy
steps:
  - {id: gate, approval: Ship release 2.1 to production}
""")
    with Store(home / "gorgon.db") as store, Approver(home / "gorgon.db"):
        result = Runner(load_config(), store).run(workflow)
        assert result.ok, result.error
        assert wait_for_sends()
        assert [n.state for n in store.notifications.recent()] == ["sent"]
        (asked,) = store.approvals.recent(status=None, run_id=result.run_id)
    (post,) = svc.writes("slack")
    assert post.body["channel"] == "#ci"
    text = post.body["text"]
    assert f"*deploy: run {result.run_id} waits for an approval: Ship release 2.1 to production*" in text
    assert f"gorgon approve {asked.id}" in text
    assert f"See: http://lab.example/gorgon/runs/{result.run_id}" in text
    assert post.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    secrets_absent(home)


def test_a_webhook_gets_the_run_as_signed_json(home: Path, hook: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    write_config(home, f"""
[notifications.targets.ops]
webhook = "{hook.url}"
secret_env = "HOOK_SECRET"
on = ["succeeded", "failed"]
""")
    workflow = Workflow.from_yaml("id: tidy\nname: Tidy up\nnotify: [ops]\nsteps:\n  - {id: done, checkpoint: done}\n")
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(workflow)
        assert result.ok
        assert wait_for_sends()
        (note,) = store.notifications.recent()
    (request,) = hook.received
    payload = json.loads(request.body)
    assert payload["event"] == "succeeded" and payload["kind"] == "run"
    assert (payload["workflow"], payload["run_id"]) == ("Tidy up", result.run_id)
    assert payload["title"] == f"Tidy up: run {result.run_id} succeeded" and "error" not in payload
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-gorgon-signature-256"] == expected
    assert request.headers["x-gorgon-delivery"] == note.id
    assert request.headers["content-type"] == "application/json"
    secrets_absent(home)


async def test_a_target_that_is_down_is_logged_and_retried_later(home: Path, caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    port = free_port()
    write_config(home, f"""
[notifications]
always = ["ops"]
on = ["succeeded"]

[notifications.targets.ops]
webhook = "http://127.0.0.1:{port}/hook"
""")
    workflow = Workflow.from_yaml("id: tidy\nsteps:\n  - {id: done, checkpoint: done}\n")
    with Store(home / "gorgon.db") as store:
        result = await Runner(load_config(), store).arun(workflow)
        assert result.ok  # the notification's failure is not the run's
        assert wait_for_sends()
        (note,) = store.notifications.recent()
        assert (note.state, note.attempts) == ("pending", 1)
        assert note.error is not None and "cannot reach it" in note.error and note.next_try_at > result.ended_at
        assert f"127.0.0.1:{port}" in note.error and "/hook" not in note.error  # a path may hold a key
        assert any("will be tried again" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert deliver_due(store) == 0  # not due yet: its backoff holds it back

        receiver = Receiver(port)  # the target is back
        try:
            store.conn.execute("UPDATE notifications SET next_try_at = 0")  # as if the backoff had passed
            await Scheduler(store, concurrency=0).tick()  # a scheduler's tick retries it
            assert store.notifications.get(note.id).state == "sent"
            assert store.notifications.get(note.id).attempts == 2
            (request,) = receiver.received
            assert json.loads(request.body)["run_id"] == result.run_id
        finally:
            receiver.close()


def test_workflow_rules_choose_the_events_and_unknown_targets_are_refused(home: Path, hook: Receiver) -> None:
    write_config(home, f"""
[notifications.targets.ops]
webhook = "{hook.url}"
""")
    config = load_config()
    with Store(home / "gorgon.db") as store:
        runner = Runner(config, store)
        quiet = runner.run(Workflow.from_yaml("id: a\nnotify: ops\nsteps:\n  - {id: s, checkpoint: x}\n"))
        told = runner.run(Workflow.from_yaml("id: b\nnotify: 'ops:succeeded'\nsteps:\n  - {id: s, checkpoint: x}\n"))
        assert quiet.ok and told.ok
        assert wait_for_sends()
        assert [json.loads(r.body)["run_id"] for r in hook.received] == [told.run_id]  # ops' own: failed, waiting
        with pytest.raises(ConfigError, match=r"workflow 'c' notifies 'pager', which is not a notification target "
                                              r"\(targets: ops\); add \[notifications.targets.pager\]"):
            runner.execution(Workflow.from_yaml("id: c\nnotify: pager\nsteps:\n  - {id: s, checkpoint: x}\n"))
        assert store.runs.recent() and len(store.runs.recent()) == 2  # nothing stored for the refused one


def test_a_runner_that_keeps_nothing_still_notifies(home: Path, hook: Receiver) -> None:
    write_config(home, f'[notifications]\nalways = ["ops"]\non = "succeeded"\n\n'
                       f'[notifications.targets.ops]\nwebhook = "{hook.url}"\n')
    result = Runner(load_config(), False).run(Workflow.from_yaml("id: t\nsteps:\n  - {id: s, checkpoint: x}\n"))
    assert result.ok and wait_for_sends()
    (request,) = hook.received
    assert json.loads(request.body)["run_id"] == result.run_id and "x-gorgon-signature-256" not in request.headers
    assert not list(home.glob("*.db"))

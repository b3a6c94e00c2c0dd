"""The notify step: a message of the workflow's own, approved like a Slack post, sent once."""

from __future__ import annotations

from pathlib import Path

import pytest
from notify_support import SLACK_TOKEN, Mailbox, Receiver, write_config

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError, WorkflowError
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver, ServiceServer
from gorgon_nb.workflow import Workflow

REPORT = """
id: weekly
inputs:
  channel: {default: slack}
steps:
  - id: send
    notify: "{{ inputs.channel }}"
    with: {title: "Weekly report", message: "All **green** this week."}
"""


def test_a_notify_step_to_slack_waits_for_approval_and_is_journaled(home: Path, svc: ServiceServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    write_config(home, f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n\n'
                       '[notifications.targets.team]\nslack = "#ci"\n')
    with Store(home / "gorgon.db") as store:
        with Approver(home / "gorgon.db") as person:
            result = Runner(load_config(), store).run(Workflow.from_yaml(REPORT))
        assert result.ok, result.error
        (asked,) = person.seen
        assert asked.title == "Send 'Weekly report' to slack"  # the target as the run named it
        assert "**Notify team** (Slack #ci)" in asked.preview and "All **green** this week." in asked.preview
        assert result.outputs["send"]["sent"] is True and result.outputs["send"]["target"] == "team"
        record = store.writes.get(result.run_id, "send", None)
        assert record is not None and (record.state, record.service, record.action) == ("done", "notify", "team")
    (post,) = svc.writes("slack")
    assert post.body["channel"] == "#ci"
    assert post.body["text"].startswith("*Weekly report*") and "All *green* this week." in post.body["text"]


def test_a_target_may_send_without_approval_by_email(home: Path, smtp: tuple[int, Mailbox]) -> None:
    port, box = smtp
    write_config(home, f"""
[notifications.smtp]
host = "127.0.0.1"
port = {port}
starttls = false

[notifications.targets.boss]
email = "boss@example.com"
auto_approve = true
""")
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(Workflow.from_yaml(REPORT), {"channel": "email"})
        assert result.ok, result.error
        assert store.approvals.recent(status=None, run_id=result.run_id) == []
    (recipients, mail), = box.messages
    assert recipients == ["boss@example.com"] and mail["Subject"] == "Weekly report"
    assert mail["X-Gorgon-Event"] == "message" and "All **green** this week." in mail.get_payload()


def test_a_target_that_is_missing_or_ambiguous_is_refused_before_the_run(home: Path, hook: Receiver) -> None:
    write_config(home, f'[notifications.targets.a]\nwebhook = "{hook.url}"\n'
                       f'[notifications.targets.b]\nwebhook = "{hook.url}"\n')
    runner = Runner(load_config(), False)
    flow = "id: w\nsteps:\n  - {id: s, notify: %s, auto_approve: true, with: {message: hi}}\n"
    with pytest.raises(ConfigError, match=r"no notification target sends by slack: add "
                                          r"\[notifications.targets.NAME\] with slack = \"#channel\""):
        runner.execution(Workflow.from_yaml(flow % "slack"))
    with pytest.raises(ConfigError, match=r"2 notification targets are webhook \(a, b\); name the one to send to"):
        runner.execution(Workflow.from_yaml(flow % "webhook"))
    with pytest.raises(WorkflowError, match="notify needs a message"):
        Workflow.from_yaml("id: w\nsteps:\n  - {id: s, notify: a, with: {title: hi}}\n").validate(runner.config)
    result = runner.run(Workflow.from_yaml(flow % "a"))
    assert result.ok and len(hook.received) == 1

"""The settings of notifications: the config's targets, a workflow's notify key, --notify rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from notify_support import write_config

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError, WorkflowError
from gorgon_nb.model.notifications import NotifyRule, parse_notify_rule
from gorgon_nb.notify import subscribed
from gorgon_nb.workflow import Workflow


@pytest.mark.parametrize(("text", "error"), [
    ('[notifications.targets.x]\nslack = "#a"\nemail = "a@b.c"',
     'notifications.targets.x: a target needs exactly one of slack = "#channel", email = "a@b.c" or webhook'),
    ('[notifications.targets.x]\nemail = "nope"',
     "notifications.targets.x.email: 'nope' is not an email address; write it as name@example.com"),
    ('[notifications.targets.x]\nwebhook = "ftp://x"', "'ftp://x' is not a URL; write it as https://host/path"),
    ('[notifications.targets.x]\nslack = "#a"\nsecret_env = "S"', "secret_env signs webhook messages"),
    ('[notifications]\nalways = ["y"]', "always names 'y', which is not a target; add [notifications.targets.y]"),
    ('[notifications]\non = ["exploded"]', "notifications.on.0: Input should be 'succeeded', 'failed', 'waiting'"),
    ('[notifications.smtp]\nport = 0', "notifications.smtp.port: Input should be greater than or equal to 1"),
])
def test_bad_settings_say_what_is_wrong(home: Path, text: str, error: str) -> None:
    write_config(home, text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert error in str(caught.value) and str(home / "config.toml") in str(caught.value)


def test_who_hears_of_what(home: Path) -> None:
    write_config(home, """
[notifications]
always = ["team"]
on = ["failed"]

[notifications.targets.team]
slack = "#ci"
on = ["failed", "waiting"]

[notifications.targets.boss]
email = ["boss@example.com", "deputy@example.com"]
""")
    settings = load_config().notifications
    assert settings.targets["boss"].email == ["boss@example.com", "deputy@example.com"]
    assert settings.smtp.port == 587 and settings.smtp.starttls is True
    rules = [parse_notify_rule("boss:succeeded,failed"), parse_notify_rule("team")]
    assert subscribed(settings, rules, "failed") == ["team", "boss"]  # each once
    assert subscribed(settings, rules, "succeeded") == ["boss"]
    assert subscribed(settings, rules, "waiting") == ["team"]
    assert subscribed(settings, [NotifyRule(target="boss")], "waiting") == ["team"]  # boss: [notifications] on


def test_a_workflow_notify_key_takes_names_events_and_mappings() -> None:
    workflow = Workflow.from_yaml("""
id: w
notify: [team, "boss:failed,waiting", {target: ops, on: succeeded}]
steps:
  - {id: s, checkpoint: x}
""")
    assert [str(rule) for rule in workflow.spec.notify] == ["team", "boss:failed,waiting", "ops:succeeded"]
    with pytest.raises(WorkflowError, match="'exploded' is not an event; events: succeeded, failed, waiting"):
        Workflow.from_yaml("id: w\nnotify: 'team:exploded'\nsteps:\n  - {id: s, checkpoint: x}\n")
    with pytest.raises(ValueError, match="is not TARGET\\[:events\\]"):
        parse_notify_rule("a team")

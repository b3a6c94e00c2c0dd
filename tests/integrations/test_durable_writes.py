"""A run killed while it writes: the resumed run never writes twice.

The run is a real ``gorgon run`` process, killed with SIGKILL while the loopback Slack
holds its third message; the server's log is the witness of what was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopback import ENV, TOKENS, configure, killed_on_third_write

from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer


def killed_mid_write(home: Path, svc: ServiceServer, tmp_path: Path, action: str, extra: str) -> str:
    """Run a for_each of three Slack writes in a process; kill it while the third is being sent."""
    configure(home, svc)
    workflow = tmp_path / "post.yaml"
    workflow.write_text(f"""id: post
steps:
  - id: each
    slack: {action}
    for_each: [one, two, three]
    max_parallel: 1
    auto_approve: true
    with: {{channel: general, text: "{{{{ item }}}}"{extra}}}
""")
    method = "chat.postMessage" if action == "post_message" else "chat.update"
    return killed_on_third_write(home, svc, workflow, "slack", method)


def test_a_post_cut_off_is_not_sent_again_and_the_done_ones_are_reused(home: Path, svc: ServiceServer,
                                                                        tmp_path: Path, monkeypatch: Any) -> None:
    run_id = killed_mid_write(home, svc, tmp_path, "post_message", "")
    for service, name in ENV.items():
        monkeypatch.setenv(name, TOKENS[service])
    with Store(home / "gorgon.db") as store:
        resumed = Runner(load_config(), store).resume(run_id)
    posts = [r.body["text"] for r in svc.requests_to("slack") if r.path == "chat.postMessage"]
    assert posts == ["one", "two", "three"]  # nothing was posted again
    assert resumed.status is RunStatus.FAILED
    error = resumed.steps["each"].error or ""
    assert "may or may not have happened" in error and f"gorgon fork {run_id} --from each" in error


def test_an_edit_cut_off_is_sent_again_and_the_done_ones_are_reused(home: Path, svc: ServiceServer,
                                                                     tmp_path: Path, monkeypatch: Any) -> None:
    for text in ("1", "2", "3"):
        svc.slack.add_message("C100", text, user=svc.slack.bot_user)  # the app's own
    ts = [m["ts"] for m in svc.slack.messages]
    extra = f", ts: \"{{{{ {{'one': '{ts[0]}', 'two': '{ts[1]}', 'three': '{ts[2]}'}}[item] }}}}\""
    run_id = killed_mid_write(home, svc, tmp_path, "update_message", extra)
    for service, name in ENV.items():
        monkeypatch.setenv(name, TOKENS[service])
    with Store(home / "gorgon.db") as store:
        resumed = Runner(load_config(), store).resume(run_id)
    assert resumed.ok, resumed.error
    edits = [r.body["text"] for r in svc.requests_to("slack") if r.path == "chat.update"]
    assert edits == ["one", "two", "three", "three"]  # only the edit cut off was sent again
    assert [m["text"] for m in svc.slack.messages] == ["one", "two", "three"]

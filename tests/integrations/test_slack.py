"""Slack steps through slack_sdk against the loopback Slack."""

from __future__ import annotations

from loopback import run

from gorgon_nb.integrations.text import to_mrkdwn
from gorgon_nb.runner import Runner
from gorgon_nb.testing import ServiceServer


def test_post_converts_markdown_then_reply_update_and_react(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: post
    slack: post_message
    with: {channel: general, text: "**Build** passed & [log](https://ci.example/1)"}
  - {id: thread, slack: reply, with: {channel: general, thread_ts: "{{ steps.post.output.ts }}", text: details}}
  - {id: edit, slack: update_message, with: {channel: C100, ts: "{{ steps.post.output.ts }}", text: "*Build* passed"}}
  - {id: react, slack: add_reaction, with: {channel: C100, ts: "{{ steps.post.output.ts }}", emoji: ":tada:"}}
""")
    assert result.ok, result.error
    assert sorted(a.title for a in asked) == ["Edit a Slack message in C100", "Post to Slack #general",
                                              "Post to Slack #general", "React :tada: in Slack C100"]
    assert "**Build** passed & [log](https://ci.example/1)" in asked[0].preview  # the Markdown, shown as such
    post, *rest = svc.writes()
    reply, update, react = sorted(rest, key=lambda r: ["chat.postMessage", "chat.update", "reactions.add"].index(r.path))
    assert (post.path, post.body["channel"]) == ("chat.postMessage", "general")
    assert post.body["text"] == "*Build* passed &amp; <https://ci.example/1|log>"
    ts = result.steps["post"].output["ts"]
    assert reply.body["thread_ts"] == ts and reply.body["text"] == "details"
    assert (update.path, update.body["ts"], update.body["text"]) == ("chat.update", ts, "_Build_ passed")
    assert (react.path, react.body) == ("reactions.add", {"channel": "C100", "timestamp": ts, "name": "tada"})
    assert post.headers["authorization"] == "Bearer xoxb-loopback-token-3"
    (message,) = [m for m in svc.slack.messages if m["ts"] == ts]
    assert message["text"] == "_Build_ passed" and "tada" in message["reactions"]


def test_reacting_twice_is_not_an_error(wired: Runner, svc: ServiceServer) -> None:
    result, _ = run(wired, """
  - {id: post, slack: post_message, auto_approve: true, with: {channel: general, text: hi}}
  - {id: one, slack: add_reaction, auto_approve: true, with: {channel: C100, ts: "{{ steps.post.output.ts }}", emoji: eyes}}
  - {id: two, slack: add_reaction, auto_approve: true, depends_on: one, with: {channel: C100, ts: "{{ steps.post.output.ts }}", emoji: eyes}}
""")
    assert result.ok, result.error
    assert [r.path for r in svc.writes()].count("reactions.add") == 2


def test_an_approval_request_is_posted_as_blocks(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: ask
    slack: request_approval
    with: {channel: general, title: Deploy 2.1, description: "Ships the **new** importer", details: {env: prod}}
""")
    assert result.ok, result.error
    assert "**Deploy 2.1**" in asked[0].preview and "- **env:** prod" in asked[0].preview
    (post,) = svc.writes()
    assert post.body["text"] == "Approval needed: Deploy 2.1"
    header, section, fields = post.body["blocks"]
    assert header["text"]["text"] == "✋ Approval needed: Deploy 2.1"
    assert section["text"] == {"type": "mrkdwn", "text": "Ships the *new* importer"}
    assert fields["fields"] == [{"type": "mrkdwn", "text": "*env*\nprod"}]


def test_a_missing_scope_is_named_and_nothing_is_retried(wired: Runner, svc: ServiceServer) -> None:
    svc.slack.scopes = {"channels:read"}
    result, _ = run(wired, "  - {id: post, slack: post_message, auto_approve: true, with: {channel: general, text: hi}}\n")
    assert not result.ok
    assert "lacks the chat:write scope (it has: channels:read)" in (result.steps["post"].error or "")
    assert len(svc.requests_to("slack")) == 1


def test_rate_limited_then_posted_once(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("slack", "POST", "chat.postMessage", status=429, headers={"Retry-After": "0"}, times=1)
    result, _ = run(wired, """
  - {id: post, slack: post_message, auto_approve: true, retry: {attempts: 3, backoff: 0.01}, with: {channel: general, text: hi}}
""")
    assert result.ok, result.error
    assert len(svc.slack.messages) == 1
    assert len(svc.requests_to("slack")) == 2


def test_markdown_to_mrkdwn() -> None:
    markdown = "# Standup\n**Done:** a & b\n- item *one*\n```python\nx < 1\n```\n| a | b |\n|---|---|\n2 * 3 * 4"
    assert to_mrkdwn(markdown) == "*Standup*\n*Done:* a &amp; b\n• item _one_\n```\nx &lt; 1\n```\n| a | b |\n2 * 3 * 4"

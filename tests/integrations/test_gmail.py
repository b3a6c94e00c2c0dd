"""Gmail steps through Google's own client library against the loopback Gmail API (its
discovery document served there too): reads, sends and drafts approved with the message
as preview, labels by name, faults, and what the user is told about the token file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from loopback import TOKENS, configure, run

from gorgon_nb.config import load_config
from gorgon_nb.integrations import service_statuses
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer
from gorgon_nb.workflow import Workflow

SEND = "/gmail/v1/users/me/messages/send"


def gmail_writes(svc: ServiceServer) -> list[str]:
    return [r.path for r in svc.writes("gmail")]


@pytest.fixture
def mailbox(svc: ServiceServer) -> dict[str, str]:
    """A few messages: plain, HTML only, an encoded subject in Latin-1, an attachment."""
    svc.gmail.add_label("Receipts")
    ids = {"invoice": svc.gmail.add_message("Ann Lee <ann@example.com>", "Invoice 12", "Please pay invoice 12.\n",
                                            html="<p>Please pay <b>invoice 12</b>.</p>")}
    ids["lunch"] = svc.gmail.add_message("bob@example.com", "Lunch?", "Noon at the usual place?",
                                         labels=("INBOX",))
    html_only = (b"From: news@example.com\r\nTo: me@example.com\r\nSubject: =?utf-8?b?Q2Fmw6kgbmV3cw==?=\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"
                 b"<html><style>p{}</style><body><p>Caf\xe9 opens</p><p>at 8&amp;9</p></body></html>\r\n")
    ids["news"] = svc.gmail.add_message("", "", "", raw=html_only, labels=("INBOX",))
    return ids


def test_list_search_and_get_read_the_mailbox(wired: Runner, svc: ServiceServer, mailbox: dict[str, str]) -> None:
    result, approvals = run(wired, """
  - {id: unread, gmail: list_messages, with: {query: "is:unread", limit: 5}}
  - {id: inbox, gmail: list_messages, with: {labels: [inbox], limit: 2}}
  - {id: found, gmail: search, with: {query: "from:bob lunch"}}
  - {id: read, gmail: get_message, with: {id: "{{ steps.unread.output[0].id }}"}}
  - {id: news, gmail: get_message, with: {id: NEWS}}
""".replace("NEWS", mailbox["news"]))
    assert result.ok, result.error
    assert approvals == []  # reads run freely
    (unread,) = result.steps["unread"].output
    assert unread == {"id": mailbox["invoice"], "thread_id": mailbox["invoice"], "subject": "Invoice 12",
                      "from": "Ann Lee <ann@example.com>", "to": "me@example.com", "cc": "",
                      "date": unread["date"], "snippet": "Please pay invoice 12.", "labels": ["INBOX", "UNREAD"]}
    assert unread["date"].startswith("Mon, 01 Jan 2024 00:00:") and unread["date"].endswith(" +0000")
    assert [m["subject"] for m in result.steps["inbox"].output] == ["Café news", "Lunch?"]  # newest first
    assert [m["id"] for m in result.steps["found"].output] == [mailbox["lunch"]]
    read = result.steps["read"].output
    assert read["body"] == "Please pay invoice 12." and read["subject"] == "Invoice 12"
    news = result.steps["news"].output
    assert news["subject"] == "Café news"  # RFC 2047 decoded
    assert news["body"] == "Café opens\nat 8&9"  # the HTML part as text, in its own charset
    listed = [r for r in svc.requests_to("gmail") if r.path == "/gmail/v1/users/me/messages"]
    assert sum("labelIds=INBOX" in r.raw_query for r in listed) == 1  # the label's name was resolved to its id
    assert svc.requests_to("gmail")[0].path == "/$discovery/rest"  # the client built itself from it


def test_an_email_is_sent_after_approval_with_the_message_as_preview(wired: Runner, svc: ServiceServer) -> None:
    result, approvals = run(wired, """
  - id: send
    gmail: send_email
    with: {to: [ann@example.com, "Bob <bob@example.com>"], cc: carol@example.com, bcc: dan@example.com,
           subject: "Weekly report", body: "All **green** this week."}
""")
    assert result.ok, result.error
    (approval,) = approvals
    assert approval.title == "Send an email to ann@example.com, Bob <bob@example.com>: Weekly report"
    for shown in ("**To:** ann@example.com, Bob <bob@example.com>", "**Cc:** carol@example.com",
                  "**Bcc:** dan@example.com", "**Subject:** Weekly report", "All **green** this week."):
        assert shown in approval.preview
    (sent,) = svc.gmail.sent
    assert (sent["To"], sent["Cc"], sent["Bcc"]) == ("ann@example.com, Bob <bob@example.com>", "carol@example.com",
                                                     "dan@example.com")
    assert sent["Subject"] == "Weekly report" and sent.get_content() == "All **green** this week.\n"
    assert result.steps["send"].output == {"success": True, "id": svc.gmail.messages[-1]["id"],
                                           "thread_id": svc.gmail.messages[-1]["threadId"]}
    assert svc.gmail.messages[-1]["labelIds"] == ["SENT"]


def test_a_rejected_email_is_not_sent(wired: Runner, svc: ServiceServer) -> None:
    result, approvals = run(wired, """
  - {id: send, gmail: send_email, with: {to: ann@example.com, subject: Hi, body: Hello}}
""", approve=False)
    assert not result.ok and len(approvals) == 1
    assert svc.gmail.sent == [] and gmail_writes(svc) == []


def test_an_html_draft_is_saved_with_a_plain_text_copy(wired: Runner, svc: ServiceServer) -> None:
    result, approvals = run(wired, """
  - id: draft
    gmail: create_draft
    with: {to: ann@example.com, subject: Agenda, body: "<h1>Agenda</h1><p>1. Budget</p>", html: true}
""")
    assert result.ok, result.error
    assert approvals[0].title == "Draft an email to ann@example.com: Agenda"
    assert "**Gmail:** draft an email (HTML)" in approvals[0].preview
    (draft,) = svc.gmail.drafts
    message = draft["message"]
    assert message.get_body(("html",)).get_content().strip() == "<h1>Agenda</h1><p>1. Budget</p>"
    assert message.get_body(("plain",)).get_content().strip() == "Agenda\n1. Budget"
    assert result.steps["draft"].output["draft_id"] == draft["id"]
    assert svc.gmail.sent == []  # a draft is not sent


def test_a_label_is_added_by_name_and_an_unknown_one_lists_the_labels(wired: Runner, svc: ServiceServer,
                                                                      mailbox: dict[str, str]) -> None:
    result, approvals = run(wired, f"""
  - {{id: label, gmail: add_label, with: {{id: "{mailbox['invoice']}", label: receipts}}}}
""")
    assert result.ok, result.error
    assert approvals[0].title == "Label a Gmail message 'Receipts'"
    assert "**Subject:** Invoice 12" in approvals[0].preview and "Ann Lee" in approvals[0].preview
    assert svc.gmail.message(mailbox["invoice"])["labelIds"] == ["INBOX", "UNREAD", "Label_1"]
    assert result.steps["label"].output["labels"] == ["INBOX", "UNREAD", "Receipts"]

    svc.clear()
    failed, asked = run(wired, f"""
  - {{id: label, gmail: add_label, with: {{id: "{mailbox['lunch']}", label: Invoices}}}}
""")
    assert not failed.ok and asked == []  # the preview found no such label: nothing to approve
    error = failed.steps["label"].error or ""
    assert "Gmail has no label 'Invoices'" in error and "INBOX, Receipts, SENT" in error
    assert gmail_writes(svc) == []


def test_bad_addresses_and_unknown_parameters_are_refused_before_anything_is_sent(wired: Runner,
                                                                                   svc: ServiceServer) -> None:
    result, _ = run(wired, """
  - {id: send, gmail: send_email, with: {to: "not an address", subject: Hi, body: Hello}}
""")
    assert "to must be email addresses" in (result.steps["send"].error or "")
    with pytest.raises(Exception, match="send_email takes no 'attachments'"):
        Workflow.from_yaml("id: t\nsteps:\n  - {id: s, gmail: send_email, with: {to: a@b.c, subject: s, body: b, "
                           "attachments: x}}\n").validate(wired.config)
    assert gmail_writes(svc) == []


def test_rate_limited_then_sent_once(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("gmail", "POST", SEND, status=429, headers={"Retry-After": "0"})
    result, _ = run(wired, "  - {id: send, gmail: send_email, with: {to: ann@example.com, subject: Hi, body: x}}\n")
    assert result.ok, result.error
    assert len(svc.gmail.sent) == 1 and [r.status for r in svc.requests_to("gmail") if r.path == SEND] == [429, 200]


def test_a_server_error_on_send_is_not_sent_again(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("gmail", "POST", SEND, status=500)
    result, _ = run(wired, "  - {id: send, gmail: send_email, with: {to: ann@example.com, subject: Hi, body: x}}\n")
    assert not result.ok
    assert "may have been written anyway: check gmail" in (result.steps["send"].error or "")
    assert len([r for r in svc.requests_to("gmail") if r.path == SEND]) == 1


def test_an_expired_token_is_refreshed_at_the_token_endpoint(wired: Runner, svc: ServiceServer, home: Path,
                                                              mailbox: dict[str, str]) -> None:
    (home / "gmail-token.json").write_text(json.dumps(svc.gmail.token_file("ya29.old", expiry="2020-01-01T00:00:00Z")))
    svc.tokens["gmail"] = "ya29.revoked-so-only-fresh-ones-pass"
    svc.fault("gmail", "GET", "/gmail/v1/users/me/messages", status=401)  # and a 401 later refreshes once more
    result, _ = run(wired, "  - {id: read, gmail: list_messages, with: {query: lunch}}\n")
    assert result.ok, result.error
    assert svc.gmail.issued == ["ya29.loopback-access-1", "ya29.loopback-access-2"]
    (refresh, _again) = [r for r in svc.requests_to("gmail") if r.path == "/token"]
    assert refresh.body["grant_type"] == "refresh_token" and refresh.body["refresh_token"] == svc.gmail.refresh_token
    listed = [r for r in svc.requests_to("gmail") if r.path == "/gmail/v1/users/me/messages"]
    assert [r.headers["authorization"] for r in listed] == ["Bearer ya29.loopback-access-1",
                                                            "Bearer ya29.loopback-access-2"]
    assert [m["id"] for m in result.steps["read"].output] == [mailbox["lunch"]]


def test_a_token_that_cannot_be_refreshed_says_how_to_make_one(wired: Runner, svc: ServiceServer,
                                                                home: Path) -> None:
    (home / "gmail-token.json").write_text(json.dumps(svc.gmail.token_file(None)))
    svc.gmail.refresh_token = "1//another-one"  # the file's was revoked
    result, _ = run(wired, "  - {id: read, gmail: list_messages}\n")
    error = result.steps["read"].error or ""
    assert "the Gmail token has expired and Google refused to refresh it" in error
    assert "Token has been expired or revoked" in error
    assert "InstalledAppFlow" in error and "gmail.modify and gmail.send" in error
    assert [r.path for r in svc.requests_to("gmail")] == ["/token"]  # refused once, not retried


@pytest.mark.parametrize(("content", "said"), [
    (None, "does not exist"),
    ("{not json", "is not JSON"),
    ('{"client_id": "x"}', "is not an authorized-user token: Authorized user info was not in the expected format"),
])
def test_a_missing_or_broken_token_file_says_what_to_do(home: Path, svc: ServiceServer, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, content: str | None,
                                                        said: str) -> None:
    configure(home, svc)
    file = tmp_path / "token.json"
    if content is not None:
        file.write_text(content)
    monkeypatch.setenv("GORGON_GMAIL_TOKEN_FILE", str(file))
    workflow = Workflow.from_yaml("id: t\nsteps:\n  - {id: read, gmail: list_messages}\n")
    problems = [str(p) for p in workflow.problems(load_config())]
    if content is None:  # said before the run starts
        assert len(problems) == 1 and "does not exist" in problems[0] and "GORGON_GMAIL_TOKEN_FILE" in problems[0]
        assert "InstalledAppFlow" in problems[0]
        return
    assert problems == []
    with Store(home / "gorgon.db") as store:
        result = Runner(load_config(), store).run(workflow)
    error = result.steps["read"].error or ""
    assert said in error and "InstalledAppFlow" in error
    assert svc.requests_to("gmail") == []


def test_no_token_file_at_all_is_named_before_the_run(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORGON_GMAIL_TOKEN_FILE", raising=False)
    workflow = Workflow.from_yaml("id: t\nsteps:\n  - {id: read, gmail: list_messages}\n")
    (problem,) = workflow.problems(load_config())
    assert "Gmail steps need an OAuth token file: set GORGON_GMAIL_TOKEN_FILE to its path" in str(problem)
    assert 'token_file = "~/.config/gorgon/gmail-token.json"' in str(problem)
    (gmail,) = [s for s in service_statuses(load_config()) if s.name == "gmail"]
    assert not gmail.ready and gmail.detail == "not configured: set GORGON_GMAIL_TOKEN_FILE or token_file"


def test_the_status_lists_gmail_ready(wired: Runner) -> None:
    (gmail,) = [s for s in service_statuses(wired.config) if s.name == "gmail"]
    assert gmail.ready and gmail.detail.startswith("ready (token file from token_file) at http://127.0.0.1:")


def test_the_token_files_secrets_never_reach_the_store(wired: Runner, svc: ServiceServer, home: Path) -> None:
    secret = svc.gmail.client_secret
    svc.fault("gmail", "POST", SEND, status=400, body={"error": {"code": 400, "message": f"bad {TOKENS['gmail']} "
                                                                 f"{secret} {svc.gmail.refresh_token}"}})
    result, _ = run(wired, "  - {id: send, gmail: send_email, with: {to: ann@example.com, subject: Hi, body: x}}\n")
    assert not result.ok and "***" in (result.steps["send"].error or "")
    raw = b"".join(path.read_bytes() for path in home.glob("gorgon.db*"))
    for value in (TOKENS["gmail"], secret, svc.gmail.refresh_token):
        assert value.encode() not in raw
    sent = next(r for r in svc.requests_to("gmail") if r.path == SEND)
    assert base64.urlsafe_b64decode(sent.body["raw"]).startswith(b"To: ann@example.com")

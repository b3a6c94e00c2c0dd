"""What the fake Gmail API does with mail: RFC 822 messages as Gmail's JSON payloads, and
Gmail's search language (a useful part of it) matched against them."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import shlex
from email.message import EmailMessage, Message
from typing import Any

__all__ = ["b64url", "compose", "matches", "parse", "payload", "plain_text", "snippet"]


def b64url(data: bytes) -> str:
    """Gmail's encoding of bodies and raw messages: URL-safe base64, padding kept."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def compose(sender: str, to: str, subject: str, body: str, *, html: str | None = None,
            cc: str | None = None, date: str | None = None) -> bytes:
    """An RFC 822 message: plain text, or plain text and HTML as alternatives."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if cc:
        message["Cc"] = cc
    if date:
        message["Date"] = date
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=email.policy.SMTP)


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _headers(part: Message, only: set[str] | None = None) -> list[dict[str, str]]:
    # The headers as sent (RFC 2047 words still encoded), as Gmail gives them.
    return [{"name": name, "value": str(value)} for name, value in part.raw_items()
            if only is None or name.lower() in only]


def _part(part: Message, part_id: str, with_body: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"partId": part_id, "mimeType": part.get_content_type(),
                             "filename": part.get_filename() or "", "headers": _headers(part)}
    if part.is_multipart():
        found["body"] = {"size": 0}
        children = part.get_payload()
        assert isinstance(children, list)
        prefix = "" if part_id == "" else f"{part_id}."
        found["parts"] = [_part(child, f"{prefix}{i}", with_body) for i, child in enumerate(children)]
    else:
        data = part.get_payload(decode=True)
        raw = data if isinstance(data, bytes) else b""
        found["body"] = {"size": len(raw)} | ({"data": b64url(raw)} if with_body and raw else {})
    return found


def payload(raw: bytes, format: str, metadata_headers: list[str]) -> dict[str, Any]:
    """The ``payload`` of ``messages.get`` in ``format`` full or metadata."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if format == "metadata":
        only = {name.lower() for name in metadata_headers} or None
        return {"partId": "", "mimeType": message.get_content_type(), "filename": "",
                "headers": _headers(message, only), "body": {"size": 0}}
    return _part(message, "", with_body=True)


def plain_text(message: EmailMessage) -> str:
    """The message's text/plain content (its first such part), or ''."""
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def _field(message: EmailMessage, name: str) -> str:
    return " ".join(str(v) for v in message.get_all(name, [])).lower()


def _term(term: str, message: EmailMessage, labels: list[str], label_names: dict[str, str]) -> bool:
    key, colon, value = term.partition(":")
    value = value.lower()
    if colon and key in ("from", "to", "cc", "subject"):
        return value in _field(message, key)
    if colon and key == "is":
        return {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}.get(value, value.upper()) in labels
    if colon and key in ("in", "label"):
        wanted = value.replace("-", " ")
        return any(label.lower() == value or label_names.get(label, "").lower() == wanted for label in labels)
    words = f"{_field(message, 'subject')} {_field(message, 'from')} {plain_text(message).lower()}"
    return term.lower() in words


def matches(query: str, message: EmailMessage, labels: list[str], label_names: dict[str, str]) -> bool:
    """Whether the message matches every term of a Gmail search (``-term`` negates one)."""
    try:
        terms = shlex.split(query)
    except ValueError:
        terms = query.split()
    for term in terms:
        negate = term.startswith("-") and len(term) > 1
        found = _term(term[1:] if negate else term, message, labels, label_names)
        if found == negate:
            return False
    return True


def snippet(message: EmailMessage) -> str:
    """Gmail's snippet: the start of the text, on one line."""
    return re.sub(r"\s+", " ", plain_text(message)).strip()[:200]

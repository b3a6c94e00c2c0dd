"""Gmail through Google's own client library (google-api-python-client): read, search,
send, draft and label the mail of the account whose OAuth token file the config names.

Credentials: ``[integrations.gmail] token_file`` (or the file ``GORGON_GMAIL_TOKEN_FILE``
names), refreshed when it has expired (``_gmail_auth``). ``base_url`` points the client
at another server: the client builds itself from the discovery document that server
serves (``BASE/$discovery/rest?version=v1``), as googleapis.com serves it; ``token_url``
names the OAuth token endpoint standing in for Google's.

Messages come back as plain dicts: ``id``, ``thread_id``, the decoded ``subject``,
``from``, ``to``, ``cc`` and ``date``, the ``snippet``, the ``labels`` (by name), and from
``get_message`` the ``body`` (the text/plain part, else the HTML part as text).
"""

from __future__ import annotations

import base64
import socket
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError, Problem
from gorgon_nb.integrations import Preview, action
from gorgon_nb.integrations._gmail_auth import (
    SCOPES,
    Transport,
    load_credentials,
    remake,
    token_path,
)
from gorgon_nb.integrations._gmail_mime import body_text, header_values, html_to_text, recipients
from gorgon_nb.integrations.text import fenced

if TYPE_CHECKING:
    from gorgon_nb.config import Config, IntegrationSettings

__all__ = ["SCOPES", "connect", "credentials_problem", "translate"]

_HEADERS = ("Subject", "From", "To", "Cc", "Date")


class Gmail:
    """The client library's service object, the mailbox's labels (read once) and the transport."""

    def __init__(self, service: Any, transport: Transport) -> None:
        self.service = service
        self.transport = transport
        self._labels: dict[str, str] | None = None

    @property
    def users(self) -> Any:
        return self.service.users()

    def labels(self, fresh: bool = False) -> dict[str, str]:
        """Label names by id."""
        if self._labels is None or fresh:
            found = self.users.labels().list(userId="me").execute()
            self._labels = {label["id"]: label["name"] for label in found.get("labels", [])}
        return self._labels

    def label_id(self, label: str) -> str:
        """The id of the label named (or numbered) ``label``; an error listing them when there is none."""
        for fresh in (False, True):
            labels = self.labels(fresh)
            if label in labels:
                return label
            for label_id, name in labels.items():
                if name.casefold() == label.casefold():
                    return label_id
        names = ", ".join(sorted(self.labels().values(), key=str.casefold))
        raise _fail(f"Gmail has no label {label!r}; the mailbox's labels are: {names}. Create the label in Gmail "
                    "first (steps do not create labels), or use one of these")


INSTALL = "pip install 'gorgon-nb[gmail]'"


def credentials_problem(config: Config) -> Problem | None:
    """Why Gmail steps cannot run here (Google's client library missing, no token file, or
    none there), or None."""
    import importlib.util

    if importlib.util.find_spec("googleapiclient") is None or importlib.util.find_spec("google.oauth2") is None:
        return Problem("Gmail steps need Google's client library, which is not installed", "gmail",
                       f"install it with: {INSTALL}")
    settings = config.integrations["gmail"]
    given = config.token("gmail")
    if not given:
        return Problem(f"Gmail steps need an OAuth token file: set {settings.token_env} to its path", "gmail",
                       remake('or put token_file = "~/.config/gorgon/gmail-token.json" under [integrations.gmail]'))
    path = token_path(given)
    if not path.is_file():
        where = f"{settings.token_env}" if config.env.get(settings.token_env) else "[integrations.gmail] token_file"
        return Problem(f"the Gmail token file {path} (from {where}) does not exist", "gmail", remake("create it"))
    return None


def connect(settings: IntegrationSettings, token: str) -> Gmail:
    """The Gmail API client, built from the discovery document (the library's own copy, or
    the one ``base_url`` serves), sending with the credentials in the token file ``token``."""
    try:
        from googleapiclient.discovery import build
    except ImportError:
        raise _fail(f"Gmail steps need Google's client library: {INSTALL}") from None

    transport = Transport(load_credentials(token, settings.token_url), settings.timeout)
    try:
        if settings.base_url:
            url = settings.base_url.rstrip("/") + "/$discovery/rest?version={apiVersion}"
            service = build("gmail", "v1", http=transport, discoveryServiceUrl=url, static_discovery=False,
                            cache_discovery=False)
        else:
            service = build("gmail", "v1", http=transport, static_discovery=True, cache_discovery=False)
    except IntegrationError:
        raise
    except Exception as exc:
        raise translate(exc) from exc
    return Gmail(service, transport)


def _fail(message: str) -> IntegrationError:
    return IntegrationError(message, service="gmail")


def translate(exc: Exception) -> IntegrationError:
    """An exception of the client library, google-auth or requests as an ``IntegrationError``."""
    import requests
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        return _from_status(int(exc.resp.status), exc.resp, exc.content)
    if isinstance(exc, RefreshError):
        return _fail(remake("the Gmail token has expired and Google refused to refresh it "
                            f"({_refresh_reason(exc)})"))
    if isinstance(exc, TransportError):
        return IntegrationError(f"cannot reach Google to refresh the Gmail token: {exc}", service="gmail",
                                retryable=True)
    if isinstance(exc, requests.ConnectTimeout) or (
            isinstance(exc, requests.ConnectionError) and _refused(exc)):
        return IntegrationError(f"cannot reach Gmail: {exc}", service="gmail", retryable=True)
    if isinstance(exc, requests.RequestException | OSError):  # dropped or timed out, maybe after it was sent
        return IntegrationError(f"Gmail did not answer: {exc}", service="gmail", retryable=True, unsure=True)
    return IntegrationError(f"Gmail call failed: {type(exc).__name__}: {exc}", service="gmail", unsure=True)


def _refused(exc: Exception) -> bool:
    """True when no connection was made, so the request cannot have been carried out."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError | socket.gaierror) or "NewConnectionError" in type(seen).__name__:
            return True
        seen = seen.__context__ or seen.__cause__ or (seen.args[0] if seen.args and isinstance(
            seen.args[0], BaseException) else None)
    return False


def _refresh_reason(exc: Exception) -> str:
    said = exc.args[0] if exc.args else exc
    return str(said).split(":", 1)[-1].strip() or type(exc).__name__


def _from_status(status: int, headers: Any, content: bytes) -> IntegrationError:
    import json

    try:
        error = json.loads(content or b"{}").get("error", {})
    except (ValueError, AttributeError):
        error = {}
    said = str(error.get("message") or f"HTTP {status}") if isinstance(error, dict) else str(error)
    reasons = {str(e.get("reason")) for e in error.get("errors", []) if isinstance(e, dict)} \
        if isinstance(error, dict) else set()
    if status == 429 or reasons & {"rateLimitExceeded", "userRateLimitExceeded"}:
        wait = headers.get("retry-after")
        return IntegrationError(f"Gmail's rate limit was reached ({said})", service="gmail", retryable=True,
                                retry_after=float(wait) if wait and wait.replace(".", "", 1).isdigit() else 30.0)
    if status == 401:
        return _fail(remake(f"Gmail refused the credentials ({said})"))
    if status == 403 and reasons & {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}:
        return _fail(remake(f"the Gmail token lacks a scope this needs ({said})"))
    if status == 403:
        return _fail(f"Gmail refused this ({said})")
    if status == 404:
        return _fail(f"Gmail found nothing there ({said}); check the message id")
    if status >= 500:
        return IntegrationError(f"Gmail failed with {status} ({said})", service="gmail", retryable=True, unsure=True)
    return _fail(f"Gmail refused the request with {status}: {said}")


# -- reading --------------------------------------------------------------------------------

def _summary(gm: Gmail, found: dict[str, Any]) -> dict[str, Any]:
    labels = gm.labels()
    headers = header_values(found.get("payload", {}))
    return {"id": found["id"], "thread_id": found.get("threadId"),
            **{name.lower(): headers.get(name.lower(), "") for name in _HEADERS},
            "snippet": found.get("snippet", ""),
            "labels": [labels.get(label, label) for label in found.get("labelIds", [])]}


def _messages(gm: Gmail, query: str, label_ids: list[str], limit: int) -> list[dict[str, Any]]:
    messages = gm.users.messages()
    ids: list[str] = []
    page: str | None = None
    while len(ids) < limit:
        listed = messages.list(userId="me", q=query or None, labelIds=label_ids or None,
                               maxResults=min(500, limit - len(ids)), pageToken=page).execute()
        ids += [m["id"] for m in listed.get("messages", [])]
        page = listed.get("nextPageToken")
        if not page:
            break
    return [_summary(gm, messages.get(userId="me", id=message_id, format="metadata",
                                      metadataHeaders=list(_HEADERS)).execute()) for message_id in ids[:limit]]


@action("gmail")
def list_messages(gm: Gmail, query: str = "", labels: list[str] | None = None, limit: int = 10
                  ) -> list[dict[str, Any]]:
    """The newest messages matching a Gmail search (``is:unread from:ann``) and carrying every
    label given (by name or id): id, subject, from, to, date, snippet and labels of each."""
    if int(limit) < 1:
        raise _fail(f"limit must be at least 1, not {limit}")
    names = [labels] if isinstance(labels, str) else list(labels or [])
    return _messages(gm, query, [gm.label_id(str(name)) for name in names], int(limit))


@action("gmail")
def search(gm: Gmail, query: str, limit: int = 10) -> list[dict[str, Any]]:
    """The newest messages matching a Gmail search, with their headers and snippets."""
    if not str(query).strip():
        raise _fail("search needs a query, for example 'from:ann subject:invoice newer_than:7d'")
    return list_messages(gm, str(query), None, limit)


@action("gmail")
def get_message(gm: Gmail, id: str) -> dict[str, Any]:
    """One message: its headers, snippet, labels, and its text as ``body``."""
    found = gm.users.messages().get(userId="me", id=str(id), format="full").execute()
    text, html = body_text(found.get("payload", {}))
    return {**_summary(gm, found), "body": text if text or html is None else html_to_text(html)}


# -- writing --------------------------------------------------------------------------------

def _compose(to: str | list[str], subject: str, body: str, cc: str | list[str] | None,
             bcc: str | list[str] | None, html: bool) -> EmailMessage:
    message = EmailMessage()
    for name, value in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if value:
            message[name] = recipients(value, name.lower())
    if not message["To"]:
        raise _fail("an email needs a recipient: give to (an address, or a list of them)")
    message["Subject"] = str(subject)
    if html:
        message.set_content(html_to_text(str(body)))
        message.add_alternative(str(body), subtype="html")
    else:
        message.set_content(str(body))
    return message


def _raw(message: EmailMessage) -> str:
    return base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")


def _message_preview(verb: str, to: str | list[str], subject: str, body: str, cc: str | list[str] | None,
                     bcc: str | list[str] | None, html: bool) -> Preview:
    message = _compose(to, subject, body, cc, bcc, html)
    rows = "".join(f"\n- **{name}:** {message[name]}" for name in ("To", "Cc", "Bcc") if message[name])
    kind = " (HTML)" if html else ""
    return Preview(f"{verb} to {message['To']}: {subject}",
                   f"**Gmail:** {verb.lower()}{kind}{rows}\n- **Subject:** {subject}\n\n{fenced(str(body))}")


def _send_preview(gm: Gmail, to: str | list[str], subject: str, body: str, cc: str | list[str] | None = None,
                  bcc: str | list[str] | None = None, html: bool = False) -> Preview:
    return _message_preview("Send an email", to, subject, body, cc, bcc, html)


@action("gmail", write=True, preview=_send_preview)
def send_email(gm: Gmail, to: str | list[str], subject: str, body: str, cc: str | list[str] | None = None,
               bcc: str | list[str] | None = None, html: bool = False) -> dict[str, Any]:
    """Send an email (``html: true`` sends the body as HTML, with a plain-text copy)."""
    raw = _raw(_compose(to, subject, body, cc, bcc, html))
    sent = gm.users.messages().send(userId="me", body={"raw": raw}).execute()
    return {"success": True, "id": sent["id"], "thread_id": sent.get("threadId")}


def _draft_preview(gm: Gmail, to: str | list[str], subject: str, body: str, cc: str | list[str] | None = None,
                   bcc: str | list[str] | None = None, html: bool = False) -> Preview:
    return _message_preview("Draft an email", to, subject, body, cc, bcc, html)


@action("gmail", write=True, preview=_draft_preview)
def create_draft(gm: Gmail, to: str | list[str], subject: str, body: str, cc: str | list[str] | None = None,
                 bcc: str | list[str] | None = None, html: bool = False) -> dict[str, Any]:
    """Save an email as a draft in Gmail, for a person to read and send."""
    raw = _raw(_compose(to, subject, body, cc, bcc, html))
    draft = gm.users.drafts().create(userId="me", body={"message": {"raw": raw}}).execute()
    return {"success": True, "draft_id": draft["id"], "id": draft["message"]["id"]}


def _label_preview(gm: Gmail, id: str, label: str) -> Preview:
    label_id = gm.label_id(str(label))
    found = gm.users.messages().get(userId="me", id=str(id), format="metadata",
                                    metadataHeaders=list(_HEADERS)).execute()
    shown = _summary(gm, found)
    name = gm.labels()[label_id]
    return Preview(f"Label a Gmail message '{name}'",
                   f"**Gmail:** add the label **{name}** to the message {id}\n\n- **From:** {shown['from']}\n"
                   f"- **Subject:** {shown['subject']}\n- **Date:** {shown['date']}")


@action("gmail", write=True, idempotent=True, preview=_label_preview)
def add_label(gm: Gmail, id: str, label: str) -> dict[str, Any]:
    """Add a label (by name or id; it must exist) to a message."""
    label_id = gm.label_id(str(label))
    done = gm.users.messages().modify(userId="me", id=str(id), body={"addLabelIds": [label_id]}).execute()
    labels = gm.labels()
    return {"success": True, "id": done["id"], "labels": [labels.get(x, x) for x in done.get("labelIds", [])]}

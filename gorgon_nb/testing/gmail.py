"""The fake Gmail API: its discovery document, messages with MIME payloads, sending,
drafts, labels, and the OAuth token endpoint that refreshes access tokens.

Google's client library (google-api-python-client) builds itself from the discovery
document served here, whose ``rootUrl`` is this server, so every call it makes comes back
to loopback. Credentials are a token file whose ``token_uri`` is ``token_url``.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

from gorgon_nb.testing._api import (
    Clock,
    FakeAPI,
    Refusal,
    Reply,
    RouteHandler,
    Service,
    ServiceRequest,
    bounded_int,
)
from gorgon_nb.testing._gmail_mime import b64url, compose, matches, parse, payload, snippet

__all__ = ["GmailState"]

_SYSTEM_LABELS = ("INBOX", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "SPAM", "TRASH")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_REASONS = {400: "invalidArgument", 401: "authError", 403: "forbidden", 404: "notFound",
            429: "rateLimitExceeded", 500: "backendError", 503: "backendError"}
_MESSAGES = {401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                  "or other valid authentication credential.",
             404: "Requested entity was not found.", 429: "Resource has been exhausted (e.g. check quota).",
             500: "Internal error encountered.", 503: "The service is currently unavailable."}


def google_error(status: int, message: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """The body Google's APIs send with an error."""
    said = message or _MESSAGES.get(status, "Request failed.")
    return {"error": {"code": status, "message": said, "status": _STATUS.get(status, "UNKNOWN"),
                      "errors": [{"message": said, "domain": "global", "reason": reason or _REASONS.get(status, "")}]}}


def _refuse(status: int, message: str | None = None, reason: str | None = None) -> Refusal:
    return Refusal(Reply(status, google_error(status, message, reason)))


@lru_cache(maxsize=1)
def _discovery_document() -> str:
    """The Gmail discovery document google-api-python-client ships (what googleapis.com serves)."""
    from importlib import resources

    documents = resources.files("googleapiclient") / "discovery_cache" / "documents"
    return documents.joinpath("gmail.v1.json").read_text(encoding="utf-8")


class GmailState(FakeAPI):
    """Gmail: one mailbox (``address``) with messages, drafts and labels, and its OAuth client.

    ``messages`` holds ``{id, threadId, labelIds, raw, internalDate}`` (``raw`` the RFC 822
    bytes), newest last; ``sent`` the messages sent, parsed, for assertions; ``drafts``
    ``{id, message}``; ``labels`` maps label ids to names (the system labels and those
    ``add_label`` made). The token endpoint swaps ``refresh_token`` (with ``client_id``
    and ``client_secret``) for a new access token, accepted from then on beside the one
    the server was given.

    Served: ``GET /$discovery/rest``, ``POST /token``, and under ``/gmail/v1/users/me``:
    ``GET messages``, ``GET messages/ID`` (format full, metadata, minimal, raw), ``POST
    messages/send``, ``POST messages/ID/modify``, ``POST drafts``, ``GET labels``.
    """

    service: Service = "gmail"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.address = "me@example.com"
        self.messages: list[dict[str, Any]] = []
        self.sent: list[EmailMessage] = []
        self.drafts: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {name: name for name in _SYSTEM_LABELS}
        self.client_id = "loopback-client.apps.googleusercontent.com"
        self.client_secret = "loopback-client-secret-5"
        self.refresh_token = "1//loopback-refresh-token-6"
        self.scopes = ["https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.send"]
        self.issued: list[str] = []
        self._ids = itertools.count(0x18C0000000000001)
        self._label_ids = itertools.count(1)

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint: the ``token_uri`` of a token file."""
        return f"{self.api_url}/token"

    def token_file(self, access_token: str | None, *, expiry: str | None = None) -> dict[str, Any]:
        """An authorized-user token file's contents for this mailbox (what google-auth reads)."""
        found: dict[str, Any] = {"refresh_token": self.refresh_token, "client_id": self.client_id,
                                 "client_secret": self.client_secret, "token_uri": self.token_url,
                                 "scopes": list(self.scopes), "type": "authorized_user"}
        if access_token is not None:
            found["token"] = access_token
        if expiry is not None:
            found["expiry"] = expiry
        return found

    # Seeding ---------------------------------------------------------------------------

    def add_label(self, name: str) -> str:
        """A label the user made; its id."""
        with self._lock:
            label_id = f"Label_{next(self._label_ids)}"
            self.labels[label_id] = name
            return label_id

    def add_message(self, sender: str, subject: str, body: str, *, to: str | None = None,
                    html: str | None = None, labels: tuple[str, ...] = ("INBOX", "UNREAD"),
                    raw: bytes | None = None) -> str:
        """A message received (or ``raw``, an RFC 822 message as it is); its id."""
        with self._lock:
            when = self._clock.tick()
            data = raw if raw is not None else compose(sender, to or self.address, subject, body, html=html,
                                                       date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return self._store(data, list(labels), int(when.timestamp() * 1000))["id"]

    def message(self, message_id: str) -> dict[str, Any]:
        with self._lock:
            for message in self.messages:
                if message["id"] == message_id:
                    return message
        raise KeyError(message_id)

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, RouteHandler]]:
        user = r"/gmail/v1/users/(?P<user>[^/]+)"
        ident = r"(?P<id>[^/]+)"
        return [
            ("GET", r"/\$discovery/rest", self._discovery),
            ("POST", r"/token", self._token),
            ("GET", rf"{user}/messages", self._list),
            ("POST", rf"{user}/messages/send", self._send),
            ("GET", rf"{user}/messages/{ident}", self._get),
            ("POST", rf"{user}/messages/{ident}/modify", self._modify),
            ("POST", rf"{user}/drafts", self._draft),
            ("GET", rf"{user}/labels", self._labels),
        ]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> Reply | None:
        if request.path in ("/$discovery/rest", "/token"):  # neither needs an access token
            return None
        given = request.headers.get("authorization", "")
        if given in {f"Bearer {t}" for t in (token, *self.issued)}:
            return None
        return Reply(401, google_error(401), {"www-authenticate": 'Bearer realm="https://accounts.google.com/"'})

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> Reply | None:
        if params.get("user") not in (None, "me", self.address):
            raise _refuse(403, "Delegation denied for " + self.address, "forbidden")
        return None

    def _unknown(self, request: ServiceRequest) -> Reply:
        return Reply(404, google_error(404, f"Method not found: {request.method} {request.path}"))

    def default_error(self, status: int, message: str | None = None) -> Any:
        return google_error(status, message)

    def _store(self, raw: bytes, labels: list[str], when_ms: int, thread: str | None = None) -> dict[str, Any]:
        message_id = f"{next(self._ids):x}"
        stored = {"id": message_id, "threadId": thread or message_id, "labelIds": labels, "raw": raw,
                  "internalDate": str(when_ms)}
        self.messages.append(stored)
        return stored

    def _find(self, message_id: str) -> dict[str, Any]:
        for message in self.messages:
            if message["id"] == message_id:
                return message
        raise _refuse(404)

    def _body(self, request: ServiceRequest) -> dict[str, Any]:
        if not isinstance(request.body, dict):
            raise _refuse(400, "Invalid JSON payload received.")
        return request.body

    def _raw(self, value: Any) -> bytes:
        import base64
        import binascii

        if not isinstance(value, str) or not value:
            raise _refuse(400, "Recipient address required", "invalidArgument")
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise _refuse(400, "Invalid value for ByteString: " + value[:20]) from None

    # Handlers ---------------------------------------------------------------------------

    def _discovery(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        document = json.loads(_discovery_document())
        root = self.api_url.rstrip("/") + "/"
        document["rootUrl"] = document["baseUrl"] = document["mtlsRootUrl"] = root
        document["baseUrl"] = root + document.get("servicePath", "")
        return Reply(200, document)

    def _token(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        form = request.body if isinstance(request.body, dict) else {}
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        self.issued.append(f"ya29.loopback-access-{len(self.issued) + 1}")
        return Reply(200, {"access_token": self.issued[-1], "expires_in": 3599, "token_type": "Bearer",
                           "scope": " ".join(self.scopes)})

    def _list(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        query = urllib.parse.parse_qs(request.raw_query)
        wanted = set(query.get("labelIds", []))
        unknown = wanted - set(self.labels)
        if unknown:
            raise _refuse(400, f"Invalid label: {sorted(unknown)[0]}", "invalidArgument")
        text = request.query.get("q", "")
        found = [m for m in reversed(self.messages)
                 if wanted <= set(m["labelIds"]) and ("TRASH" not in m["labelIds"] or "TRASH" in wanted)
                 and matches(text, parse(m["raw"]), m["labelIds"], self.labels)]
        start = bounded_int(request.query.get("pageToken"), 0, low=0)
        size = bounded_int(request.query.get("maxResults"), 100, high=500)
        page = found[start:start + size]
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            body["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in page]
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return Reply(200, body)

    def _get(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        message = self._find(params["id"])
        format = request.query.get("format", "full")
        if format not in ("full", "metadata", "minimal", "raw"):
            raise _refuse(400, f"Invalid value at 'format' ({format})")
        found: dict[str, Any] = {"id": message["id"], "threadId": message["threadId"],
                                 "labelIds": list(message["labelIds"]), "snippet": snippet(parse(message["raw"])),
                                 "sizeEstimate": len(message["raw"]), "historyId": "1000",
                                 "internalDate": message["internalDate"]}
        if format == "raw":
            found["raw"] = b64url(message["raw"])
        elif format != "minimal":
            headers = urllib.parse.parse_qs(request.raw_query).get("metadataHeaders", [])
            found["payload"] = payload(message["raw"], format, headers)
        return Reply(200, found)

    def _send(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        body = self._body(request)
        raw = self._raw(body.get("raw"))
        parsed = parse(raw)
        if not any(parsed.get_all(name) for name in ("To", "Cc", "Bcc")):
            raise _refuse(400, "Recipient address required", "invalidArgument")
        self.sent.append(parsed)
        stored = self._store(raw, ["SENT"], int(self._clock.tick().timestamp() * 1000), body.get("threadId"))
        return Reply(200, {"id": stored["id"], "threadId": stored["threadId"], "labelIds": ["SENT"]})

    def _draft(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        message = self._body(request).get("message")
        if not isinstance(message, dict):
            raise _refuse(400, "Invalid draft: a message is required")
        raw = self._raw(message.get("raw"))
        stored = self._store(raw, ["DRAFT"], int(self._clock.tick().timestamp() * 1000), message.get("threadId"))
        draft = {"id": f"r{len(self.drafts) + 1:019d}", "message": parse(raw)}
        self.drafts.append(draft)
        return Reply(200, {"id": draft["id"], "message": {"id": stored["id"], "threadId": stored["threadId"],
                                                          "labelIds": ["DRAFT"]}})

    def _modify(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        message = self._find(params["id"])
        body = self._body(request)
        add, remove = list(body.get("addLabelIds") or []), list(body.get("removeLabelIds") or [])
        for label in add + remove:
            if label not in self.labels:
                raise _refuse(400, f"Invalid label: {label}", "invalidArgument")
        labels = [label for label in message["labelIds"] if label not in remove]
        message["labelIds"] = labels + [label for label in add if label not in labels]
        return Reply(200, {"id": message["id"], "threadId": message["threadId"],
                           "labelIds": copy.copy(message["labelIds"])})

    def _labels(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return Reply(200, {"labels": [{"id": label_id, "name": name,
                                       "type": "system" if label_id in _SYSTEM_LABELS else "user"}
                                      for label_id, name in self.labels.items()]})

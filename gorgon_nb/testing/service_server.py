"""A loopback HTTP server imitating the GitHub REST API, the Notion API, the Slack Web API and
the Gmail API.

Tests point the real SDKs at it with their ``base_url`` options; it answers from in-memory
state that tests seed and inspect, logs every request, and fails chosen requests on demand.

    with ServiceServer(tokens={"github": "ghp_test"}) as svc:
        svc.github.add_repo("o/r")
        gh = Github(base_url=svc.github_url, auth=Auth.Token("ghp_test"), retry=None,
                    seconds_between_requests=None, seconds_between_writes=None)
        gh.get_repo("o/r").create_issue("Broken")  # the code under test
        assert svc.writes()[0].path == "/repos/o/r/issues"

Turn the SDKs' retries off (PyGithub ``retry=None``, notion-client ``retry=False``,
slack_sdk ``retry_handlers=[]``) so that a fault answers at once; PyGithub also waits
between calls unless told ``seconds_between_*=None``.

The contract:

- Addresses: GitHub under ``/github`` (``github_url``), Notion under ``/notion``
  (``notion_url``; the SDK adds ``/v1/``), Slack under ``/slack/api/`` (``slack_url``), Gmail under ``/gmail`` (``gmail_url``,
  with its discovery document and OAuth token endpoint).
- The log (``requests``) holds every request in arrival order, answered or refused, as a
  :class:`ServiceRequest`: the path without the service's prefix and URL-decoded (for Slack,
  the method name), the query's first values, the parsed body (JSON, or the fields of a
  form) and the lower-case headers. ``writes()`` keeps the ones that change something.
- Credentials: with a token given for a service, a request without it is refused the way
  that service refuses it (GitHub, Notion and Gmail 401; Slack 200 with ``"ok": false``; Gmail also takes
  the access tokens its token endpoint issued).
- State: the state objects (``svc.github``, ``svc.notion``, ``svc.slack``, ``svc.gmail``) are plain
  dicts and lists, seeded with their ``add_*`` methods and read directly for assertions. Ids,
  hashes, timestamps and Slack ``ts`` come from counters, so a run repeats exactly.
- Faults: ``fault(service, method, path, status, ...)`` answers the next matching requests
  with that status and the service's usual error body (or the one given) instead of serving
  them; they are still logged, with ``fault=True``.
- Only the endpoints listed on each state class (``GitHubState`` in ``github``,
  ``NotionState`` in ``notion``, ``SlackState`` in ``slack``, ``GmailState`` in ``gmail``) are served. Others get the
  service's own answer to an unknown URL, so a client calling something new fails loudly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.testing._api import SERVICES, Clock, FakeAPI, Reply, Service, ServiceRequest
from gorgon_nb.testing._http import FaultQueue, HTTPRequest, LoopServer, ResponseWriter, Served
from gorgon_nb.testing.github import GitHubState
from gorgon_nb.testing.gmail import GmailState
from gorgon_nb.testing.notion import NotionState
from gorgon_nb.testing.slack import SlackState

__all__ = ["ServiceFault", "ServiceRequest", "ServiceServer"]

_PREFIXES: tuple[tuple[Service, str], ...] = (
    ("github", "/github"),
    ("notion", "/notion"),
    ("slack", "/slack/api/"),
    ("gmail", "/gmail"),
)


@dataclass
class ServiceFault:
    """An answer to give instead of serving requests that match ``service``, ``method`` and
    ``path`` (fnmatch patterns for the last two; ``path`` as logged). ``body=None`` sends
    the service's usual error body for ``status``; a string is sent as an HTML page."""

    service: Service
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def matches(self, request: ServiceRequest) -> bool:
        return (
            self.service == request.service
            and fnmatch.fnmatchcase(request.method, self.method.upper())
            and fnmatch.fnmatchcase(request.path, self.path)
        )


def _locate(path: str) -> tuple[Service, str] | None:
    """The service a raw request path is for, and the path within it (decoded)."""
    for service, prefix in _PREFIXES:
        bare = prefix.rstrip("/")
        if path == bare or path.startswith(bare + "/"):
            rest = path[len(prefix) :] if service == "slack" else path[len(bare) :]
            return service, urllib.parse.unquote(rest) or ("" if service == "slack" else "/")
    return None


def _first_values(encoded: str) -> dict[str, str]:
    """A query string's or form's fields, each with its first value."""
    fields = urllib.parse.parse_qs(encoded, keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _parse_body(request: HTTPRequest) -> Any:
    if not request.body:
        return None
    text = request.body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return _first_values(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _record(request: HTTPRequest) -> ServiceRequest | None:
    located = _locate(request.path)
    if located is None:
        return None
    service, path = located
    query = _first_values(request.query)
    return ServiceRequest(
        service, request.method, path, query, _parse_body(request), dict(request.headers),
        raw_query=request.query,
    )


async def _send(out: ResponseWriter, reply: Reply) -> None:
    if reply.status == 204:
        await out.head(204, "application/json", 0, reply.headers)
    elif isinstance(reply.body, str | bytes):
        raw = reply.body.encode() if isinstance(reply.body, str) else reply.body
        await out.head(reply.status, "text/html; charset=utf-8", None, reply.headers)
        if raw:
            await out.chunk(raw)
        await out.end_chunks()
    else:
        await out.json(reply.status, reply.body, reply.headers)


class ServiceServer(Served):
    """GitHub, Notion, Slack and Gmail on one loopback port (see the module doc)."""

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        unknown = set(tokens or {}) - set(SERVICES)
        if unknown:
            raise ValueError(f"no such service: {', '.join(sorted(unknown))}")
        self.tokens: dict[str, str] = dict(tokens or {})
        self._lock = threading.RLock()
        self._requests: list[ServiceRequest] = []
        self._faults: FaultQueue[ServiceFault] = FaultQueue()
        self._slow: FaultQueue[tuple[ServiceFault, float]] = FaultQueue()  # (match, seconds)
        clock = Clock()
        self.github = GitHubState(self._lock, lambda: self.github_url, clock)
        self.notion = NotionState(self._lock, lambda: self.notion_url, clock)
        self.slack = SlackState(self._lock, lambda: self.slack_url, clock)
        self.gmail = GmailState(self._lock, lambda: self.gmail_url, clock)
        self._states: dict[Service, FakeAPI] = {
            "github": self.github,
            "notion": self.notion,
            "slack": self.slack,
            "gmail": self.gmail,
        }
        self._http = LoopServer(self._dispatch, host, port)

    @property
    def github_url(self) -> str:
        return f"{self.url}/github"

    @property
    def notion_url(self) -> str:
        return f"{self.url}/notion"

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/api/"

    @property
    def gmail_url(self) -> str:
        return f"{self.url}/gmail"

    # The log -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[ServiceRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._requests]

    def requests_to(self, service: Service) -> list[ServiceRequest]:
        return [r for r in self.requests if r.service == service]

    def writes(self, service: Service | None = None) -> list[ServiceRequest]:
        """The requests that change something (Notion's POST reads and Slack's reads left out)."""
        return [r for r in self.requests if r.is_write and service in (None, r.service)]

    def clear(self) -> None:
        """Forget the requests logged so far (state and faults stay)."""
        with self._lock:
            self._requests.clear()

    # Faults ------------------------------------------------------------------------------

    def fault(
        self,
        service: Service,
        method: str,
        path: str,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> ServiceFault:
        """Answer the next ``times`` requests matching ``service``, ``method`` and ``path``
        (fnmatch patterns, the path as logged) with ``status`` instead of serving them."""
        if service not in SERVICES:
            raise ValueError(f"no such service: {service}")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = ServiceFault(service, method, path, status, dict(headers or {}), body)
        with self._lock:
            self._faults.add(fault, times)
        return fault

    def slow(
        self, service: Service, method: str, path: str, seconds: float, times: int = 1
    ) -> None:
        """Hold the next ``times`` matching requests ``seconds`` before serving them as usual
        (a write caught in flight: the request has arrived, its answer has not)."""
        with self._lock:
            self._slow.add((ServiceFault(service, method, path, 0), seconds), times)

    def _take_slow(self, request: ServiceRequest) -> float:
        with self._lock:
            slow = self._slow.take(lambda entry: entry[0].matches(request))
        return 0.0 if slow is None else float(slow[1])

    @property
    def pending_faults(self) -> list[ServiceFault]:
        with self._lock:
            return self._faults.pending

    # Serving -----------------------------------------------------------------------------

    async def _dispatch(self, request: HTTPRequest, out: ResponseWriter) -> None:
        record = _record(request)
        if record is None:
            message = f"Nothing is served at {request.path}: use /github, /notion, /slack/api/ or /gmail."
            await out.json(404, {"message": message})
            return
        out.on_status = lambda status: self._set_status(record, status)
        with self._lock:
            self._requests.append(record)
        if delay := self._take_slow(record):
            await asyncio.sleep(delay)
        with self._lock:
            reply = self._reply(record)
        await _send(out, reply)

    def _set_status(self, record: ServiceRequest, status: int) -> None:
        with self._lock:
            record.status = status

    def _reply(self, record: ServiceRequest) -> Reply:
        state = self._states[record.service]
        fault = self._faults.take(lambda queued: queued.matches(record))
        if fault is not None:
            record.fault = True
            body = fault.body if fault.body is not None else state.default_error(fault.status)
            reply = Reply(fault.status, body, dict(fault.headers))
        else:
            try:
                reply = state.answer(record, self.tokens.get(record.service))
            except Exception as exc:
                message = f"The loopback {record.service} server failed: {exc!r}"
                reply = Reply(500, state.default_error(500, message))
        return state.finish(record, reply)

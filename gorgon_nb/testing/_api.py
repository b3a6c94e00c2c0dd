"""What the fake GitHub, Notion, Slack and Gmail APIs share: the logged request, the reply a route
gives or a refusal raises, routing, credentials and a clock.

Each fake is a :class:`FakeAPI` subclass that lists its routes and says how its service
refuses a bad token, an unknown URL and a failing request; ``ServiceServer`` (in
``service_server``) puts them on one port and keeps the log and the faults.
"""

from __future__ import annotations

import http
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "SERVICES",
    "Clock",
    "FakeAPI",
    "Refusal",
    "Reply",
    "Route",
    "RouteHandler",
    "Service",
    "ServiceRequest",
    "bounded_int",
    "status_phrase",
]

Service = Literal["github", "notion", "slack", "gmail"]
SERVICES: tuple[Service, ...] = ("github", "notion", "slack", "gmail")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Notion reads that are POSTs, because their filters travel in the body.
_NOTION_POST_READS = re.compile(r"/v1/(search|(data_sources|databases)/[^/]+/query)")
_SLACK_WRITES = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "reactions.add",
    }
)
# Gmail's token endpoint and discovery document change nothing.
_GMAIL_READS = frozenset({"/token", "/$discovery/rest"})
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class ServiceRequest:
    """One request the server received, and the status it answered."""

    service: Service
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None
    fault: bool = False
    raw_query: str = ""  # the query as sent (still encoded), for parameters given more than once

    @property
    def is_write(self) -> bool:
        """Whether the request changes something (what ``ServiceServer.writes`` keeps)."""
        if self.service == "slack":
            return self.path in _SLACK_WRITES
        if self.method not in _WRITE_METHODS:
            return False
        if self.service == "gmail":
            return self.path not in _GMAIL_READS
        return not (self.service == "notion" and _NOTION_POST_READS.fullmatch(self.path))


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Refusal(Exception):
    """Raised inside a handler to answer ``reply`` instead."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


RouteHandler = Callable[[ServiceRequest, dict[str, str]], Reply]


@dataclass(frozen=True)
class Route:
    method: str  # "*" for any
    pattern: re.Pattern[str]
    handler: RouteHandler


class Clock:
    """Timestamps one second apart from a fixed start, shared by the fakes."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1)

    def tick(self) -> datetime:
        return _EPOCH + timedelta(seconds=next(self._ticks))


def status_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def bounded_int(value: Any, default: int, low: int = 1, high: int | None = None) -> int:
    """``value`` (a query or body argument) as a whole number within ``low``..``high``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    number = max(low, number)
    return number if high is None else min(high, number)


class FakeAPI:
    """What the fakes share: routing, credentials, error bodies."""

    service: Service

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        self._lock = lock
        self._base_url = base_url
        self._clock = clock
        self._routes = [
            Route(method, re.compile(pattern), handler)
            for method, pattern, handler in self._route_table()
        ]

    @property
    def api_url(self) -> str:
        """The absolute URL this service is served at (the SDK's ``base_url``)."""
        return self._base_url()

    def _route_table(self) -> list[tuple[str, str, RouteHandler]]:
        raise NotImplementedError

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> Reply | None:
        raise NotImplementedError

    def _unknown(self, request: ServiceRequest) -> Reply:
        raise NotImplementedError

    def default_error(self, status: int, message: str | None = None) -> Any:
        """The body this service sends with ``status`` when something goes wrong."""
        raise NotImplementedError

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> Reply | None:
        return None

    def finish(self, request: ServiceRequest, reply: Reply) -> Reply:
        """Headers every answer of this service carries."""
        return reply

    def answer(self, request: ServiceRequest, token: str | None) -> Reply:
        if token is not None and (refusal := self._refuse_credentials(request, token)):
            return refusal
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None or route.method not in ("*", request.method):
                continue
            params = match.groupdict()
            try:
                return self._precheck(request, params) or route.handler(request, params)
            except Refusal as refusal:
                return refusal.reply
        return self._unknown(request)

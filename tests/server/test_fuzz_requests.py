"""Every route fuzzed from its own request models with hypothesis: no request is answered
with a 500, every error is JSON with a message, and every frame the event feed and the chat
socket send meanwhile is JSON that a browser's ``JSON.parse`` takes (no NaN or Infinity).

Bodies and queries are drawn from each model's JSON schema (each field's type and bounds,
just past them, and values each field is known to meet), mixed with arbitrary JSON, raw
bytes and deep nesting. The runs are derandomized and keep no example database, so CI runs
the same requests every time. The server serves on the test's event loop; hypothesis runs
in a thread and sends each request to that loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_client import Fetch, body, call, strict_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from gorgon_nb.config import load_config
from gorgon_nb.model.jobs import Schedule
from gorgon_nb.server.approvals import STATUSES, ApprovalsQuery, DecisionBody
from gorgon_nb.server.chat import SendFrame, StopFrame, TitleBody
from gorgon_nb.server.inputs import EmptyBody, Query
from gorgon_nb.server.jobs import JOB_STATES, JobsQuery, ScheduleBody
from gorgon_nb.server.runs import RUN_STATUSES, RunsQuery
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook

REQUESTS = 800  # examples for the REST routes: about 10 s here
FRAMES = 150  # examples for the chat socket: about 2 s
ANSWER = 30.0  # seconds one request or frame may take

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {approval}, {run}, {session}, {schedule} and {job} are filled in
    body: type[BaseModel] | None = None  # None: the route takes no body (a GET)
    query: type[BaseModel] = Query


ROUTES = [
    Route("GET", "approvals", query=ApprovalsQuery),
    Route("GET", "approvals/{approval}"),
    Route("POST", "approvals/{approval}", DecisionBody),
    Route("GET", "runs", query=RunsQuery),
    Route("GET", "runs/{run}"),
    Route("POST", "runs/{run}/cancel", EmptyBody),
    Route("GET", "chat/sessions"),
    Route("POST", "chat/sessions", TitleBody),
    Route("PATCH", "chat/sessions/{session}", TitleBody),
    Route("DELETE", "chat/sessions/{session}", EmptyBody),
    Route("GET", "chat/sessions/{session}/messages"),
    Route("GET", "chat/roles"),
    Route("GET", "chat/workflows"),
    Route("GET", "schedules"),
    Route("POST", "schedules", ScheduleBody),
    Route("GET", "schedules/{schedule}"),
    Route("DELETE", "schedules/{schedule}", EmptyBody),
    Route("POST", "schedules/{schedule}/pause", EmptyBody),
    Route("POST", "schedules/{schedule}/resume", EmptyBody),
    Route("POST", "schedules/{schedule}/run", EmptyBody),
    Route("GET", "jobs", query=JobsQuery),
    Route("GET", "jobs/{job}"),
    Route("POST", "jobs/{job}/cancel", EmptyBody),
]


def weight(route: Route) -> int:
    """Routes with more to get wrong are drawn more often: one share, and one per field."""
    return 1 + len(route.query.model_fields) + (len(route.body.model_fields) if route.body else 0)


DRAWN = [route for route in ROUTES for _ in range(weight(route))]

# -- values: from the schema, and the ones each field is known to meet ------------------------

DURATIONS = ["1h", "15m", "1d", 60, 59, 3600.5, "30s", "0.5s", 0, -1, 1e-300, 1e308, "366d", "367d", True, "1e3",
             "²h", " 2h ", "9" * 30]
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "limit": st.sampled_from(["1", "50", "500", "501", "0", "-1", "²", "١", "５", " 7", "1e3", "7.0", ""]),
    "status": st.sampled_from([*STATUSES, *RUN_STATUSES, "", "lost", "PENDING"]),
    "state": st.sampled_from([*JOB_STATES, "", "lost"]),
    "chat": st.sampled_from(["true", "false", "yes", ""]),
    "decision": st.sampled_from(["approve", "reject", "maybe", ""]),
    "notebook": st.sampled_from(["report.ipynb", "../report.ipynb", "/etc/passwd", "report.txt", "missing.ipynb",
                                 "gorgon-jobs", "rep\x00ort.ipynb", "~/report.ipynb", "./report.ipynb"]),
    "every": st.sampled_from(DURATIONS),
    "backoff": st.sampled_from(DURATIONS),
    "timeout": st.sampled_from(DURATIONS),
    "cron": st.sampled_from(["0 8 * * MON", "@daily", "0 0 29 2 *", "0 0 31 2 *", "0 0 31 4,6 *", "* * * * * *",
                             "61 * * * *", "R R R R R", "@reboot", "0 8 * * MON\n"]),
    "at": st.sampled_from(["2099-01-01T09:00", "2001-01-01T00:00", "0001-01-01T00:00", "9999-12-31T23:59:59+14:00",
                           "2099-02-30T09:00", "tomorrow"]),
    "timezone": st.sampled_from(["UTC", "Europe/Paris", "America", "Factory", "right/UTC", "zone.tab", "",
                                 "../../etc/passwd", "UTC\x00"]),
    "missed": st.sampled_from(["skip", "catch_up", "catch-up", "later"]),
    "overlap": st.sampled_from(["skip", "queue", "later"]),
    "text": st.sampled_from(["hello", "@planner plan a picnic", "@nobody hi", "/run", "/run nosuch x=1", "", " "]),
}
# any character, control characters and lone surrogates among them
TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z") | TEXT
PARAMETER_TEXTS = st.sampled_from(["7", "2.5", "nan", "inf", "1e999", "True", "None", "[1, 2]", '{"a": [1]}',
                                   "[" * 40 + "]" * 40, "[" * 3000, "EU", ""])
PLAUSIBLE["parameters"] = (
    st.dictionaries(NAMES, JSON_VALUES, max_size=4)
    | st.lists(st.builds("{}={}".format, NAMES, PARAMETER_TEXTS) | st.text(max_size=10), max_size=4))
IDS = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


def from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for a JSON schema: of its type, at its bounds and just past them."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([from_schema(option, defs) for option in schema["anyOf"]])
    if "const" in schema or "enum" in schema:
        return st.sampled_from(schema.get("enum") or [schema["const"]]) | st.text(max_size=8)
    kind = schema.get("type")
    if kind == "string":
        longest = schema.get("maxLength")
        edge = st.integers(longest - 1, longest + 1).map("n".__mul__) if longest else st.nothing()
        return TEXT | edge
    if kind == "integer":
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63)
        return st.integers(low - 1, high + 1) | st.sampled_from([low - 1, low, high, high + 1]) | st.floats()
    if kind == "number":
        return st.floats() | st.integers()
    if kind == "boolean":
        return st.booleans() | st.sampled_from([0, 1, "true"])
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), defs), max_size=4)
    if kind == "object" and "properties" not in schema:
        return st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4)
    return JSON_VALUES


def field_values(model: type[BaseModel]) -> dict[str, st.SearchStrategy[Any]]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    return {name: (PLAUSIBLE[name] | from_schema(field, defs)) if name in PLAUSIBLE else from_schema(field, defs)
            for name, field in schema.get("properties", {}).items()}


VALID: dict[type[BaseModel], dict[str, Any]] = {
    DecisionBody: {"decision": "approve"}, TitleBody: {"title": "renamed"}, EmptyBody: {},
    ScheduleBody: {"notebook": "report.ipynb", "every": "1h"}, SendFrame: {"type": "send", "text": "hello"},
    StopFrame: {"type": "stop"},
}


def bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """What a client may send as ``model``: a valid body, the same with one field changed or
    left out, all its fields drawn (some left out, one sometimes unknown), any JSON at all,
    bytes, and text nested deeper than any limit."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    fields = field_values(model)
    valid = VALID[model]
    one_changed = st.sampled_from(sorted(fields) or [""]).flatmap(
        lambda name: fields[name].map(lambda value: {**valid, name: value}) if name else st.just(valid))
    one_left_out = st.sampled_from(sorted(valid) or [""]).map(
        lambda name: {key: value for key, value in valid.items() if key != name})
    shaped = st.fixed_dictionaries({name: values for name, values in fields.items() if name in required},
                                   optional={name: values for name, values in fields.items() if name not in required})
    unknown = st.dictionaries(st.text(max_size=8), JSON_VALUES, min_size=1, max_size=1)
    with_unknown = st.builds(lambda known, extra: {**known, **extra}, shaped, unknown)
    deep = st.integers(20, 3000).map(lambda n: "[" * n + "]" * n)
    return st.one_of(st.just(valid), one_changed, one_changed, one_changed, one_left_out, shaped, with_unknown,
                     JSON_VALUES, st.binary(max_size=40), deep, st.just(None))


def queries(model: type[BaseModel]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Query parameters for ``model``: its fields as text (or bytes), repeated or unknown ones too."""
    texts = {name: values.map(lambda v: v if isinstance(v, str) else json.dumps(v))
             for name, values in field_values(model).items()}
    known = st.fixed_dictionaries({}, optional=texts).map(lambda found: list(found.items()))
    extra = st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8) | st.binary(max_size=4)),
                     max_size=2)
    return st.builds(lambda a, b: a + b, known, extra)


# -- the server -------------------------------------------------------------------------------


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(load_config().db_path) as opened:
        yield opened


@pytest.fixture
def ids(store: Store, jp_root_dir: Path) -> dict[str, st.SearchStrategy[str]]:
    """For each id in a path: a real one (a schedule, its job, ...) or any that fits the route."""
    write_notebook(jp_root_dir / "report.ipynb", "print(region)", parameters="region = 'US'")
    now = time.time()
    schedule = store.jobs.create_schedule(Schedule(id="", root=str(jp_root_dir), notebook="report.ipynb", every=3600,
                                                   created_at=now, next_run_at=now + 3600, name="hourly"))
    from gorgon_nb.scheduler import service

    job = service.run_now(store, schedule.id)
    session = store.chat.create_session("fuzzed")
    return {"schedule": st.sampled_from([schedule.id, "hourly"]) | IDS, "job": st.just(job.id) | IDS,
            "session": st.just(session.id) | IDS, "run": IDS, "approval": IDS}


class Feed:
    """The event feed, read while the fuzzing goes on."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.frames = connection, list[str]()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while (raw := await self.connection.read_message()) is not None:
            self.frames.append(raw)

    def close(self) -> None:
        self.task.cancel()
        self.connection.close()


async def test_fuzzed_requests_never_get_a_500_and_the_feed_stays_json(
        jp_fetch: Fetch, jp_ws_fetch: Callable[..., Awaitable[Any]], ids: dict[str, st.SearchStrategy[str]],
        store: Store) -> None:
    loop = asyncio.get_running_loop()
    feed = Feed(await jp_ws_fetch("gorgon", "api", "events"))
    answered: dict[int, int] = {}

    @settings(FUZZ, max_examples=REQUESTS)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        route = data.draw(st.sampled_from(DRAWN), label="route")
        path = route.path.format(**{name: data.draw(values, label=name) for name, values in ids.items()
                                    if "{" + name + "}" in route.path})
        query = data.draw(queries(route.query), label="query")
        sent = None if route.body is None else data.draw(bodies(route.body), label="body")
        # json.dumps writes NaN and Infinity as Python does: not JSON, and sent as such
        raw = sent if isinstance(sent, str | bytes | None) else json.dumps(sent)
        response = asyncio.run_coroutine_threadsafe(
            call(jp_fetch, *path.split("/"), method=route.method, data=raw, params=query), loop).result(ANSWER)
        answered[response.code] = answered.get(response.code, 0) + 1
        assert response.code < 500, (route.method, path, query, str(raw)[:200], response.body[:300])
        if response.code == 204:
            return
        answer = body(response)
        if response.code >= 400:
            assert answer["api"] == "gorgon" and isinstance(answer["message"], str) and answer["message"], answer

    try:
        started = time.monotonic()
        await asyncio.to_thread(fuzz)
        took = time.monotonic() - started
        await asyncio.sleep(1.5)  # the feed's next reads (every 0.5 s) see the last requests
    finally:
        feed.close()
    assert sum(answered.values()) >= REQUESTS, answered
    assert any(200 <= code < 300 for code in answered) and any(400 <= code < 500 for code in answered), answered
    frames = [strict_json(raw) for raw in feed.frames]  # no NaN, no Infinity
    jobs = [frame for frame in frames if frame["type"] == "jobs"]
    assert jobs and len(jobs[-1]["schedules"]) == len(store.jobs.schedules()), "the feed did not follow"
    print(f"{sum(answered.values())} requests in {took:.1f}s: {dict(sorted(answered.items()))}; "
          f"{len(frames)} feed frames")


async def test_fuzzed_chat_frames_get_error_frames_and_the_socket_stays_open(
        jp_fetch: Fetch, jp_ws_fetch: Callable[..., Awaitable[Any]]) -> None:
    loop = asyncio.get_running_loop()
    session = body(await call(jp_fetch, "chat", "sessions", method="POST", data={}))
    connection = await jp_ws_fetch("gorgon", "api", "chat", "sessions", session["id"], "ws")
    feed = Feed(connection)
    frames = st.one_of(bodies(SendFrame), bodies(StopFrame), st.text(max_size=30))

    @settings(FUZZ, max_examples=FRAMES)
    @given(frame=frames)
    def fuzz(frame: Any) -> None:
        raw = frame if isinstance(frame, str | bytes) else json.dumps(frame)

        async def send() -> None:  # on the loop: the connection is the loop's
            await connection.write_message(raw, binary=isinstance(raw, bytes))

        asyncio.run_coroutine_threadsafe(send(), loop).result(ANSWER)

    try:
        await asyncio.to_thread(fuzz)
        before = len(feed.frames)
        await connection.write_message('{"type": "last"}')
        deadline = time.monotonic() + ANSWER
        while not any(frame["type"] == "error" and frame["message"].startswith("the frame must be a JSON object")
                      for frame in map(json.loads, feed.frames[before:])):
            assert not feed.task.done(), "the server closed the chat socket"
            assert time.monotonic() < deadline, "the socket did not answer the last frame"
            await asyncio.sleep(0.1)
    finally:
        feed.close()
    received = [strict_json(raw) for raw in feed.frames]
    assert {frame["type"] for frame in received} >= {"error"}
    assert all(isinstance(f["message"], str) and f["message"] for f in received if f["type"] == "error")

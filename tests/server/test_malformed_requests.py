"""Malformed requests to every route get a 4xx with a JSON message, never a 500; what the
server sends is always JSON a browser parses; the chat socket survives bad frames; executed
notebooks are never written through a gorgon-jobs link out of the root.

A real Jupyter server in the test process (pytest-jupyter) with the extension and the real
store in the test's GORGON_HOME.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_client import Fetch, body, call, strict_json
from IPython.core.interactiveshell import InteractiveShell
from support import env_without_keys

import gorgon_nb
from gorgon_nb.config import load_config
from gorgon_nb.errors import UsageError
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.model.jobs import Job, JobState, Schedule
from gorgon_nb.scheduler import service
from gorgon_nb.server.inputs import BODY_LIMIT, DEPTH_LIMIT, FRAME_LIMIT
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook

HOUR = 3600.0
DEEP = 100_000  # lists in one another: far past any parser's recursion
WAIT = 60.0


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    """The store the server uses (the one in GORGON_HOME)."""
    with Store(load_config().db_path) as opened:
        yield opened


@pytest.fixture
def report(jp_root_dir: Path) -> Path:
    return write_notebook(jp_root_dir / "report.ipynb", "print(region)", parameters="region = 'US'")


@pytest.fixture
def hourly(store: Store, jp_root_dir: Path, report: Path) -> Schedule:
    now = time.time()
    return store.jobs.create_schedule(Schedule(id="", root=str(jp_root_dir), notebook="report.ipynb", every=HOUR,
                                               created_at=now, next_run_at=now + HOUR, name="hourly"))


@dataclass(frozen=True)
class Bad:
    """A malformed request and what it must get: ``code`` and a message that says ``says``."""

    method: str
    path: str  # {schedule}, {job} and {session} name real ones
    code: int
    says: str
    data: Any = None  # a str or bytes body is sent as it is
    query: Any = None  # a dict, or a list of (name, value) pairs to repeat a name

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.query or ''} {str(self.data)[:60]!r}"


def schedule_with(**fields: Any) -> dict[str, Any]:
    return {"notebook": "report.ipynb", "every": "1h", **fields}


def raw_schedule(fields: str) -> str:
    """A schedule body written by hand, for what json.dumps would not write (NaN, 1e400)."""
    return '{"notebook": "report.ipynb", ' + fields + "}"


LIMIT = "limit must be a whole number from 1 to 500"
DEEP_BODY = "[" * DEEP + "]" * DEEP
TOO_DEEP = f"more than {DEPTH_LIMIT} deep"
NOT_A_ROUTE = "no gorgon API route"

MALFORMED = [
    # approvals
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "²"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "١٠"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "0"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "501"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "-1"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": "1.5"}),
    Bad("GET", "approvals", 400, LIMIT, query={"limit": ""}),
    Bad("GET", "approvals", 400, "unknown status 'maybe'", query={"status": "maybe"}),
    Bad("GET", "approvals", 400, "give it once", query=[("limit", "1"), ("limit", "2")]),
    Bad("GET", "approvals", 400, "unknown query parameter 'colour'", query={"colour": "red"}),
    Bad("GET", "approvals", 400, "control characters", query={"run": "a\x00b"}),
    Bad("GET", "approvals", 400, "not UTF-8", query={"run": b"\xff"}),
    Bad("GET", "approvals/nosuchid", 404, "no approval 'nosuchid'"),
    Bad("GET", "approvals/" + "a" * 65, 404, NOT_A_ROUTE),
    Bad("POST", "approvals/someid", 400, "not JSON", data="not json"),
    Bad("POST", "approvals/someid", 400, "must be a JSON object", data=[1]),
    Bad("POST", "approvals/someid", 400, "must be a JSON object", data=""),
    Bad("POST", "approvals/someid", 400, TOO_DEEP, data=DEEP_BODY),
    Bad("POST", "approvals/someid", 400, "NaN is not a JSON number", data='{"decision": "approve", "comment": NaN}'),
    Bad("POST", "approvals/someid", 400, "decision", data={"decision": "maybe"}),
    Bad("POST", "approvals/someid", 400, "decision: Field required", data={}),
    Bad("POST", "approvals/someid", 400, "comment", data={"decision": "approve", "comment": "x" * 5001}),
    Bad("POST", "approvals/someid", 400, "comment", data={"decision": "approve", "comment": 7}),
    Bad("POST", "approvals/someid", 400, "colour", data={"decision": "approve", "colour": "red"}),
    Bad("POST", "approvals/someid", 413, f"the most is {BODY_LIMIT:,} bytes",
        data={"decision": "approve", "comment": "x" * BODY_LIMIT}),
    Bad("POST", "approvals/someid", 400, "not UTF-8", data=b'{"decision": "approve", "comment": "\xff"}'),
    Bad("POST", "approvals/someid", 400, "lone surrogate", data='{"decision": "approve", "comment": "\\ud800"}'),
    Bad("PUT", "approvals/someid", 405, "Method Not Allowed", data={}),
    # runs
    Bad("GET", "runs", 400, LIMIT, query={"limit": "²"}),
    Bad("GET", "runs", 400, LIMIT, query={"limit": "9" * 40}),
    Bad("GET", "runs", 400, "unknown status 'lost'", query={"status": "lost"}),
    Bad("GET", "runs", 400, "chat must be true or false", query={"chat": "yes"}),
    Bad("GET", "runs", 400, "control characters", query={"workflow": "\x00"}),
    Bad("GET", "runs", 400, "200 characters", query={"workflow": "w" * 201}),
    Bad("GET", "runs/nosuchrun", 404, "no run 'nosuchrun'"),
    Bad("GET", "runs/nosuchrun", 400, "unknown query parameter 'verbose'", query={"verbose": "1"}),
    Bad("POST", "runs/nosuchrun/cancel", 404, "no run 'nosuchrun'", data={}),
    Bad("POST", "runs/nosuchrun/cancel", 400, "now", data={"now": True}),
    Bad("POST", "runs/nosuchrun/cancel", 400, "not JSON", data="["),
    Bad("DELETE", "runs/nosuchrun", 405, "Method Not Allowed"),
    # chat
    Bad("GET", "chat/sessions", 400, "unknown query parameter 'page'", query={"page": "2"}),
    Bad("POST", "chat/sessions", 400, "title", data={"title": 7}),
    Bad("POST", "chat/sessions", 400, "title", data={"title": "t" * 201}),
    Bad("POST", "chat/sessions", 400, "name", data={"name": "chat"}),
    Bad("POST", "chat/sessions", 400, TOO_DEEP, data=DEEP_BODY),
    Bad("POST", "chat/sessions", 400, "Infinity is not a JSON number", data='{"title": Infinity}'),
    Bad("PATCH", "chat/sessions/{session}", 400, "the title is empty", data={"title": "   "}),
    Bad("PATCH", "chat/sessions/{session}", 400, "must be a JSON object", data=""),
    Bad("PATCH", "chat/sessions/nosuchsession", 404, "nosuchsession", data={"title": "new"}),
    Bad("DELETE", "chat/sessions/nosuchsession", 404, "nosuchsession"),
    Bad("DELETE", "chat/sessions/{session}", 400, "force", data={"force": True}),
    Bad("GET", "chat/sessions/nosuchsession/messages", 404, "nosuchsession"),
    Bad("GET", "chat/roles", 400, "unknown query parameter 'all'", query={"all": "1"}),
    Bad("GET", "chat/workflows", 400, "unknown query parameter 'all'", query={"all": "1"}),
    Bad("POST", "chat/roles", 405, "Method Not Allowed", data={}),
    # schedules
    Bad("POST", "schedules", 400, "NaN is not a JSON number", data=raw_schedule('"every": NaN')),
    Bad("POST", "schedules", 400, "Infinity is not a JSON number", data=raw_schedule('"every": Infinity')),
    Bad("POST", "schedules", 400, "-Infinity is not a JSON number", data=raw_schedule('"every": -Infinity')),
    Bad("POST", "schedules", 400, "too large a number", data=raw_schedule('"every": 1e400')),
    Bad("POST", "schedules", 400, "finite number of seconds", data=raw_schedule('"every": 1' + "0" * 400)),
    Bad("POST", "schedules", 400, "not JSON", data=raw_schedule('"every": 1' + "0" * 5000)),
    Bad("POST", "schedules", 400, "too often", data=raw_schedule('"every": 1e-300')),
    Bad("POST", "schedules", 400, "too often", data=schedule_with(every="5s")),
    Bad("POST", "schedules", 400, "too often", data=schedule_with(every=59)),
    Bad("POST", "schedules", 400, "more than 0 seconds", data=schedule_with(every=0)),
    Bad("POST", "schedules", 400, "more than 0 seconds", data=schedule_with(every=-60)),
    Bad("POST", "schedules", 400, "not a duration", data=schedule_with(every=True)),
    Bad("POST", "schedules", 400, "not a duration", data=schedule_with(every=[60])),
    Bad("POST", "schedules", 400, "not a duration", data=schedule_with(every="1e-300")),
    Bad("POST", "schedules", 400, "not a duration", data=schedule_with(every="²h")),
    Bad("POST", "schedules", 400, "longest duration, 366 days", data=schedule_with(every="99999d")),
    Bad("POST", "schedules", 400, "more than 0 seconds", data=schedule_with(backoff="0s")),
    Bad("POST", "schedules", 400, "too large a number", data=raw_schedule('"every": "1h", "backoff": 1e309')),
    Bad("POST", "schedules", 400, "not a duration", data=schedule_with(timeout="forever")),
    Bad("POST", "schedules", 400, "never fires", data=schedule_with(every=None, cron="0 0 31 2 *")),
    Bad("POST", "schedules", 400, "never fires", data=schedule_with(every=None, cron="0 0 31 4,6 *")),
    Bad("POST", "schedules", 400, "five fields", data=schedule_with(every=None, cron="* * * * * *")),
    Bad("POST", "schedules", 400, "five fields", data=schedule_with(every=None, cron="every monday")),
    Bad("POST", "schedules", 400, "control characters", data=schedule_with(every=None, cron="0 8 * * MON\x00")),
    Bad("POST", "schedules", 400, "cron", data=schedule_with(every=None, cron=5)),
    Bad("POST", "schedules", 400, "control characters", data=schedule_with(notebook="rep\x00ort.ipynb")),
    Bad("POST", "schedules", 400, "notebook", data=schedule_with(notebook="")),
    Bad("POST", "schedules", 400, "notebook", data=schedule_with(notebook="n" * 2000 + ".ipynb")),
    Bad("POST", "schedules", 400, "File name too long", data=schedule_with(notebook="n" * 1000 + ".ipynb")),
    Bad("POST", "schedules", 400, "cannot read the notebook 'deep.ipynb'", data=schedule_with(notebook="deep.ipynb")),
    Bad("POST", "schedules", 400, "not a notebook", data=schedule_with(notebook="report.txt")),
    Bad("POST", "schedules", 400, "outside", data=schedule_with(notebook="../report.ipynb")),
    Bad("POST", "schedules", 400, "no notebook at 'missing.ipynb'", data=schedule_with(notebook="missing.ipynb")),
    Bad("POST", "schedules", 400, "unknown time zone 'America'", data=schedule_with(timezone="America")),
    Bad("POST", "schedules", 400, "control characters", data=schedule_with(timezone="UTC\x00")),
    Bad("POST", "schedules", 400, "unknown time zone", data=schedule_with(timezone="../../etc/passwd")),
    Bad("POST", "schedules", 400, "not a date and time", data=schedule_with(every=None, at="2026-13-45T99:00")),
    Bad("POST", "schedules", 400, "control characters", data=schedule_with(every=None, at="\x00")),
    Bad("POST", "schedules", 400, "in the past", data=schedule_with(every=None, at="0001-01-01T00:00")),
    Bad("POST", "schedules", 413, f"the most is {BODY_LIMIT:,} bytes",
        data=schedule_with(parameters={f"p{i}": "v" * (BODY_LIMIT // 6) for i in range(6)})),
    Bad("POST", "schedules", 400, "the most is 65,536 (64 KiB)",
        data=schedule_with(parameters={"data": "v" * 100_000})),
    Bad("POST", "schedules", 400, TOO_DEEP, data=schedule_with(parameters={"x": json.loads("[" * 40 + "]" * 40)})),
    Bad("POST", "schedules", 400, "nested more than 32 deep",
        data=schedule_with(parameters=["x=" + "[" * 40 + "]" * 40])),
    Bad("POST", "schedules", 400, "nested more than 32 deep", data=schedule_with(parameters=["x=" + "[" * DEEP])),
    Bad("POST", "schedules", 400, "NaN is not a JSON number", data=raw_schedule('"every": "1h", "parameters": {"x": NaN}')),
    Bad("POST", "schedules", 400, "JSON cannot hold", data=schedule_with(parameters=["ratio=nan"])),
    Bad("POST", "schedules", 400, "JSON cannot hold", data=schedule_with(parameters=["ratio=1e999"])),
    Bad("POST", "schedules", 400, "JSON cannot hold", data=schedule_with(parameters=['xs=[1, Infinity]'])),
    Bad("POST", "schedules", 400, "parameters", data=schedule_with(parameters="region=EU")),
    Bad("POST", "schedules", 400, 'a list of "key=value" texts', data=schedule_with(parameters=[1])),
    Bad("POST", "schedules", 400, "not key=value", data=schedule_with(parameters=["region"])),
    Bad("POST", "schedules", 400, "Python names", data=schedule_with(parameters={"not a name": 1})),
    Bad("POST", "schedules", 400, "retries", data=schedule_with(retries=True)),
    Bad("POST", "schedules", 400, "retries", data=schedule_with(retries=101)),
    Bad("POST", "schedules", 400, "keep", data=schedule_with(keep=0)),
    Bad("POST", "schedules", 400, "keep", data=schedule_with(keep=1e3)),
    Bad("POST", "schedules", 400, "name", data=schedule_with(name="n" * 201)),
    Bad("POST", "schedules", 400, "one line", data=schedule_with(name="two\nlines")),
    Bad("POST", "schedules", 400, "missed", data=schedule_with(missed="later")),
    Bad("POST", "schedules", 400, "colour", data=schedule_with(colour="red")),
    Bad("POST", "schedules", 400, 'exactly one of "cron", "every" or "at"', data={"notebook": "report.ipynb"}),
    Bad("POST", "schedules", 400, 'exactly one of "cron", "every" or "at"', data=schedule_with(cron="0 8 * * *")),
    Bad("POST", "schedules", 400, "notebook: Field required", data={"every": "1h"}),
    Bad("POST", "schedules", 400, TOO_DEEP, data=DEEP_BODY),
    Bad("POST", "schedules", 400, TOO_DEEP, data='{"notebook": ' + "{" * DEEP),
    Bad("POST", "schedules", 400, "must be a JSON object", data="7"),
    Bad("GET", "schedules", 400, "unknown query parameter 'paused'", query={"paused": "true"}),
    Bad("GET", "schedules/nosuchschedule", 404, "no schedule 'nosuchschedule'"),
    Bad("DELETE", "schedules/nosuchschedule", 404, "no schedule 'nosuchschedule'"),
    Bad("DELETE", "schedules/{schedule}", 400, "force", data={"force": True}),
    Bad("POST", "schedules/{schedule}/pause", 400, "until", data={"until": "tomorrow"}),
    Bad("POST", "schedules/{schedule}/resume", 400, "not JSON", data="["),
    Bad("POST", "schedules/{schedule}/explode", 404, NOT_A_ROUTE, data={}),
    Bad("POST", "schedules/nosuchschedule/run", 404, "no schedule 'nosuchschedule'", data={}),
    Bad("PATCH", "schedules/{schedule}", 405, "Method Not Allowed", data={"paused": True}),
    # jobs
    Bad("GET", "jobs", 400, LIMIT, query={"limit": "²"}),
    Bad("GET", "jobs", 400, LIMIT, query={"limit": "５"}),
    Bad("GET", "jobs", 400, LIMIT, query={"limit": " 5"}),
    Bad("GET", "jobs", 400, "unknown state 'lost'", query={"state": "lost"}),
    Bad("GET", "jobs", 400, "control characters", query={"schedule": "\x00"}),
    Bad("GET", "jobs", 404, "no schedule 'nosuchschedule'", query={"schedule": "nosuchschedule"}),
    Bad("GET", "jobs/nosuchjob", 404, "no job 'nosuchjob'"),
    Bad("GET", "jobs/{job}", 400, "unknown query parameter 'verbose'", query={"verbose": "1"}),
    Bad("POST", "jobs/nosuchjob/cancel", 404, "no job 'nosuchjob'", data={}),
    Bad("POST", "jobs/{job}/cancel", 400, "force", data={"force": 1}),
    Bad("POST", "jobs/{job}/cancel", 400, TOO_DEEP, data=DEEP_BODY),
    # no such route
    Bad("GET", "nosuchroute", 404, NOT_A_ROUTE),
    Bad("POST", "runs/a/b/c", 404, NOT_A_ROUTE, data={}),
]


async def test_malformed_requests_get_a_4xx_that_says_what_is_wrong_never_a_500(
        jp_fetch: Fetch, jp_root_dir: Path, store: Store, hourly: Schedule) -> None:
    session = body(await call(jp_fetch, "chat", "sessions", method="POST", data={"title": "kept"}))
    job = service.run_now(store, hourly.id)
    (jp_root_dir / "deep.ipynb").write_text("[" * DEEP + "]" * DEEP)  # not a notebook, and too deep to parse
    ids = {"schedule": hourly.id, "job": job.id, "session": session["id"]}
    wrong = []
    for bad in MALFORMED:
        response = await call(jp_fetch, *bad.path.format(**ids).split("/"), method=bad.method, data=bad.data,
                              params=bad.query)
        try:
            answer = body(response)
        except (AssertionError, KeyError, ValueError) as exc:  # no JSON type, or not JSON
            wrong.append(f"{bad}: {response.code} and a body that is not JSON ({exc!r})")
            continue
        message = answer.get("message")
        if (response.code, answer.get("api")) != (bad.code, "gorgon") or not isinstance(message, str) \
                or bad.says not in message:
            wrong.append(f"{bad}: {response.code} {message!r}")
    assert not wrong, f"{len(wrong)} of {len(MALFORMED)} malformed requests were answered wrongly:\n" + \
        "\n".join(wrong)
    # nothing was made or changed by them
    assert [s.id for s in store.jobs.schedules()] == [hourly.id] and not store.jobs.get_schedule(hourly.id).paused
    assert [j.id for j in store.jobs.recent(10)] == [job.id] and store.jobs.get(job.id).state == JobState.QUEUED
    assert [(s["id"], s["title"]) for s in body(await call(jp_fetch, "chat", "sessions"))["sessions"]] == [
        (session["id"], "kept")]


async def test_a_request_in_the_limits_is_taken(jp_fetch: Fetch, jp_serverapp: Any, report: Path) -> None:
    """The limits leave room: a minute's interval, 32 levels, 64 KiB of parameters, all taken."""
    nested: Any = []
    for _ in range(DEPTH_LIMIT - 3):  # the body, the parameters object and the value itself
        nested = [nested]
    parameters = {"nested": nested, "data": "v" * (service.PARAMETERS_LIMIT - 100)}
    created = await call(jp_fetch, "schedules", method="POST",
                         data=schedule_with(every=60, parameters=parameters, name="x" * 200))
    assert created.code == 201, created.body
    assert body(created)["every"] == 60 and body(created)["parameters"] == parameters
    leap_day = await call(jp_fetch, "schedules", method="POST", data=schedule_with(every=None, cron="0 0 29 2 *"))
    assert leap_day.code == 201, leap_day.body
    token = jp_serverapp.identity_provider.token  # Jupyter's own query parameter, taken as ever
    limited = await call(jp_fetch, "jobs", params={"limit": "500", "token": token})
    assert limited.code == 200 and body(limited) == {"jobs": []}
    for route in ("chat/roles", "chat/sessions", "runs"):  # JupyterLab's GETs end in ?<the time in ms>
        busted = await call(jp_fetch, route, params={"1796669727395": ""})
        assert busted.code == 200, (route, busted.body)


# -- what the server sends is JSON ------------------------------------------------------------


async def test_a_schedule_stored_with_infinity_before_it_was_refused_breaks_nothing(
        jp_fetch: Fetch, jp_ws_fetch: Callable[..., Awaitable[Any]], store: Store, jp_root_dir: Path,
        report: Path) -> None:
    """As a schedule made by ``every: Infinity`` before it was refused: its numbers are null
    in every answer and frame, which all parse as JSON."""
    broken = store.jobs.create_schedule(Schedule(id="", root=str(jp_root_dir), notebook="report.ipynb",
                                                 every=math.inf, next_run_at=math.inf, backoff=math.inf,
                                                 parameters={"ratio": math.nan, "big": [math.inf]}, created_at=1.0))
    store.jobs.enqueue(Job(id="", root=str(jp_root_dir), notebook="report.ipynb", schedule_id=broken.id,
                           parameters={"ratio": -math.inf}, backoff=math.inf))
    listed = await call(jp_fetch, "schedules")
    assert listed.code == 200
    [shown] = body(listed)["schedules"]  # body() parses as JSON.parse does: no bare NaN or Infinity
    assert (shown["every"], shown["next_run_at"], shown["backoff"]) == (None, None, None)
    assert shown["parameters"] == {"ratio": None, "big": [None]}
    [job] = body(await call(jp_fetch, "jobs"))["jobs"]
    assert job["parameters"] == {"ratio": None} and job["backoff"] is None

    connection = await jp_ws_fetch("gorgon", "api", "events")
    try:
        while True:
            raw = await asyncio.wait_for(connection.read_message(), WAIT)
            assert raw is not None, "the server closed the feed"
            frame = strict_json(raw)
            if frame["type"] == "jobs":
                break
        assert [s["every"] for s in frame["schedules"]] == [None] and frame["jobs"][0]["backoff"] is None
    finally:
        connection.close()
    paused = await call(jp_fetch, "schedules", broken.id, "resume", method="POST", data={})
    assert paused.code == 200 and body(paused)["next_run_at"] is None  # it never fires, and says so


# -- the chat socket --------------------------------------------------------------------------


async def test_the_chat_socket_refuses_bad_frames_and_stays_open(
        jp_fetch: Fetch, jp_ws_fetch: Callable[..., Awaitable[Any]]) -> None:
    session = body(await call(jp_fetch, "chat", "sessions", method="POST", data={}))
    connection = await jp_ws_fetch("gorgon", "api", "chat", "sessions", session["id"], "ws")
    frames = [
        ("[" * DEEP + "]" * DEEP, TOO_DEEP),
        ('{"type": "send", "text": "' + "x" * FRAME_LIMIT + '"}', f"the most is {FRAME_LIMIT:,} bytes"),
        ('{"type": "send", "text": NaN}', "NaN is not a JSON number"),
        ('{"type": "send", "text": 7}', "text"),
        ('{"type": "send", "text": "hi", "to": "@planner"}', "to"),
        ('{"type": "send", "text": "\\udfff"}', "lone surrogate"),
        ('{"type": "dance"}', '"type" is "send" or "stop"'),
        ("[1, 2]", '"type" is "send" or "stop"'),
        ("{", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ]
    try:
        for frame, says in frames:
            await connection.write_message(frame, binary=isinstance(frame, bytes))
            raw = await asyncio.wait_for(connection.read_message(), WAIT)
            assert raw is not None, f"the socket closed on {frame[:40]!r}"
            answer = strict_json(raw)
            assert answer["type"] == "error" and says in answer["message"], (frame[:40], answer)
        await connection.write_message(json.dumps({"type": "send", "text": "Plan a picnic"}))
        while True:  # the same socket still takes a request, and answers it
            raw = await asyncio.wait_for(connection.read_message(), WAIT)
            assert raw is not None, "the socket closed"
            frame = strict_json(raw)
            assert frame["type"] != "error", frame
            if frame["type"] == "message" and frame["message"]["role"] == "agent" \
                    and frame["message"]["status"] == "done":
                break
    finally:
        connection.close()
    messages = body(await call(jp_fetch, "chat", "sessions", session["id"], "messages"))["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Plan a picnic"]  # no bad frame stored


# -- executed notebooks stay under the root ---------------------------------------------------


@pytest.fixture
def outside(jp_root_dir: Path, tmp_path: Path) -> Path:
    """A folder outside the server's root, and the root's gorgon-jobs a link to it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (jp_root_dir / "gorgon-jobs").symlink_to(folder, target_is_directory=True)
    return folder


async def test_a_gorgon_jobs_link_out_of_the_root_is_refused_when_scheduling_and_running_now(
        jp_fetch: Fetch, jp_root_dir: Path, hourly: Schedule, store: Store, report: Path, outside: Path) -> None:
    refused = await call(jp_fetch, "schedules", method="POST", data=schedule_with(name="weekly"))
    assert refused.code == 400
    message = body(refused)["message"]
    assert str(jp_root_dir.resolve() / "gorgon-jobs") in message and "outside the root" in message
    assert "remove the link" in message
    assert [s.id for s in store.jobs.schedules()] == [hourly.id]
    now = await call(jp_fetch, "schedules", hourly.id, "run", method="POST", data={})
    assert now.code == 400 and "outside the root" in body(now)["message"]
    assert store.jobs.recent(10) == [] and list(outside.iterdir()) == []


@pytest.fixture
def scheduler_on(home: Path) -> None:
    """``[scheduler] enabled`` with no kernel started ahead, written before the server starts."""
    (home / "config.toml").write_text("[scheduler]\nenabled = true\npool = 0\n")


async def test_the_server_scheduler_fails_a_job_whose_gorgon_jobs_leads_out_of_the_root(
        scheduler_on: None, jp_fetch: Fetch, hourly: Schedule, store: Store, outside: Path) -> None:
    queued = service.job_for(hourly, time.time())  # queued before the link was made
    job = store.jobs.enqueue(queued)
    deadline = time.monotonic() + WAIT
    while (current := store.jobs.get(job.id)).state in (JobState.QUEUED, JobState.RUNNING):
        assert time.monotonic() < deadline, f"the job did not end: {current}"
        await asyncio.sleep(0.2)
    assert current.state == JobState.FAILED and current.output_path is None
    assert current.error is not None and "outside the root" in current.error and "gorgon-jobs" in current.error
    assert list(outside.rglob("*")) == []  # nothing written through the link
    shown = body(await call(jp_fetch, "jobs", job.id))["job"]
    assert shown["state"] == "failed" and "outside the root" in shown["error"]


# -- one minimum for every front door ---------------------------------------------------------


def test_every_front_door_refuses_an_interval_under_a_minute(
        home: Path, tmp_path: Path, ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gorgon schedule``, ``%gorgon schedule``, ``gorgon_nb.schedule()`` and the server share
    the scheduling service, so they refuse the same intervals with the same words."""
    write_notebook(tmp_path / "report.ipynb", "x = 1")
    says = "too often: a schedule fires at most once a minute"
    with pytest.raises(UsageError, match=says):
        gorgon_nb.schedule("report.ipynb", root=tmp_path, every="30s")
    with pytest.raises(UsageError, match="never fires"):
        gorgon_nb.schedule("report.ipynb", root=tmp_path, cron="0 0 30 2 *")
    with pytest.raises(UsageError, match="JSON cannot hold"):
        gorgon_nb.schedule("report.ipynb", root=tmp_path, every="1h", parameters={"ratio": math.nan})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MagicError, match=says):
        ip.run_line_magic("gorgon", "schedule report.ipynb --every 0.5s")
    with pytest.raises(MagicError, match="JSON cannot hold"):
        ip.run_line_magic("gorgon", "schedule report.ipynb --every 1h -p ratio=inf")
    cli = subprocess.run([str(Path(sys.executable).with_name("gorgon")), "schedule", "report.ipynb", "--every",
                          "10s"], capture_output=True, text=True, env={**env_without_keys(), "COLUMNS": "200"},
                         timeout=120)
    assert cli.returncode != 0 and says in " ".join((cli.stdout + cli.stderr).split()), cli.stderr
    with Store(load_config().db_path) as opened:
        assert opened.jobs.schedules() == []

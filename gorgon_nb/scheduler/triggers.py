"""When a schedule fires: cron expressions in a time zone, intervals, one time.

Every front door (``gorgon schedule``, ``%gorgon schedule``, ``gorgon_nb.schedule()`` and
the server's ``POST schedules``) reads its triggers through these functions, so they take
the same texts and refuse the same ones: a duration is finite, more than 0 and at most
``DURATION_LIMIT``; ``every`` is at least ``EVERY_MINIMUM``; a cron expression has five
fields and a next time within croniter's horizon.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gorgon_nb.errors import UsageError
from gorgon_nb.model.jobs import Schedule

__all__ = ["DURATION_LIMIT", "EVERY_MINIMUM", "check_cron", "next_fire", "parse_at", "parse_duration",
           "parse_every", "plain_text", "zone"]

EVERY_MINIMUM = 60.0  # seconds: as often as cron can fire; each job starts a kernel of its own
DURATION_LIMIT = 366 * 86400.0  # seconds: a year; rarer schedules are cron's
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.ASCII)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_UNPLAIN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_LIMIT = 200  # characters of a duration, a cron expression or a date


def _shown(text: object) -> str:
    """``text`` to quote in a message: control characters escaped, at most 40 characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[:40])
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _plain(text: str, what: str) -> str:
    if not isinstance(text, str) or len(text) > _TEXT_LIMIT or not plain_text(text):
        raise UsageError(f"'{_shown(text)!s}' is not {what}: write it on one line, in at most {_TEXT_LIMIT} "
                         "characters, without control characters")
    return text


def plain_text(text: str) -> bool:
    """Whether ``text`` is one line of characters that every store and path takes: no control
    characters (NUL among them) and no lone surrogates."""
    return not _UNPLAIN.search(text)


def parse_duration(text: str | float) -> float:
    """Seconds from ``90``, ``30s``, ``15m``, ``2h`` or ``1d``: finite, more than 0 and at
    most ``DURATION_LIMIT`` (a year)."""
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise UsageError(f"{_shown(text)!r} is not a duration; write seconds, or 30s, 15m, 2h, 1d")
    try:
        if isinstance(text, str):
            match = _DURATION.match(_plain(text, "a duration"))
            if not match:
                raise UsageError(f"'{_shown(text)}' is not a duration; write seconds, or 30s, 15m, 2h, 1d")
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
        else:
            seconds = float(text)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise UsageError(f"{_shown(text)} is not a duration: a duration is a finite number of seconds, at most "
                         "366 days")
    if seconds <= 0:
        raise UsageError(f"a duration must be more than 0 seconds, not '{_shown(text)}'")
    if seconds > DURATION_LIMIT:
        raise UsageError(f"'{_shown(text)}' is longer than the longest duration, 366 days ({DURATION_LIMIT:.0f} "
                         "seconds); a schedule that rare is a cron expression or a time (cron or at)")
    return seconds


def parse_every(text: str | float) -> float:
    """The interval of ``every``: a duration of at least ``EVERY_MINIMUM`` seconds."""
    seconds = parse_duration(text)
    if seconds < EVERY_MINIMUM:
        raise UsageError(f"every {_shown(text)} is too often: a schedule fires at most once a minute "
                         f"(every {EVERY_MINIMUM:g}s or more), as cron does; each job starts a kernel of its own")
    return seconds


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(_plain(name, "a time zone"))
    except (ZoneInfoNotFoundError, ValueError, OSError, UsageError):  # OSError: a folder of zones, a long name
        raise UsageError(f"unknown time zone '{_shown(name)}'; use an IANA name such as Europe/Paris or UTC") from None


def check_cron(expression: str, timezone: str = "UTC") -> str:
    """``expression`` when it is five cron fields (or an alias such as ``@daily``) that fire
    again: a date that never comes (``0 0 31 2 *``) is refused."""
    from croniter import CroniterBadDateError, croniter

    fields = _plain(expression, "a cron expression").split()
    valid = len(fields) == 5 or (len(fields) == 1 and fields[0].lower() in _CRON_ALIASES)  # croniter takes 6 or 7
    if not valid or not croniter.is_valid(expression):
        raise UsageError(f"'{_shown(expression)}' is not a cron expression; write five fields, "
                         "minute hour day month weekday, for example \"0 8 * * MON\"")
    try:
        croniter(expression, datetime.fromtimestamp(time.time(), zone(timezone))).get_next(float)
    except CroniterBadDateError:
        raise UsageError(f"the cron expression '{expression}' never fires: no date matches its day and month "
                         "(such as 31 February or 31 April); check the day of the month and the month") from None
    except Exception:  # croniter's own failures on an expression it took for valid
        raise UsageError(f"'{_shown(expression)}' is not a cron expression croniter can follow; write five "
                         "fields, minute hour day month weekday, for example \"0 8 * * MON\"") from None
    return expression


def parse_at(text: str, timezone: str = "UTC") -> float:
    """A timestamp from an ISO date and time (in ``timezone`` unless it names its own)."""
    try:
        when = datetime.fromisoformat(_plain(text, "a date and time"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone(timezone))
        return when.timestamp()
    except (ValueError, OverflowError):
        raise UsageError(f"'{_shown(text)}' is not a date and time; write it as 2026-12-01T09:00") from None


def next_fire(schedule: Schedule, after: float) -> float | None:
    """The first time after ``after`` that ``schedule`` fires, or None when it never will
    (a cron date that never comes, or an interval that is not a finite number of seconds,
    as a schedule stored before these were refused may have)."""
    if schedule.cron:
        from croniter import CroniterError, croniter

        start = datetime.fromtimestamp(after, zone(schedule.timezone))
        try:
            return float(croniter(schedule.cron, start).get_next(float))
        except (CroniterError, ValueError):
            return None
    if schedule.every:
        if not math.isfinite(schedule.every) or schedule.every <= 0:
            return None
        base = schedule.created_at or after
        periods = int((after - base) // schedule.every) + 1
        return base + periods * schedule.every
    if schedule.at is not None:
        return schedule.at if schedule.at > after else None
    return None

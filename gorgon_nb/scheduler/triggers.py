"""When a schedule fires: cron expressions in a time zone, intervals, one time."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gorgon_nb.errors import UsageError
from gorgon_nb.scheduler.model import Schedule

__all__ = ["check_cron", "next_fire", "parse_at", "parse_duration", "zone"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float) -> float:
    """Seconds from ``90``, ``30s``, ``15m``, ``2h`` or ``1d``."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise UsageError(f"'{text}' is not a duration; write seconds, or 30s, 15m, 2h, 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise UsageError(f"a duration must be more than 0 seconds, not '{text}'")
    return seconds


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone '{name}'; use an IANA name such as Europe/Paris or UTC") from None


def check_cron(expression: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise UsageError(f"'{expression}' is not a cron expression; write five fields, "
                         "minute hour day month weekday, for example \"0 8 * * MON\"")
    return expression


def parse_at(text: str, timezone: str = "UTC") -> float:
    """A timestamp from an ISO date and time (in ``timezone`` unless it names its own)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a date and time; write it as 2026-12-01T09:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(timezone))
    return when.timestamp()


def next_fire(schedule: Schedule, after: float) -> float | None:
    """The first time after ``after`` that ``schedule`` fires, or None when it never will."""
    if schedule.cron:
        from croniter import croniter

        start = datetime.fromtimestamp(after, zone(schedule.timezone))
        return float(croniter(schedule.cron, start).get_next(float))
    if schedule.every:
        base = schedule.created_at or after
        periods = int((after - base) // schedule.every) + 1
        return base + periods * schedule.every
    if schedule.at is not None:
        return schedule.at if schedule.at > after else None
    return None

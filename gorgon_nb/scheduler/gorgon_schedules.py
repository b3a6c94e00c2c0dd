"""Gorgon's schedule files, read as they are: their trigger, inputs, state and names.

A Gorgon schedule file is one JSON object::

    {"id": "daily_email_summary", "workflow_id": "email_to_notion", "name": "...",
     "description": "...", "schedule_type": "cron",
     "cron_config": {"minute": "0", "hour": "9", "day": "*", "month": "*", "day_of_week": "mon-fri"},
     "variables": {"max_results": 10}, "status": "active"}

Gorgon gave ``cron_config`` to APScheduler's ``CronTrigger`` field by field, and
``interval_config`` (``days``, ``hours``, ``minutes``, ``seconds``) to its
``IntervalTrigger``. The fields are APScheduler's, not cron's: most read the same, but
APScheduler numbers the days of the week from Monday (``0`` is Monday, ``6`` Sunday) where
cron starts from Sunday, so ``day_of_week`` is rewritten as the list of days it means
(``mon-fri`` is ``1,2,3,4,5`` in cron; ``5-6``, Saturday and Sunday, is ``6,0``).
APScheduler's own extras (``last``, ``2nd fri``, a ``year`` or ``second`` field) have no
cron form and are refused with what to write instead. ``status: paused`` (or
``disabled``) imports paused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorgon_nb.errors import UsageError

__all__ = ["GorgonSchedule", "cron_from_apscheduler", "day_of_week_to_cron", "read_gorgon_schedule"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler's order: mon is 0
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_INTERVAL_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_NUMBERS_FIELD = re.compile(r"^[0-9*/,\-]+$")
_MONTH_FIELD = re.compile(r"^(?:[0-9*/,\-]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)+$", re.IGNORECASE)
_KEYS = {"id", "workflow_id", "name", "description", "schedule_type", "cron_config", "interval_config", "variables",
         "status", "created_at", "last_run", "next_run", "run_count"}


@dataclass
class GorgonSchedule:
    """What gorgon-nb takes from a Gorgon schedule file."""

    id: str
    workflow_id: str
    name: str
    description: str = ""
    cron: str | None = None
    every: float | None = None  # seconds
    variables: dict[str, Any] = field(default_factory=dict)
    paused: bool = False


def _day(token: str, file: str) -> int:
    """One APScheduler day of the week (a name or 0-6 from Monday) as its number from Monday."""
    lowered = token.lower()
    if lowered in _DAYS:
        return _DAYS.index(lowered)
    if lowered.isdigit() and int(lowered) < 7:
        return int(lowered)
    raise UsageError(f"{file}: cron_config.day_of_week has '{token}', which is not a day: write mon..sun or "
                     "0..6 (APScheduler's numbers, from Monday)")


def day_of_week_to_cron(expression: str, file: str = "the schedule file") -> str:
    """An APScheduler ``day_of_week`` (``mon-fri``, ``0,2,4``, ``*/2``, ``sat-sun``) as cron's
    day-of-week field, the days listed in cron's numbers (Sunday 0)."""
    text = str(expression).strip()
    if text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.strip().partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise UsageError(f"{file}: cron_config.day_of_week has the step '/{step_text}'; a step is a whole "
                                 "number from 1")
            step = int(step_text)
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, _, high = span.partition("-")
            first, last = _day(low, file), _day(high, file)
            if last < first:
                raise UsageError(f"{file}: cron_config.day_of_week has the range '{span}', which runs backwards "
                                 "(APScheduler counts from mon to sun); write it as a list, such as sat,sun")
        else:
            first = last = _day(span, file)
            if step_text:
                last = 6
        days.update(range(first, last + 1, step))
    return ",".join(str((day + 1) % 7) for day in sorted(days, key=lambda d: (d + 1) % 7))


def cron_from_apscheduler(config: dict[str, Any], file: str = "the schedule file") -> str:
    """Gorgon's ``cron_config`` as five cron fields (minute hour day month weekday)."""
    if not isinstance(config, dict):
        raise UsageError(f"{file}: cron_config must be an object with minute, hour, day, month and day_of_week")
    unknown = sorted(set(config) - set(_CRON_FIELDS))
    if unknown:
        raise UsageError(f"{file}: cron_config has {', '.join(unknown)}, which cron has no field for; gorgon-nb "
                         "takes minute, hour, day, month and day_of_week (a missing one means every)")
    fields = []
    for name in _CRON_FIELDS[:4]:
        value = str(config.get(name, "*")).strip()
        if not (_MONTH_FIELD if name == "month" else _NUMBERS_FIELD).match(value):
            raise UsageError(f"{file}: cron_config.{name} is '{value}', which has no cron form (APScheduler's "
                             "'last' and '2nd fri' are its own); write numbers, ranges, lists and steps, such as "
                             "1-5, 1,15 or */2")
        fields.append(value)
    fields.append(day_of_week_to_cron(str(config.get("day_of_week", "*")), file))
    return " ".join(fields)


def _every(config: Any, file: str) -> float:
    if not isinstance(config, dict):
        raise UsageError(f"{file}: interval_config must be an object with days, hours, minutes and seconds")
    unknown = sorted(set(config) - set(_INTERVAL_UNITS))
    if unknown:
        raise UsageError(f"{file}: interval_config has {', '.join(unknown)}; it takes weeks, days, hours, "
                         "minutes and seconds")
    total = 0.0
    for unit, seconds in _INTERVAL_UNITS.items():
        value = config.get(unit, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"{file}: interval_config.{unit} must be a number of 0 or more, not {value!r}")
        total += value * seconds
    if total <= 0:
        raise UsageError(f"{file}: interval_config adds up to no time at all; give at least one of days, hours, "
                         "minutes or seconds")
    return total


def read_gorgon_schedule(path: str | Path) -> GorgonSchedule:
    """The schedule in the Gorgon file at ``path``; ``UsageError`` names what is wrong."""
    file = Path(path)
    shown = file.name
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no schedule file at {path}; check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read the schedule file {path}: {exc}") from None
    if not isinstance(data, dict) or "schedule_type" not in data or "workflow_id" not in data:
        raise UsageError(f"{shown} is not a Gorgon schedule file: it needs workflow_id and schedule_type "
                         "(cron with cron_config, or interval with interval_config)")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise UsageError(f"{shown}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; a Gorgon "
                         f"schedule file has {', '.join(sorted(_KEYS))}")
    for key in ("id", "workflow_id", "name", "description"):
        if not isinstance(data.get(key, ""), str):
            raise UsageError(f"{shown}: {key} must be text")
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise UsageError(f"{shown}: variables must be an object of input names and values")
    status = data.get("status", "active")
    if status not in ("active", "paused", "disabled"):
        raise UsageError(f"{shown}: status is '{status}'; it is active, paused or disabled")
    kind = data["schedule_type"]
    schedule = GorgonSchedule(id=data.get("id") or "", workflow_id=data["workflow_id"],
                              name=data.get("name") or data.get("id") or "", description=data.get("description", ""),
                              variables=dict(variables), paused=status != "active")
    if kind == "cron":
        schedule.cron = cron_from_apscheduler(data.get("cron_config") or {}, shown)
    elif kind == "interval":
        schedule.every = _every(data.get("interval_config"), shown)
    else:
        raise UsageError(f"{shown}: schedule_type is '{kind}'; gorgon-nb imports cron (with cron_config) and "
                         "interval (with interval_config) schedules")
    return schedule

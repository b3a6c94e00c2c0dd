"""Timestamps as people read them, in every surface and in the store's own messages.

It sits in the model layer so the store, which must not depend on the displays, words
its messages ("approved by ann at 14:03:22") as the displays show their times.
"""

from __future__ import annotations

import time
from datetime import datetime

__all__ = ["format_time"]


def format_time(timestamp: float | None, *, now: float | None = None) -> str:
    """A moment in the local time zone: the time alone when it is today, else with its date."""
    if timestamp is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp)
    if moment.date() == datetime.fromtimestamp(time.time() if now is None else now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")

"""Functions that test workflows call from ``python`` steps."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

_events: dict[str, asyncio.Event] = {}
calls: dict[str, int] = {}
active = {"now": 0, "peak": 0}


def reset() -> None:
    _events.clear()
    calls.clear()
    active.update(now=0, peak=0)


async def rendezvous(me: str, peer: str) -> str:
    """Finishes only if ``peer`` runs at the same time (otherwise the step times out)."""
    _events.setdefault(me, asyncio.Event()).set()
    await _events.setdefault(peer, asyncio.Event()).wait()
    return f"{me} met {peer}"


def echo(value: Any) -> Any:
    return value


def add(a: int, b: int) -> int:
    return a + b


async def slow_echo(value: Any, delay: float) -> Any:
    active["now"] += 1
    active["peak"] = max(active["peak"], active["now"])
    try:
        await asyncio.sleep(delay)
    finally:
        active["now"] -= 1
    return value


async def sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


def blocking_sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def fail(message: str) -> None:
    raise ValueError(message)


def count(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


def flaky(name: str, failures: int) -> str:
    calls[name] = calls.get(name, 0) + 1
    if calls[name] <= failures:
        raise ConnectionError(f"attempt {calls[name]} failed")
    return f"ok after {calls[name]}"


def read_env(name: str) -> str:
    return os.environ[name]

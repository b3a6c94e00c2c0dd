"""Keep secrets out of everything gorgon-nb writes: the store, events, logs, outputs.

Secret values are the environment variables whose names look like credentials
(``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``), and the values ``remember``
was given (tokens read from the config file). ``redact`` replaces any of them found in a
text with ``***``.
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["redact", "remember", "secret_values"]

_SECRET_NAME = re.compile(r"(API_KEY|_KEY$|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_LENGTH = 8  # shorter values would redact ordinary words
_REFRESH_SECONDS = 2.0
_cache: tuple[float, tuple[str, ...]] = (0.0, ())
_remembered: set[str] = set()


def remember(value: str) -> None:
    """Treat ``value`` as a secret from now on (a token that is not in the environment)."""
    global _cache
    if len(value) >= _MIN_LENGTH and value not in _remembered:
        _remembered.add(value)
        _cache = (0.0, ())


def secret_values() -> tuple[str, ...]:
    """Current secret values, longest first; re-read from the environment every few seconds."""
    global _cache
    checked, values = _cache
    now = time.monotonic()
    if now - checked > _REFRESH_SECONDS:
        found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_LENGTH}
        found |= _remembered
        values = tuple(sorted(found, key=len, reverse=True))
        _cache = (now, values)
    return values


def redact(text: str) -> str:
    for value in secret_values():
        if value in text:
            text = text.replace(value, "***")
    return text

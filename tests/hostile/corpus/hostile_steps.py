"""The function the hostile corpus's python steps call."""

from __future__ import annotations

from typing import Any


def echo(value: Any) -> Any:
    return value

"""Gorgon's ``transform`` actions as plain functions, called by converted ``python:`` steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["extract", "format_text"]


def extract(value: Any, key: Any) -> Any:
    """``value[key]``, or ``""`` when there is no such key (Gorgon's ``transform/extract``)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return value.get(key, "")
    if isinstance(value, Sequence) and not isinstance(value, str) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else ""
    raise TypeError(f"extract needs a mapping to read '{key}' from, not {type(value).__name__}")


def format_text(template: str, values: Mapping[str, Any]) -> str:
    """``template.format(**values)``: single-brace ``{name}`` fields (Gorgon's ``transform/format``)."""
    return template.format(**values)

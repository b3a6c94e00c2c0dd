"""Workflows in Gorgon's JSON shape, converted to the native format."""

from __future__ import annotations

from typing import Any

from gorgon_nb.model.source import SourceText


def is_gorgon_json(data: dict[str, Any]) -> bool:
    return False


def convert(data: dict[str, Any], source: SourceText | None) -> tuple[dict[str, Any], SourceText | None]:
    return data, source

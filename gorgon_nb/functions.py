"""gorgon-nb's own functions for ``python:`` steps (standard library only).

A step names one as ``python: gorgon_nb.functions:NAME``. ``profile_csv`` serves the
bundled analytics workflow; ``extract``, ``format_text`` and ``aggregate`` are Gorgon's
``transform`` actions, which ``model/gorgon_json.py`` converts into ``python:`` steps. These only
compute, so any workflow may call them (``SAFE_FUNCTIONS`` in ``engine/trust.py``).
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gorgon_nb.errors import StepError

__all__ = ["aggregate", "extract", "format_text", "profile_csv"]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "")) if text.strip() else None
    except ValueError:
        return None


def profile_csv(path: str, max_rows: int = 100_000, sample_rows: int = 5) -> dict[str, Any]:
    """Rows, columns, and per-column statistics of a CSV file, for an analyst to reason over.

    Numeric columns get count, missing, min, max, mean, median and standard deviation;
    other columns get their distinct count and most common values.
    """
    file = Path(path).expanduser()
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [row for _, row in zip(range(max_rows), reader, strict=False)]
            columns = list(reader.fieldnames or [])
    except FileNotFoundError:
        raise StepError(f"no CSV file at {file}; pass the path of an existing file as data_path") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StepError(f"cannot read {file} as CSV: {exc}") from None
    profile: dict[str, Any] = {"file": file.name, "rows": len(rows), "columns": {}, "sample": rows[:sample_rows]}
    for column in columns:
        values = [(row.get(column) or "").strip() for row in rows]
        present = [v for v in values if v]
        numbers = [n for n in map(_number, present) if n is not None]
        if present and len(numbers) == len(present):
            profile["columns"][column] = {
                "type": "number", "count": len(numbers), "missing": len(values) - len(numbers),
                "min": min(numbers), "max": max(numbers), "mean": round(statistics.fmean(numbers), 4),
                "median": statistics.median(numbers),
                "stdev": round(statistics.stdev(numbers), 4) if len(numbers) > 1 else 0.0,
            }
        else:
            counts = Counter(present)
            profile["columns"][column] = {
                "type": "text", "count": len(present), "missing": len(values) - len(present),
                "distinct": len(counts),
                "top": [{"value": value, "count": n} for value, n in counts.most_common(5)],
            }
    return profile


# -- Gorgon's transform actions ------------------------------------------------------------


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


def aggregate(sources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Gorgon's ``transform/aggregate``: one mapping of what each source gave, by its type.

    Each source is Gorgon's ``{type, ...}`` with ``data``, what an earlier step read from it
    (a GitHub source's ``repository_activity``). A source with no ``data`` is one gorgon-nb has
    no integration for: it is kept with ``unavailable`` saying so, not guessed. A second source
    of a type is ``github_2``, and so on.
    """
    out: dict[str, Any] = {}
    seen: Counter[str] = Counter()
    for source in sources:
        kind = str(source.get("type") or "source")
        seen[kind] += 1
        key = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
        entry = {k: v for k, v in source.items() if k not in ("type", "data")}
        if "data" in source:
            entry["data"] = source["data"]
        else:
            entry["unavailable"] = f"gorgon-nb has no {kind} integration, so this source was not read"
        out[key] = entry
    return out

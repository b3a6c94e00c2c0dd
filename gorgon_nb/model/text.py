"""The words, figures and tables in which every surface tells gorgon-nb's own facts.

The word and symbol of each status, a duration, a moment, a one-line glimpse of a value,
and a table as Markdown or plain text: the CLI, the magics, the widgets, the chat and the
server say them alike. This module imports nothing of gorgon-nb, so the model can use it
too: a ``RunResult`` shows itself as Markdown with it (``model/run.py``). A step's output
in HTML, Markdown or text, redacted, is ``gorgon_nb.outputs``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = [
    "STATUS_LABELS",
    "STATUS_SYMBOLS",
    "format_duration",
    "format_time",
    "markdown_table",
    "preview",
    "text_table",
]

STATUS_SYMBOLS = {
    "pending": "·", "running": "◐", "waiting": "⏸", "succeeded": "✓", "failed": "✗", "skipped": "↷", "cancelled": "■",
    "stopped": "⚠", "queued": "·", "timed_out": "⌛",
}
STATUS_LABELS = {
    "pending": "pending", "running": "running", "waiting": "waiting", "succeeded": "succeeded", "failed": "failed",
    "skipped": "skipped", "cancelled": "cancelled", "stopped": "stopped", "queued": "queued", "timed_out": "timed out",
}
"""The word shown for each status: a run's and a step's are their ``RunStatus``/``StepStatus``
values, so the CLI, the widgets, the sidebar and the server API read the same."""


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_time(timestamp: float | None, *, now: float | None = None) -> str:
    """A moment in the local time zone: the time alone when it is today, else with its date."""
    if timestamp is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp)
    if moment.date() == datetime.fromtimestamp(time.time() if now is None else now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def preview(value: Any, width: int = 80) -> str:
    """A one-line glimpse of an output."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else repr(value)
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)

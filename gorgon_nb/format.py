"""Plain-text formatting of runs and steps, shared by the CLI and the notebook displays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gorgon_nb.model.run import RunResult, StepResult
from gorgon_nb.model.timestamps import format_time
from gorgon_nb.model.usage import format_cost, format_tokens

__all__ = [
    "STATUS_LABELS",
    "STATUS_SYMBOLS",
    "format_cost",
    "format_duration",
    "format_time",
    "format_tokens",
    "markdown_table",
    "preview",
    "run_markdown",
    "run_summary_line",
    "step_label",
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


def preview(value: Any, width: int = 80) -> str:
    """A one-line glimpse of an output."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else repr(value)
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def step_label(step: StepResult) -> str:
    return f"{step.role} ({step.kind})" if step.role else step.kind


def run_summary_line(run: RunResult) -> str:
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    return f"run {run.run_id} · {format_duration(run.duration)} · {spent}"


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


def run_markdown(run: RunResult, *, outputs: bool = True) -> str:
    """A run as Markdown: header, a table of steps, the error, and the outputs."""
    head = f"**{run.workflow_name or run.workflow_id}** · run `{run.run_id}` · {STATUS_LABELS.get(str(run.status), str(run.status))}"
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    parts = [head, f"{format_duration(run.duration)} · {spent}"]
    rows = [[STATUS_SYMBOLS.get(str(s.status), "?") + " " + STATUS_LABELS.get(str(s.status), str(s.status)),
             f"`{s.key}`", s.role or s.kind, format_duration(s.duration), format_tokens(s.usage), format_cost(s.usage)]
            for s in run.steps.values()]
    if rows:
        parts.append(markdown_table(["status", "step", "agent", "elapsed", "tokens", "cost"], rows))
    if run.error:
        parts.append(f"**Error:** {run.error}")
    if outputs and run.ok:
        last = [s for s in run.steps.values() if s.status == "succeeded" and "." not in s.key]
        if last:
            value = last[-1].output
            text = value if isinstance(value, str) else "```json\n" + json.dumps(value, indent=2, default=str) + "\n```"
            parts.append(f"**Output of `{last[-1].key}`:**\n\n{text}")
    return "\n\n".join(parts)

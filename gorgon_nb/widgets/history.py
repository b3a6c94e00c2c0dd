"""``HistoryView``: recent runs as a table with a cost-over-time chart, and as text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anywidget
import traitlets

from gorgon_nb.model.run import RunOwners, RunResult, RunStatus, observed_status
from gorgon_nb.model.text import (
    STATUS_LABELS,
    format_duration,
    format_time,
    markdown_table,
    text_table,
)
from gorgon_nb.model.usage import format_cost, format_tokens
from gorgon_nb.widgets.run_view import STATIC, with_text_forms

__all__ = ["HistoryView", "history_row"]

_HEADER = ("status", "workflow", "run id", "started", "duration", "tokens", "cost")


def history_row(run: RunResult, status: RunStatus | None = None) -> dict[str, Any]:
    """One run as the frontend draws it; ``cost_usd`` is None when no call had a known price.

    ``status``: the run's ``observed_status`` (``stopped``), when known; else its stored one.
    """
    return {
        "run_id": run.run_id,
        "workflow": run.workflow_name or run.workflow_id,
        "total_tokens": run.usage.total_tokens,
        "status": str(status or run.status),
        "started_at": run.started_at,
        "duration": format_duration(run.duration),
        "tokens": format_tokens(run.usage),
        "cost_usd": run.usage.cost,
        "cost": format_cost(run.usage),
    }


class HistoryView(anywidget.AnyWidget):
    """Recent runs, newest first: ``runs`` holds one ``history_row`` per run."""

    _esm = STATIC / "history.js"
    _css = STATIC / "history.css"

    runs = traitlets.List(traitlets.Dict()).tag(sync=True)

    @classmethod
    def from_runs(cls, runs: Iterable[RunResult], owners: RunOwners | None = None) -> HistoryView:
        """The view of ``runs``; with ``owners`` (the store they came from) a run whose process
        is gone shows as ``stopped``, as ``gorgon runs`` and the sidebar show it."""
        return cls(runs=[history_row(run, observed_status(run, owners) if owners else None) for run in runs])

    def _rows(self) -> list[tuple[str, ...]]:
        return [
            (
                STATUS_LABELS.get(row["status"], row["status"]),
                row["workflow"],
                row["run_id"],
                format_time(row["started_at"]),
                row["duration"],
                row["tokens"],
                row["cost"],
            )
            for row in self.runs
        ]

    def to_text(self) -> str:
        if not self.runs:
            return "no runs yet"
        return text_table(_HEADER, self._rows())

    def to_markdown(self) -> str:
        if not self.runs:
            return "*No runs yet.*"
        rows = [
            (status, workflow, f"`{run_id}`", *rest)
            for status, workflow, run_id, *rest in self._rows()
        ]
        return markdown_table(_HEADER, rows)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return with_text_forms(
            super()._repr_mimebundle_(**kwargs), self.to_text(), self.to_markdown()
        )

    def __repr__(self) -> str:
        return f"<HistoryView: {len(self.runs)} runs>"

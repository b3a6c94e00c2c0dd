"""Live terminal progress of a run, driven by its events.

On a terminal it is a table redrawn in place (status, elapsed, tokens, cost, and the
latest streamed line of each running step); elsewhere (CI logs, pipes) it prints one
line per finished step, so logs stay readable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gorgon_nb.format import STATUS_LABELS, STATUS_SYMBOLS, format_duration, preview
from gorgon_nb.model.events import Event
from gorgon_nb.model.usage import Usage, format_cost, format_tokens

__all__ = ["Progress"]

_STYLES = {"pending": "dim", "running": "cyan", "waiting": "yellow", "succeeded": "green", "failed": "red",
           "skipped": "yellow", "cancelled": "magenta"}


@dataclass
class _Row:
    key: str
    label: str
    status: str = "pending"
    started: float | None = None
    ended: float | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    tail: str = ""  # the end of the streamed text
    note: str = ""

    @property
    def last_line(self) -> str:
        return next((line for line in reversed(self.tail.splitlines()) if line.strip()), "")


class Progress:
    """Subscribe ``progress.on_event`` to a run; use as a context manager around it."""

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live_mode = console.is_terminal if live is None else live
        self.rows: dict[str, _Row] = {}
        self.started = time.monotonic()
        self.notices: list[str] = []
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.live_mode:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)

    def on_event(self, event: Event) -> None:
        data, key = event.data, event.step
        if event.kind in ("run_started", "run_resumed"):
            self._add_graph(data.get("graph", []))
            for key, status in data.get("restored", {}).items():  # done before the resume
                self.rows.setdefault(key, _Row(key, key)).status = status
        elif event.kind == "approval_requested":
            self._ask(event)
        elif event.kind == "approval_decided":
            approval = data["approval"]
            row = self.rows.get(event.step or "")
            if row is not None:
                row.status, row.note = "running", ""
            who = "the timeout" if approval.get("timed_out") else approval.get("decided_by")
            comment = f": {approval['comment']}" if approval.get("comment") and not approval.get("timed_out") else ""
            self._print(Text(f"{approval['status']} by {who}{comment}",
                             style="green" if approval["status"] == "approved" else "red"))
        elif event.kind == "notice":
            self.notices.append(data["message"])
            self._print(Text(f"note: {data['message']}", style="yellow" if data.get("level") == "warning" else "dim"))
        elif key is not None:
            row = self.rows.setdefault(key, _Row(key, key))
            self._update(row, event)
        if self._live is not None and event.kind != "text_delta":
            self._live.update(self._render())
        elif self._live is not None:
            self._live.refresh()

    def _ask(self, event: Event) -> None:
        approval, key = event.data["approval"], event.step or ""
        row = self.rows.setdefault(key, _Row(key, key))
        row.status, row.note = "waiting", f"waiting for approval: {approval['title']}"
        lines = [line for line in str(approval.get("preview") or "").splitlines() if line.strip()][:6]
        text = Text(f"⏸ {approval['title']}  (step {key}, approval {approval['id']})\n", style="bold yellow")
        for line in lines:
            text.append(f"  │ {preview(line, 100)}\n", style="dim")
        text.append(f"  approve: gorgon approve {approval['id']}    reject: gorgon approve {approval['id']} "
                    "--reject -m \"why\"", style="yellow")
        if approval.get("approvers"):
            text.append(f"\n  approvers: {', '.join(approval['approvers'])}", style="dim")
        self._print(text)

    def _add_graph(self, graph: list[dict[str, Any]]) -> None:
        for node in graph:
            label = f"{node['role']}" if node.get("role") else node["kind"]
            self.rows.setdefault(node["key"], _Row(node["key"], label))

    def _update(self, row: _Row, event: Event) -> None:
        data, kind = event.data, event.kind
        if kind == "step_started":
            row.status, row.started, row.tail, row.note = "running", time.monotonic(), "", ""
        elif kind == "text_delta":
            row.tail = (row.tail + data["text"])[-400:]
        elif kind == "step_retry":  # the attempt's streamed text is void
            row.note = f"retry {data['attempt']}: {preview(data['error'], 60)}"
            row.tail = ""
        elif kind in ("step_finished", "step_failed"):
            row.status = data.get("status", "failed") if kind == "step_finished" else (
                "cancelled" if data.get("error_type") == "Cancelled" else "failed")
            row.ended = time.monotonic()
            row.usage = Usage.from_dict(data.get("usage"))
            row.model = data.get("model") or row.model
            row.note = data.get("reason", "") if row.status == "skipped" else (
                preview(data.get("error"), 70) if row.status == "failed" else "")
            if not self.live_mode:
                self._print(self._line(row))

    def _print(self, renderable: Any) -> None:
        if self._live is not None:
            self._live.console.print(renderable)
        else:
            self.console.print(renderable)

    def _elapsed(self, row: _Row) -> str:
        if row.started is None:
            return "-"
        return format_duration((row.ended or time.monotonic()) - row.started)

    def _line(self, row: _Row) -> Text:
        text = Text(f"{STATUS_SYMBOLS[row.status]} {row.key:<20} ", style=_STYLES[row.status])
        text.append(f"{row.label:<14} {self._elapsed(row):>7}  {format_tokens(row.usage):>20}  "
                    f"{format_cost(row.usage):>9}")
        if row.note:
            text.append(f"  {row.note}", style="dim")
        return text

    def _render(self) -> Group:
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for column, justify in [("", "left"), ("step", "left"), ("agent", "left"), ("status", "left"),
                                ("elapsed", "right"), ("tokens", "right"), ("cost", "right"), ("", "left")]:
            table.add_column(column, justify=justify, no_wrap=column != "")  # type: ignore[arg-type]
        total = Usage()
        for row in self.rows.values():
            total = total + row.usage
            detail = row.note or (preview(row.last_line, 60) if row.status == "running" else "")
            style = _STYLES[row.status]
            table.add_row(Text(STATUS_SYMBOLS[row.status], style=style), row.key, row.label,
                          Text(STATUS_LABELS[row.status], style=style), self._elapsed(row),
                          format_tokens(row.usage), format_cost(row.usage), Text(detail, style="dim"))
        footer = Text(f"elapsed {format_duration(time.monotonic() - self.started)} · "
                      f"{format_tokens(total)} tokens · {format_cost(total)}", style="bold")
        return Group(table, footer)

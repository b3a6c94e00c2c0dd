"""Live terminal progress of a run, driven by its events.

On a terminal it is a table redrawn in place (status, elapsed, tokens, cost, and the
latest streamed line of each running step); elsewhere (CI logs, pipes) it prints one
line per finished step, so logs stay readable. Either way each tool call a step makes
prints a line when it starts and one when it ends, with its status.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from gorgon_nb.cli.output import GAP, STYLES, Column, fit_table
from gorgon_nb.cli.tool_calls import finished_line, started_line
from gorgon_nb.model.events import (
    ApprovalDecided,
    ApprovalRequested,
    Notice,
    RunResumed,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRetry,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gorgon_nb.model.text import STATUS_LABELS, STATUS_SYMBOLS, format_duration, preview
from gorgon_nb.model.usage import Usage, format_cost, format_tokens
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from gorgon_nb.model.events import ApprovalData, Event, EventPayload, GraphNode

__all__ = ["Progress"]

_ROUND = re.compile(r"\[\d+\]")  # fix_and_verify[2].fix is the body step fix_and_verify.fix
DETAIL_MIN = 20  # the streamed line is worth showing from this wide
_COLUMNS = (Column(""), Column("step", "name"), Column("agent"), Column("status"), Column("elapsed", right=True),
            Column("tokens", right=True), Column("cost", right=True), Column("", "prose"))


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
        self._labels: dict[str, str] = {}  # a loop body's steps by their key without rounds
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
        payload, key = event.payload, event.step
        if isinstance(payload, RunStarted | RunResumed):
            self._add_graph(payload.graph)
            restored = payload.restored if isinstance(payload, RunResumed) else {}
            for key, status in restored.items():  # done before the resume
                self._row(key).status = status
        elif isinstance(payload, ApprovalRequested):
            self._ask(payload.approval, event.step or "")
        elif isinstance(payload, ApprovalDecided):
            approval = payload.approval
            row = self.rows.get(event.step or "")
            if row is not None:
                row.status, row.note = "running", ""
            who = "the timeout" if approval.get("timed_out") else approval.get("decided_by")
            comment = f": {approval['comment']}" if approval.get("comment") and not approval.get("timed_out") else ""
            self._print(Text(f"{approval['status']} by {who}{comment}",
                             style="green" if approval["status"] == "approved" else "red"))
        elif isinstance(payload, ToolCallStarted) and key is not None:
            self._row(key).note = f"calling {payload.tool}"
            self._print(started_line(key, payload))
        elif isinstance(payload, ToolCallFinished) and key is not None:
            row = self._row(key)
            if row.note == f"calling {payload.tool}":
                row.note = ""
            self._print(finished_line(key, payload))
        elif isinstance(payload, Notice):
            self.notices.append(payload.message)
            self._print(Text(f"note: {payload.message}", style="yellow" if payload.level == "warning" else "dim"))
        elif key is not None:
            self._update(self._row(key), payload)
        if self._live is not None and not isinstance(payload, TextDelta):
            self._live.update(self._render())
        elif self._live is not None:
            self._live.refresh()

    def _row(self, key: str) -> _Row:
        """The row of step ``key``; a loop body's step is labelled as its step in the graph and
        placed after its loop's rows."""
        if key in self.rows:
            return self.rows[key]
        row = _Row(key, self._labels.get(_ROUND.sub("", key), ""))
        loop = key.rsplit("[", 1)[0] if _ROUND.search(key) else None
        keys = list(self.rows)
        family = [i for i, k in enumerate(keys) if loop is not None and (k == loop or k.startswith(loop + "["))]
        if family:
            keys.insert(family[-1] + 1, key)
            self.rows = {k: self.rows.get(k, row) for k in keys}
        else:
            self.rows[key] = row
        return row

    def _ask(self, approval: ApprovalData, key: str) -> None:
        row = self._row(key)
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

    def _add_graph(self, graph: list[GraphNode], path: str = "") -> None:
        for node in graph:
            label = f"{node['role']}" if node.get("role") else node["kind"]
            self._labels[path + node["id"]] = label
            if not path:
                self.rows.setdefault(node["key"], _Row(node["key"], label))
            self._add_graph(node.get("body") or [], path + node["id"] + ".")

    def _update(self, row: _Row, payload: EventPayload) -> None:
        match payload:
            case StepStarted():
                row.status, row.started, row.tail, row.note = "running", time.monotonic(), "", ""
            case TextDelta():
                row.tail = redact(row.tail + payload.text)[-400:]
            case StepRetry():  # the attempt's streamed text is void
                row.note = f"retry {payload.attempt}: {preview(payload.error, 60)}"
                row.tail = ""
            case StepFinished():
                row.status, row.model = payload.status, payload.model or row.model
                self._ended(row, payload.usage, (payload.reason or "") if payload.status == "skipped" else "")
            case StepFailed():
                row.status = "cancelled" if payload.error_type == "Cancelled" else "failed"
                self._ended(row, payload.usage, preview(payload.error, 70) if row.status == "failed" else "")

    def _ended(self, row: _Row, usage: Usage | None, note: str) -> None:
        row.ended, row.usage, row.note = time.monotonic(), usage or Usage(), note
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
        text = Text(f"{STATUS_SYMBOLS[row.status]} {row.key:<20} ", style=STYLES.get(row.status, "white"))
        text.append(f"{row.label:<14} {self._elapsed(row):>7}  {format_tokens(row.usage):>20}  "
                    f"{format_cost(row.usage):>9}")
        if row.note:
            text.append(f"  {row.note}", style="dim")
        return text

    def _cells(self, row: _Row, compact: bool) -> list[str]:
        detail = row.note or (preview(row.last_line, 60) if row.status == "running" else "")
        style = STYLES.get(row.status, "white")
        tokens = f"{row.usage.total_tokens:,}" if compact else format_tokens(row.usage)
        return [f"[{style}]{STATUS_SYMBOLS[row.status]}[/]", escape(row.key), escape(row.label),
                f"[{style}]{STATUS_LABELS[row.status]}[/]", self._elapsed(row), tokens, format_cost(row.usage),
                f"[dim]{escape(detail)}[/]"]

    def _render(self) -> Group:
        """The table fitted to the terminal: step keys whole, one line per step. When the columns
        do not fit, tokens show as one total, then the streamed line makes way."""
        width = self.console.width
        for compact in (False, True):
            rows = [self._cells(row, compact) for row in self.rows.values()]
            _, fixed = fit_table(_COLUMNS[:-1], [r[:-1] for r in rows], width)
            if fixed + GAP + DETAIL_MIN <= width:
                break
        columns = _COLUMNS if fixed + GAP + 1 < width else _COLUMNS[:-1]
        table, _ = fit_table(columns, [r[:len(columns)] for r in rows], width, prose_min=1)
        total = sum((row.usage for row in self.rows.values()), Usage())
        footer = Text(f"elapsed {format_duration(time.monotonic() - self.started)} · "
                      f"{format_tokens(total)} tokens · {format_cost(total)}", style="bold")
        return Group(table, footer)

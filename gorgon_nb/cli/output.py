"""Tables and statuses as the ``gorgon`` commands print them.

A table never cuts what a user must type back (a run id, a workflow name, a step key):
those columns keep their full width, the fixed ones (status, times, numbers) too, and
only the prose columns (descriptions, titles, errors) shrink to what is left of the
terminal, ending in "…". When even the names do not fit, the line runs past the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from gorgon_nb.model.text import STATUS_LABELS, STATUS_SYMBOLS

__all__ = ["Column", "fit_table", "print_table", "status_text", "styled"]

STYLES = {"succeeded": "green", "failed": "red", "cancelled": "magenta", "running": "cyan", "waiting": "yellow",
          "stopped": "yellow", "skipped": "yellow", "timed_out": "red", "queued": "white", "pending": "dim"}
GAP = 2  # spaces between columns
PROSE_MIN = 12  # a prose column narrower than this says too little to be worth showing


def status_text(status: str) -> str:
    """A status as plain text: its symbol and its word (``✓ succeeded``)."""
    return f"{STATUS_SYMBOLS.get(status, '?')} {STATUS_LABELS.get(status, status)}"


def styled(status: str) -> str:
    """``status_text`` in the status's colour, as console markup."""
    return f"[{STYLES.get(status, 'white')}]{escape(status_text(status))}[/]"


@dataclass(frozen=True)
class Column:
    """``name`` kept whole (ids, names, keys: what a user types) or ``prose`` (may be cut)."""

    header: str
    kind: Literal["name", "fixed", "prose"] = "fixed"
    right: bool = False


def _width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, *,
              prose_min: int = PROSE_MIN) -> tuple[Table, int]:
    """A table of ``rows`` (console markup) for a console ``width`` wide, and the width it takes."""
    natural = [max([len(c.header)] + [_width(row[i]) for row in rows]) for i, c in enumerate(columns)]
    prose = [i for i, c in enumerate(columns) if c.kind == "prose"]
    widths = list(natural)
    room = width - sum(natural[i] for i in range(len(columns)) if i not in prose) - GAP * (len(columns) - 1)
    wanted = sum(natural[i] for i in prose)
    if wanted > room:  # share what is left, in proportion to what each would fill
        for i in prose:
            widths[i] = max(prose_min, min(natural[i], room * natural[i] // max(wanted, 1)))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, GAP // 2), show_edge=False)
    for column, size in zip(columns, widths, strict=True):
        table.add_column(column.header, justify="right" if column.right else "left", no_wrap=True,
                         overflow="ellipsis" if column.kind == "prose" else "fold", width=size,
                         min_width=size if column.kind != "prose" else None)
    for row in rows:
        table.add_row(*row)
    return table, sum(widths) + GAP * (len(columns) - 1)


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (console markup; escape what is not) under ``columns``."""
    table, total = fit_table(columns, rows, console.width)
    if total <= console.width:
        console.print(table)
    else:  # a name longer than the terminal is wide: the line runs on rather than cut it
        console.print(Segments(console.render(table, console.options.update(width=total))), crop=False)

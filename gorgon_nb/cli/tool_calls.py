"""Tool calls in the terminal: a line per call in ``gorgon run``'s progress, and the list of
a run's calls in ``gorgon show``.

``gorgon show`` reads the run's tool-call journal (``store.tools``): every call the run
made, once, with its arguments and result, a resumed run's included. The journal knows
whether a result was an error; the run's ``tool_call_finished`` events say which of those
errors were a person's rejection.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text

from gorgon_nb.model.events import ToolCallFinished, ToolCallStarted
from gorgon_nb.model.text import preview
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

    from gorgon_nb.model.events import Event
    from gorgon_nb.store.tools import ToolCallRecord

__all__ = ["CALL_STATUSES", "ShownCall", "finished_line", "print_tool_calls", "run_tool_calls", "started_line"]

CALL_STATUSES = {  # status -> (symbol, style)
    "running": ("…", "cyan"), "waiting": ("⏸", "yellow"), "ok": ("✓", "green"), "error": ("✗", "red"),
    "rejected": ("⊘", "red"), "cut off": ("?", "yellow"),
}
ARGUMENTS_WIDTH = 70  # characters of a call's arguments on its line
RESULT_WIDTH = 70  # characters of its result
SHOWN_WIDTH = 200  # characters of a call's arguments, and of its result, that gorgon show prints


def _arguments(arguments: Any) -> str:
    return redact(json.dumps(arguments, ensure_ascii=False, default=str, separators=(", ", ": ")))


def _where(step: str, item: int | None, delegation: int | None) -> str:
    return step + (f"[{item}]" if item is not None else "") + (f" delegate {delegation}" if delegation is not None
                                                              else "")


# -- gorgon run: a line per call -------------------------------------------------------------

def started_line(step: str, payload: ToolCallStarted) -> Text:
    """``→ build calls files.write_file {"path": "hello.py", ...}`` (``writes`` when it writes)."""
    text = Text("  → ", style="cyan")
    text.append(f"{_where(step, payload.item, payload.delegation)} calls ")
    text.append(payload.tool, style="bold")
    text.append(f" {preview(_arguments(payload.arguments), ARGUMENTS_WIDTH)}", style="dim")
    if payload.writes:
        text.append("  (writes)", style="yellow")
    return text


def finished_line(step: str, payload: ToolCallFinished) -> Text:
    """``✓ build files.write_file ok: wrote 8 characters`` (``recorded`` when served from the record)."""
    symbol, style = CALL_STATUSES.get(payload.status, ("?", "white"))
    text = Text(f"  {symbol} ", style=style)
    text.append(f"{_where(step, payload.item, payload.delegation)} {payload.tool} ")
    text.append(payload.status, style=style)
    if payload.recorded:
        text.append(" (recorded)", style="dim")
    if payload.result:
        text.append(f": {preview(redact(payload.result), RESULT_WIDTH)}", style="dim")
    return text


# -- gorgon show: the run's calls ------------------------------------------------------------

@dataclass(frozen=True)
class ShownCall:
    """A call as ``gorgon show`` lists it."""

    step: str
    item: int | None
    conversation: str
    number: int  # 1-based, in the order the model asked within its conversation
    tool: str
    arguments: str
    status: str  # ok | error | rejected | cut off (still noted running: its process stopped)
    result: str
    writes: bool

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "item": self.item, "conversation": self.conversation, "number": self.number,
                "tool": self.tool, "arguments": self.arguments, "status": self.status, "result": self.result,
                "writes": self.writes}


def _delegation(conversation: str) -> int | None:
    head = conversation.partition(".")[0]
    return int(head[1:]) if head.startswith("d") and head[1:].isdigit() else None


def run_tool_calls(records: Iterable[ToolCallRecord], events: Iterable[Event]) -> list[ShownCall]:
    """The calls of a run from its journal, each with the status its last event gave it."""
    said: dict[tuple[str, int | None, int | None, int, str], str] = {}
    for event in events:
        if isinstance(event.payload, ToolCallFinished) and event.step:
            p = event.payload
            said[(event.step, p.item, p.delegation, p.index, p.tool)] = p.status
    shown = []
    for record in records:
        key = record.key
        if record.state != "done":
            status = "cut off"
        else:
            status = "error" if record.is_error else "ok"
            told = said.get((key.step_key, key.item, _delegation(key.conversation), key.index, record.tool))
            if record.is_error and told == "rejected":
                status = "rejected"
        result = record.result if isinstance(record.result, str) or record.result is None else _arguments(
            record.result)
        shown.append(ShownCall(key.step_key, key.item, key.conversation, key.index + 1, record.tool,
                               _arguments(record.arguments), status, redact(result or ""), record.writes))
    return shown


def print_tool_calls(console: Console, calls: list[ShownCall]) -> None:
    """Each step's calls under its key: number, status, tool, arguments and the start of the result."""
    step = None
    for call in calls:
        if call.step != step:
            step = call.step
            count = sum(1 for c in calls if c.step == step)
            console.print(f"[bold]tool calls of {escape(step)}[/] ({count})")
        symbol, style = CALL_STATUSES.get(call.status, ("?", "white"))
        where = (f"[{call.item}]" if call.item is not None else "") + (f" {call.conversation}" if call.conversation
                                                                       else "")
        line = (f"  {call.number:>2}. [{style}]{symbol} {escape(call.status)}[/] [bold]{escape(call.tool)}[/]"
                f"{escape(where)} [dim]{escape(preview(call.arguments, SHOWN_WIDTH))}[/]")
        console.print(line, soft_wrap=True)
        if call.result:
            console.print(f"      [dim]→ {escape(preview(call.result, SHOWN_WIDTH))}[/]", soft_wrap=True)

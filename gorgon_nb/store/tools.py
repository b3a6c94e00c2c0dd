"""The journal of tool calls: each call a step's model asked for, and its result.

A call is noted as ``running`` before the tool runs and as ``done`` with its result (or
its error, which the model read as the result) once it returned. The key is the call's
place in the step execution (``ToolCallKey``): run, step key, item, conversation (one
step may hold several: a supervisor's delegates, a revision) and index, counting the
calls of that conversation in the order the model asked for them. A resumed run finds
``done`` calls here and takes their results instead of calling again; a replay reads the
replayed run's. A call still ``running`` was cut off: a read, or a write that is safe to
repeat, runs again; any other write stops its step (see ``engine.tools``).

Transaction rules: only the process that owns the run writes its journal, one statement
at a time: ``running`` is committed before the tool starts, ``done`` as soon as it ended.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database

__all__ = ["ToolCallJournal", "ToolCallKey", "ToolCallRecord"]


@dataclass(frozen=True)
class ToolCallKey:
    run_id: str
    step_key: str
    item: int | None
    conversation: str  # "" for a step's first; "d2" for a supervisor's third delegate; ".1" for a second one
    index: int

    def where(self) -> tuple[str, str, int, str, int]:
        return (self.run_id, self.step_key, _item(self.item), self.conversation, self.index)

    def of_run(self, run_id: str) -> ToolCallKey:
        """The same call in another run (the one a replay replays)."""
        return ToolCallKey(run_id, self.step_key, self.item, self.conversation, self.index)


@dataclass(frozen=True)
class ToolCallRecord:
    key: ToolCallKey
    tool: str
    arguments: dict[str, Any]
    writes: bool
    state: Literal["running", "done"]
    result: Any
    is_error: bool
    started_at: float
    ended_at: float | None


_WHERE = "run_id = ? AND step_key = ? AND item = ? AND conversation = ? AND idx = ?"


def _item(item: int | None) -> int:
    return -1 if item is None else item


class ToolCallJournal:
    """``store.tools``: the journal of the tool calls of runs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: ToolCallKey) -> ToolCallRecord | None:
        rows = self._db.query(f"SELECT * FROM tool_calls WHERE {_WHERE}", key.where())
        return _record(rows[0]) if rows else None

    def of_run(self, run_id: str) -> list[ToolCallRecord]:
        """The run's tool calls: each conversation's in the order the model asked for them (a
        write starts once approved, so it may start after calls asked for later), the
        conversations in the order they began."""
        rows = self._db.query("SELECT * FROM tool_calls WHERE run_id = ? ORDER BY started_at", (run_id,))
        records = [_record(row) for row in rows]
        began: dict[tuple[str, int | None, str], int] = {}
        for record in records:
            began.setdefault((record.key.step_key, record.key.item, record.key.conversation), len(began))
        return sorted(records, key=lambda r: (began[(r.key.step_key, r.key.item, r.key.conversation)], r.key.index))

    def note_running(self, key: ToolCallKey, tool: str, arguments: dict[str, Any], writes: bool) -> None:
        self._db.write(
            "INSERT OR REPLACE INTO tool_calls (run_id, step_key, item, conversation, idx, tool, arguments, writes, "
            "state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            (*key.where(), tool, redact(json.dumps(arguments, default=str)), int(writes), time.time()))

    def note_done(self, key: ToolCallKey, result: Any, is_error: bool) -> None:
        self._db.write(
            f"UPDATE tool_calls SET state = 'done', result = ?, is_error = ?, ended_at = ? WHERE {_WHERE}",
            (redact(json.dumps(result, default=str)), int(is_error), time.time(), *key.where()))


def _record(row: dict[str, Any]) -> ToolCallRecord:
    key = ToolCallKey(row["run_id"], row["step_key"], None if row["item"] < 0 else row["item"], row["conversation"],
                      row["idx"])
    return ToolCallRecord(
        key, row["tool"], json.loads(row["arguments"]), bool(row["writes"]), row["state"],
        json.loads(row["result"]) if row["result"] is not None else None, bool(row["is_error"]),
        row["started_at"], row["ended_at"])

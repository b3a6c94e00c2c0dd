"""The journal of writes to outside services: each step execution writes at most once.

A write is noted as ``sending`` before its request goes out and as ``done`` with its
result once the service answered; a write refused for sure is forgotten. The key is the
step execution itself: (run, step key, item). A resumed run finds ``done`` writes here
and takes their results instead of writing again; a write still ``sending`` was cut off
and may or may not have happened.

Transaction rules: only the process that owns the run writes its journal, one statement
at a time, each committed before the next step of the write goes on: ``sending`` is
committed before the request leaves, ``done`` as soon as the answer is in.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database

__all__ = ["WriteJournal", "WriteRecord"]


@dataclass(frozen=True)
class WriteRecord:
    run_id: str
    step_key: str
    item: int | None
    service: str
    action: str
    state: Literal["sending", "done"]
    result: Any
    started_at: float
    ended_at: float | None


def _item(item: int | None) -> int:
    return -1 if item is None else item


class WriteJournal:
    """``store.writes``: the journal of writes to outside services."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, run_id: str, step_key: str, item: int | None) -> WriteRecord | None:
        rows = self._db.query("SELECT * FROM writes WHERE run_id = ? AND step_key = ? AND item = ?",
                              (run_id, step_key, _item(item)))
        if not rows:
            return None
        row = rows[0]
        return WriteRecord(row["run_id"], row["step_key"], None if row["item"] < 0 else row["item"], row["service"],
                           row["action"], row["state"], json.loads(row["result"]) if row["result"] else None,
                           row["started_at"], row["ended_at"])

    def note_sending(self, run_id: str, step_key: str, item: int | None, service: str, action: str) -> None:
        self._db.write("INSERT OR REPLACE INTO writes (run_id, step_key, item, service, action, state, started_at) "
                       "VALUES (?, ?, ?, ?, ?, 'sending', ?)",
                       (run_id, step_key, _item(item), service, action, time.time()))

    def note_done(self, run_id: str, step_key: str, item: int | None, result: Any) -> None:
        self._db.write("UPDATE writes SET state = 'done', result = ?, ended_at = ? WHERE run_id = ? AND step_key = ? "
                       "AND item = ?", (redact(json.dumps(result, default=str)), time.time(), run_id, step_key,
                                        _item(item)))

    def forget(self, run_id: str, step_key: str, item: int | None) -> None:
        self._db.write("DELETE FROM writes WHERE run_id = ? AND step_key = ? AND item = ?",
                       (run_id, step_key, _item(item)))

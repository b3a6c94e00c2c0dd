"""Recent runs read straight from the store's file, for ``gorgon runs``.

Opening ``Store`` imports sqlite-utils and applies migrations, which costs more than the
whole listing; this reader opens the file read-only with ``sqlite3`` and reads the
``runs`` table. It never creates the file, and anything it cannot read (an older schema
that needs migrating) is read through ``Store`` instead. Who runs a run (for "stopped")
is always asked of ``Store``, opened only when a listed run is unfinished.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.model.run import RunResult, RunStatus
from gorgon_nb.model.usage import Usage

if TYPE_CHECKING:
    from gorgon_nb.store import Store
    from gorgon_nb.store.control import Owner

__all__ = ["RunReader", "store_path"]

_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "calls", "cost_usd",
          "unpriced_calls")
_COLUMNS = ("id", "workflow_id", "workflow_name", "status", "inputs", "outputs", "error", "error_type",
            "started_at", "ended_at", "workflow_hash", "source_path", "notices", *_USAGE)


def store_path() -> Path:
    """``GORGON_HOME/gorgon.db``, as ``load_config().db_path`` says, without loading the config."""
    if os.environ.get("GORGON_HOME"):
        return Path(os.environ["GORGON_HOME"]).expanduser() / "gorgon.db"
    from gorgon_nb.config import gorgon_home

    return gorgon_home() / "gorgon.db"


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _run(row: sqlite3.Row) -> RunResult:
    return RunResult(
        run_id=row["id"], workflow_id=row["workflow_id"], workflow_name=row["workflow_name"] or "",
        status=RunStatus(row["status"]), inputs=_loads(row["inputs"]) or {}, outputs=_loads(row["outputs"]) or {},
        usage=Usage(**{name: row[name] for name in _USAGE}), error=row["error"], error_type=row["error_type"],
        started_at=row["started_at"], ended_at=row["ended_at"], workflow_hash=row["workflow_hash"] or "",
        source_path=row["source_path"], notices=_loads(row["notices"]) or [],
    )


class RunReader:
    """Recent runs as ``store.runs`` gives them (a ``RunRecords``), and who runs one as
    ``store.control`` tells (a ``RunOwners``), read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None

    def store(self) -> Store:
        if self._store is None:
            from gorgon_nb.store import Store

            self._store = Store(self.path)
        return self._store

    def recent(self, limit: int = 20, *, status: str | None = None, workflow_id: str | None = None,
               not_workflow_id: str | None = None) -> list[RunResult]:
        if not self.path.is_file():
            return []
        where = [(f"{column} = ?", value) for column, value in (("status", status), ("workflow_id", workflow_id))
                 if value]
        where += [("workflow_id IS NOT ?", not_workflow_id)] if not_workflow_id else []
        sql = (f"SELECT {', '.join(_COLUMNS)} FROM runs" + (" WHERE " + " AND ".join(c for c, _ in where) if where
                                                             else "") + " ORDER BY created_at DESC LIMIT ?")
        try:
            with closing(sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)) as conn:
                conn.row_factory = sqlite3.Row
                rows = conn.execute(sql, (*(v for _, v in where), limit)).fetchall()
            return [_run(row) for row in rows]
        except (sqlite3.Error, ValueError, KeyError):  # a store that needs migrating, or a newer one
            return self.store().runs.recent(limit, status=status, workflow_id=workflow_id,
                                            not_workflow_id=not_workflow_id)

    def owner(self, run_id: str) -> Owner:
        return self.store().control.owner(run_id)

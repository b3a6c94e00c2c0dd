"""The SQLite store: runs, steps, events and usage in one file shared by every process.

WAL mode lets readers (the Jupyter server, ``gorgon runs``) proceed while a run writes;
``synchronous=NORMAL`` keeps commits fast and still survives the death of any process
(only a power cut can lose the last commits). Writes take ``BEGIN IMMEDIATE`` so two
processes never deadlock upgrading a read lock; the busy timeout makes them wait their
turn instead of failing.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gorgon_nb.errors import Advice, NotFoundError, StoreError, UsageError
from gorgon_nb.model.events import Event, payload_data
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.secrets import redact
from gorgon_nb.store.approvals import ApprovalTable
from gorgon_nb.store.base import newest
from gorgon_nb.store.chat import ChatTable
from gorgon_nb.store.control import RunControl
from gorgon_nb.store.jobs import JobTable
from gorgon_nb.store.migrations import migrations
from gorgon_nb.store.writes import WriteTable

__all__ = ["RecordedCall", "Store"]

BUSY_TIMEOUT_SECONDS = 10.0
OUTPUT_PREVIEW = 500  # characters of a step's output kept in its event (the step row keeps it all)
_USAGE_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "calls", "cost_usd", "unpriced_calls")


def _retry_locked(statement: Callable[[], object]) -> None:
    """Run a statement that ignores the busy timeout (``journal_mode``) until the lock clears."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _dumps(value: Any) -> str:
    return redact(json.dumps(value, ensure_ascii=False, default=str))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _usage_values(usage: Usage) -> tuple[Any, ...]:
    return tuple(getattr(usage, name) for name in _USAGE_COLUMNS)


@dataclass(frozen=True)
class RecordedCall:
    """A model call as it was answered, kept so a resumed or replayed run need not pay again."""

    text: str
    usage: Usage
    finish_reason: str | None
    provider: str
    model: str


class Store(ApprovalTable, RunControl, ChatTable, JobTable, WriteTable):
    """Open on a path (created with its folders), ``":memory:"``, or an open connection."""

    def __init__(self, path: str | os.PathLike[str] | sqlite3.Connection = ":memory:") -> None:
        self._lock = threading.RLock()
        try:
            if isinstance(path, sqlite3.Connection):
                conn, self.path = path, None
            else:
                self.path = None if str(path) == ":memory:" else Path(path)
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.db = Database(conn, execute_plugins=False)
            self.conn = conn
            with self.transaction():
                migrations.apply(self.db)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(f"the store at {path} stayed locked by another process for "
                                 f"{BUSY_TIMEOUT_SECONDS:g}s; try again when it is done") from None
            raise StoreError(f"cannot open the store at {path}: {exc}. Check the path and its permissions, "
                             "or set GORGON_HOME to another folder.") from None
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}. Check the path and its permissions, "
                             "or set GORGON_HOME to another folder.") from None

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; a nested one joins the outer (which commits or rolls back all)."""
        with self._lock:
            if self.conn.in_transaction:
                yield
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the store is busy or unwritable: {exc}") from None
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self.transaction():
            self.conn.execute(sql, params)

    # -- writing -------------------------------------------------------------------------

    def create_run(self, run: RunResult, *, source: str | None, source_format: str | None,
                   options: dict[str, Any] | None = None, parent_run_id: str | None = None,
                   replay_of: str | None = None, fork_of: str | None = None,
                   budget: dict[str, Any] | None = None) -> None:
        now = time.time()
        self._write(
            "INSERT INTO runs (id, workflow_id, workflow_name, workflow_hash, source, source_format, "
            "source_path, inputs, options, status, parent_run_id, pid, host, created_at, started_at, "
            "heartbeat_at, replay_of, fork_of, budget) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            # The workflow text is kept scrubbed: a key written into the file stays out of the
            # store (its hash, computed before, still identifies the original). The mark is a
            # plain word, as "***" where a YAML value starts would read as an alias.
            (run.run_id, run.workflow_id, run.workflow_name, run.workflow_hash,
             redact(source, "REDACTED") if source is not None else None, source_format,
             run.source_path, _dumps(run.inputs), _dumps(options or {}), str(run.status), parent_run_id,
             os.getpid(), socket.gethostname(), now, run.started_at, now, replay_of, fork_of,
             _dumps(budget) if budget else None),
        )

    def finish_run(self, run: RunResult, *, derived_outputs: bool = False) -> None:
        """Record a run's end. ``derived_outputs``: its outputs are its steps' (read back from them)."""
        self._write(
            "UPDATE runs SET status = ?, error = ?, error_type = ?, outputs = ?, notices = ?, ended_at = ?, "
            + ", ".join(f"{c} = ?" for c in _USAGE_COLUMNS) + " WHERE id = ?",
            (str(run.status), redact(run.error) if run.error else None, run.error_type,
             None if derived_outputs else _dumps(run.outputs), _dumps(run.notices), run.ended_at,
             *_usage_values(run.usage), run.run_id),
        )

    def save_step(self, run_id: str, step: StepResult, position: int = 0) -> None:
        self._write(
            "INSERT OR REPLACE INTO steps (run_id, key, step_id, kind, role, status, output, error, error_type, "
            "model, attempts, " + ", ".join(_USAGE_COLUMNS) + ", position, started_at, ended_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step.key, step.step_id, step.kind, step.role, str(step.status),
             None if step.output is None else _dumps(step.output),
             redact(step.error) if step.error else None, step.error_type, step.model, step.attempts,
             *_usage_values(step.usage), position, step.started_at, step.ended_at),
        )

    def append_event(self, event: Event) -> None:
        self._write(
            "INSERT INTO events (run_id, seq, ts, kind, step, data) VALUES (?, ?, ?, ?, ?, ?)",
            (event.run_id, event.seq, event.ts, event.kind, event.step,
             _dumps(_stored_data(payload_data(event.payload)))),
        )

    def record_call(self, run_id: str, step_key: str | None, provider: str, model: str, usage: Usage, *,
                    item: int | None = None, request_hash: str | None = None, response: str | None = None,
                    finish_reason: str | None = None) -> None:
        cost = None if usage.unpriced_calls else usage.cost_usd
        self._write(
            "INSERT INTO usage (run_id, step_key, provider, model, input_tokens, output_tokens, "
            "cache_read_tokens, cache_write_tokens, cost_usd, ts, item, request_hash, response, finish_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step_key, provider, model, usage.input_tokens, usage.output_tokens,
             usage.cache_read_tokens, usage.cache_write_tokens, cost, time.time(), item, request_hash,
             redact(response) if response is not None else None, finish_reason),
        )

    def recorded_calls(self, run_id: str) -> dict[tuple[str, int | None, str], list[RecordedCall]]:
        """The answered calls of a run by (step key, item, request hash), in the order made."""
        found: dict[tuple[str, int | None, str], list[RecordedCall]] = {}
        for row in self._query("SELECT * FROM usage WHERE run_id = ? AND request_hash IS NOT NULL ORDER BY id",
                               (run_id,)):
            usage = Usage(row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
                          row["cache_write_tokens"], 1, row["cost_usd"] or 0.0, int(row["cost_usd"] is None))
            found.setdefault((row["step_key"], row["item"], row["request_hash"]), []).append(
                RecordedCall(row["response"] or "", usage, row["finish_reason"], row["provider"], row["model"]))
        return found

    # -- reading -------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                cursor = self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store: {exc}") from None
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def resolve_run_id(self, run_id: str) -> str:
        """A full run id from an id or an unambiguous prefix of one."""
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query("SELECT id FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' "
                           "ORDER BY created_at DESC LIMIT 6", (run_id, pattern))
        ids = [row["id"] for row in rows]
        if run_id in ids:
            return run_id
        if not ids:
            raise NotFoundError(f"no run '{run_id}'. ", Advice(
                python="Runner().store.list_runs() lists recent runs.",
                notebook="Run %gorgon runs to list recent runs.", cli="Run 'gorgon runs' to list recent runs."))
        if len(ids) > 1:
            raise UsageError(f"'{run_id}' matches several runs ({', '.join(ids[:5])}); give more of the id")
        return ids[0]

    def get_run(self, run_id: str) -> RunResult:
        run_id = self.resolve_run_id(run_id)
        row = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))[0]
        run = _run_from_row(row)
        for step_row in self._query("SELECT * FROM steps WHERE run_id = ? ORDER BY position, started_at", (run_id,)):
            step = _step_from_row(step_row)
            run.steps[step.key] = step
        if row["outputs"] is None and run.status.finished:  # stored once, in the steps
            done = ("succeeded",) if run.status is not RunStatus.SUCCEEDED else ("succeeded", "skipped", "failed")
            run.outputs = {s.step_id: s.output for s in run.steps.values()
                           if "." not in s.key and str(s.status) in done}
        return run

    def list_runs(self, limit: int = 20, *, status: str | None = None, workflow_id: str | None = None,
                  not_workflow_id: str | None = None) -> list[RunResult]:
        """Recent runs, newest first, as summaries: no steps, and outputs only when declared
        by the workflow (``get_run`` has everything)."""
        sql, params = newest("runs", "created_at", {"status": status, "workflow_id": workflow_id}, limit,
                             exclude={"workflow_id": not_workflow_id})
        return [_run_from_row(row) for row in self._query(sql, params)]

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        """The run's stored events in order, as typed payloads (a kind unknown here is left out)."""
        rows = self._query("SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq", (run_id, after))
        events = (Event.from_dict({**row, "data": json.loads(row["data"])}) for row in rows)
        return [event for event in events if event is not None]

    def run_source(self, run_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
        """The workflow text a run executed, its format, and the run's options."""
        rows = self._query("SELECT source, source_format, options FROM runs WHERE id = ?",
                           (self.resolve_run_id(run_id),))
        return rows[0]["source"], rows[0]["source_format"], _loads(rows[0]["options"]) or {}


def _stored_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event as kept in the log: whole outputs live in the step rows; here a preview of one,
    or the names of a run's outputs."""
    if isinstance(data.get("outputs"), dict):
        data = {**data, "outputs": sorted(data["outputs"])}
    output = data.get("output")
    if output is None:
        return data
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, default=str)
    if len(text) <= OUTPUT_PREVIEW:
        return data
    return {**data, "output": text[:OUTPUT_PREVIEW], "output_truncated": True}


def _usage_from_row(row: dict[str, Any]) -> Usage:
    return Usage(**{name: row[name] for name in _USAGE_COLUMNS})


def _run_from_row(row: dict[str, Any]) -> RunResult:
    return RunResult(
        run_id=row["id"], workflow_id=row["workflow_id"], workflow_name=row["workflow_name"] or "",
        status=RunStatus(row["status"]), inputs=_loads(row["inputs"]) or {},
        outputs=_loads(row["outputs"]) or {}, usage=_usage_from_row(row), error=row["error"],
        error_type=row["error_type"], started_at=row["started_at"], ended_at=row["ended_at"],
        workflow_hash=row["workflow_hash"] or "", source_path=row["source_path"],
        notices=_loads(row["notices"]) or [],
    )


def _step_from_row(row: dict[str, Any]) -> StepResult:
    return StepResult(
        key=row["key"], step_id=row["step_id"], kind=row["kind"], status=StepStatus(row["status"]),
        output=_loads(row["output"]), error=row["error"], error_type=row["error_type"],
        usage=_usage_from_row(row), model=row["model"], role=row["role"], attempts=row["attempts"],
        started_at=row["started_at"], ended_at=row["ended_at"],
    )

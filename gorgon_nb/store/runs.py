"""Runs and what they leave behind: steps, events, recorded model calls and usage.

Transaction rules:
- Only the process that owns a run (see ``store.control``) writes its rows, so no two
  writers race on one run; its event numbers (``seq``) are counted by that process.
- Each write here is one statement, committed at once: a model call is recorded as soon
  as it is answered, so a run killed a moment later need not pay for it again.
- A step row and the event that reports it belong together: the engine writes both inside
  one ``store.transaction()``, which these writes join.
- Reads take no transaction; they see the last commit.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.errors import Advice, NotFoundError, UsageError
from gorgon_nb.model.events import Event, payload_data
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database, newest

__all__ = ["RecordedCall", "RunStore"]

OUTPUT_PREVIEW = 500  # characters of a step's output kept in its event (the step row keeps it all)
_USAGE_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "calls", "cost_usd", "unpriced_calls")


@dataclass(frozen=True)
class RecordedCall:
    """A model call as it was answered, kept so a resumed or replayed run need not pay again."""

    text: str
    usage: Usage
    finish_reason: str | None
    provider: str
    model: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {id, name, arguments} the answer asked for


class RunStore:
    """``store.runs``: the runs, steps, events and model calls of the store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing -------------------------------------------------------------------------

    def create(self, run: RunResult, *, source: str | None, source_format: str | None,
               options: dict[str, Any] | None = None, parent_run_id: str | None = None,
               replay_of: str | None = None, fork_of: str | None = None,
               budget: dict[str, Any] | None = None) -> None:
        now = time.time()
        self._db.write(
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

    def finish(self, run: RunResult, *, derived_outputs: bool = False) -> None:
        """Record a run's end. ``derived_outputs``: its outputs are its steps' (read back from them)."""
        self._db.write(
            "UPDATE runs SET status = ?, error = ?, error_type = ?, outputs = ?, notices = ?, ended_at = ?, "
            + ", ".join(f"{c} = ?" for c in _USAGE_COLUMNS) + " WHERE id = ?",
            (str(run.status), redact(run.error) if run.error else None, run.error_type,
             None if derived_outputs else _dumps(run.outputs), _dumps(run.notices), run.ended_at,
             *_usage_values(run.usage), run.run_id),
        )

    def save_step(self, run_id: str, step: StepResult, position: int = 0) -> None:
        self._db.write(
            "INSERT OR REPLACE INTO steps (run_id, key, step_id, kind, role, status, output, error, error_type, "
            "model, attempts, " + ", ".join(_USAGE_COLUMNS) + ", position, started_at, ended_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step.key, step.step_id, step.kind, step.role, str(step.status),
             None if step.output is None else _dumps(step.output),
             redact(step.error) if step.error else None, step.error_type, step.model, step.attempts,
             *_usage_values(step.usage), position, step.started_at, step.ended_at),
        )

    def append_event(self, event: Event) -> None:
        self._db.write(
            "INSERT INTO events (run_id, seq, ts, kind, step, data) VALUES (?, ?, ?, ?, ?, ?)",
            (event.run_id, event.seq, event.ts, event.kind, event.step,
             _dumps(_stored_data(payload_data(event.payload)))),
        )

    def record_call(self, run_id: str, step_key: str | None, provider: str, model: str, usage: Usage, *,
                    item: int | None = None, request_hash: str | None = None, response: str | None = None,
                    finish_reason: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> None:
        cost = None if usage.unpriced_calls else usage.cost_usd
        self._db.write(
            "INSERT INTO usage (run_id, step_key, provider, model, input_tokens, output_tokens, "
            "cache_read_tokens, cache_write_tokens, cost_usd, ts, item, request_hash, response, finish_reason, "
            "tool_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step_key, provider, model, usage.input_tokens, usage.output_tokens,
             usage.cache_read_tokens, usage.cache_write_tokens, cost, time.time(), item, request_hash,
             redact(response) if response is not None else None, finish_reason,
             redact(json.dumps(tool_calls)) if tool_calls else None),
        )

    # -- reading -------------------------------------------------------------------------

    def resolve_id(self, run_id: str) -> str:
        """A full run id from an id or an unambiguous prefix of one."""
        pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.query("SELECT id FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' "
                              "ORDER BY created_at DESC LIMIT 6", (run_id, pattern))
        ids = [row["id"] for row in rows]
        if run_id in ids:
            return run_id
        if not ids:
            raise NotFoundError(f"no run '{run_id}'. ", Advice(
                python="Runner().store.runs.recent() lists recent runs.",
                notebook="Run %gorgon runs to list recent runs.", cli="Run 'gorgon runs' to list recent runs."))
        if len(ids) > 1:
            raise UsageError(f"'{run_id}' matches several runs ({', '.join(ids[:5])}); give more of the id")
        return ids[0]

    def get(self, run_id: str) -> RunResult:
        run_id = self.resolve_id(run_id)
        row = self._db.query("SELECT * FROM runs WHERE id = ?", (run_id,))[0]
        run = _run_from_row(row)
        for step_row in self._db.query("SELECT * FROM steps WHERE run_id = ? ORDER BY position, started_at",
                                       (run_id,)):
            step = _step_from_row(step_row)
            run.steps[step.key] = step
        if row["outputs"] is None and run.status.finished:  # stored once, in the steps
            done = ("succeeded",) if run.status is not RunStatus.SUCCEEDED else ("succeeded", "skipped", "failed")
            run.outputs = {s.step_id: s.output for s in run.steps.values()
                           if "." not in s.key and str(s.status) in done}
        return run

    def recent(self, limit: int = 20, *, status: str | None = None, workflow_id: str | None = None,
               not_workflow_id: str | None = None) -> list[RunResult]:
        """Recent runs, newest first, as summaries: no steps, and outputs only when declared
        by the workflow (``get`` has everything)."""
        sql, params = newest("runs", "created_at", {"status": status, "workflow_id": workflow_id}, limit,
                             exclude={"workflow_id": not_workflow_id})
        return [_run_from_row(row) for row in self._db.query(sql, params)]

    def started_by(self, host: str, pid: int, since: float, until: float) -> list[str]:
        """The runs a process (a job's kernel) started between ``since`` and ``until``."""
        return [r["id"] for r in self._db.query(
            "SELECT id FROM runs WHERE host = ? AND pid = ? AND created_at BETWEEN ? AND ? ORDER BY created_at",
            (host, pid, since, until))]

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        """The run's stored events in order, as typed payloads (a kind unknown here is left out)."""
        rows = self._db.query("SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq", (run_id, after))
        events = (Event.from_dict({**row, "data": json.loads(row["data"])}) for row in rows)
        return [event for event in events if event is not None]

    def last_seq(self, run_id: str) -> int:
        """The number of the run's last stored event (0 before any): a resume counts on from it."""
        row = self._db.query("SELECT MAX(seq) AS seq FROM events WHERE run_id = ?", (run_id,))[0]
        return int(row["seq"] or 0)

    def source(self, run_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
        """The workflow text a run executed, its format, and the run's options."""
        rows = self._db.query("SELECT source, source_format, options FROM runs WHERE id = ?",
                              (self.resolve_id(run_id),))
        return rows[0]["source"], rows[0]["source_format"], _loads(rows[0]["options"]) or {}

    def recorded_calls(self, run_id: str) -> dict[tuple[str, int | None, str], list[RecordedCall]]:
        """The answered calls of a run by (step key, item, request hash), in the order made."""
        found: dict[tuple[str, int | None, str], list[RecordedCall]] = {}
        for row in self._db.query(
                "SELECT * FROM usage WHERE run_id = ? AND request_hash IS NOT NULL ORDER BY id", (run_id,)):
            usage = Usage(row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
                          row["cache_write_tokens"], 1, row["cost_usd"] or 0.0, int(row["cost_usd"] is None))
            found.setdefault((row["step_key"], row["item"], row["request_hash"]), []).append(
                RecordedCall(row["response"] or "", usage, row["finish_reason"], row["provider"], row["model"],
                             json.loads(row["tool_calls"]) if row.get("tool_calls") else []))
        return found

    def usage(self, run_id: str) -> Usage:
        """What a run's model calls used, from its usage rows (calls of unfinished steps included)."""
        row = self._db.query(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS i, COALESCE(SUM(output_tokens), 0) AS o, "
            "COALESCE(SUM(cache_read_tokens), 0) AS cr, COALESCE(SUM(cache_write_tokens), 0) AS cw, "
            "COALESCE(SUM(cost_usd), 0) AS cost, SUM(cost_usd IS NULL) AS unpriced FROM usage WHERE run_id = ?",
            (run_id,))[0]
        return Usage(row["i"], row["o"], row["cr"], row["cw"], row["calls"], row["cost"], row["unpriced"] or 0)

    def spent_since(self, since: float) -> float:
        """Dollars spent on priced calls since ``since``, by every run."""
        row = self._db.query("SELECT COALESCE(SUM(cost_usd), 0) AS cost FROM usage WHERE ts >= ?", (since,))[0]
        return float(row["cost"])


def _dumps(value: Any) -> str:
    return redact(json.dumps(value, ensure_ascii=False, default=str))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _usage_values(usage: Usage) -> tuple[Any, ...]:
    return tuple(getattr(usage, name) for name in _USAGE_COLUMNS)


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

"""Runs: the recent ones, one with its steps and outputs, and cancelling one.

``GET runs?limit=50&status=STATUS&workflow=ID&chat=false``, ``GET runs/{id}`` and
``POST runs/{id}/cancel``; the shapes are in ``API.md``. Chat turns (workflow ``chat``)
are left out of the list unless ``chat=true``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

from jupyter_server.auth.decorator import authorized
from pydantic import AfterValidator
from tornado import web

from gorgon_nb.chat import CHAT_WORKFLOW_ID
from gorgon_nb.errors import UsageError
from gorgon_nb.model.run import RunStatus, observed_runs, observed_status, observed_step_status
from gorgon_nb.model.usage import format_cost
from gorgon_nb.outputs import output_html
from gorgon_nb.server.approvals import approval_json
from gorgon_nb.server.base import LIST_LIMIT, GorgonHandler, Limit, Line
from gorgon_nb.server.inputs import ApiError, EmptyBody, Query, dumps, one_of, parse_body

if TYPE_CHECKING:
    from gorgon_nb.model.run import RunResult, StepResult
    from gorgon_nb.model.usage import Usage
    from gorgon_nb.store import Store

__all__ = ["CancelHandler", "RunHandler", "RunsHandler", "RunsQuery", "recent_runs", "run_summary"]

RUN_STATUSES = tuple(str(status) for status in RunStatus)
FEED_RUNS = 50
RUNS_HINT = "for example ?limit=50&status=failed&workflow=ID&chat=true"
NO_QUERY = "this route takes no query"
NO_BODY = "send no body, or {}"


def _chat(value: str) -> str:
    if value not in ("true", "false"):
        raise ValueError(f"chat must be true or false, not '{value[:20]}'")
    return value


class RunsQuery(Query):
    """``GET runs?limit=50&status=STATUS&workflow=ID&chat=false``."""

    status: Annotated[str, AfterValidator(lambda v: v and one_of("status", v, RUN_STATUSES))] = ""
    limit: Limit = FEED_RUNS
    workflow: Line = ""
    chat: Annotated[str, AfterValidator(_chat)] = "false"


def _tokens(usage: Usage) -> dict[str, int]:
    return {"input": usage.input_tokens, "output": usage.output_tokens, "total": usage.total_tokens}


def _cost(usage: Usage) -> str:
    return format_cost(usage) if usage.calls else "-"


def run_summary(run: RunResult, *, status: RunStatus, waiting: int) -> dict[str, Any]:
    """A run as the API gives it; ``status`` is its ``observed_status`` (``stopped`` when its
    process is gone), and ``stopped`` says the same as a flag."""
    return {
        "run_id": run.run_id, "workflow_id": run.workflow_id, "workflow_name": run.workflow_name,
        "status": str(status), "stopped": status is RunStatus.STOPPED, "started_at": run.started_at,
        "ended_at": run.ended_at, "duration": run.duration, "tokens": _tokens(run.usage), "cost_usd": run.usage.cost,
        "cost": _cost(run.usage), "error": run.error, "waiting": waiting,
    }


def recent_runs(store: Store, limit: int = FEED_RUNS, *, status: str | None = None,
                workflow: str | None = None, chat: bool = False) -> list[dict[str, Any]]:
    runs = observed_runs(store.runs, store.control, limit, status=status, workflow_id=workflow,
                         not_workflow_id=None if chat else CHAT_WORKFLOW_ID)
    waiting = Counter(a.run_id for a in store.approvals.recent(status="pending", limit=LIST_LIMIT))
    return [run_summary(run, status=now, waiting=waiting[run.run_id]) for run, now in runs]


def _step(step: StepResult, run_status: RunStatus) -> dict[str, Any]:
    return {
        "key": step.key, "step_id": step.step_id, "kind": step.kind, "role": step.role,
        "status": observed_step_status(step, run_status),
        "model": step.model, "started_at": step.started_at, "ended_at": step.ended_at, "duration": step.duration,
        "tokens": _tokens(step.usage), "cost": _cost(step.usage), "output": step.output,
        "output_html": output_html(step.output) or None, "error": step.error,
    }


def run_detail(store: Store, run_id: str) -> dict[str, Any]:
    run = store.runs.get(run_id)
    approvals = store.approvals.recent(status=None, run_id=run.run_id, limit=LIST_LIMIT)
    status = observed_status(run, store.control)
    stopped = status is RunStatus.STOPPED
    pending = sum(1 for a in approvals if str(a.status) == "pending")
    return {
        **run_summary(run, status=status, waiting=pending),
        "inputs": run.inputs, "outputs": run.outputs, "notices": run.notices, "source_path": run.source_path,
        "steps": [_step(step, status) for step in run.steps.values()],
        "approvals": [approval_json(a, not stopped) for a in approvals],
    }


class RunsHandler(GorgonHandler):
    """``GET /gorgon/api/runs``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(RunsQuery, RUNS_HINT)
        runs = await self.in_thread(lambda store: recent_runs(
            store, query.limit, status=query.status or None, workflow=query.workflow or None,
            chat=query.chat == "true"))
        self.finish(dumps({"runs": runs}))


class RunHandler(GorgonHandler):
    """``GET /gorgon/api/runs/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.query(Query, NO_QUERY)
        detail = await self.in_thread(lambda store: run_detail(store, run_id))
        self.finish(dumps({"run": detail}))


class CancelHandler(GorgonHandler):
    """``POST /gorgon/api/runs/{id}/cancel``."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, NO_BODY, empty="{}")

        def cancel(store: Store) -> str:
            resolved = store.runs.resolve_id(run_id)
            try:
                return store.control.request_cancel(resolved)
            except UsageError as exc:  # ended already
                raise ApiError(409, str(exc)) from None

        self.finish(dumps({"result": await self.in_thread(cancel)}))

"""The state of one run as its events arrive: pure Python, no widgets.

``RunState.apply`` folds events into steps and totals and records which synced traits
changed, so ``RunView.flush`` can push only those. A step waiting for a person has status
``waiting`` and an ``approval`` (``approval_view``); the run is ``waiting`` while any is.
A step's tool calls are kept by ``widgets.tool_calls``: a call's approval hangs under
its call, not on the step, and the step waits while any of them does.

Steps are laid out in layers: a step's ``level`` is the length of the longest dependency
path that leads to it (0 with no deps). Steps that appear only at run time (a loop's
body, ``fix[2].verify``) sit on their loop's level, right after the loop and its earlier
rounds.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.model.events import (
    ApprovalDecided,
    ApprovalRequested,
    DelegationFinished,
    DelegationStarted,
    Event,
    GraphNode,
    Notice,
    RunFinished,
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
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import Usage, format_cost, format_tokens
from gorgon_nb.outputs import output_html
from gorgon_nb.secrets import redact
from gorgon_nb.widgets.tool_calls import StepToolCalls

__all__ = ["LIVE_STATUSES", "TEXT_TAIL", "RunState", "StepState", "approval_view", "layer_levels"]

TEXT_TAIL = 1500
"""How many of the last characters of a running step's streamed text are kept and sent."""

LIVE_STATUSES = ("pending", "running", "waiting")
"""Run statuses of a run that has not ended."""

_BODY_KEY = re.compile(r"^(?P<loop>.+)\[(?P<round>\d+)\]\.(?P<id>[^.\[\]]+)$")
_ROUND = re.compile(r"\[\d+\]")


@dataclass
class StepState:
    key: str
    id: str
    kind: str
    role: str | None = None
    deps: list[str] = field(default_factory=list)
    level: int = 0
    status: str = "pending"
    started: float | None = None
    ended: float | None = None
    usage: Usage = field(default_factory=Usage)
    text: str = ""
    output: Any = None
    output_html: str = ""
    error: str = ""
    retries: int = 0
    last_source: str | None = None  # who streamed last: an item, a delegate
    delegates: dict[int, str] = field(default_factory=dict)  # a supervisor's: index -> role
    approval: dict[str, Any] | None = None  # the step's own (a gate, its output's review)
    tool_calls: StepToolCalls = field(default_factory=StepToolCalls)

    @property
    def label(self) -> str:
        return self.role or self.kind

    @property
    def top_level(self) -> bool:
        return "[" not in self.key

    def elapsed(self, now: float | None = None) -> float | None:
        if self.started is None:
            return None
        if self.ended is not None:
            return self.ended - self.started
        return (
            (now or time.time()) - self.started if self.status in ("running", "waiting") else None
        )

    @property
    def awaiting_decision(self) -> bool:
        return bool(self.pending_approvals())

    def pending_approvals(self) -> list[dict[str, Any]]:
        """The approvals of this step waiting for a decision: its own, then its tool calls'."""
        own = [self.approval] if self.approval is not None and self.approval["status"] == "pending" else []
        return own + self.tool_calls.pending_approvals()

    def set_output(self, value: Any) -> None:
        self.output = value
        self.output_html = output_html(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "level": self.level,
            "deps": list(self.deps),
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "tokens": format_tokens(self.usage),
            "cost": format_cost(self.usage),
            "text": self.text,
            "output_html": self.output_html,
            "error": self.error,
            "approval": dict(self.approval) if self.approval is not None else None,
            "tool_calls": self.tool_calls.to_list(),
            "tool_calls_dropped": self.tool_calls.dropped,
        }


def approval_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """An approval as the frontend shows it: its preview rendered (raw HTML escaped)."""
    return {
        "id": str(data.get("id") or ""),
        "kind": data.get("kind") or "gate",
        "round": data.get("round") or 1,
        "title": str(data.get("title") or "Approval"),
        "preview_html": output_html(data.get("preview") or None),
        "approvers": [str(name) for name in data.get("approvers") or ()],
        "status": str(data.get("status") or "pending"),
        "timeout_at": data.get("timeout_at"),
        "on_timeout": data.get("on_timeout") or "reject",
        "decided_by": data.get("decided_by"),
        "decided_at": data.get("decided_at"),
        "comment": data.get("comment"),
        "timed_out": bool(data.get("timed_out")),
        "step_key": str(data.get("step_key") or ""),
    }


def layer_levels(graph: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Each step's layer: 0 without deps, else one more than its deepest dep."""
    deps = {node["key"]: list(node.get("deps") or ()) for node in graph}
    levels: dict[str, int] = {}

    def level(key: str, path: frozenset[str]) -> int:
        if key not in levels:
            parents = [d for d in deps.get(key, ()) if d in deps and d not in path]
            levels[key] = 1 + max((level(d, path | {key}) for d in parents), default=-1)
        return levels[key]

    for key in deps:
        level(key, frozenset())
    return levels


class RunState:
    """Steps, statuses and totals of one run, updated from its events."""

    def __init__(self, workflow_name: str = "", run_id: str = "") -> None:
        self.workflow_name = workflow_name
        self.run_id = run_id
        self.status = "pending"
        self.error = ""
        self.started_at = 0.0
        self.ended_at = 0.0
        self.usage: Usage | None = None  # the run's own total, once it finished
        self.notices: list[str] = []
        self.order: list[str] = []
        self.steps: dict[str, StepState] = {}
        self._bodies: dict[str, list[GraphNode]] = {}
        self.changed: set[str] = set()

    # -- reading ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status not in LIVE_STATUSES

    def awaiting(self) -> list[StepState]:
        """The steps waiting for a decision now."""
        return [step for step in self.ordered_steps() if step.awaiting_decision]

    def ordered_steps(self) -> list[StepState]:
        # snapshots: a display may read while the run's thread writes
        steps, order = self.steps, list(self.order)
        return [steps[key] for key in order if key in steps]

    def totals(self) -> Usage:
        if self.usage is not None:
            return self.usage
        # a loop's usage already holds its body's, so only top-level steps are added up
        return sum((s.usage for s in list(self.steps.values()) if s.top_level), Usage())

    def elapsed(self, now: float | None = None) -> float | None:
        if not self.started_at:
            return None
        if self.ended_at:
            return self.ended_at - self.started_at
        return (now or time.time()) - self.started_at if not self.finished else None

    def final_step(self) -> StepState | None:
        """The last top-level step, when it succeeded: its output is the run's answer."""
        top = [s for s in self.ordered_steps() if s.top_level]
        if top and top[-1].status == "succeeded" and top[-1].output is not None:
            return top[-1]
        return None

    def trait_values(self, names: Iterable[str]) -> dict[str, Any]:
        totals = self.totals()
        every: dict[str, Any] = {
            "workflow_name": lambda: self.workflow_name,
            "run_id": lambda: self.run_id,
            "status": lambda: self.status,
            "error": lambda: self.error,
            "steps": lambda: [s.to_dict() for s in self.ordered_steps()],
            "started_at": lambda: self.started_at,
            "ended_at": lambda: self.ended_at,
            "total_tokens": lambda: format_tokens(totals),
            "total_cost": lambda: format_cost(totals),
            "notices": lambda: list(self.notices),
        }
        return {name: every[name]() for name in names}

    def take_changes(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed

    # -- building ----------------------------------------------------------------------------

    def add_step(
        self,
        key: str,
        *,
        kind: str | None = None,
        role: str | None = None,
        deps: list[str] | None = None,
        level: int | None = None,
    ) -> StepState:
        """The step ``key``, created in its place on the first event about it."""
        if key in self.steps:
            return self.steps[key]
        step = StepState(key, key, kind or "step", role, list(deps or ()), level or 0)
        position = len(self.order)
        match = _BODY_KEY.match(key)
        if match:
            loop, number, step.id = match["loop"], match["round"], match["id"]
            for node in self._bodies.get(_ROUND.sub("", loop), ()):
                if node["id"] == step.id:
                    step.kind, step.role = kind or node["kind"], role or node.get("role")
                    step.deps = (
                        deps
                        if deps is not None
                        else [f"{loop}[{number}].{d}" for d in node["deps"]]
                    )
            if loop in self.steps:
                step.level = self.steps[loop].level if level is None else level
                family = [
                    i for i, k in enumerate(self.order) if k == loop or k.startswith(loop + "[")
                ]
                position = family[-1] + 1
        self.steps[key] = step
        self.order.insert(position, key)
        self.changed.add("steps")
        return step

    def _register_bodies(self, graph: list[GraphNode], path: str = "") -> None:
        for node in graph:
            if node.get("body"):
                self._bodies[path + node["id"]] = node["body"]
                self._register_bodies(node["body"], path + node["id"] + ".")

    # -- events ------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        match event.payload:
            case RunStarted() as payload:
                self._start(event, payload)
            case RunResumed() as payload:
                self._on_run_resumed(event, payload)
            case StepStarted():
                self._on_step_started(event)
            case TextDelta() as payload:
                self._on_text_delta(event, payload)
            case DelegationStarted() as payload:
                self._on_delegation_started(event, payload)
            case StepRetry() as payload:
                self._on_step_retry(event, payload)
            case StepFinished() as payload:
                self._on_step_finished(event, payload)
            case StepFailed() as payload:
                self._on_step_failed(event, payload)
            case ToolCallStarted() as payload:
                if (step := self._step(event)) is not None:
                    step.tool_calls.started(payload, event.ts)
            case ToolCallFinished() as payload:
                if (step := self._step(event)) is not None:
                    step.tool_calls.finished(payload, event.ts)
            case ApprovalRequested() as payload:
                self._on_approval_requested(event, payload)
            case ApprovalDecided() as payload:
                self._on_approval_decided(event, payload)
            case Notice() as payload:
                self._on_notice(payload)
            case RunFinished() as payload:
                self._on_run_finished(event, payload)
            case DelegationFinished():
                pass  # a delegate's end is not shown: its step's own events follow

    def _on_run_resumed(self, event: Event, payload: RunResumed) -> None:
        """A run going on in a new process: the steps done before keep their status."""
        self._start(event, payload)
        for key, status in payload.restored.items():
            step = self.add_step(key)
            step.status = str(status)
            step.output_html = "<p><em>kept from before the run was resumed</em></p>"

    def _start(self, event: Event, payload: RunStarted | RunResumed) -> None:
        self.run_id = event.run_id or self.run_id
        self.workflow_name = payload.name or payload.workflow_id or self.workflow_name
        self.status, self.started_at, self.ended_at = "running", event.ts, 0.0
        graph = payload.graph
        self._bodies.clear()
        self._register_bodies(graph)
        levels = layer_levels(graph)
        self.order, self.steps = [], {}
        for node in graph:
            self.add_step(
                node["key"],
                kind=node.get("kind"),
                role=node.get("role"),
                deps=list(node.get("deps") or ()),
                level=levels[node["key"]],
            )
            self.steps[node["key"]].id = node.get("id") or node["key"]
        self.changed.update(
            {
                "workflow_name",
                "run_id",
                "status",
                "started_at",
                "ended_at",
                "steps",
                "total_tokens",
                "total_cost",
            }
        )

    def _step(self, event: Event) -> StepState | None:
        if not event.step:
            return None
        self.changed.add("steps")
        return self.add_step(event.step)

    def _on_step_started(self, event: Event) -> None:
        if (step := self._step(event)) is not None:
            step.status, step.started, step.ended = "running", event.ts, None
            step.text, step.error, step.last_source = "", "", None
            step.tool_calls.clear()  # a run resumed starts the step again: its calls come again

    def _on_text_delta(self, event: Event, payload: TextDelta) -> None:
        if (step := self._step(event)) is None:
            return
        piece, item, delegation = payload.text, payload.item, payload.delegation
        source = f"item {item}" if item is not None else None  # several items stream into one step
        if delegation is not None:  # and a supervisor's delegates into theirs
            source = ((f"{source} · " if source else "") + step.delegates.get(delegation, f"delegate {delegation}"))
        elif step.delegates:
            source = (f"{source} · " if source else "") + (step.role or "supervisor")
        if source is not None and source != step.last_source:
            piece = ("\n" if step.text else "") + f"[{source}] {piece}"
            step.last_source = source
        step.text = redact(step.text + piece)[-TEXT_TAIL:]  # a key split over two pieces is caught whole
        if step.status == "pending":
            step.status, step.started = "running", step.started or event.ts

    def _on_delegation_started(self, event: Event, payload: DelegationStarted) -> None:
        if (step := self._step(event)) is not None:
            step.delegates[payload.index] = payload.role

    def _on_step_retry(self, event: Event, payload: StepRetry) -> None:
        if (step := self._step(event)) is not None:
            step.retries += 1
            attempt = payload.attempt or step.retries + 1
            step.text, step.last_source = (
                f"retrying (attempt {attempt}) after: {payload.error or 'an error'}\n",
                None,
            )

    def _finish(self, step: StepState, event: Event, status: str, usage: Usage | None) -> None:
        step.status, step.ended = status, event.ts
        step.started = step.started if step.started is not None else event.ts
        if usage is not None:
            step.usage = usage
        self.changed.update({"total_tokens", "total_cost"})

    def _on_step_finished(self, event: Event, payload: StepFinished) -> None:
        if (step := self._step(event)) is None:
            return
        status = str(payload.status or "succeeded")
        self._finish(step, event, status, payload.usage)
        step.error = ""
        if status == "skipped":
            step.output, step.output_html = (
                None,
                f"<p><em>skipped: {html.escape(str(payload.reason or ''))}</em></p>",
            )
        else:
            step.set_output(payload.output)
            step.text = ""

    def _on_step_failed(self, event: Event, payload: StepFailed) -> None:
        if (step := self._step(event)) is None:
            return
        self._finish(
            step, event, "cancelled" if payload.error_type == "Cancelled" else "failed", payload.usage
        )
        step.error = str(payload.error or "failed")

    def _on_approval_requested(self, event: Event, payload: ApprovalRequested) -> None:
        if (step := self._step(event)) is None:
            return
        view = approval_view(payload.approval)
        if step.tool_calls.take_approval(step.key, view) is None:
            step.approval = view
            step.text, step.last_source = "", None  # a revision streams its new answer afresh
        step.status = "waiting"
        step.started = step.started if step.started is not None else event.ts
        if not self.finished:
            self.status = "waiting"
            self.changed.add("status")

    def _on_approval_decided(self, event: Event, payload: ApprovalDecided) -> None:
        if (step := self._step(event)) is None:
            return
        view = approval_view(payload.approval)
        if step.tool_calls.take_approval(step.key, view) is None:
            step.approval = view
        if step.status == "waiting" and not step.awaiting_decision:
            step.status = "running"  # it runs on, or its step fails, in the next events
        if self.status == "waiting" and not any(s.status == "waiting" for s in self.steps.values()):
            self.status = "running"
            self.changed.add("status")

    def _on_notice(self, payload: Notice) -> None:
        message = payload.message
        self.notices.append(f"warning: {message}" if payload.level == "warning" else message)
        self.changed.add("notices")

    def _on_run_finished(self, event: Event, payload: RunFinished) -> None:
        self.status = str(payload.status or "succeeded")
        self.error = str(payload.error or "")
        self.ended_at = event.ts
        self.usage = payload.usage
        for step in self.steps.values():
            if step.approval is not None and step.approval["status"] == "pending":  # the store closes it too
                step.approval = {**step.approval, "status": "cancelled"}
            step.tool_calls.cancel_open(event.ts)
            if step.status in ("running", "waiting"):  # no step outlives its run
                step.status, step.ended = "cancelled", event.ts
            elif step.status == "pending":  # the run ended before this step could start
                step.status = "skipped"
                step.output_html = (
                    f"<p><em>not run: the run {html.escape(self.status)} first</em></p>"
                )
        self.changed.update({"status", "error", "ended_at", "total_tokens", "total_cost", "steps"})

    # -- from a stored run -------------------------------------------------------------------

    @classmethod
    def from_result(cls, result: RunResult) -> RunState:
        """A finished run's state; with no graph stored, steps that ran in parallel share a row."""
        state = cls(result.workflow_name or result.workflow_id, result.run_id)
        state.status, state.error = str(result.status), result.error or ""
        state.started_at, state.ended_at = result.started_at or 0.0, result.ended_at or 0.0
        state.usage, state.notices = result.usage, list(result.notices)
        levels: dict[str, int] = {}
        for saved in result.steps.values():
            if "[" not in saved.key:
                before = [
                    levels[s.key]
                    for s in result.steps.values()
                    if s.key in levels
                    and s.ended_at is not None
                    and saved.started_at is not None
                    and s.ended_at <= saved.started_at
                ]
                levels[saved.key] = 1 + max(before, default=-1)
            step = state.add_step(
                saved.key, kind=saved.kind, role=saved.role, deps=[], level=levels.get(saved.key)
            )
            step.id, step.status, step.usage = saved.step_id, str(saved.status), saved.usage
            step.started, step.ended, step.error = (
                saved.started_at,
                saved.ended_at,
                saved.error or "",
            )
            if saved.status == "succeeded" or saved.output is not None:
                step.set_output(saved.output)
        state.changed = {
            "workflow_name",
            "run_id",
            "status",
            "error",
            "steps",
            "started_at",
            "ended_at",
            "total_tokens",
            "total_cost",
            "notices",
        }
        return state

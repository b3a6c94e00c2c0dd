"""``RunView``: the live view of one run, as a widget and as text.

The worker thread that runs a workflow owns the view: it passes every event to
``apply`` (plain Python, cheap) and calls ``flush`` now and then to push what changed to
the synced traits, so comm traffic stays bounded however fast text streams. The same
view prints as a table in ``text/plain`` and ``text/markdown`` for papermill and nbconvert.

Synced traits (the frontend's contract):

- ``workflow_name``, ``run_id``, ``status`` (pending | running | waiting |
  succeeded | failed | cancelled | stopped; ``waiting`` while a step waits for a person,
  ``stopped`` for a stored run whose process is gone), ``error``
- ``steps``: one dict per step, ``{key, id, label, kind, level, deps, status, started,
  ended, tokens, cost, text, output_html, error, approval, tool_calls, tool_calls_dropped}``;
  ``approval`` is null or ``{id, kind, round, title, preview_html, approvers, status,
  timeout_at, on_timeout, decided_by, decided_at, comment, timed_out, step_key}``;
  ``tool_calls`` lists the step's latest tool calls, ``{index, tool, arguments, writes,
  item, delegation, status, result, recorded, approval, started, ended}`` (see
  ``widgets.tool_calls``), ``tool_calls_dropped`` counts the earlier ones left out
- ``started_at``, ``ended_at`` (epoch seconds; 0 when unknown or still running),
  ``total_tokens``, ``total_cost``, ``notices``

Decisions: the frontend posts them to the Jupyter server extension
(``gorgon/api/approvals/<id>``), which works while the cell blocks on the run. Where there
is no such server it sends ``{"type": "decide", approval_id, decision, comment}`` to the
kernel instead; the kernel records it when it is free (``on_decide``, or the store) and
answers ``{"type": "decided", approval_id, status, decided_by}`` or ``{"type":
"decide_failed", approval_id, message}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from gorgon_nb.errors import GorgonError
from gorgon_nb.model.approval import COMMENT_LIMIT
from gorgon_nb.model.events import Event, RunStarted
from gorgon_nb.model.run import RunOwners, RunResult, RunStatus, observed_status
from gorgon_nb.model.text import (
    STATUS_LABELS,
    STATUS_SYMBOLS,
    format_duration,
    markdown_table,
    text_table,
)
from gorgon_nb.model.usage import format_cost, format_tokens
from gorgon_nb.outputs import output_markdown, output_text
from gorgon_nb.widgets.run_state import RunState, StepState

__all__ = ["DecideCallback", "RunView"]

STATIC = Path(__file__).parent / "static"
TEXT_CALLS = 8  # tool calls of a step its text form names
_HEADER = ("step", "label", "status", "elapsed", "tokens", "cost")

DecideCallback = Callable[[str, bool, "str | None"], Any]
"""``on_decide(approval_id, approve, comment)``: record a decision sent by the frontend."""

logger = logging.getLogger(__name__)


def with_text_forms(
    bundle: Any, plain: str, markdown: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A widget's mime bundle, its view kept, with readable text and Markdown forms added."""
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
    return {**data, "text/plain": plain, "text/markdown": markdown}, dict(metadata)


class RunView(anywidget.AnyWidget):
    """One run: a graph of its steps with their statuses, streamed text and outputs."""

    _esm = STATIC / "run_view.js"
    _css = STATIC / "run_view.css"

    workflow_name = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("pending").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    steps = traitlets.List(traitlets.Dict()).tag(sync=True)
    started_at = traitlets.Float(0.0).tag(sync=True)
    ended_at = traitlets.Float(0.0).tag(sync=True)
    total_tokens = traitlets.Unicode("-").tag(sync=True)
    total_cost = traitlets.Unicode("-").tag(sync=True)
    notices = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(
        self,
        workflow_name: str | None = "",
        run_id: str | None = "",
        *,
        on_decide: DecideCallback | None = None,
        **kwargs: Any,
    ) -> None:
        workflow_name, run_id = workflow_name or "", run_id or ""
        super().__init__(workflow_name=workflow_name, run_id=run_id, **kwargs)
        self._state = RunState(workflow_name, run_id)
        self.on_decide = on_decide
        self.on_msg(self._on_frontend_message)

    @classmethod
    def from_result(cls, result: RunResult, events: Iterable[Event] | None = None,
                    owners: RunOwners | None = None) -> RunView:
        """A finished view of a stored run.

        With the run's stored ``events`` (``store.runs.events(run_id)``) the view is rebuilt
        exactly, dependencies included; from the result alone, steps that ran at the same
        time share a row. With ``owners`` (the store) a run whose process is gone shows as
        ``stopped``, as ``gorgon show`` and the sidebar show it.
        """
        view = cls(result.workflow_name or result.workflow_id, result.run_id)
        status = observed_status(result, owners) if owners is not None else result.status
        replay = list(events or ())
        if any(isinstance(event.payload, RunStarted) for event in replay):
            for event in replay:
                view.apply(event)
            if not view._state.finished:  # events may stop short of run_finished
                view._state.status = str(status)
        else:
            view._state = RunState.from_result(result)
            view._state.status = str(status)
        if status is RunStatus.STOPPED:  # what its process left running stopped with it
            for step in view._state.steps.values():
                if step.status in ("running", "waiting"):
                    step.status = str(status)
            view._state.changed.add("steps")
        view.flush()
        return view

    @property
    def state(self) -> RunState:
        return self._state

    # -- updating ----------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Take an event into the view's state; the traits change at the next ``flush``."""
        self._state.apply(event)

    def flush(self) -> bool:
        """Push what changed since the last flush to the frontend; False if nothing did."""
        values = self._state.trait_values(self._state.take_changes())
        changed = {name: value for name, value in values.items() if getattr(self, name) != value}
        if not changed:
            return False
        with self.hold_sync():
            for name, value in changed.items():
                setattr(self, name, value)
        return True

    # -- decisions sent through the kernel ----------------------------------------------------

    def _on_frontend_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, Mapping) and content.get("type") == "decide":
            self.send(self.decide_from_frontend(content))

    def decide_from_frontend(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Record a decision the frontend could not post to the server; the answer to send back.

        ``on_decide`` records it when given; otherwise the store of ``load_config()`` does,
        by ``current_user()``, as ``gorgon approve`` would.
        """
        approval_id = message.get("approval_id")
        decision, comment = message.get("decision"), message.get("comment") or None
        failed = {"type": "decide_failed", "approval_id": approval_id}
        if not isinstance(approval_id, str) or not approval_id:
            return {**failed, "message": "the decision names no approval"}
        if decision not in ("approve", "reject"):
            return {**failed, "message": f"unknown decision {decision!r}: approve or reject"}
        if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_LIMIT):
            return {**failed, "message": f"a comment is text of at most {COMMENT_LIMIT} characters"}
        approve = decision == "approve"
        if comment is not None:
            comment = comment.strip() or None
        try:
            if self.on_decide is not None:
                decided = self.on_decide(approval_id, approve, comment)
            else:
                decided = _decide_in_store(approval_id, approve, comment)
        except GorgonError as exc:  # decided already, not an approver, unknown id, no store
            return {**failed, "message": str(exc)}
        except Exception as exc:
            logger.exception("recording the decision on approval %s failed", approval_id)
            return {**failed, "message": f"the decision was not recorded: {exc}"}
        return {
            "type": "decided",
            "approval_id": approval_id,
            "status": str(getattr(decided, "status", "approved" if approve else "rejected")),
            "decided_by": getattr(decided, "decided_by", None),
        }

    # -- as text -----------------------------------------------------------------------------

    def _rows(self, now: float) -> list[tuple[str, ...]]:
        return [
            (
                step.key,
                step.label,
                f"{STATUS_SYMBOLS.get(step.status, '?')} "
                f"{STATUS_LABELS.get(step.status, step.status)}",
                format_duration(step.elapsed(now)),
                format_tokens(step.usage),
                format_cost(step.usage),
            )
            for step in self._state.ordered_steps()
        ]

    def _summary(self, now: float) -> tuple[str, list[str]]:
        state = self._state
        totals = state.totals()
        title = state.workflow_name or "workflow"
        facts = [
            f"run {state.run_id or '-'}",
            STATUS_LABELS.get(state.status, state.status),
            format_duration(state.elapsed(now)),
        ]
        facts += (
            [f"{format_tokens(totals)} tokens", format_cost(totals)]
            if totals.calls
            else ["no model calls"]
        )
        return title, facts

    def _final(self) -> StepState | None:
        return self._state.final_step() if self._state.finished else None

    def to_text(self) -> str:
        now = time.time()
        state = self._state
        title, facts = self._summary(now)
        parts = [f"{title} · {' · '.join(facts)}"]
        if state.steps:
            parts.append(text_table(_HEADER, self._rows(now)))
        parts += [f"note: {notice}" for notice in state.notices]
        if state.error:
            parts.append(f"error: {state.error}")
        for step in state.ordered_steps():
            if step.error and step.status == "failed":
                parts.append(f"{step.key} failed: {step.error}")
        parts += [f"{step.key} called {line}" for step in state.ordered_steps() if (line := _calls_line(step))]
        for step in state.awaiting():
            for approval in step.pending_approvals():
                parts.append(
                    f"{step.key} waits for approval '{approval.get('title')}': "
                    f"gorgon approve {approval.get('id')} (or --reject -m WHY)"
                )
        if (final := self._final()) is not None:
            parts.append(f"output of {final.key}:\n{output_text(final.output)}")
        return "\n\n".join(parts)

    def to_markdown(self) -> str:
        now = time.time()
        state = self._state
        title, facts = self._summary(now)
        facts[0] = f"run `{state.run_id or '-'}`"
        facts[1] = f"**{facts[1]}**"
        parts = [f"**{title}** · {' · '.join(facts)}"]
        if state.steps:
            parts.append(
                markdown_table(_HEADER, [(f"`{row[0]}`", *row[1:]) for row in self._rows(now)])
            )
        if state.notices:
            parts.append("\n".join(f"> {notice}  " for notice in state.notices))
        if state.error:
            parts.append(f"**Error:** {state.error}")
        parts += [f"`{step.key}` called {line}" for step in state.ordered_steps() if (line := _calls_line(step))]
        for step in state.awaiting():
            for approval in step.pending_approvals():
                parts.append(
                    f"**Waiting for approval:** {approval.get('title')} (step `{step.key}`): "
                    f"`gorgon approve {approval.get('id')}` (or `--reject -m WHY`)"
                )
        if (final := self._final()) is not None:
            parts.append(f"**Output of `{final.key}`:**\n\n{output_markdown(final.output)}")
        return "\n\n".join(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return with_text_forms(
            super()._repr_mimebundle_(**kwargs), self.to_text(), self.to_markdown()
        )

    def __repr__(self) -> str:
        state = self._state
        return f"<RunView {state.run_id or '-'} {state.workflow_name!r} {state.status}: {len(state.steps)} steps>"


def _calls_line(step: StepState) -> str:
    """A step's tool calls in a line: ``3 tools: files.read_file ok, files.write_file rejected``."""
    calls = step.tool_calls
    if not len(calls):
        return ""
    shown = [f"{call.tool} {call.status}" for call in calls.calls[-TEXT_CALLS:]]
    earlier = len(calls) - len(shown)
    lead = f"{earlier} earlier, " if earlier else ""
    return f"{len(calls)} tool{'s' if len(calls) != 1 else ''}: {lead}{', '.join(shown)}"


def _decide_in_store(approval_id: str, approve: bool, comment: str | None) -> Any:
    from gorgon_nb.config import load_config
    from gorgon_nb.runner import current_user
    from gorgon_nb.store import Store

    with Store(load_config().db_path) as store:
        return store.approvals.decide(
            approval_id, approve=approve, by=current_user(), comment=comment
        )

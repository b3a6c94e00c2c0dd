"""Events: every state change of a run, in order.

The executor emits them; the store appends them (with a per-run sequence number); the
CLI, widgets, magics and chat show them. An ``Event`` holds one payload, a frozen
dataclass per kind, and its ``kind`` is the payload's: producers build the payload
(``ex.emit(StepRetry(attempt=2, ...), key)``), consumers ``match`` on its class and read
its attributes, so a renamed or misspelled field is a type error where it is used
instead of a key that is silently missing.

==================  ====================  ===================================================
kind                payload               fields (``?``: the key is absent while unset)
==================  ====================  ===================================================
run_started         RunStarted            workflow_id, name, inputs, graph, replay_of?, fork_of?
run_resumed         RunResumed            workflow_id, name, inputs, graph, restored
step_started        StepStarted           (none)
text_delta          TextDelta             text, item?, delegation? — streamed; never stored
step_retry          StepRetry             attempt, delay, error, error_type, delegation?
step_finished       StepFinished          status, output, usage, model (a success), reason? (a skip)
step_failed         StepFailed            error, error_type, usage?, continued?
delegation_started  DelegationStarted     index, role, task
delegation_finished DelegationFinished    index, role, output? or error?
tool_call_started   ToolCallStarted       index, tool, arguments, writes, item?, delegation?
tool_call_finished  ToolCallFinished      index, tool, status, result, item?, delegation?, recorded?
approval_requested  ApprovalRequested     approval (``ApprovalData``)
approval_decided    ApprovalDecided       approval (the same, decided)
notice              Notice                message, level
run_finished        RunFinished           status, error, error_type, usage, outputs
==================  ====================  ===================================================

As JSON (``Event.to_dict``, and the store's rows) an event is ``{kind, run_id, step,
data, seq, ts}``, ``data`` holding the payload's fields by name and a ``Usage`` as its
dict. The store keeps a preview of a long output (``output_truncated``)
and only the names of a run's outputs; the payloads take those forms too. Reading a row
back (``Event.from_dict``) ignores keys this version does not know and reads keys an older
version did not write as their type's empty value, so every stored run still loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import (
    Any,
    ClassVar,
    Literal,
    NotRequired,
    TypeAlias,
    TypedDict,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from gorgon_nb.model.usage import Usage

__all__ = [
    "EPHEMERAL_EVENTS",
    "PAYLOADS",
    "ApprovalData",
    "ApprovalDecided",
    "ApprovalRequested",
    "DelegationFinished",
    "DelegationStarted",
    "Event",
    "EventKind",
    "EventPayload",
    "GraphNode",
    "Notice",
    "RunFinished",
    "RunResumed",
    "RunStarted",
    "StepFailed",
    "StepFinished",
    "StepRetry",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "payload_data",
    "payload_from_data",
]

EventKind = Literal[
    "run_started", "run_resumed", "step_started", "text_delta", "step_retry", "step_finished",
    "step_failed", "delegation_started", "delegation_finished", "tool_call_started", "tool_call_finished",
    "approval_requested",
    "approval_decided", "notice", "run_finished",
]


class GraphNode(TypedDict):
    """A step of the run's graph as its start event describes it (a loop has its ``body``)."""

    key: str
    id: str
    kind: str
    role: str | None
    name: str
    deps: list[str]
    body: NotRequired[list[GraphNode]]


class ApprovalData(TypedDict):
    """An approval as its events carry it (``engine.approvals.approval_data``)."""

    id: str
    kind: str
    round: int
    title: str
    preview: str
    approvers: list[str]
    status: str
    timeout_at: float | None
    on_timeout: str
    decided_by: str | None
    decided_at: float | None
    comment: str | None
    timed_out: bool
    step_key: NotRequired[str]  # the approval row's key: a tool call's is ``build/tool-2``


# -- which keys a payload leaves out of its data ------------------------------------------

_ABSENT = "gorgon_absent"  # field metadata: (payload, value) -> whether the key is left out

_WHEN_SET: dict[str, Any] = {_ABSENT: lambda _payload, value: value is None}
"""Metadata of a field whose key is written only while it is set: absent, not null, when None."""

_WHEN_TRUE: dict[str, Any] = {_ABSENT: lambda _payload, value: value is False}
"""Metadata of a flag whose key is written only when it is true."""

_WHEN_SUCCEEDED: dict[str, Any] = {_ABSENT: lambda payload, _value: payload.status == "skipped"}
"""Metadata of what only a success has: written, null included, when the step succeeded;
absent when it was skipped."""


# -- the payloads --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    """A run began: its workflow, inputs and graph; a replay or a fork names its source run."""

    kind: ClassVar[Literal["run_started"]] = "run_started"
    workflow_id: str
    name: str
    inputs: dict[str, Any]
    graph: list[GraphNode]
    replay_of: str | None = field(default=None, metadata=_WHEN_SET)
    fork_of: str | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed:
    """A run goes on in a new process; ``restored`` has the status of each step done before."""

    kind: ClassVar[Literal["run_resumed"]] = "run_resumed"
    workflow_id: str
    name: str
    inputs: dict[str, Any]
    graph: list[GraphNode]
    restored: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted:
    kind: ClassVar[Literal["step_started"]] = "step_started"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of a step's streamed text: of a ``for_each`` item, of a supervisor's delegate."""

    kind: ClassVar[Literal["text_delta"]] = "text_delta"
    text: str
    item: int | None = field(default=None, metadata=_WHEN_SET)
    delegation: int | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetry:
    """An attempt failed and the step tries again (its streamed text so far is void)."""

    kind: ClassVar[Literal["step_retry"]] = "step_retry"
    attempt: int
    delay: float
    error: str
    error_type: str
    delegation: int | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished:
    """A step ended well: ``succeeded`` with its output, usage and model, or ``skipped``
    with the reason."""

    kind: ClassVar[Literal["step_finished"]] = "step_finished"
    status: Literal["succeeded", "skipped"]
    output: Any = field(default=None, metadata=_WHEN_SUCCEEDED)
    usage: Usage | None = field(default=None, metadata=_WHEN_SUCCEEDED)
    model: str | None = field(default=None, metadata=_WHEN_SUCCEEDED)
    reason: str | None = field(default=None, metadata=_WHEN_SET)
    output_truncated: bool = field(default=False, metadata=_WHEN_TRUE)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed:
    """A step failed (or was cancelled: ``error_type`` "Cancelled"); ``continued`` when its
    ``on_failure`` lets the run go on."""

    kind: ClassVar[Literal["step_failed"]] = "step_failed"
    error: str | None
    error_type: str | None
    usage: Usage | None = field(default=None, metadata=_WHEN_SET)
    continued: bool = field(default=False, metadata=_WHEN_TRUE)


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationStarted:
    """A supervisor asked a role; that delegate's text deltas carry ``delegation=index``."""

    kind: ClassVar[Literal["delegation_started"]] = "delegation_started"
    index: int
    role: str
    task: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationFinished:
    """A delegate answered (``output``) or could not (``error``)."""

    kind: ClassVar[Literal["delegation_finished"]] = "delegation_finished"
    index: int
    role: str
    output: Any = field(default=None, metadata=_WHEN_SET)
    error: str | None = field(default=None, metadata=_WHEN_SET)
    output_truncated: bool = field(default=False, metadata=_WHEN_TRUE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted:
    """The model asked for a tool call (the ``index``-th of the step execution): its tool's
    reference and its arguments. A call that writes waits for its approval next."""

    kind: ClassVar[Literal["tool_call_started"]] = "tool_call_started"
    index: int
    tool: str
    arguments: dict[str, Any]
    writes: bool
    item: int | None = field(default=None, metadata=_WHEN_SET)
    delegation: int | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished:
    """A tool call ended. ``status``: ``ok``, ``error`` (the tool failed; the model read the
    error), ``rejected`` (a person said no; the model read why). ``result`` is what the model
    read, cut to a preview. ``recorded``: served from the record (a resume or a replay)."""

    kind: ClassVar[Literal["tool_call_finished"]] = "tool_call_finished"
    index: int
    tool: str
    status: str
    result: str
    item: int | None = field(default=None, metadata=_WHEN_SET)
    delegation: int | None = field(default=None, metadata=_WHEN_SET)
    recorded: bool = field(default=False, metadata=_WHEN_TRUE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested:
    kind: ClassVar[Literal["approval_requested"]] = "approval_requested"
    approval: ApprovalData


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDecided:
    kind: ClassVar[Literal["approval_decided"]] = "approval_decided"
    approval: ApprovalData


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    kind: ClassVar[Literal["notice"]] = "notice"
    message: str
    level: str  # "info" | "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    """A run ended. ``outputs`` are the run's outputs when it succeeded (their names, once
    stored)."""

    kind: ClassVar[Literal["run_finished"]] = "run_finished"
    status: str
    error: str | None
    error_type: str | None
    usage: Usage
    outputs: dict[str, Any] | list[str] | None


EventPayload: TypeAlias = (
    RunStarted | RunResumed | StepStarted | TextDelta | StepRetry | StepFinished | StepFailed
    | DelegationStarted | DelegationFinished | ToolCallStarted | ToolCallFinished | ApprovalRequested
    | ApprovalDecided | Notice | RunFinished
)

PAYLOADS: dict[str, type[EventPayload]] = {cls.kind: cls for cls in get_args(EventPayload)}

EPHEMERAL_EVENTS: tuple[type[EventPayload], ...] = (TextDelta,)
"""Payloads delivered to a run's subscribers only: never stored, not numbered."""


# -- to and from the wire ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    usage: bool  # a Usage, written as its dict
    absent: Callable[[Any, Any], bool] | None  # when its key is left out
    blank: Callable[[], Any] | None  # what a row without the key reads as; None: the field's default


_FIELDS: dict[type[EventPayload], tuple[_Field, ...]] = {}


def _fields(cls: type[EventPayload]) -> tuple[_Field, ...]:
    """How each field of a payload class is written and read (worked out on first use: reading
    the type hints costs milliseconds an import should not)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = _describe(cls)
    return _FIELDS[cls]


def _describe(cls: type[EventPayload]) -> tuple[_Field, ...]:
    hints = get_type_hints(cls)
    return tuple(
        _Field(f.name, Usage in (hints[f.name], *get_args(hints[f.name])), f.metadata.get(_ABSENT),
               _blank(hints[f.name]) if f.default is MISSING else None)
        for f in fields(cls))


def _blank(hint: Any) -> Callable[[], Any]:
    """What makes the empty value of a type: None where it may be None, else "", 0, [],
    {}, ``Usage()``, a ``Literal``'s first value."""
    if hint is Any or type(None) in get_args(hint):
        return lambda: None
    if get_origin(hint) is Literal:
        return lambda: get_args(hint)[0]
    if is_typeddict(hint):
        return dict
    return get_origin(hint) or hint


def payload_data(payload: EventPayload) -> dict[str, Any]:
    """The payload as an event's ``data``: its fields by name, those unset left out."""
    data: dict[str, Any] = {}
    for f in _fields(type(payload)):
        value = getattr(payload, f.name)
        if f.absent is None or not f.absent(payload, value):
            data[f.name] = value.to_dict() if isinstance(value, Usage) else value
    return data


def payload_from_data(kind: str, data: dict[str, Any]) -> EventPayload | None:
    """The payload of a stored event; None for a kind this version does not know."""
    cls = PAYLOADS.get(kind)
    if cls is None:
        return None
    values: dict[str, Any] = {}
    for f in _fields(cls):
        if f.name in data:
            value = data[f.name]
            values[f.name] = Usage.from_dict(value) if f.usage and value is not None else value
        elif f.blank is not None:
            values[f.name] = f.blank()
    return cls(**values)


@dataclass(slots=True)
class Event:
    """One event of run ``run_id``, about ``step`` (a step key) or the run itself; ``seq``
    numbers the stored ones in order (0: not stored)."""

    payload: EventPayload
    run_id: str
    step: str | None = None
    seq: int = 0
    ts: float = field(default_factory=time.time)

    @property
    def kind(self) -> EventKind:
        return self.payload.kind

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "step": self.step,
                "data": payload_data(self.payload), "seq": self.seq, "ts": self.ts}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Event | None:
        """An event from ``to_dict``'s form (a stored row); None when its kind is unknown here."""
        payload = payload_from_data(row["kind"], row["data"])
        return None if payload is None else cls(payload, row["run_id"], row["step"], row["seq"], row["ts"])

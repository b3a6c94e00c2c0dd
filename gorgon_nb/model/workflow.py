"""The workflow format: pydantic models of a workflow file, validated at the edge.

A step's kind is the one *kind key* it holds (``agent: planner``, ``llm: "prompt"``,
``python: pkg.mod:func``, ``shell: "cmd"``, ``workflow: other.yaml``, ``notebook: report.ipynb``,
``loop: [steps]``, ``github: create_issue``, ``notion: create_page``, ``slack: post_message``,
``checkpoint: name``); everything else about a step is an option of ``StepBase`` shared by
every kind. Each kind's own model lives with the kind, in ``gorgon_nb.steps`` (see
``model.kinds``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    StrictBool,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gorgon_nb.model.kinds import find_kind, kind_key
from gorgon_nb.model.limits import RETRY_BACKOFF
from gorgon_nb.model.notifications import NotifyRule, notify_rules

__all__ = [
    "ApprovalPolicy",
    "Budget",
    "Defaults",
    "InputSpec",
    "ModelOptions",
    "RetryPolicy",
    "Step",
    "StepBase",
    "WorkflowSpec",
    "parse_duration",
]

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_MAX_TOOL_CALLS = 20  # tool calls a step's model may make before it must answer
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``90``, ``1.5``, ``"30s"``, ``"5m"``, ``"1h"`` or ``"500ms"``."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration; write seconds (90) or 30s, 5m, 1h, 500ms")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Strict(BaseModel):
    # Booleans are true or false, never 'yes' or 1; numbers are finite (a backoff of .inf waits forever).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class RetryPolicy(_Strict):
    """How often to try a failing call again. ``retry: 2`` is short for ``{attempts: 3}``."""

    attempts: int = Field(3, ge=1, le=20, description="total tries, the first included")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry; doubles each time")
    max_backoff: float = Field(30.0, ge=0)
    jitter: StrictBool = True

    @field_validator("backoff", "max_backoff")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if value > RETRY_BACKOFF.get():
            raise PydanticCustomError("limit", "{message}", {
                "message": RETRY_BACKOFF.exceeded(f"a backoff of {value:g}s"), "hint": RETRY_BACKOFF.how_to_raise})
        return value


def _retry_shorthand(value: Any) -> Any:
    if isinstance(value, bool):
        return {"attempts": 3 if value else 1}
    if isinstance(value, int):
        return {"attempts": value + 1}
    return value


Retry = Annotated[RetryPolicy, BeforeValidator(_retry_shorthand)]


class Budget(_Strict):
    max_usd: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0)


InputType = Literal["string", "integer", "number", "boolean", "list", "object", "any"]


class InputSpec(_Strict):
    """A declared input. Without ``default`` an input is required unless ``required: false``."""

    type: InputType = "string"
    required: StrictBool | None = None
    default: Any = None
    description: str = ""
    enum: list[Any] | None = None

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


def _input_shorthand(value: Any) -> Any:
    # `inputs: {topic: "default text"}` declares an optional input with that default.
    if isinstance(value, dict):
        return value
    if value is None:
        return {"type": "string"}
    kind = {bool: "boolean", int: "integer", float: "number", list: "list"}.get(type(value), "string")
    return {"type": kind, "default": value}


class Defaults(_Strict):
    model: str = "auto"
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int = Field(4096, gt=0)
    retry: Retry = Field(default_factory=RetryPolicy)
    timeout: Duration | None = None


OnFailure = Literal["fail", "skip", "continue"]


class ApprovalPolicy(_Strict):
    """A person's approval on a step: ``before`` it runs, or ``after`` (its output counts once approved).

    ``approval: before`` / ``approval: after`` is short for ``{mode: ...}``. After a
    rejection, ``max_revisions`` sends the step back that many times with the reviewer's
    comment as feedback (LLM steps only).
    """

    mode: Literal["before", "after"]
    title: str = ""
    preview: str | None = None
    approvers: list[str] = Field(default_factory=list)
    timeout: Duration | None = None
    on_timeout: Literal["approve", "reject"] = "reject"
    max_revisions: int = Field(0, ge=0, le=10)


def _approval_shorthand(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


Approval = Annotated[ApprovalPolicy, BeforeValidator(_approval_shorthand)]


class StepBase(_Strict):
    """The options every kind of step has; each kind's model (in ``gorgon_nb.steps``) adds its own."""

    kind: str
    id: str = Field(pattern=IDENT)
    name: str = ""
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    when: str | StrictBool | None = None
    for_each: str | list[Any] | None = None
    as_: str = Field("item", alias="as", pattern=IDENT)
    max_parallel: int | None = Field(None, ge=1)
    output: Literal["text", "json"] = "text"
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    retry: Retry | None = None
    timeout: Duration | None = None
    on_failure: OnFailure = "fail"
    default: Any = None
    approval: Approval | None = None

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def role(self) -> str | None:
        """The role that does the step's work, for the displays (an agent's)."""
        return None


class ModelOptions(BaseModel):
    """The options of a step that calls a model (a mixin: a step with these calls a model)."""

    model: str | None = None
    fallback_models: list[str] = Field(default_factory=list)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    json_retries: int = Field(2, ge=0, le=5)
    # What the model may call (see model.tools); None: the role's tools, if it has any.
    tools: list[str] | None = None
    max_tool_calls: int = Field(DEFAULT_MAX_TOOL_CALLS, ge=0, le=1000)
    workspace: str | None = Field(None, description="the folder the files and shell tools work in")
    auto_approve: StrictBool | list[str] = Field(False, description="tools whose calls need no approval (true: all)")

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _step(value: Any, handler: ValidatorFunctionWrapHandler) -> StepBase:
    """A raw step mapping validated as the model of the kind it names (see ``model.kinds``)."""
    if isinstance(value, StepBase):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("step_kind", "a step needs exactly one kind key")
    keys = kind_key(value)
    if len(keys) != 1:
        raise PydanticCustomError("step_kind", "a step needs exactly one kind key")
    kind = find_kind(keys[0])
    assert kind is not None
    return kind.model.model_validate({**value, "kind": kind.key})


# A step of any kind, registered ones of plugins included; serialized with its own fields.
Step = Annotated[SerializeAsAny[StepBase], WrapValidator(_step)]


class WorkflowSpec(_Strict):
    """The parsed content of a workflow file (before compilation)."""

    id: str = Field(pattern=r"^[A-Za-z_][\w.-]*$")
    name: str = ""
    description: str = ""
    version: str | int | None = None
    inputs: dict[str, Annotated[InputSpec, BeforeValidator(_input_shorthand)]] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    budget: Budget | None = None
    timeout: Duration | None = None
    allow_code: StrictBool = False  # the file's consent to run code on this machine (see engine/trust.py)
    allow_shell: StrictBool = False  # the older spelling of allow_code
    outputs: dict[str, Any] | None = None
    # targets told of its runs' ends and approvals: `notify: team`, `[team, "oncall:failed"]`
    notify: Annotated[list[NotifyRule], BeforeValidator(notify_rules)] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in value:
            if not re.match(IDENT, name):
                raise ValueError(f"input name '{name}' must be letters, digits and _ (not starting with a digit)")
        return value

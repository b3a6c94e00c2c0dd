"""The workflow format: pydantic models of a workflow file, validated at the edge.

A step's kind is the one *kind key* it holds (``agent: planner``, ``llm: "prompt"``,
``python: pkg.mod:func``, ``shell: "cmd"``, ``workflow: other.yaml``, ``notebook: report.ipynb``,
``loop: [steps]``, ``github: create_issue``, ``notion: create_page``, ``slack: post_message``);
everything else about a step is an option shared by the kinds that can use it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gorgon_nb.model.limits import RETRY_BACKOFF

__all__ = [
    "STEP_KINDS",
    "AgentStep",
    "ApprovalPolicy",
    "ApprovalStep",
    "Budget",
    "Defaults",
    "GitHubStep",
    "InputSpec",
    "IntegrationStep",
    "LLMStep",
    "LoopStep",
    "NotebookStep",
    "NotionStep",
    "PythonStep",
    "RetryPolicy",
    "ShellStep",
    "SlackStep",
    "Step",
    "SupervisorStep",
    "WorkflowSpec",
    "WorkflowStep",
    "parse_duration",
]

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
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


class _StepBase(_Strict):
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


class _ModelOptions(BaseModel):
    model: str | None = None
    fallback_models: list[str] = Field(default_factory=list)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    json_retries: int = Field(2, ge=0, le=5)


class AgentStep(_StepBase, _ModelOptions):
    """A role (planner, builder, ...) doing ``task`` with ``context``."""

    agent: str
    task: str = ""
    context: str = ""
    system: str = Field("", description="extra instructions appended to the role's prompt")
    kind: Literal["agent"] = "agent"


class LLMStep(_StepBase, _ModelOptions):
    """A raw prompt to a model, with no role."""

    llm: str
    system: str = ""
    kind: Literal["llm"] = "llm"


class PythonStep(_StepBase):
    """Calls ``module:function`` with ``args``; its return value is the output."""

    python: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    args: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["python"] = "python"


class ShellStep(_StepBase):
    """Runs a command; stdout is the output. Off unless the workflow and the caller allow it."""

    shell: str
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    kind: Literal["shell"] = "shell"


class WorkflowStep(_StepBase):
    """Runs another workflow (a path relative to this file, or a bundled name)."""

    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["workflow"] = "workflow"


class NotebookStep(_StepBase):
    """Runs a Jupyter notebook with papermill, on a fresh kernel, in the notebook's folder.

    ``notebook`` is a path relative to the workflow file's folder (templates allowed);
    ``parameters`` are injected after the notebook's ``parameters`` cell, as papermill
    does. The output is the dict of values the notebook glued (``gorgon_nb.glue``). The
    executed copy is kept at ``GORGON_HOME/notebooks/<run id>/<step>.ipynb`` (``<step>-<i>``
    for each item of a ``for_each``). A cell that raises fails the step, naming the cell.
    """

    notebook: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["notebook"] = "notebook"


class LoopStep(_StepBase):
    """Runs ``loop`` (a list of steps) again and again until ``until`` holds, at most ``max_rounds``."""

    loop: list[Step] = Field(min_length=1)
    until: str | StrictBool
    max_rounds: int = Field(3, ge=1, le=100)
    kind: Literal["loop"] = "loop"


class SupervisorStep(_StepBase, _ModelOptions):
    """A supervisor takes ``supervisor`` (the task), decides which roles to ask (at most
    ``max_delegations``, in parallel), then writes the answer from what they said. With
    nothing worth delegating it answers alone."""

    supervisor: str
    context: str = ""
    roles: list[str] = Field(default_factory=list, description="who it may ask; empty: every role")
    max_delegations: int = Field(3, ge=0, le=8)
    kind: Literal["supervisor"] = "supervisor"


class ApprovalStep(_StepBase):
    """A gate of its own: the run waits here until a person approves ``approval`` (the title).

    Its output is the decision: ``{approved, by, comment, at}``; a rejection fails the step
    (``on_failure`` decides what then). ``timeout`` bounds the wait, ``on_timeout`` decides.
    """

    approval: str  # type: ignore[assignment]
    preview: str = ""
    approvers: list[str] = Field(default_factory=list)
    on_timeout: Literal["approve", "reject"] = "reject"
    kind: Literal["approval"] = "approval"


class IntegrationStep(_StepBase):
    """An action on GitHub, Notion or Slack: the kind key names the action, ``with`` its params.

    Actions that write (create, commit, post, update) wait for a person's approval, shown
    exactly what will be written where, unless ``auto_approve: true`` (or the config's
    ``[integrations.SERVICE] auto_approve``) says otherwise. Reads run freely.
    """

    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    auto_approve: StrictBool = False
    kind: Literal["github", "notion", "slack"]

    @property
    def service(self) -> str:
        return self.kind

    @property
    def action(self) -> str:
        return str(getattr(self, self.kind))


class GitHubStep(IntegrationStep):
    github: str
    kind: Literal["github"] = "github"


class NotionStep(IntegrationStep):
    notion: str
    kind: Literal["notion"] = "notion"


class SlackStep(IntegrationStep):
    slack: str
    kind: Literal["slack"] = "slack"


STEP_KINDS: dict[str, type[_StepBase]] = {
    "agent": AgentStep,
    "llm": LLMStep,
    "python": PythonStep,
    "shell": ShellStep,
    "workflow": WorkflowStep,
    "notebook": NotebookStep,
    "loop": LoopStep,
    "supervisor": SupervisorStep,
    "approval": ApprovalStep,
    "github": GitHubStep,
    "notion": NotionStep,
    "slack": SlackStep,
}


def step_kind(value: Any) -> str | None:
    """The kind of a raw step mapping: the single kind key it holds."""
    if isinstance(value, BaseModel):
        return getattr(value, "kind", None)
    if not isinstance(value, dict):
        return None
    # "approval" is also an option of every other kind: it names the kind only when alone.
    found = [key for key in STEP_KINDS if key in value and key != "approval"]
    if not found and "approval" in value:
        return "approval"
    return found[0] if len(found) == 1 else None


Step = Annotated[
    Annotated[AgentStep, Tag("agent")]
    | Annotated[LLMStep, Tag("llm")]
    | Annotated[PythonStep, Tag("python")]
    | Annotated[ShellStep, Tag("shell")]
    | Annotated[WorkflowStep, Tag("workflow")]
    | Annotated[NotebookStep, Tag("notebook")]
    | Annotated[LoopStep, Tag("loop")]
    | Annotated[SupervisorStep, Tag("supervisor")]
    | Annotated[ApprovalStep, Tag("approval")]
    | Annotated[GitHubStep, Tag("github")]
    | Annotated[NotionStep, Tag("notion")]
    | Annotated[SlackStep, Tag("slack")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one kind key",
    ),
]
LoopStep.model_rebuild()


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
    steps: list[Step] = Field(min_length=1)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in value:
            if not re.match(IDENT, name):
                raise ValueError(f"input name '{name}' must be letters, digits and _ (not starting with a digit)")
        return value

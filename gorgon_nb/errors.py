"""The one error tree of gorgon-nb.

Every error a user can see is a ``GorgonError``. Its message says what went wrong and,
where the user can act, what to do next. Foreign exceptions (SDKs, SQLite, YAML) are
translated into these at the boundary that meets them. The drawing shows every class of
the tree (tests/test_errors.py holds it to the code); the few defined beside what raises
them name their module.

    GorgonError
    ├── UsageError                  the user's input is wrong; the message says how to fix it
    │   ├── WorkflowError           a workflow failed to load or validate (a list of Problems)
    │   ├── InputError              a missing or mistyped workflow input
    │   ├── ConfigError             a bad config file or a missing API key
    │   ├── NotFoundError           an unknown run id, workflow name or file
    │   ├── ApprovalError           a decision that cannot be taken (already decided, not allowed)
    │   └── ChatError               a chat message that cannot be taken (chat.py): empty, unknown role, busy
    ├── ExecutionError              something failed while a run was going on
    │   ├── ProviderError           an LLM provider failed (``retryable`` says if trying again may help)
    │   │   ├── ProviderAuthError       bad or missing key; names the variable to set
    │   │   ├── RateLimitError          429; carries ``retry_after`` seconds when the provider sent it
    │   │   ├── ProviderUnavailable     5xx, dropped connection, truncated stream
    │   │   ├── ContextLengthError      the prompt is longer than the model accepts
    │   │   ├── ModelNotFoundError      the provider does not know the model
    │   │   └── CircuitOpenError        too many recent failures; calls are paused
    │   ├── StepTimeoutError        a step attempt ran past its ``timeout``
    │   ├── RunTimeoutError         the whole run ran past its ``timeout``
    │   ├── BudgetExceededError     the next call would pass ``max_usd`` or ``max_tokens``
    │   ├── OutputFormatError       ``output: json`` still invalid after the re-asks
    │   ├── ApprovalRejectedError   a person rejected the step (or its approval timed out so)
    │   ├── StepError               a python or shell step failed
    │   ├── IntegrationError        GitHub, Notion or Slack refused or failed (``retryable``, ``retry_after``)
    │   ├── ToolError               a tool failed; ``fatal``: it stops the step (an MCP server that will not start)
    │   ├── StoreError              the SQLite store could not be read or written
    │   ├── LimitExceededError      a run passed a limit of model/limits.py (steps per run, for_each items, depth)
    │   ├── TemplateError           a template failed to render (engine/templating.py; a syntax error is a Problem)
    │   └── RunFailed               ``RunResult.raise_for_status()`` on a run that did not succeed (model/run.py)

Outside the tree, and never seen outside the engine, is one signal of control flow:
``StepFailure`` (engine/run_state.py) carries a failed step's result from the step to the
executor, which ends the run with the step's own error.

The same error reaches people through four front doors: Python, a notebook's magics, the
``gorgon`` command and the JupyterLab sidebar. Where a message says what to do next, the
core gives every form as ``Advice`` and each front door shows its own: ``str(error)`` is
the Python form, ``error.for_surface("notebook")`` (``"cli"``, ``"sidebar"``) the others.

    raise NotFoundError(f"no run '{run_id}'. ", Advice(
        python="Runner().store.runs.recent() lists recent runs.",
        notebook="Run %gorgon runs to list recent runs.",
        cli="Run 'gorgon runs' to list recent runs."))
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SURFACES",
    "Advice",
    "ApprovalError",
    "ApprovalRejectedError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "ContextLengthError",
    "ExecutionError",
    "GorgonError",
    "InputError",
    "IntegrationError",
    "LimitExceededError",
    "ModelNotFoundError",
    "NotFoundError",
    "OutputFormatError",
    "Problem",
    "ProviderAuthError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimitError",
    "RunTimeoutError",
    "StepError",
    "StepTimeoutError",
    "StoreError",
    "Surface",
    "ToolError",
    "UsageError",
    "WorkflowError",
    "did_you_mean",
]


Surface = Literal["python", "notebook", "cli", "sidebar"]
SURFACES: tuple[Surface, ...] = ("python", "notebook", "cli", "sidebar")


@dataclass(frozen=True)
class Advice:
    """Part of a message that each surface says in its own words: the code to call in
    Python, the magic in a notebook, the command in a terminal, and what to type or click in
    JupyterLab's Gorgon sidebar (its chat, its REST API); without words of its own the
    sidebar says the notebook's, as it lives beside the notebooks."""

    python: str
    notebook: str
    cli: str
    sidebar: str | None = None

    def on(self, surface: Surface) -> str:
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}; one of: {', '.join(SURFACES)}")
        if surface == "sidebar":
            return self.notebook if self.sidebar is None else self.sidebar
        text: str = getattr(self, surface)
        return text

    def __str__(self) -> str:
        return self.python


class GorgonError(Exception):
    """Base of every error gorgon-nb raises on purpose.

    The message is the arguments joined: text, and ``Advice`` for the parts that differ by
    surface. ``str()`` gives the Python form; ``for_surface`` any form.
    """

    def __init__(self, *message: str | Advice) -> None:
        super().__init__(*message)

    def for_surface(self, surface: Surface) -> str:
        """The message as ``surface`` ("python", "notebook", "cli" or "sidebar") should show it."""
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}; one of: {', '.join(SURFACES)}")
        if not self.args or not all(isinstance(part, str | Advice) for part in self.args):
            return super().__str__()
        return "".join(part.on(surface) if isinstance(part, Advice) else part for part in self.args)

    def without_advice(self) -> str:
        """The message with its ``Advice`` left out (advice comes last), for text every surface
        shows alike, such as a problem in a workflow file."""
        return "".join(str(part) for part in self.args if not isinstance(part, Advice)).rstrip()

    def __str__(self) -> str:
        return self.for_surface("python")


class UsageError(GorgonError):
    """The user's input is wrong; the message says how to fix it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, pinned to where it is."""

    message: str
    field: str = ""
    hint: str = ""
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or "<workflow>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class WorkflowError(UsageError):
    """A workflow failed to load or validate. ``problems`` lists every issue found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        # Set when the workflow parsed only in part: what did parse, so the rest can be checked.
        self.partial: object | None = None
        count = len(self.problems)
        head = f"workflow has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class InputError(UsageError):
    """A workflow input is missing or has the wrong type."""


class ConfigError(UsageError):
    """The configuration is invalid or a required setting (such as an API key) is missing."""


class NotFoundError(UsageError):
    """A run, workflow, role or file that does not exist."""


class ApprovalError(UsageError):
    """An approval decision that cannot be taken: already decided, not allowed, none pending."""


class ExecutionError(GorgonError):
    """Something failed while a run was going on. ``retryable``: trying again may help."""

    retryable = False


class ProviderError(ExecutionError):
    """An LLM provider failed."""

    def __init__(self, message: str, *, provider: str = "", model: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider refused the credentials, or none were given."""

    def __init__(self, message: str, *, env_var: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.env_var = env_var


class RateLimitError(ProviderError):
    """The provider asked us to slow down (HTTP 429)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """A server error, a dropped connection or a truncated stream: worth another try."""

    retryable = True


class ContextLengthError(ProviderError):
    """The prompt does not fit the model's context window."""


class ModelNotFoundError(ProviderError):
    """The provider does not know the requested model."""


class CircuitOpenError(ProviderError):
    """Calls to a provider are paused after repeated failures."""


class StepTimeoutError(ExecutionError):
    """A step attempt ran past its ``timeout``."""

    retryable = True


class RunTimeoutError(ExecutionError):
    """The whole run ran past its ``timeout``."""


class BudgetExceededError(ExecutionError):
    """The next call would exceed the run's budget; nothing was sent."""


class OutputFormatError(ExecutionError):
    """A step declared ``output: json`` and the model's answer stayed invalid."""


class ApprovalRejectedError(ExecutionError):
    """A person rejected the step, or its approval timed out into a rejection."""


class StepError(ExecutionError):
    """A python or shell step failed."""


class IntegrationError(ExecutionError):
    """GitHub, Notion or Slack failed. ``retryable``: trying again may help (a rate limit, a
    server error, no connection); ``retry_after``: the wait the service asked for, in
    seconds; ``unsure``: the request may have been carried out before the failure (a
    server error or a dropped connection after it was sent)."""

    def __init__(self, message: str, *, service: str, retryable: bool = False,
                 retry_after: float | None = None, unsure: bool = False) -> None:
        super().__init__(message)
        self.service = service
        self.retryable = retryable
        self.retry_after = retry_after
        self.unsure = unsure


class ToolError(ExecutionError):
    """A tool failed. A call's error is the model's to read (it may try otherwise), unless
    ``fatal``: then it stops the step (a tool set that cannot be reached, a write cut off
    that may or may not have happened). ``unsure``: the call may have been carried out
    before the failure (a server that crashed or did not answer in time)."""

    def __init__(self, message: str, *, fatal: bool = False, unsure: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.unsure = unsure


class StoreError(ExecutionError):
    """The store could not be read or written."""


class LimitExceededError(ExecutionError):
    """A run passed one of the limits of ``model/limits.py`` (steps per run, ``for_each``
    items, sub-workflow depth). It stops the run whatever the step's ``on_failure`` says."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint naming the closest known spelling of ``name``, or listing the known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known: " + ", ".join(known) if known else ""

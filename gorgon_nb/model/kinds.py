"""The registry of step kinds: everything the format, the compiler and the executor know of a kind.

A step's kind is the one kind key it holds (``agent: planner``, ``shell: make``). Each kind
is one module that declares a ``StepKind``: its pydantic model, its templated fields, its
compile-time checks, its handler, its approval preview and its durability traits. The
workflow format, the compiler, the executor, approvals and replay ask this registry and
never name a kind.

The kinds that come with gorgon-nb are the modules of ``gorgon_nb.steps``; a package of
someone else's adds kinds through the ``gorgon_nb.steps`` entry point group, naming a
``StepKind`` (or a module whose ``KINDS`` lists several)::

    [project.entry-points."gorgon_nb.steps"]
    sql = "my_package.sql_step:KIND"

Both are loaded on first use: the built-in kinds when a step is first validated, plugins
when a step holds no built-in kind key (and when ``plugin_problems`` is asked). A plugin
that fails to load is reported by name and the others still load.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gorgon_nb.plugins import PluginProblem, Registry

if TYPE_CHECKING:
    import pathlib

    from gorgon_nb.errors import Problem
    from gorgon_nb.model.workflow import ApprovalPolicy, RetryPolicy, StepBase

__all__ = ["BUILTIN_PACKAGE", "ENTRY_POINT_GROUP", "Body", "StepKind", "all_kinds", "body_keys", "body_of", "find_kind",
           "kind_key", "kind_of", "plugin_problems", "register"]

BUILTIN_PACKAGE = "gorgon_nb.steps"
ENTRY_POINT_GROUP = "gorgon_nb.steps"


@dataclass(frozen=True)
class Body:
    """Steps a step holds and runs again and again (a loop's body), at most ``rounds`` times."""

    steps: list[Any]
    field: str  # the key that holds them: "loop"
    rounds: int
    rounds_field: str  # the key that bounds them: "max_rounds"


Replay = Literal["recorded", "rerun"]
Attempts = Literal["here", "per_model_call", "own"]


def _no_templates(step: Any) -> dict[str, Any]:
    return {}


def _own_approval(step: Any, config: Any) -> ApprovalPolicy | None:
    return step.approval


@dataclass(frozen=True)
class StepKind:
    """What one kind of step is and does.

    Handlers and hooks take the step's own model; ``ctx`` is ``engine.context.StepContext``
    for ``run``, ``show`` and ``preview``, and ``engine.compile.KindChecks`` for ``check``.

    Durability traits:

    - ``replay``: ``"recorded"`` when a replayed run takes the step's output from the run it
      replays (its side effects happen once, ever); ``"rerun"`` when it runs again, calling
      nothing new (its model answers and approval decisions come from the record).
    - ``attempts``: ``"here"`` when the executor bounds each try by the step's ``timeout``
      and retries it by its ``retry`` policy (``default_retry`` when it has none);
      ``"per_model_call"`` when the timeout and retries apply to each model call inside;
      ``"own"`` when the kind deals with time itself (an approval's wait, a loop's rounds).
    """

    key: str  # the kind key a step holds
    model: type[StepBase]
    run: Callable[[Any, Any], Awaitable[Any]]
    templates: Callable[[Any], dict[str, Any]] = _no_templates  # templated fields by name
    expressions: Callable[[Any], dict[str, Any]] = _no_templates  # conditions by name (a loop's until)
    body: str | None = None  # the key holding steps it runs itself (a loop's "loop")
    rounds: str | None = None  # the key bounding how often it runs them ("max_rounds")
    body_names: frozenset[str] = frozenset()  # names the body's templates may use besides inputs and steps
    check: Callable[[Any, Any], None] | None = None  # compile-time checks past the model's own
    needs: Callable[[Any, Any], Problem | None] | None = None  # what the config lacks to run it (a token)
    code_use: Callable[[Any, pathlib.Path | None, bool], str | None] | None = None  # see engine.trust
    approval: Callable[[Any, Any], ApprovalPolicy | None] = _own_approval  # the approval it waits for
    show: Callable[[Any, Any], Awaitable[tuple[str, str]]] | None = None  # title and body of a live preview
    preview: Callable[[Any, Any], str] | None = None  # what it will do, for an approval before it runs
    replay: Replay = "recorded"
    attempts: Attempts = "here"
    default_retry: RetryPolicy | None = None  # None: one try
    revisable: bool = False  # may be sent back with feedback after an approval (max_revisions)
    only_alone: bool = False  # the key is also an option of other kinds; it names the kind only alone
    origin: str = field(default="gorgon-nb", compare=False)  # the package it comes from


_registry: Registry[StepKind] = Registry("step kind", StepKind, BUILTIN_PACKAGE, ENTRY_POINT_GROUP, "KIND", "KINDS")


def register(kind: StepKind) -> StepKind:
    """Add ``kind``; a second kind with the same key is refused."""
    return _registry.register(kind)


def plugin_problems() -> list[PluginProblem]:
    """The step-kind plugins that failed to load (loading them all first)."""
    return _registry.problems()


def all_kinds(*, plugins: bool = True) -> Mapping[str, StepKind]:
    """Every kind by key: the built-in ones, then those of plugins."""
    return dict(_registry.load_plugins() if plugins else _registry.load_builtins())


def find_kind(key: str) -> StepKind | None:
    return _registry.find(key)


def body_of(step: StepBase) -> Body | None:
    """The steps ``step`` holds and how often it may run them (None for a kind that holds none)."""
    kind = kind_of(step)
    if kind.body is None:
        return None
    rounds = int(getattr(step, kind.rounds)) if kind.rounds else 1
    return Body(list(getattr(step, kind.body)), kind.body, rounds, kind.rounds or "")


def body_keys() -> set[str]:
    """The keys that hold steps in a step (``loop``), across every kind."""
    return {kind.body for kind in all_kinds().values() if kind.body}


def kind_of(step: StepBase) -> StepKind:
    """The kind of a validated step."""
    found = find_kind(step.kind)
    if found is None:  # a model was built by hand for a kind nobody registered
        raise LookupError(f"no step kind '{step.kind}' is registered")
    return found


def _keys_in(kinds: Mapping[str, StepKind], value: Mapping[str, Any]) -> list[str]:
    alone = [key for key in kinds if key in value and not kinds[key].only_alone]
    if alone:
        return alone
    return [key for key in kinds if key in value]


def kind_key(value: Mapping[str, Any]) -> list[str]:
    """The kind keys a raw step mapping holds (one, for a valid step)."""
    kinds = _registry.load_builtins()
    found = _keys_in(kinds, value)
    if not found or all(kinds[key].only_alone for key in found):
        kinds = _registry.load_plugins()  # a key no built-in kind knows may be a plugin's
        found = _keys_in(kinds, value)
    return found

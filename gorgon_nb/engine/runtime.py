"""What the runs of a process share (``Runtime``), what one run and its sub-workflows share
(``RunTree``), and how a run was asked to go (``RunOptions``).

The layer above the engine gives it, through ``Runtime``, what it must not import: a way to
find and check a sub-workflow, and a way to run a notebook (see ``runner.Runner.runtime``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gorgon_nb.config import Config
from gorgon_nb.engine.resilience import CircuitBreaker
from gorgon_nb.errors import ExecutionError
from gorgon_nb.integrations import Connections
from gorgon_nb.model.limits import RUN_STEPS, LimitExceededError
from gorgon_nb.providers.registry import ProviderRegistry
from gorgon_nb.store import Store

__all__ = ["LoadedWorkflow", "NotebookRunner", "RunOptions", "RunTree", "Runtime", "WorkflowLoader"]


@dataclass(frozen=True)
class LoadedWorkflow:
    """A sub-workflow ready to run: its id, its folder, and its compiled graph."""

    id: str
    base_dir: Path | None
    compiled: Any  # engine.compile.CompiledWorkflow


# What the layer above gives the engine: finding and checking a sub-workflow (``ref`` as a
# step wrote it, relative to ``base_dir``), and running a notebook (source, the executed
# copy, parameters) into the values it glued.
WorkflowLoader = Callable[[str, "Path | None"], LoadedWorkflow]
NotebookRunner = Callable[[Path, Path, dict[str, Any]], Awaitable[dict[str, Any]]]


class Runtime:
    """What all runs of a process share: the config and store, providers, the GitHub, Notion
    and Slack clients, circuit breakers, concurrency limits, and what the layer above gives
    the engine to find sub-workflows and run notebooks (see ``engine.context``)."""

    def __init__(self, config: Config, store: Store | None, *, load_workflow: WorkflowLoader | None = None,
                 run_notebook: NotebookRunner | None = None) -> None:
        self.config = config
        self.store = store
        self.load_workflow = load_workflow
        self.run_notebook = run_notebook
        self.providers = ProviderRegistry(config)
        self.integrations = Connections(config)
        self.breakers: dict[str, CircuitBreaker] = {}
        # Semaphores belong to an event loop; sync runs each get a fresh loop.
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary())

    def spent_today(self) -> float:
        """Dollars spent since local midnight by every run in the store (for a daily budget)."""
        if self.store is None:
            return 0.0
        midnight = datetime.combine(date.today(), datetime.min.time()).timestamp()
        return self.store.runs.spent_since(midnight)

    def breaker(self, provider: str) -> CircuitBreaker:
        if provider not in self.breakers:
            self.breakers[provider] = CircuitBreaker(provider)
        return self.breakers[provider]

    def limit(self, provider: str) -> asyncio.Semaphore:
        limits = self._limits.setdefault(asyncio.get_running_loop(), {})
        if provider not in limits:
            limits[provider] = asyncio.Semaphore(self.providers.settings(provider).concurrency)
        return limits[provider]


class RunTree:
    """What a run shares with its sub-workflows: the steps they started, and the
    sub-workflows they loaded.

    Steps count against the steps-per-run limit: a loop round's steps, each ``for_each``
    item and a sub-workflow's steps, so loops within loops or a workflow that runs itself
    for each of many items end with a message instead of filling the store. A
    sub-workflow is read and checked once per run, however often it runs.
    """

    def __init__(self) -> None:
        self.steps = 0
        self.passed: str | None = None  # the message of the limit the run passed, once it did
        self.sub_workflows: dict[tuple[str, Path | None], LoadedWorkflow] = {}

    def charge(self, steps: int = 1) -> None:
        """Count ``steps`` more; raise ``LimitExceededError`` past the limit (``charge(0)``:
        whether the limit is passed already)."""
        self.steps += steps
        if self.steps > RUN_STEPS.get():
            raise self.refuse(RUN_STEPS.message(f"the run has started {self.steps:,} steps"))

    def refuse(self, message: str) -> LimitExceededError:
        """The error for a passed limit; the first one passed is what the run reports, however
        deep in its sub-workflows it was passed."""
        self.passed = self.passed or message
        return LimitExceededError(self.passed)

    def sub_workflow(self, ref: str, base_dir: Path | None, runtime: Runtime) -> LoadedWorkflow:
        key = (ref, base_dir)
        if key not in self.sub_workflows:
            if runtime.load_workflow is None:
                raise ExecutionError("this process cannot run sub-workflows: no workflow loader was given "
                                     "to the engine")
            self.sub_workflows[key] = runtime.load_workflow(ref, base_dir)
        return self.sub_workflows[key]


@dataclass
class RunOptions:
    model: str | None = None  # forces every LLM step onto this model
    allow_code: bool = False  # the caller's consent to run code (see trust.py)
    parent_run_id: str | None = None
    base_dir: Path | None = None
    depth: int = 0  # sub-workflow nesting
    tree: RunTree | None = None  # shared with the sub-workflows of a run; a new run starts its own

    def to_record(self) -> dict[str, Any]:
        return {"model": self.model, "allow_code": self.allow_code}

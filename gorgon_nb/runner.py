"""Running workflows from Python: ``run`` / ``arun`` and the ``Runner`` that holds a process's state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gorgon_nb.config import Config, load_config
from gorgon_nb.engine.compile import CompiledWorkflow
from gorgon_nb.engine.executor import EventCallback, Execution, RunOptions, Services
from gorgon_nb.engine.inputs import bind_inputs
from gorgon_nb.errors import ConfigError
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.workflow import AgentStep, LLMStep
from gorgon_nb.providers.registry import parse_model_ref
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

__all__ = ["Runner", "WorkflowLike", "arun", "default_runner", "run"]

WorkflowLike = Workflow | str | os.PathLike[str] | Mapping[str, Any]


def as_workflow(workflow: WorkflowLike) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    if isinstance(workflow, Mapping):
        return Workflow.from_dict(workflow)
    return Workflow.load(workflow)


class Runner:
    """Runs workflows with one config, one store and one set of providers.

    ``store=None`` opens the default store (``GORGON_HOME/gorgon.db``) on first use;
    pass a ``Store`` to use another, or ``store=False`` to keep nothing.
    """

    def __init__(self, config: Config | None = None, store: Store | bool | None = None) -> None:
        self.config = config or load_config()
        self._store: Store | None = store if isinstance(store, Store) else None
        self._keep = store is not False
        self._services: Services | None = None

    @property
    def store(self) -> Store | None:
        if self._store is None and self._keep:
            self._store = Store(self.config.db_path)
        return self._store

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = Services(self.config, self.store)
        return self._services

    def prepare(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, *,
                model: str | None = None) -> tuple[Workflow, CompiledWorkflow, dict[str, Any]]:
        """Load, validate and bind inputs; every usage error surfaces here, before any step runs."""
        loaded = as_workflow(workflow)
        compiled = loaded.compile(self.config)
        bound = bind_inputs(compiled.spec, inputs)
        self._preflight(compiled, model)
        return loaded, compiled, bound

    def _preflight(self, compiled: CompiledWorkflow, override: str | None) -> None:
        """A model that needs a key nobody set fails now, not after the steps before it ran."""
        refs: set[str] = set()
        if override is not None:
            refs.add(override)
        else:
            for node in compiled.all_nodes:
                step = node.step
                if isinstance(step, AgentStep | LLMStep) and not step.fallback_models:
                    refs.add(step.model or compiled.spec.defaults.model)
        for ref in sorted(refs):
            model, _ = parse_model_ref(ref, self.config)
            settings = self.config.providers[model.provider]
            if settings.kind in ("anthropic", "openai") and settings.api_key_env \
                    and not self.config.env.get(settings.api_key_env) and not settings.base_url:
                raise ConfigError(f"model {model} needs an API key: set {settings.api_key_env}, "
                                  "or run with --model offline (or ollama:MODEL) to try it without one")

    def execution(
        self,
        workflow: WorkflowLike,
        inputs: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        allow_shell: bool = False,
        on_event: EventCallback | list[EventCallback] | None = None,
        run_id: str | None = None,
    ) -> Execution:
        """A run ready to start (``await execution.execute()``); every usage error is raised here.

        ``execution.result`` is the run's live ``RunResult``, filled in as the run goes.
        """
        loaded, compiled, bound = self.prepare(workflow, inputs, model=model)
        options = RunOptions(model=model, allow_shell=allow_shell, base_dir=loaded.base_dir)
        subscribers = on_event if isinstance(on_event, list) else [on_event] if on_event else []
        return Execution(compiled, bound, self.services, options, run_id=run_id, subscribers=subscribers)

    async def arun(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None,
                   **options: Any) -> RunResult:
        """Run ``workflow`` to the end. A failed run is returned (check ``.ok``), not raised.

        Options: ``model`` (force every LLM step onto it), ``allow_shell``, ``on_event``
        (a callback or a list of them, given every ``Event``), ``run_id``.
        """
        return await self.execution(workflow, inputs, **options).execute()

    def run(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """``arun`` for code without an event loop; inside one (Jupyter) it runs in a worker thread."""

        async def in_own_loop() -> RunResult:
            try:
                return await self.arun(workflow, inputs, **options)
            finally:  # the loop ends with this run: its connections must not outlive it
                await self.services.providers.aclose()

        return run_sync(in_own_loop)


def run_sync(make: Callable[[], Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1, thread_name_prefix="gorgon-run") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


_default: tuple[tuple[str | None, ...], Runner] | None = None


def default_runner() -> Runner:
    """The process's runner, rebuilt when GORGON_HOME or GORGON_CONFIG change."""
    global _default
    key = tuple(os.environ.get(name) for name in ("GORGON_HOME", "GORGON_CONFIG", "GORGON_MODEL"))
    if _default is None or _default[0] != key:
        _default = (key, Runner())
    return _default[1]


def run(workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
    """Run a workflow (a ``Workflow``, a file path, a bundled name, or a dict) and wait for it."""
    return default_runner().run(workflow, inputs, **options)


async def arun(workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
    return await default_runner().arun(workflow, inputs, **options)

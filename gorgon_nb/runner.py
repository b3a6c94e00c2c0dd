"""Running workflows from Python: ``run`` / ``arun`` and the ``Runner`` that holds a process's state."""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gorgon_nb.config import Config, load_config
from gorgon_nb.engine.compile import CompiledWorkflow, missing_config
from gorgon_nb.engine.executor import Execution
from gorgon_nb.engine.inputs import bind_inputs
from gorgon_nb.engine.run_state import Continuation, EventCallback
from gorgon_nb.engine.runtime import LoadedWorkflow, RunOptions, Runtime
from gorgon_nb.errors import (
    Advice,
    ApprovalError,
    ConfigError,
    StepError,
    UsageError,
    WorkflowError,
)
from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.source import parse_source
from gorgon_nb.model.workflow import Budget, ModelOptions
from gorgon_nb.providers.registry import parse_model_ref
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow, every_problem, find_workflow, resolve_sub_workflow

__all__ = ["Runner", "WorkflowLike", "arun", "current_user", "default_runner", "run"]

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
        self._runtime: Runtime | None = None

    @property
    def store(self) -> Store | None:
        if self._store is None and self._keep:
            self._store = Store(self.config.db_path)
        return self._store

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(self.config, self.store, load_workflow=self._load_sub_workflow,
                                    run_notebook=_run_notebook)
        return self._runtime

    def _load_sub_workflow(self, ref: str, base_dir: Path | None) -> LoadedWorkflow:
        """A ``workflow:`` step's workflow, found beside its parent or by name, and checked."""
        workflow = Workflow.from_file(resolve_sub_workflow(ref, base_dir))
        return LoadedWorkflow(workflow.id, workflow.base_dir, workflow.compile(self.config))

    def prepare(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, *,
                model: str | None = None,
                allow_code: bool = False) -> tuple[Workflow, CompiledWorkflow, dict[str, Any]]:
        """Load, validate and bind inputs; every usage error surfaces here, before any step runs.

        A workflow that does not load reports every problem, as ``gorgon validate`` does: those
        of the parts that loaded as well as those that stopped it loading.
        """
        try:
            loaded = as_workflow(workflow)
        except WorkflowError as exc:
            if exc.partial is None:
                raise
            file = find_workflow(workflow) if isinstance(workflow, str | os.PathLike) else None
            base_dir = Path(file).resolve().parent if file is not None else None
            raise WorkflowError(every_problem(exc, base_dir=base_dir, config=self.config)) from None
        compiled = loaded.compile(self.config)
        bound = bind_inputs(compiled.spec, inputs)
        self._preflight(compiled, model, allow_code)
        return loaded, compiled, bound

    def _preflight(self, compiled: CompiledWorkflow, override: str | None, allow_code: bool) -> None:
        """What would stop the run part way fails now, before any step runs: code the caller did
        not allow (see ``engine.trust``), a model or a service that needs a key nobody set."""
        from gorgon_nb.engine.trust import refusal

        if compiled.code_uses and not allow_code:
            raise refusal(compiled.spec.id, compiled.code_uses)

        missing = missing_config(compiled, self.config)
        if missing:
            raise ConfigError("; ".join(f"{p.message} ({p.hint})" if p.hint else p.message for p in missing))
        refs: set[str] = set()
        if override is not None:
            refs.add(override)
        else:
            for node in compiled.all_nodes:
                step = node.step
                if isinstance(step, ModelOptions) and not step.fallback_models:
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
        allow_code: bool = False,
        allow_shell: bool = False,
        on_event: EventCallback | list[EventCallback] | None = None,
        run_id: str | None = None,
    ) -> Execution:
        """A run ready to start (``await execution.execute()``); every usage error is raised here.

        ``allow_code``: the caller's consent to code the workflow runs on this machine, which
        the workflow must allow too (see ``engine.trust``); ``allow_shell`` is its older name.
        ``execution.result`` is the run's live ``RunResult``, filled in as the run goes.
        """
        allow_code = allow_code or allow_shell
        loaded, compiled, bound = self.prepare(workflow, inputs, model=model, allow_code=allow_code)
        options = RunOptions(model=model, allow_code=allow_code, base_dir=loaded.base_dir)
        return Execution(compiled, bound, self.runtime, options, run_id=run_id,
                         subscribers=self._notifying(on_event, compiled))

    async def arun(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None,
                   **options: Any) -> RunResult:
        """Run ``workflow`` to the end. A failed run is returned (check ``.ok``), not raised.

        Options: ``model`` (force every LLM step onto it), ``allow_code``, ``on_event``
        (a callback or a list of them, given every ``Event``), ``run_id``.
        """
        return await self.execution(workflow, inputs, **options).execute()

    def run(self, workflow: WorkflowLike, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """``arun`` for code without an event loop; inside one (Jupyter) it runs in a worker thread."""
        return self._sync(lambda: self.arun(workflow, inputs, **options))


    # -- durable runs: resume, replay, fork, cancel, approve -----------------------------------

    def _require_store(self) -> Store:
        if self.store is None:
            raise ConfigError("this runner keeps no store, so it has no runs to resume, replay or approve")
        return self.store

    def stored_workflow(self, run_id: str) -> tuple[RunResult, Workflow]:
        """A stored run and the exact workflow text it ran (not the file as it is now)."""
        store = self._require_store()
        record = store.runs.get(run_id)
        text, fmt, _ = store.runs.source(record.run_id)
        path = record.source_path
        base_dir = Path(path).resolve().parent if path and not path.startswith("<") else Path.cwd()
        data, source = parse_source(text or "", path=path or "<stored run>", format=fmt)
        if isinstance(data, dict) and "id" not in data:  # a notebook cell's workflow, named when it ran
            data = {"id": record.workflow_id, **data}
        return record, Workflow.from_dict(data if data is not None else {}, source=source, base_dir=base_dir)

    def resume_execution(self, run_id: str, *, max_usd: float | None = None, max_tokens: int | None = None,
                         model: str | None = None, allow_code: bool = False, allow_shell: bool = False,
                         on_event: EventCallback | list[EventCallback] | None = None) -> Execution:
        """The run ``run_id`` made ready to go on where it stopped.

        Finished steps are kept and not run again; model calls already answered are not paid
        again; decisions taken while nothing ran it are honoured. ``max_usd``/``max_tokens``
        raise its budget. Only a run whose process is gone can be resumed: one that stopped
        with its process, failed, or was cancelled (Ctrl-C, ``cancel``); a succeeded one cannot.
        """
        store = self._require_store()
        record, workflow = self.stored_workflow(run_id)
        if record.status is RunStatus.SUCCEEDED:
            raise UsageError(f"run {record.run_id} succeeded, so there is nothing to resume; to run part of it "
                             "again, fork it: ", Advice(python=f"Runner().fork('{record.run_id}', 'STEP')",
                                                        notebook=f"%gorgon fork {record.run_id} --from STEP",
                                                        cli=f"gorgon fork {record.run_id} --from STEP"))
        owner = store.control.owner(record.run_id)
        if owner.alive:
            raise UsageError(f"run {record.run_id} is still running (process {owner.pid} on {owner.host}); "
                             "stop it first with: ", Advice(python=f"Runner().cancel('{record.run_id}')",
                                                           notebook=f"%gorgon cancel {record.run_id}",
                                                           cli=f"gorgon cancel {record.run_id}"))
        compiled = workflow.compile(self.config)
        options = RunOptions(model=model or self._stored_options(record.run_id).get("model"),
                             allow_code=allow_code or allow_shell, base_dir=workflow.base_dir)
        self._preflight(compiled, options.model, options.allow_code)
        continuation = Continuation("resume", _reusable(record, compiled), store.runs.recorded_calls(record.run_id),
                                    store.runs.last_seq(record.run_id), store.runs.usage(record.run_id))
        budget = _raised(compiled.spec.budget, max_usd, max_tokens)
        store.control.claim(record.run_id, owner)
        store.approvals.reopen_cancelled(record.run_id)
        execution = Execution(compiled, record.inputs, self.runtime, options, run_id=record.run_id,
                              subscribers=self._notifying(on_event, compiled), continuation=continuation,
                              budget=budget)
        execution.result.started_at, execution.result.notices = record.started_at, list(record.notices)
        return execution

    def replay_execution(self, run_id: str, *,
                         on_event: EventCallback | list[EventCallback] | None = None) -> Execution:
        """A new run that repeats a finished one from its record: the same outputs, no calls, no cost."""
        store = self._require_store()
        record, workflow = self.stored_workflow(run_id)
        if not record.status.finished:
            raise UsageError(f"run {record.run_id} has not ended ({record.status}); replay a finished run")
        compiled = workflow.compile(self.config)
        decisions = {(a.step_key, a.round): a for a in store.approvals.recent(status=None, run_id=record.run_id)}
        continuation = Continuation("replay", recorded=store.runs.recorded_calls(record.run_id), source=record,
                                    decisions=decisions)
        options = RunOptions(model=self._stored_options(record.run_id).get("model"), base_dir=workflow.base_dir)
        return Execution(compiled, record.inputs, self.runtime, options, subscribers=_subscribers(on_event),
                         continuation=continuation)

    def fork_execution(self, run_id: str, from_step: str, inputs: Mapping[str, Any] | None = None, *,
                       model: str | None = None, allow_code: bool = False, allow_shell: bool = False,
                       on_event: EventCallback | list[EventCallback] | None = None) -> Execution:
        """A new run from ``from_step`` on: steps it does not depend on keep the original results."""
        record, workflow = self.stored_workflow(run_id)
        compiled = workflow.compile(self.config)
        graph = compiled.graph
        if from_step not in graph.nodes:
            raise UsageError(f"run {record.run_id} has no top-level step '{from_step}'; its steps: "
                             + ", ".join(graph.nodes))
        again = {from_step}
        pending = [from_step]
        while pending:
            for child in graph.dependants[pending.pop()]:
                if child not in again:
                    again.add(child)
                    pending.append(child)
        kept = {k: v for k, v in _reusable(record, compiled).items() if _top_level(k) not in again}
        bound = bind_inputs(compiled.spec, {**record.inputs, **(inputs or {})})
        options = RunOptions(model=model, allow_code=allow_code or allow_shell, base_dir=workflow.base_dir)
        self._preflight(compiled, model, options.allow_code)
        return Execution(compiled, bound, self.runtime, options, subscribers=self._notifying(on_event, compiled),
                         continuation=Continuation("fork", kept, source=record))

    def _notifying(self, on_event: EventCallback | list[EventCallback] | None,
                   compiled: CompiledWorkflow) -> list[EventCallback]:
        """The caller's subscribers, and the notifier when targets would hear of the run (a
        replay, which calls nothing, tells nobody)."""
        from gorgon_nb.notify import run_notifier

        notifier = run_notifier(self.config, self.store, compiled.spec)
        return [*_subscribers(on_event), *([notifier] if notifier else [])]

    def _stored_options(self, run_id: str) -> dict[str, Any]:
        return self._require_store().runs.source(run_id)[2]

    async def aresume(self, run_id: str, **options: Any) -> RunResult:
        return await self.resume_execution(run_id, **options).execute()

    def resume(self, run_id: str, **options: Any) -> RunResult:
        return self._sync(lambda: self.aresume(run_id, **options))

    async def areplay(self, run_id: str, **options: Any) -> RunResult:
        return await self.replay_execution(run_id, **options).execute()

    def replay(self, run_id: str, **options: Any) -> RunResult:
        return self._sync(lambda: self.areplay(run_id, **options))

    async def afork(self, run_id: str, from_step: str, inputs: Mapping[str, Any] | None = None,
                    **options: Any) -> RunResult:
        return await self.fork_execution(run_id, from_step, inputs, **options).execute()

    def fork(self, run_id: str, from_step: str, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        return self._sync(lambda: self.afork(run_id, from_step, inputs, **options))

    def cancel(self, run_id: str) -> str:
        """Stop a run from any process: ``"requested"`` (its process will stop it within seconds)
        or ``"cancelled"`` (no process ran it; it is marked cancelled now)."""
        return self._require_store().control.request_cancel(run_id)

    def approve(self, ref: str, *, step: str | None = None, approve: bool = True, comment: str | None = None,
                by: str | None = None) -> ApprovalRequest:
        """Decide an approval, named by its id or by its run (``step`` picks among several)."""
        store = self._require_store()
        request = store.approvals.find(ref, step)
        if not request.pending:
            raise ApprovalError(f"'{request.title}' was already {request.status} by {request.decided_by}")
        return store.approvals.decide(request.id, approve=approve, by=by or current_user(), comment=comment)

    def approvals(self, run_id: str | None = None, *, status: str | None = "pending") -> list[ApprovalRequest]:
        store = self._require_store()
        return store.approvals.recent(status=status, run_id=store.runs.resolve_id(run_id) if run_id else None)

    def _sync(self, make: Callable[[], Any]) -> Any:
        async def in_own_loop() -> Any:
            try:
                return await make()
            finally:
                await self.runtime.providers.aclose()

        return run_sync(in_own_loop)


async def _run_notebook(source: Path, output: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """A ``notebook:`` step's notebook, executed into ``output``; the values it glued."""
    from gorgon_nb.glued import read_glued
    from gorgon_nb.model.jobs import JobState
    from gorgon_nb.scheduler.execute import run_notebook

    outcome = await run_notebook(source, output, parameters)  # a cancel or timeout of the step kills the kernel
    if outcome.state is not JobState.SUCCEEDED:
        kept = f"; the executed notebook is {output}" if outcome.output_path else ""
        raise StepError(f"{outcome.error}{kept}")
    return read_glued(output)


def current_user() -> str:
    """Who decides, when nobody says: GORGON_USER, else the operating system's user name."""
    return os.environ.get("GORGON_USER") or getpass.getuser()


def _subscribers(on_event: EventCallback | list[EventCallback] | None) -> list[EventCallback]:
    return on_event if isinstance(on_event, list) else [on_event] if on_event else []


def _top_level(key: str) -> str:
    return key.split("[", 1)[0].split(".", 1)[0]


def _reusable(record: RunResult, compiled: CompiledWorkflow) -> dict[str, StepResult]:
    """The steps of a run that are done and need not run again."""
    continues = {node.id for node in compiled.all_nodes if node.step.on_failure == "continue"}
    return {key: step for key, step in record.steps.items()
            if step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            or (step.status is StepStatus.FAILED and step.step_id in continues)}


def _raised(budget: Budget | None, max_usd: float | None, max_tokens: int | None) -> Budget | None:
    if max_usd is None and max_tokens is None:
        return budget
    current = budget or Budget()
    return Budget(max_usd=max_usd if max_usd is not None else current.max_usd,
                  max_tokens=max_tokens if max_tokens is not None else current.max_tokens)


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

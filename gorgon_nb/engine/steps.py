"""Running one step: its status and events, ``for_each``, ``on_failure``, and each kind."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.approvals import (
    preview_of_output,
    preview_of_step,
    rejection,
    wait_for_approval,
)
from gorgon_nb.engine.compile import Node
from gorgon_nb.engine.integration import (
    SERVICE_RETRY,
    approval_policy,
    integration_preview,
    items_of,
    run_integration,
)
from gorgon_nb.engine.llm import ask_model, parse_json_answer
from gorgon_nb.engine.resilience import retrying
from gorgon_nb.engine.supervisor import supervise
from gorgon_nb.engine.templating import Expression, Names, Template, TemplateError, render_deadline
from gorgon_nb.engine.trust import notebook_function, refusal
from gorgon_nb.errors import ExecutionError, GorgonError, StepError, StepTimeoutError
from gorgon_nb.model.approval import ApprovalRequest, GateKind
from gorgon_nb.model.limits import FOR_EACH_ITEMS, WORKFLOW_DEPTH, LimitExceededError
from gorgon_nb.model.run import StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import (
    AgentStep,
    ApprovalStep,
    IntegrationStep,
    LLMStep,
    LoopStep,
    NotebookStep,
    PythonStep,
    RetryPolicy,
    ShellStep,
    SupervisorStep,
    WorkflowStep,
)
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from gorgon_nb.engine.executor import Execution, Scope

__all__ = ["StepFailure", "StepRun", "describe_error", "render_value", "run_node"]

_ONCE = RetryPolicy(attempts=1)


class StepFailure(Exception):
    """Internal: a step failed with ``on_failure: fail``; carries the error for the run."""

    def __init__(self, result: StepResult, error: BaseException) -> None:
        super().__init__(result.error)
        self.result = result
        self.error = error


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, StepFailure):  # a step inside a loop's body
        return f"step '{exc.result.key}' failed: {exc.result.error}"
    if isinstance(exc, GorgonError | TemplateError):
        return redact(str(exc))
    return redact(f"{type(exc).__name__}: {exc}")


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Render templates inside a value; a sole ``{{ expr }}`` keeps its native type."""
    if isinstance(value, Template):
        return value.value(context)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def _text(value: Any, context: dict[str, Any]) -> str:
    return value.render(context) if isinstance(value, Template) else str(value or "")


class StepRun:
    """One execution of a node: collects its usage and streams its text."""

    def __init__(self, ex: Execution, node: Node, result: StepResult) -> None:
        self.ex = ex
        self.node = node
        self.result = result
        # by item: what a write must still find when it runs (what its approved preview was made from)
        self.expected: dict[int | None, dict[str, Any]] = {}

    def add_usage(self, usage: Usage) -> None:
        self.result.usage = self.result.usage + usage

    def delta_callback(self, item: int | None, delegation: int | None = None) -> Callable[[str], None] | None:
        """A callback for streamed text, or None (do not stream) when nobody listens."""
        if not self.ex.subscribers:
            return None
        key, emit = self.result.key, self.ex.emit
        tags: dict[str, Any] = {name: value for name, value in (("item", item), ("delegation", delegation))
                                if value is not None}
        return lambda text: emit("text_delta", key, None, text=text, **tags)


async def run_node(ex: Execution, node: Node, scope: Scope, key: str) -> StepResult:
    """Run a node; returns its result, or raises ``StepFailure`` when the run must stop."""
    step = node.step
    result = ex.new_step(node, key)
    result.status, result.started_at = StepStatus.RUNNING, time.time()
    ex.result.steps[key] = result
    ex.emit("step_started", key, save=result)
    run = StepRun(ex, node, result)
    try:
        result.output = await _gated(run, scope)
    except asyncio.CancelledError:
        result.status, result.ended_at, result.error = StepStatus.CANCELLED, time.time(), "cancelled"
        ex.emit("step_failed", key, save=result, error="cancelled", error_type="Cancelled")
        raise
    except Exception as exc:  # every failure is recorded; the policy decides what happens next
        result.ended_at = time.time()
        result.error, result.error_type = describe_error(exc), type(exc).__name__
        if step.on_failure == "fail" or ex.is_run_stopping(exc):
            result.status = StepStatus.FAILED
            ex.emit("step_failed", key, save=result, error=result.error,
                    error_type=result.error_type, usage=result.usage.to_dict())
            raise StepFailure(result, exc) from None
        if step.on_failure == "skip":
            result.status = StepStatus.SKIPPED
            ex.emit("step_finished", key, save=result, status="skipped",
                    reason=f"failed: {result.error}")
            return result
        result.status, result.output = StepStatus.FAILED, step.default
        ex.emit("step_failed", key, save=result, error=result.error,
                error_type=result.error_type, usage=result.usage.to_dict(), continued=True)
        return result
    result.status, result.ended_at = StepStatus.SUCCEEDED, time.time()
    ex.emit("step_finished", key, save=result, status="succeeded", output=result.output,
            usage=result.usage.to_dict(), model=result.model)
    return result


async def _gated(run: StepRun, scope: Scope) -> Any:
    """The step's output, with its approval asked before it runs or after, as configured."""
    step, ex = run.node.step, run.ex
    policy = step.approval if not isinstance(step, ApprovalStep) else None
    if isinstance(step, IntegrationStep):
        policy = approval_policy(step, ex.services.config)
    if policy is None:
        return await _run_once(run, scope, {})
    shown = None  # what a GitHub, Notion or Slack write will do, read from the service
    if isinstance(step, IntegrationStep) and policy.mode == "before" and not ex.replaying:
        shown = await integration_preview(run, scope)
    title = _render(run, policy.title, scope) or (shown.title if shown else _title(run, policy.mode))

    async def ask(kind: GateKind, round_: int, preview: str) -> ApprovalRequest:
        return await wait_for_approval(run, kind, round_, title, preview, approvers=policy.approvers,
                                       timeout=policy.timeout, on_timeout=policy.on_timeout)

    if policy.mode == "before":
        preview = _render(run, policy.preview, scope) or (shown.body if shown else preview_of_step(run, scope.context()))
        decision = await ask("before", 1, preview)
        if not decision.approved:
            raise rejection(decision)
        return await _run_once(run, scope, {})
    output = await _run_once(run, scope, {})
    for round_ in range(1, policy.max_revisions + 2):
        preview = _render(run, policy.preview, scope, output=output) or preview_of_output(output)
        decision = await ask("after", round_, preview)
        if decision.approved:
            return output
        if round_ > policy.max_revisions:
            raise rejection(decision)
        # sent back: the step runs again with the reviewer's words and its previous answer
        feedback = {"__feedback__": {"comment": decision.comment or "(no comment)", "previous": output,
                                     "by": decision.decided_by}}
        output = await _run_once(run, scope, feedback)
    raise AssertionError("unreachable")


def _title(run: StepRun, mode: str) -> str:
    step = run.node.step
    return f"Approve {step.name or step.id} before it runs" if mode == "before" else \
        f"Approve the output of {step.name or step.id}"


def _render(run: StepRun, template: str | None, scope: Scope, **extra: Any) -> str:
    if not template:
        return ""
    from gorgon_nb.engine.templating import compile_template

    return compile_template(template).render(scope.context(**extra))


async def _run_once(run: StepRun, scope: Scope, extra: dict[str, Any]) -> Any:
    items = items_of(run, scope)
    if items is not None:
        if len(items) > FOR_EACH_ITEMS.get():
            raise run.ex.tree.refuse(FOR_EACH_ITEMS.message(
                f"for_each of step '{run.node.step.id}' gave {len(items):,} items"))
        run.ex.tree.charge(max(len(items), 1))
        return await _for_each(run, scope, items, extra)
    run.ex.tree.charge()
    return await _retried(run, scope.context(**extra), scope, None)


async def _for_each(run: StepRun, scope: Scope, items: list[Any], extra: dict[str, Any] | None = None) -> list[Any]:
    step = run.node.step
    limit = asyncio.Semaphore(step.max_parallel or max(1, len(items)))

    async def one(index: int, item: Any) -> Any:
        async with limit:
            return await _retried(run, scope.context(**(extra or {}), **{step.as_: item}), scope, index)

    tasks = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(items)]
    try:
        return list(await asyncio.gather(*tasks))
    except LimitExceededError:  # the run stops: the other items must not go on starting work
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _retried(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    """Run the kind's handler. LLM steps retry inside each model call; other kinds here."""
    step = run.node.step
    handler = _HANDLERS[step.kind]
    if run.ex.replaying and not isinstance(step, AgentStep | LLMStep | LoopStep | ApprovalStep | SupervisorStep):
        return run.ex.replayed_output(run.result.key, item)  # no side effect happens twice
    defaults = run.ex.compiled.spec.defaults
    timeout = step.timeout or defaults.timeout
    if isinstance(step, AgentStep | LLMStep | LoopStep | WorkflowStep | ApprovalStep | SupervisorStep):
        # their timeout is per model call (or none); a template still may not render past it
        with render_deadline(timeout if isinstance(step, AgentStep | LLMStep | SupervisorStep) else None,
                             f"the step's timeout of {timeout:g}s" if timeout else ""):
            return await handler(run, context, scope, item)

    async def attempt(number: int) -> Any:
        run.result.attempts = number
        try:
            async with asyncio.timeout(timeout):
                with render_deadline(timeout, f"the step's timeout of {timeout:g}s" if timeout else ""):
                    return await handler(run, context, scope, item)
        except TimeoutError:
            raise StepTimeoutError(f"step '{step.id}' passed its timeout of {timeout:g}s") from None
        except StepError as exc:
            exc.retryable = step.retry is not None  # a failing function is retried only on request
            raise

    def on_retry(number: int, delay: float, exc: BaseException) -> None:
        run.ex.emit("step_retry", run.result.key, attempt=number, delay=round(delay, 3), error=str(exc),
                    error_type=type(exc).__name__)

    policy = step.retry or (SERVICE_RETRY if isinstance(step, IntegrationStep) else _ONCE)
    return await retrying(attempt, policy, on_retry=on_retry)


# -- the kinds ------------------------------------------------------------------------------

async def _agent(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    step = run.node.step
    assert isinstance(step, AgentStep)
    role = run.ex.services.config.roles[step.agent]
    templates = run.node.templates
    extra = _text(templates["system"], context)
    system = role.system_prompt + (f"\n\n{extra}" if extra else "")
    task, background = _text(templates["task"], context), _text(templates["context"], context)
    prompt = f"Task: {task}" if task else ""
    if background:
        prompt += f"\n\nContext:\n{background}"
    return await ask_model(run, system, _with_feedback(prompt.strip() or "Do your part.", context), item)


def _with_feedback(prompt: str, context: dict[str, Any]) -> str:
    """A step sent back by its reviewer gets the comment and its previous answer."""
    feedback = context.get("__feedback__")
    if not feedback:
        return prompt
    previous = feedback["previous"] if isinstance(feedback["previous"], str) else str(feedback["previous"])
    return (f"{prompt}\n\nYour previous answer was rejected by {feedback['by']}, who said:\n{feedback['comment']}"
            f"\n\nYour previous answer:\n{previous}\n\nAnswer again, addressing that feedback.")


async def _llm(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    templates = run.node.templates
    prompt = _with_feedback(_text(templates["llm"], context), context)
    return await ask_model(run, _text(templates["system"], context), prompt, item)


async def _supervisor(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    templates = run.node.templates
    task = _with_feedback(_text(templates["supervisor"], context), context)
    return await supervise(run, task, _text(templates["context"], context), item)


async def _approval(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    step = run.node.step
    assert isinstance(step, ApprovalStep)
    templates = run.node.templates
    decision = await wait_for_approval(
        run, "gate", 1, _text(templates["approval"], context), _text(templates["preview"], context),
        approvers=step.approvers, timeout=step.timeout, on_timeout=step.on_timeout)
    if not decision.approved:
        raise rejection(decision)
    at = datetime.fromtimestamp(decision.decided_at).isoformat(timespec="seconds") if decision.decided_at else None
    return {"approved": True, "by": decision.decided_by, "comment": decision.comment, "at": at}


async def _python(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    step = run.node.step
    assert isinstance(step, PythonStep)
    function = _import_function(step.python, run.ex.options.base_dir)
    if notebook_function(step.python) and not run.ex.options.allow_code \
            and getattr(function, "__module__", None) != "__main__":
        raise StepError(f"{step.python} is not a function defined in this notebook (it comes from "
                        f"{getattr(function, '__module__', None) or 'elsewhere'}), so it runs only with code allowed")
    args = render_value(run.node.templates["args"], context)
    try:
        if inspect.iscoroutinefunction(function):
            value = await function(**args)
        else:  # a thread keeps the event loop (and every other step) moving meanwhile
            value = await asyncio.to_thread(function, **args)
    except GorgonError:
        raise
    except Exception as exc:
        raise StepError(f"{step.python} raised {type(exc).__name__}: {exc}") from exc
    if step.output == "json" and isinstance(value, str):
        value = parse_json_answer(value, step.schema_)
    return value


def _import_function(ref: str, base_dir: Path | None) -> Callable[..., Any]:
    module_name, _, name = ref.partition(":")
    added = base_dir is not None and str(base_dir) not in sys.path
    if added:  # modules next to the workflow file import without installing them
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StepError(f"cannot import module '{module_name}': {exc}. Install it, or put it next to "
                        "the workflow file or on PYTHONPATH.") from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    function = getattr(module, name, None)
    if not callable(function):
        raise StepError(f"module '{module_name}' has no function '{name}'")
    return function


async def _shell(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    step = run.node.step
    assert isinstance(step, ShellStep)
    if not run.ex.options.allow_code:  # checked before the run started; this is a second lock
        raise StepError("shell steps run only when the run is started with code allowed")
    templates = run.node.templates
    command = _text(templates["shell"], context)
    cwd = _text(templates["cwd"], context) or None
    base = run.ex.options.base_dir
    if cwd and base is not None and not os.path.isabs(cwd):
        cwd = str(base / cwd)
    env = {**os.environ, **{k: str(v) for k, v in render_value(templates["env"], context).items()}}
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd or base, env=env)
    try:
        out, err = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip()[-600:]
        raise StepError(f"command exited with status {process.returncode}" + (f": {tail}" if tail else ""))
    text = out.decode(errors="replace").rstrip("\n")
    return parse_json_answer(text, step.schema_) if step.output == "json" else text


async def _workflow(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    from gorgon_nb.engine.executor import Execution, RunOptions
    from gorgon_nb.engine.inputs import bind_inputs
    from gorgon_nb.workflow import Workflow

    step, ex = run.node.step, run.ex
    assert isinstance(step, WorkflowStep)
    if ex.options.depth + 1 > WORKFLOW_DEPTH.get():
        raise ex.tree.refuse(WORKFLOW_DEPTH.message(
            f"'{step.workflow}' would run {ex.options.depth + 1} sub-workflows deep (does it run itself?)"))
    ex.tree.charge(0)  # past the steps-per-run limit already: not even worth loading it
    parent = Workflow(ex.compiled.spec, ex.compiled.source, ex.options.base_dir)
    workflow, compiled = ex.tree.sub_workflow(parent.resolve_sub_workflow(step.workflow), ex.services.config)
    inputs = bind_inputs(compiled.spec, render_value(run.node.templates["inputs"], context))
    if compiled.code_uses and not ex.options.allow_code:
        raise StepError(refusal(workflow.id, compiled.code_uses).for_surface("python"))
    options = RunOptions(model=ex.options.model, allow_code=ex.options.allow_code,
                         parent_run_id=ex.result.run_id, base_dir=workflow.base_dir, depth=ex.options.depth + 1,
                         tree=ex.tree)
    child = Execution(compiled, inputs, ex.services, options)
    ex.notice(f"{run.result.key}: started sub-workflow '{workflow.id}' as run {child.result.run_id}")
    outcome = await child.execute()
    run.add_usage(outcome.usage)
    if not outcome.ok:
        if outcome.error_type == LimitExceededError.__name__:  # the whole run stops, with the limit's words
            raise ex.tree.refuse(outcome.error or "")
        raise StepError(f"sub-workflow '{workflow.id}' (run {outcome.run_id}) {outcome.status}: {outcome.error}")
    return outcome.outputs


async def _notebook(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    from gorgon_nb.config import gorgon_home
    from gorgon_nb.glued import read_glued
    from gorgon_nb.scheduler.execute import run_notebook
    from gorgon_nb.scheduler.model import JobState

    step, ex = run.node.step, run.ex
    assert isinstance(step, NotebookStep)
    ref = _text(run.node.templates["notebook"], context)
    base = ex.options.base_dir or Path.cwd()
    source = (base / ref).resolve()
    if source.suffix != ".ipynb" or not source.is_file():
        raise StepError(f"no notebook at {ref} (relative to {base}); give the path of a .ipynb file")
    parameters = render_value(run.node.templates["parameters"], context)
    name = re.sub(r"[^\w.-]", "_", run.result.key if item is None else f"{run.result.key}-{item}")
    output = gorgon_home() / "notebooks" / ex.result.run_id / f"{name}.ipynb"
    outcome = await run_notebook(source, output, parameters)  # a cancel or timeout of the step kills the kernel
    if outcome.state is not JobState.SUCCEEDED:
        kept = f"; the executed notebook is {output}" if outcome.output_path else ""
        raise StepError(f"{ref}: {outcome.error}{kept}")
    return read_glued(output)


async def _loop(run: StepRun, context: dict[str, Any], scope: Scope, item: int | None) -> Any:
    step, node, ex = run.node.step, run.node, run.ex
    assert isinstance(step, LoopStep) and node.body is not None
    previous: dict[str, Any] | None = None
    outputs: dict[str, Any] = {}
    for number in range(1, step.max_rounds + 1):
        run.result.attempts = number
        body_scope = scope.child(loop={"round": number, "max_rounds": step.max_rounds, "previous": previous})
        results = await ex.run_graph(node.body, body_scope, prefix=f"{run.result.key}[{number}].")
        outputs = {sid: result.output for sid, result in results.items()}
        for result in results.values():
            run.add_usage(result.usage)
        if _holds(node.until, step.until, body_scope.context()):
            return outputs
        previous = Names(outputs)  # loop.previous.ID, even for a step named "items"
    ex.notice(f"loop '{run.result.key}' reached max_rounds ({step.max_rounds}) before its 'until' held; "
              "its output is the last round's", "warning")
    return outputs


def _holds(expression: Expression | None, literal: Any, context: dict[str, Any]) -> bool:
    if expression is None:
        return bool(literal)
    try:
        return bool(expression.evaluate(context))
    except TemplateError as exc:
        raise ExecutionError(f"'until' could not be evaluated: {exc}") from None


_Handler = Callable[["StepRun", dict[str, Any], "Scope", int | None], Awaitable[Any]]
_HANDLERS: dict[str, _Handler] = {
    "agent": _agent, "llm": _llm, "python": _python, "shell": _shell, "workflow": _workflow, "loop": _loop,
    "approval": _approval,
    "supervisor": _supervisor,
    "notebook": _notebook,
    "github": run_integration,
    "notion": run_integration,
    "slack": run_integration,
}

"""What a step kind's handler may use: ``StepContext``, one call of one step.

A handler sees this and its step's model, never the run's execution: the config and the
roles, its templated fields rendered for this call, events and notices, the model, the
approvals, the write journal, the GitHub, Notion and Slack clients, and ways to run a
child workflow, a notebook or a loop's body. What runs a child workflow or a notebook
comes from the layer above the engine (``Runtime``), so the engine imports none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.engine.approvals import wait_for_approval
from gorgon_nb.engine.llm import ask
from gorgon_nb.engine.run_state import StepRun
from gorgon_nb.engine.templating import Expression, Template, TemplateError
from gorgon_nb.errors import ExecutionError
from gorgon_nb.model.approval import ApprovalRequest, GateKind
from gorgon_nb.model.events import EventPayload
from gorgon_nb.model.run import RunResult, StepResult
from gorgon_nb.model.usage import Usage

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.tools import ToolContext
    from gorgon_nb.integrations import Connections
    from gorgon_nb.roles import Role
    from gorgon_nb.store.writes import WriteJournal

__all__ = ["StepContext", "render_value"]


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Render templates inside a value; a sole ``{{ expr }}`` keeps its native type."""
    if isinstance(value, Template):
        return value.value(variables)
    if isinstance(value, dict):
        return {key: render_value(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, variables) for item in value]
    return value


class StepContext:
    """One call of a step's handler: the step's fields rendered with ``variables``
    (inputs, steps, the ``for_each`` item, loop variables), for item ``item``."""

    def __init__(self, run: StepRun, variables: dict[str, Any], item: int | None = None) -> None:
        self._run = run
        self.variables = variables
        self.item = item

    # -- who and where --------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The step's key in the run: ``build``, or ``fix[2].build`` in a loop's second round."""
        return self._run.result.key

    @property
    def run_id(self) -> str:
        return self._run.state.result.run_id

    @property
    def config(self) -> Config:
        return self._run.state.runtime.config

    @property
    def roles(self) -> dict[str, Role]:
        return self.config.roles

    @property
    def base_dir(self) -> Path | None:
        """The workflow file's folder (None for a workflow that has no file)."""
        return self._run.state.options.base_dir

    @property
    def allow_code(self) -> bool:
        """Whether the caller consented to running code (see ``engine.trust``)."""
        return self._run.state.options.allow_code

    @property
    def replaying(self) -> bool:
        return self._run.state.replaying

    @property
    def integrations(self) -> Connections:
        return self._run.state.runtime.integrations

    @property
    def journal(self) -> WriteJournal | None:
        """The store's write journal (None when the run keeps no store)."""
        store = self._run.state.runtime.store
        return store.writes if store is not None else None

    # -- fields ----------------------------------------------------------------------------

    def text(self, name: str) -> str:
        """A templated field rendered as text ("" when empty)."""
        value = self._run.node.templates.get(name)
        return value.render(self.variables) if isinstance(value, Template) else str(value or "")

    def value(self, name: str) -> Any:
        """A templated field rendered with native types (lists, dicts, numbers) kept."""
        return render_value(self._run.node.templates.get(name), self.variables)

    def holds(self, name: str, literal: Any) -> bool:
        """Whether a condition (``until``) holds; ``literal`` when it is a plain true/false."""
        expression = self._run.node.expressions.get(name)
        if not isinstance(expression, Expression):
            return bool(literal)
        try:
            return bool(expression.evaluate(self.variables))
        except TemplateError as exc:
            raise ExecutionError(f"'{name}' could not be evaluated: {exc}") from None

    @property
    def feedback(self) -> dict[str, Any] | None:
        """A reviewer's comment and the previous answer, when a person sent the step back."""
        return self.variables.get("__feedback__")

    # -- what happens ----------------------------------------------------------------------

    def emit(self, payload: EventPayload) -> None:
        """An event of this step (a supervisor's ``DelegationStarted``, ...)."""
        self._run.state.emit(payload, self.key)

    def notice(self, message: str, level: str = "info") -> None:
        self._run.state.notice(message, level)

    def add_usage(self, usage: Usage) -> None:
        self._run.add_usage(usage)

    @property
    def attempts(self) -> int:
        return self._run.result.attempts

    @attempts.setter
    def attempts(self, number: int) -> None:
        self._run.result.attempts = number

    def expect(self, values: dict[str, Any]) -> None:
        """What this call must still find when it runs (what its approved preview showed)."""
        self._run.expected[self.item] = values

    @property
    def expected(self) -> dict[str, Any]:
        return self._run.expected.get(self.item, {})

    # -- what a handler can ask for ----------------------------------------------------------

    async def ask(self, system: str, prompt: str, *, role: str | None = None,
                  json_schema: dict[str, Any] | None = None, json_retries: int | None = None,
                  delegation: int | None = None, stream: bool = True, tools: bool = True) -> Any:
        """A question to the step's model, which may call the step's tools (see ``engine.llm.ask``)."""
        return await ask(self._run, system, prompt, self.item, role=role, json_schema=json_schema,
                         json_retries=json_retries, delegation=delegation, stream=stream, tools=tools)

    async def approval(self, kind: GateKind, round_: int, title: str, preview: str, *, approvers: list[str],
                       timeout: float | None, on_timeout: str, key: str | None = None) -> ApprovalRequest:
        """A person's decision (see ``engine.approvals``); ``key`` tells apart several of one step."""
        return await wait_for_approval(self._run, kind, round_, title, preview, approvers=approvers,
                                       timeout=timeout, on_timeout=on_timeout, key=key)

    def tool_context(self) -> ToolContext:
        """What a tool this step calls itself sees (see ``engine.tools``): the run's resources among them."""
        from gorgon_nb.engine.tools import ToolContext, workspace_of

        return ToolContext(self._run, self.item, workspace_of(self._run))

    async def run_workflow(self, ref: str, inputs: dict[str, Any]) -> RunResult:
        """Run a sub-workflow to its end, as a child run of this one."""
        run_child = self._run.state.run_child
        assert run_child is not None, "the executor gives every run a way to run a child"
        return await run_child(self._run, ref, inputs)

    async def run_notebook(self, source: Path, output: Path, parameters: dict[str, Any]) -> dict[str, Any]:
        """Execute a notebook into ``output``; the values it glued (``StepError`` when it fails)."""
        runner = self._run.state.runtime.run_notebook
        if runner is None:
            raise ExecutionError("this process cannot run notebooks: no notebook runner was given to the engine")
        return await runner(source, output, parameters)

    async def run_body(self, round_: int, **variables: Any) -> tuple[dict[str, StepResult], StepContext]:
        """Run round ``round_`` of the steps the step holds (a loop's body), seeing ``variables``
        beside what the step sees; their results, and a context that sees them too (for the
        step's conditions)."""
        run, run_graph = self._run, self._run.state.run_graph
        assert run.node.body is not None and run_graph is not None
        scope = run.scope.child(**variables)
        results = await run_graph(run.node.body, scope, f"{run.result.key}[{round_}].")
        return results, StepContext(run, scope.context(), self.item)

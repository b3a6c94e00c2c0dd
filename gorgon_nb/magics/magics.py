"""``%%gorgon`` and ``%gorgon``: parse, call the public API, display. Nothing else lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import DisplayHandle, display

from gorgon_nb.errors import GorgonError, UsageError, WorkflowError
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.parsing import (
    RunArgs,
    implied_inputs,
    parse_agent,
    parse_command,
    parse_options,
    parse_run,
    resolve_inputs,
)

__all__ = ["GorgonMagics"]

COMMANDS = ("run", "workflows", "runs", "show", "providers", "help", "approve", "approvals", "resume", "cancel",
            "replay", "fork", "schedule", "schedules", "jobs", "tools", "webhooks")


@magics_class
class GorgonMagics(Magics):
    """The gorgon-nb magics; see ``%gorgon help``."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.defined: dict[str, Any] = {}  # workflows named in this notebook (%%gorgon --name)

    @line_cell_magic
    def gorgon(self, line: str, cell: str | None = None) -> Any:
        try:
            if cell is None:
                return self._line(line)
            if line.split()[:1] == ["agent"]:
                return self._agent(line.split(None, 1)[1] if len(line.split()) > 1 else "", cell)
            return self._cell(line, cell)
        except GorgonError as exc:  # a usage mistake or a failure the user can act on
            raise MagicError(exc.for_surface("notebook")) from None

    # -- %%gorgon: a workflow in the cell --------------------------------------------------

    def _cell(self, line: str, cell: str) -> Any:
        from gorgon_nb.model.source import parse_source
        from gorgon_nb.workflow import Workflow, every_problem

        args = parse_run(line, cell=True)
        # The blank first line stands for the %%gorgon line, so lines match the editor's.
        data, source = parse_source("\n" + cell, path="<cell>", format="yaml")
        declared = implied_inputs(data, args.inputs)
        if declared:  # the -v names of a cell that declares no inputs, declared on that first line
            data, source = parse_source(declared + "\n" + cell, path="<cell>", format="yaml")
        if isinstance(data, dict) and "id" not in data:  # a cell needs no id; --name gives one
            data = {"id": args.name or "notebook_cell", **data}
        try:
            workflow = Workflow.from_dict(data if data is not None else {}, source=source, base_dir=Path.cwd())
        except WorkflowError as exc:  # report the problems of the rest of the cell too
            raise WorkflowError(every_problem(exc, base_dir=Path.cwd(), config=self.runner().config)) from None
        if args.name:
            self.defined[args.name] = workflow
        if args.define:
            workflow.validate(self.runner().config)
            return None
        return self._run(workflow, args)

    def _run(self, workflow: Any, args: RunArgs) -> Any:
        inputs = resolve_inputs(args.inputs, self.namespace)
        execution = self.runner().execution(workflow, inputs, model=args.model, allow_code=args.allow_code)
        return self.watch(execution, args.background, args.out, title=workflow.name)

    def watch(self, execution: Any, background: bool, out: str | None, *, title: str, view: Any = None) -> None:
        """Show an execution live, start it on the kernel's run loop, and wait unless ``background``."""
        from gorgon_nb.magics.session import NotebookRun
        from gorgon_nb.widgets import RunView

        runner = self.runner()
        view = view or RunView(workflow_name=title, run_id=execution.result.run_id)
        view.on_decide = lambda approval_id, approve, comment: runner.approve(approval_id, approve=approve,
                                                                             comment=comment)
        handle: DisplayHandle = display(view, display_id=True)
        run = NotebookRun(execution, view, on_finish=lambda: handle.update(view)).start()
        self._publish(run.result, out)
        if background:
            return
        result = run.wait()
        if not result.ok:
            raise MagicError(f"run {result.run_id} {result.status}: {result.error}. "
                             f"What finished is kept: _gorgon.outputs, %gorgon show {result.run_id}")

    def _publish(self, result: Any, out: str | None) -> None:
        self.namespace["_gorgon"] = result
        if out:
            self.namespace[out] = result

    # -- %%gorgon agent ROLE: one prompt ---------------------------------------------------

    def _agent(self, line: str, cell: str) -> Any:
        from gorgon_nb.magics.agent import ask_agent

        args = parse_agent(line)
        result = ask_agent(self.runner(), args, cell, self.shell)
        self._publish(result, args.out)
        return None

    # -- %gorgon COMMAND ---------------------------------------------------------------------

    def _line(self, line: str) -> Any:
        from gorgon_nb.magics import commands

        command, words = parse_command(line)
        if command not in COMMANDS:
            from gorgon_nb.errors import did_you_mean

            raise MagicError(f"unknown command '{command}' ({did_you_mean(command, COMMANDS)}); see %gorgon help")
        if command == "run":
            args = parse_run(words, cell=False)
            workflow = self.defined.get(args.workflow or "") or args.workflow
            return self._run(_load(workflow), args)
        handler = getattr(commands, f"cmd_{command}")
        return handler(self, parse_options, words)

    @property
    def namespace(self) -> dict[str, Any]:
        """The notebook's variables."""
        assert self.shell is not None
        return self.shell.user_ns

    def runner(self) -> Any:
        from gorgon_nb.runner import default_runner

        return default_runner()


def _load(workflow: Any) -> Any:
    from gorgon_nb.workflow import Workflow

    if isinstance(workflow, Workflow):
        return workflow
    try:
        return Workflow.load(workflow)
    except UsageError as exc:
        raise MagicError(f"{exc.for_surface('notebook')} Workflows named with %%gorgon --name also work.") from None

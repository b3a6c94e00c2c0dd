"""The ``gorgon`` subcommands that run and inspect workflows. Each calls the public API and renders.

The engine, the config and the store are imported inside the commands that need them, so
``gorgon runs`` does not pay for what ``gorgon run`` needs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from gorgon_nb.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_json
from gorgon_nb.cli.output import Column, print_table, styled
from gorgon_nb.model.run import (
    RunResult,
    RunStatus,
    observed_runs,
    observed_status,
    observed_step_status,
    run_summary_line,
)
from gorgon_nb.model.text import format_duration, format_time, preview
from gorgon_nb.model.usage import format_cost, format_tokens

if TYPE_CHECKING:
    from gorgon_nb.engine.executor import Execution
    from gorgon_nb.errors import Problem
    from gorgon_nb.model.events import Event
    from gorgon_nb.runner import Runner
    from gorgon_nb.store import Store

__all__ = ["cmd_providers", "cmd_roles", "cmd_run", "cmd_runs", "cmd_show", "cmd_validate", "cmd_workflows",
           "drive", "open_store", "run_json"]


def open_store() -> Store:
    from gorgon_nb.cli.records import store_path
    from gorgon_nb.store import Store

    return Store(store_path())


# -- run --------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    workflow, _, _ = runner.prepare(args.workflow, dict(args.inputs), model=args.model, allow_code=args.allow_code)
    return drive(console, args, workflow.name, lambda on_event: runner.execution(
        workflow, dict(args.inputs), model=args.model, allow_code=args.allow_code, on_event=on_event), runner)


def drive(console: Console, args: argparse.Namespace, title: str,
          start: Callable[[Callable[[Event], None]], Execution], runner: Runner) -> int:
    """Run an execution with live progress (unless --quiet or --json) and end with its summary."""
    from gorgon_nb.cli.progress import Progress
    from gorgon_nb.model.events import RunResumed, RunStarted

    show_progress = not (args.quiet or args.json)
    progress = Progress(console, live=None if show_progress else False)
    run_ids: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event.payload, RunStarted | RunResumed) and not run_ids:
            run_ids.append(event.run_id)
            if show_progress:
                verb = "resumed" if isinstance(event.payload, RunResumed) else "run"
                console.print(f"[bold]{escape(title)}[/] · {verb} [bold]{event.run_id}[/]")
        if show_progress:
            progress.on_event(event)

    execution = start(on_event)  # every usage error is raised here, before anything is shown
    try:
        with progress if show_progress else nullcontext():
            result = runner._sync(execution.execute)
    except KeyboardInterrupt:
        result = execution.result
        if args.json:
            print_json(run_json(result))
        else:
            console.print(f"[magenta]run {result.run_id} cancelled[/]; what finished is kept. Go on with: "
                          f"gorgon resume {result.run_id}  (details: gorgon show {result.run_id})")
        return EXIT_INTERRUPTED
    if args.json:
        print_json(run_json(result))
    else:
        _summary(result, console)
    return EXIT_OK if result.ok else EXIT_FAILED


def _summary(result: RunResult, console: Console) -> None:
    from rich.rule import Rule

    console.print()
    console.print(f"{styled(str(result.status))} {escape(run_summary_line(result))}")
    if result.error:
        console.print(f"[red]{escape(result.error)}[/]")
    finished = [s for s in result.steps.values() if s.status == "succeeded" and "." not in s.key]
    if result.ok and finished:
        last = finished[-1]
        console.print(Rule(f"output of '{last.key}'", style="dim"))
        _print_output(last.output, console, max_lines=25)
    elif not result.ok:
        console.print(f"[dim]go on from where it ended (finished steps are kept): gorgon resume {result.run_id}[/]")
    console.print(f"[dim]details: gorgon show {result.run_id}[/]")


def _print_output(value: Any, console: Console, max_lines: int | None = None) -> None:
    if value is None:
        console.print("[dim](no output)[/]")
        return
    from gorgon_nb.secrets import redact

    text = redact(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str))
    lines = text.splitlines()
    if max_lines is not None and len(lines) > max_lines:
        text = "\n".join(lines[:max_lines]) + f"\n\n… {len(lines) - max_lines} more lines"
    if isinstance(value, str):
        from rich.markdown import Markdown

        console.print(Markdown(text))
    else:
        console.print(text, markup=False)


# -- validate ---------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import load_config
    from gorgon_nb.engine.inputs import bind_inputs
    from gorgon_nb.errors import InputError, Problem, WorkflowError
    from gorgon_nb.model.source import read_source
    from gorgon_nb.workflow import Workflow, check_text

    config = load_config()
    report: list[dict[str, Any]] = []
    for file in args.files:
        entry: dict[str, Any] = {"file": file, "ok": False, "workflow_id": None, "steps": None, "problems": []}
        report.append(entry)
        try:
            text = read_source(file)  # the size limit before reading, a bad byte by its line
        except OSError as exc:
            reason = exc.strerror or str(exc)
            entry["problems"] = [_problem_json(Problem(f"cannot read it: {reason}", file=file))]
            if not args.json:
                console.print(f"[red]✗ {escape(file)}[/]: cannot read it: {escape(reason)}")
            continue
        except WorkflowError as exc:
            found = exc.problems
        else:
            found = check_text(text, path=file, config=config)
        if not found and args.inputs:
            try:
                bind_inputs(Workflow.from_yaml(text, path=file).spec, dict(args.inputs))
            except InputError as exc:
                found = [Problem(exc.for_surface("cli"), "inputs", file=file)]
        entry["problems"] = [_problem_json(p) for p in found]
        if found:
            if not args.json:
                console.print(f"[red]✗ {escape(file)}[/]: {len(found)} problem{'s' * (len(found) != 1)}")
                for problem in found:
                    console.print("  " + escape(str(problem)).replace("\n", "\n  "))
            continue
        workflow = Workflow.from_yaml(text, path=file)
        steps = len(workflow.spec.steps)
        entry.update(ok=True, workflow_id=workflow.id, steps=steps)
        if not args.json:
            console.print(f"[green]✓ {escape(file)}[/]: {escape(workflow.id)}, {steps} step{'s' * (steps != 1)}")
    if args.json:
        print_json(report)
    return EXIT_OK if all(entry["ok"] for entry in report) else EXIT_USAGE


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "field": problem.field, "message": problem.message,
            "hint": problem.hint}


# -- runs and show ----------------------------------------------------------------------------

def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.cli.records import RunReader, store_path

    reader = RunReader(store_path())
    listed = observed_runs(reader, reader, args.limit, status=args.status, workflow_id=args.workflow)
    if args.json:
        print_json([run_json(run, steps=False, status=status) for run, status in listed])
        return EXIT_OK
    if not listed and (args.status or args.workflow):
        console.print("no runs match")
        return EXIT_OK
    if not listed:
        console.print("no runs yet. Try: gorgon run dev_plan_build_test_review -v feature_request=\"Add a CSV export\"")
        return EXIT_OK
    columns = [Column("run", "name"), Column("workflow", "name"), Column("status"), Column("started"),
               Column("duration", right=True), Column("tokens", right=True), Column("cost", right=True)]
    print_table(console, columns, [
        [run.run_id, escape(run.workflow_id), styled(str(status)), format_time(run.started_at),
         format_duration(run.duration), f"{run.usage.total_tokens:,}", format_cost(run.usage)]
        for run, status in listed])
    stopped = [run.run_id for run, status in listed if status is RunStatus.STOPPED]
    if stopped:
        console.print(f"[dim]stopped: the process running it is gone; go on with: gorgon resume {stopped[0]}[/]")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    store = open_store()
    run = store.runs.get(args.run_id)
    status = observed_status(run, store.control)
    from gorgon_nb.cli.tool_calls import print_tool_calls, run_tool_calls

    records = store.tools.of_run(run.run_id)
    # the events tell a rejection from an error; only a run with an error result needs them
    calls = run_tool_calls(records, store.runs.events(run.run_id) if any(r.is_error for r in records) else ())
    if args.json:
        print_json({**run_json(run, status=status), "tool_calls": [call.to_dict() for call in calls]})
        return EXIT_OK
    console.print(f"[bold]{escape(run.workflow_name or run.workflow_id)}[/] · run [bold]{run.run_id}[/] · "
                  f"{styled(str(status))}")
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    console.print(f"started {format_time(run.started_at)} · {format_duration(run.duration)} · {spent}"
                  + (f" · {escape(run.source_path)}" if run.source_path else ""))
    if run.inputs:
        console.print("inputs: " + escape(", ".join(f"{k}={preview(v, 40)}" for k, v in run.inputs.items())))
    if status is RunStatus.STOPPED:
        console.print(f"[yellow]stopped: the process running it is gone; go on with: gorgon resume {run.run_id}[/]")
    if run.error:
        console.print(f"[red]error: {escape(run.error)}[/]")
    columns = [Column("step", "name"), Column("agent"), Column("status"), Column("model", "prose"),
               Column("duration", right=True), Column("tokens", right=True), Column("cost", right=True)]
    print_table(console, columns, [
        [escape(step.key), escape(step.role or step.kind), styled(observed_step_status(step, status)),
         escape(step.model or "-"),
         format_duration(step.duration), f"{step.usage.total_tokens:,}", format_cost(step.usage)]
        for step in run.steps.values()])
    for step in run.steps.values():
        if step.error and step.status != "cancelled":
            console.print(f"[red]{escape(step.key)}: {escape(step.error)}[/]")
    for notice in run.notices:
        console.print(f"[dim]note: {escape(notice)}[/]")
    print_tool_calls(console, calls)
    if not args.brief:
        from rich.rule import Rule

        for step in run.steps.values():
            if step.output is not None:
                console.print(Rule(f"{step.key}", style="dim"))
                _print_output(step.output, console)
    return EXIT_OK


def run_json(run: RunResult, steps: bool = True, status: RunStatus | None = None) -> dict[str, Any]:
    """A run as ``--json`` prints it; ``status`` is its observed status (``stopped``) when known."""
    data: dict[str, Any] = {
        "run_id": run.run_id, "workflow_id": run.workflow_id, "status": str(status or run.status),
        "error": run.error, "inputs": run.inputs, "outputs": run.outputs, "started_at": run.started_at,
        "ended_at": run.ended_at, "usage": run.usage.to_dict(), "cost_usd": run.cost, "notices": run.notices,
    }
    if steps:
        data["steps"] = [{"key": s.key, "step_id": s.step_id, "kind": s.kind, "role": s.role,
                          "status": observed_step_status(s, status or run.status), "model": s.model, "output": s.output, "error": s.error,
                          "usage": s.usage.to_dict(), "cost_usd": s.cost, "attempts": s.attempts,
                          "started_at": s.started_at, "ended_at": s.ended_at} for s in run.steps.values()]
    return data


# -- what is available ------------------------------------------------------------------------

def cmd_workflows(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import gorgon_home
    from gorgon_nb.errors import GorgonError
    from gorgon_nb.workflow import Workflow, bundled_workflows_dir, list_workflows

    bundled, yours = bundled_workflows_dir(), gorgon_home() / "workflows"
    found: list[dict[str, Any]] = []
    for name, path in list_workflows().items():
        entry: dict[str, Any] = {"name": name, "path": str(path),
                                 "origin": "user" if path.parent == yours else "bundled",
                                 "steps": None, "description": None, "error": None}
        try:
            workflow = Workflow.from_file(path)
            entry.update(steps=len(workflow.spec.steps), description=workflow.description or workflow.name)
        except Exception as exc:  # one broken user workflow must not hide the others
            message = exc.for_surface("cli") if isinstance(exc, GorgonError) else str(exc)
            entry["error"] = f"cannot load: {message.splitlines()[0]}"
        found.append(entry)
    if args.json:
        print_json(found)
        return EXIT_OK
    print_table(console, [Column("name", "name"), Column("steps", right=True), Column("description", "prose")], [
        [escape(e["name"]), "?" if e["error"] else str(e["steps"]),
         f"[red]{escape(e['error'])}[/]" if e["error"] else escape(e["description"])] for e in found])
    console.print(f"[dim]bundled: {escape(str(bundled))}\nyours:   {escape(str(yours))} "
                  "(a file there overrides a bundled one of the same name)[/]")
    return EXIT_OK


def cmd_roles(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import load_config

    roles = list(load_config().roles.values())
    if args.json:
        print_json([{"name": r.name, "icon": r.icon, "description": r.description} for r in roles])
        return EXIT_OK
    print_table(console, [Column(""), Column("role", "name"), Column("description", "prose")],
                [[r.icon, escape(r.name), escape(r.description)] for r in roles])
    return EXIT_OK


def cmd_providers(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import load_config
    from gorgon_nb.integrations import service_statuses
    from gorgon_nb.providers.registry import provider_statuses, resolve_auto

    config = load_config()
    providers, services = provider_statuses(config), service_statuses(config)
    model, notice = resolve_auto(config)
    config_file = config.file or (config.home / "config.toml")
    if args.json:
        print_json({"providers": [vars(s) for s in providers], "services": [vars(s) for s in services],
                    "auto": {"model": str(model), "notice": notice}, "config_file": str(config_file),
                    "config_found": config.file is not None})
        return EXIT_OK
    rows = []
    for status in providers:
        detail = escape(status.detail)
        rows.append([escape(status.name), status.kind, escape(status.model),
                     f"[green]{detail}[/]" if status.ready and status.kind != "openai-compatible"
                     else detail if status.ready else f"[yellow]{detail}[/]"])
    for service in services:
        detail = escape(service.detail)
        rows.append([service.name, "service", "-", f"[green]{detail}[/]" if service.ready else f"[yellow]{detail}[/]"])
    print_table(console, [Column("provider", "name"), Column("kind"), Column("default model", "name"),
                          Column("status", "prose")], rows)
    console.print(f"model 'auto' uses: [bold]{escape(str(model))}[/]" + (f"\n[dim]{escape(notice)}[/]" if notice else ""))
    console.print(f"[dim]config file: {escape(str(config_file))} ({'found' if config.file else 'not created'})[/]")
    return EXIT_OK

"""The ``gorgon`` subcommands. Each parses nothing itself: it calls the public API and renders."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from gorgon_nb.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_json
from gorgon_nb.cli.progress import Progress
from gorgon_nb.config import load_config
from gorgon_nb.engine.executor import Execution
from gorgon_nb.engine.inputs import bind_inputs
from gorgon_nb.errors import InputError, Problem
from gorgon_nb.format import (
    STATUS_LABELS,
    STATUS_SYMBOLS,
    format_duration,
    format_time,
    preview,
    run_summary_line,
)
from gorgon_nb.integrations import service_statuses
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import format_cost, format_tokens
from gorgon_nb.providers.registry import provider_statuses, resolve_auto
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow, check_text, list_workflows

_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "magenta", "running": "cyan", "skipped": "yellow",
          "timed_out": "red", "queued": "white"}


def _styled(status: str) -> str:
    return f"[{_STYLE.get(status, 'white')}]{STATUS_SYMBOLS.get(status, '?')} {STATUS_LABELS.get(status, status)}[/]"


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    workflow, _, _ = runner.prepare(args.workflow, dict(args.inputs), model=args.model)
    return drive(console, args, workflow.name, lambda on_event: runner.execution(
        workflow, dict(args.inputs), model=args.model, allow_shell=args.allow_shell, on_event=on_event), runner)


def drive(console: Console, args: argparse.Namespace, title: str,
          start: Callable[[Callable[[Event], None]], Execution], runner: Runner) -> int:
    """Run an execution with live progress (unless --quiet or --json) and end with its summary."""
    show_progress = not (args.quiet or args.json)
    progress = Progress(console, live=None if show_progress else False)
    run_ids: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind in ("run_started", "run_resumed") and not run_ids:
            run_ids.append(event.run_id)
            if show_progress:
                verb = "resumed" if event.kind == "run_resumed" else "run"
                console.print(f"[bold]{escape(title)}[/] · {verb} [bold]{event.run_id}[/]")
        if show_progress:
            progress.on_event(event)

    execution = start(on_event)  # every usage error is raised here, before anything is shown
    try:
        with progress if show_progress else nullcontext():
            result = runner._sync(execution.execute)
    except KeyboardInterrupt:
        run_id = execution.result.run_id
        console.print(f"[magenta]run {run_id} cancelled[/]; what finished is kept: gorgon show {run_id} "
                      f"(or go on with: gorgon resume {run_id})")
        return EXIT_INTERRUPTED
    if args.json:
        print_json(_run_json(result))
    else:
        _summary(result, console)
    return EXIT_OK if result.ok else EXIT_FAILED


def _summary(result: RunResult, console: Console) -> None:
    console.print()
    console.print(f"{_styled(str(result.status))} {escape(run_summary_line(result))}")
    if result.error:
        console.print(f"[red]{escape(result.error)}[/]")
    finished = [s for s in result.steps.values() if s.status == "succeeded" and "." not in s.key]
    if result.ok and finished:
        last = finished[-1]
        console.print(Rule(f"output of '{last.key}'", style="dim"))
        _print_output(last.output, console, max_lines=25)
    console.print(f"[dim]details: gorgon show {result.run_id}[/]")


def _print_output(value: Any, console: Console, max_lines: int | None = None) -> None:
    if value is None:
        console.print("[dim](no output)[/]")
        return
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    lines = text.splitlines()
    if max_lines is not None and len(lines) > max_lines:
        text = "\n".join(lines[:max_lines]) + f"\n\n… {len(lines) - max_lines} more lines"
    console.print(Markdown(text) if isinstance(value, str) else text)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    config = load_config()
    failed = False
    for file in args.files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            failed = True
            console.print(f"[red]✗ {escape(file)}[/]: cannot read it: {escape(exc.strerror or str(exc))}")
            continue
        found = check_text(text, path=file, config=config)
        if not found and args.inputs:
            try:
                bind_inputs(Workflow.from_yaml(text, path=file).spec, dict(args.inputs))
            except InputError as exc:
                found = [Problem(str(exc), "inputs", file=file)]
        if found:
            failed = True
            console.print(f"[red]✗ {escape(file)}[/]: {len(found)} problem{'s' * (len(found) != 1)}")
            for problem in found:
                console.print("  " + escape(str(problem)).replace("\n", "\n  "))
            continue
        workflow = Workflow.from_yaml(text, path=file)
        steps = len(workflow.spec.steps)
        console.print(f"[green]✓ {escape(file)}[/]: {escape(workflow.id)}, {steps} step{'s' * (steps != 1)}")
    return EXIT_USAGE if failed else EXIT_OK


def _store() -> Store:
    return Store(load_config().db_path)


def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    store = _store()
    runs = store.list_runs(args.limit, status=args.status, workflow_id=args.workflow)
    if args.json:
        print_json([_run_json(run, steps=False) for run in runs])
        return EXIT_OK
    if not runs and (args.status or args.workflow):
        console.print("no runs match")
        return EXIT_OK
    if not runs:
        console.print("no runs yet. Try: gorgon run dev_plan_build_test_review -v feature_request=\"Add a CSV export\"")
        return EXIT_OK
    table = _table(console, ("run", 10), ("workflow", 0), ("status", 11), ("started", 8), ("duration", -8), ("tokens", -7),
                   ("cost", -7))
    stopped = [run.run_id for run in runs if not run.status.finished and not store.owner(run.run_id).alive]
    for run in runs:
        status = "[yellow]⚠ stopped[/]" if run.run_id in stopped else _styled(str(run.status))
        table.add_row(run.run_id, escape(run.workflow_id), status, format_time(run.started_at),
                      format_duration(run.duration), f"{run.usage.total_tokens:,}", format_cost(run.usage))
    console.print(table)
    if stopped:
        console.print(f"[dim]stopped: the process running it is gone; go on with: gorgon resume {stopped[0]}[/]")
    return EXIT_OK


def _table(console: Console, *columns: tuple[str, int]) -> Table:
    """Columns as (name, width): width > 0 fixed left, < 0 fixed right, 0 share what is left."""
    fixed = sum(abs(width) for _, width in columns) + 2 * (len(columns) - 1)
    flexible = sum(1 for _, width in columns if width == 0) or 1
    share = max(8, (console.width - fixed) // flexible)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, width in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis", justify="right" if width < 0 else "left",
                         width=abs(width) if width else None, max_width=share if width == 0 else None)
    return table


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    run = _store().get_run(args.run_id)
    if args.json:
        print_json(_run_json(run))
        return EXIT_OK
    console.print(f"[bold]{escape(run.workflow_name or run.workflow_id)}[/] · run [bold]{run.run_id}[/] · "
                  f"{_styled(str(run.status))}")
    spent = f"{format_tokens(run.usage)} tokens · {format_cost(run.usage)}" if run.usage.calls else "no model calls"
    console.print(f"started {format_time(run.started_at)} · {format_duration(run.duration)} · {spent}"
                  + (f" · {escape(run.source_path)}" if run.source_path else ""))
    if run.inputs:
        console.print("inputs: " + escape(", ".join(f"{k}={preview(v, 40)}" for k, v in run.inputs.items())))
    if run.error:
        console.print(f"[red]error: {escape(run.error)}[/]")
    table = _table(console, ("step", 0), ("agent", 0), ("status", 11), ("model", 0), ("duration", -8), ("tokens", -7),
                   ("cost", -7))
    for step in run.steps.values():
        table.add_row(escape(step.key), escape(step.role or step.kind), _styled(str(step.status)),
                      escape(step.model or "-"), format_duration(step.duration), f"{step.usage.total_tokens:,}",
                      format_cost(step.usage))
    console.print(table)
    for step in run.steps.values():
        if step.error and step.status != "cancelled":
            console.print(f"[red]{escape(step.key)}: {escape(step.error)}[/]")
    for notice in run.notices:
        console.print(f"[dim]note: {escape(notice)}[/]")
    if not args.brief:
        for step in run.steps.values():
            if step.output is not None:
                console.print(Rule(f"{step.key}", style="dim"))
                _print_output(step.output, console)
    return EXIT_OK


def _run_json(run: RunResult, steps: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run_id": run.run_id, "workflow_id": run.workflow_id, "status": str(run.status), "error": run.error,
        "inputs": run.inputs, "outputs": run.outputs, "started_at": run.started_at, "ended_at": run.ended_at,
        "usage": run.usage.to_dict(), "cost_usd": run.cost, "notices": run.notices,
    }
    if steps:
        data["steps"] = [{"key": s.key, "step_id": s.step_id, "kind": s.kind, "role": s.role,
                          "status": str(s.status), "model": s.model, "output": s.output, "error": s.error,
                          "usage": s.usage.to_dict(), "cost_usd": s.cost, "attempts": s.attempts,
                          "started_at": s.started_at, "ended_at": s.ended_at} for s in run.steps.values()]
    return data


def cmd_workflows(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import gorgon_home
    from gorgon_nb.workflow import bundled_workflows_dir

    table = _table(console, ("name", 0), ("steps", -5), ("description", 0))
    for name, path in list_workflows().items():
        try:
            workflow = Workflow.from_file(path)
            table.add_row(escape(name), str(len(workflow.spec.steps)), escape(workflow.description or workflow.name))
        except Exception as exc:  # one broken user workflow must not hide the others
            table.add_row(escape(name), "?", f"[red]cannot load: {escape(str(exc).splitlines()[0])}[/]")
    console.print(table)
    console.print(f"[dim]bundled: {bundled_workflows_dir()}\nyours:   {gorgon_home() / 'workflows'} "
                  "(a file there overrides a bundled one of the same name)[/]")
    return EXIT_OK


def cmd_roles(args: argparse.Namespace, console: Console) -> int:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("", "role", "description"):
        table.add_column(column)
    for role in load_config().roles.values():
        table.add_row(role.icon, role.name, escape(role.description))
    console.print(table)
    return EXIT_OK


def cmd_providers(args: argparse.Namespace, console: Console) -> int:
    config = load_config()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("provider", "kind", "default model", "status"):
        table.add_column(column)
    for status in provider_statuses(config):
        detail = escape(status.detail)
        table.add_row(status.name, status.kind, escape(status.model),
                      f"[green]{detail}[/]" if status.ready and status.kind != "openai-compatible"
                      else detail if status.ready else f"[yellow]{detail}[/]")
    for service in service_statuses(config):
        detail = escape(service.detail)
        table.add_row(service.name, "service", "-", f"[green]{detail}[/]" if service.ready else f"[yellow]{detail}[/]")
    console.print(table)
    model, notice = resolve_auto(config)
    console.print(f"model 'auto' uses: [bold]{model}[/]" + (f"\n[dim]{escape(notice)}[/]" if notice else ""))
    console.print(f"[dim]config file: {config.file or (config.home / 'config.toml')} "
                  f"({'found' if config.file else 'not created'})[/]")
    return EXIT_OK


__all__ = ["EXIT_USAGE", "cmd_providers", "cmd_roles", "cmd_run", "cmd_runs", "cmd_show", "cmd_validate",
           "cmd_workflows"]

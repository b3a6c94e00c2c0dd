"""The ``gorgon`` subcommands for durable runs: resume, replay, fork, cancel, approve, approvals."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.markup import escape

from gorgon_nb.cli import EXIT_FAILED, EXIT_OK, print_json
from gorgon_nb.cli.commands import _table, drive
from gorgon_nb.format import format_time, preview
from gorgon_nb.runner import Runner

__all__ = ["cmd_approvals", "cmd_approve", "cmd_cancel", "cmd_fork", "cmd_replay", "cmd_resume"]


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    return drive(console, args, workflow.name, lambda on_event: runner.resume_execution(
        record.run_id, max_usd=args.max_usd, max_tokens=args.max_tokens, model=args.model,
        allow_shell=args.allow_shell, on_event=on_event), runner)


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    code = drive(console, args, f"{workflow.name} (replay of {record.run_id})",
                 lambda on_event: runner.replay_execution(record.run_id, on_event=on_event), runner)
    if not args.json:
        console.print("[dim]replayed from the record: no model was called and nothing was paid[/]")
    return code


def cmd_fork(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    return drive(console, args, f"{workflow.name} (fork of {record.run_id} from '{args.from_step}')",
                 lambda on_event: runner.fork_execution(record.run_id, args.from_step, dict(args.inputs),
                                                        model=args.model, allow_shell=args.allow_shell,
                                                        on_event=on_event), runner)


def cmd_cancel(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    store = runner.store
    assert store is not None
    run_id = store.resolve_run_id(args.run_id)
    if runner.cancel(run_id) == "cancelled":
        console.print(f"run {run_id} cancelled (no process was running it); what finished is kept")
        return EXIT_OK
    console.print(f"asked the process running {run_id} to stop…")
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        if store.owner(run_id).status == "cancelled":
            console.print(f"run {run_id} cancelled; what finished is kept: gorgon show {run_id}")
            return EXIT_OK
        time.sleep(0.2)
    console.print(f"[yellow]run {run_id} has not stopped yet[/]; it will at its next check (within seconds)")
    return EXIT_FAILED


def cmd_approve(args: argparse.Namespace, console: Console) -> int:
    decision = Runner().approve(args.ref, step=args.step, approve=not args.reject, comment=args.message, by=args.by)
    word = "approved" if decision.approved else "rejected"
    console.print(f"{word} '{escape(decision.title)}' (run {decision.run_id}, step {escape(decision.step_key)}) "
                  f"as {escape(decision.decided_by or '')}" + (f": {escape(decision.comment)}" if decision.comment else ""))
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace, console: Console) -> int:
    runner = Runner()
    store = runner.store
    assert store is not None
    found = runner.approvals(args.run, status=None if args.all else "pending")
    if args.json:
        print_json([vars(a) | {"status": str(a.status)} for a in found])
        return EXIT_OK
    if not found:
        console.print("no approvals waiting" if not args.all else "no approvals")
        return EXIT_OK
    table = _table(console, ("approval", 10), ("run", 10), ("step", 0), ("title", 0), ("asked", 8), ("status", 21))
    for a in found:
        alive = store.owner(a.run_id).alive
        status = str(a.status) if not a.pending or alive else "pending (run stopped)"
        table.add_row(a.id, a.run_id, escape(a.step_key), escape(preview(a.title, 60)),
                      format_time(a.requested_at), status)
    console.print(table)
    if args.show:
        from rich.markdown import Markdown
        from rich.rule import Rule

        for a in found:
            console.print(Rule(f"{a.id} · {a.title}", style="dim"))
            console.print(Markdown(a.preview or "(nothing to show)"))
    console.print("[dim]decide: gorgon approve APPROVAL_OR_RUN [--reject] [-m COMMENT]; "
                  + ("" if args.show else "see what each would approve: gorgon approvals --show; ")
                  + "a stopped run goes on with: gorgon resume RUN[/]")
    return EXIT_OK

"""The ``gorgon`` subcommands for durable runs: resume, replay, fork, cancel, approve, approvals."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from rich.markup import escape

from gorgon_nb.cli import EXIT_FAILED, EXIT_OK, print_json
from gorgon_nb.cli.commands import drive
from gorgon_nb.cli.output import Column, print_table
from gorgon_nb.model.text import format_time, preview

if TYPE_CHECKING:
    from rich.console import Console

    from gorgon_nb.model.approval import ApprovalRequest

__all__ = ["cmd_approvals", "cmd_approve", "cmd_cancel", "cmd_fork", "cmd_replay", "cmd_resume"]


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    return drive(console, args, workflow.name, lambda on_event: runner.resume_execution(
        record.run_id, max_usd=args.max_usd, max_tokens=args.max_tokens, model=args.model,
        allow_code=args.allow_code, on_event=on_event), runner)


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    code = drive(console, args, f"{workflow.name} (replay of {record.run_id})",
                 lambda on_event: runner.replay_execution(record.run_id, on_event=on_event), runner)
    if not args.json:
        console.print("[dim]replayed from the record: no model was called and nothing was paid[/]")
    return code


def cmd_fork(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    record, workflow = runner.stored_workflow(args.run_id)
    return drive(console, args, f"{workflow.name} (fork of {record.run_id} from '{args.from_step}')",
                 lambda on_event: runner.fork_execution(record.run_id, args.from_step, dict(args.inputs),
                                                        model=args.model, allow_code=args.allow_code,
                                                        on_event=on_event), runner)


def cmd_cancel(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    store = runner.store
    assert store is not None
    run_id = store.runs.resolve_id(args.run_id)

    def done(result: str, message: str, code: int = EXIT_OK) -> int:
        if args.json:
            print_json({"run_id": run_id, "result": result})
        else:
            console.print(message)
        return code

    if runner.cancel(run_id) == "cancelled":
        return done("cancelled", f"run {run_id} cancelled (no process was running it); what finished is kept")
    if not args.json:
        console.print(f"asked the process running {run_id} to stop…")
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        status = store.control.owner(run_id).status
        if status == "cancelled":
            return done("cancelled", f"run {run_id} cancelled; what finished is kept: gorgon show {run_id}")
        if status not in ("running", "waiting"):  # it ended on its own before it saw the request
            return done(status, f"run {run_id} ended ({status}) before the cancel reached it: gorgon show {run_id}",
                        EXIT_FAILED)
        time.sleep(0.2)
    return done("requested", f"[yellow]run {run_id} has not stopped yet[/]; it will at its next check "
                             "(within seconds)", EXIT_FAILED)


def _approval_json(a: ApprovalRequest, alive: bool | None = None) -> dict[str, object]:
    data: dict[str, object] = {**vars(a), "status": str(a.status)}
    if alive is not None:
        data["run_stopped"] = a.pending and not alive
    return data


def cmd_approve(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    decision = Runner().approve(args.ref, step=args.step, approve=not args.reject, comment=args.message, by=args.by)
    if args.json:
        print_json(_approval_json(decision))
        return EXIT_OK
    word = "approved" if decision.approved else "rejected"
    console.print(f"{word} '{escape(decision.title)}' (run {decision.run_id}, step {escape(decision.step_key)}) "
                  f"as {escape(decision.decided_by or '')}" + (f": {escape(decision.comment)}" if decision.comment else ""))
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.runner import Runner

    runner = Runner()
    store = runner.store
    assert store is not None
    found = runner.approvals(args.run, status=None if args.all else "pending")
    alive = {run_id: store.control.owner(run_id).alive for run_id in {a.run_id for a in found if a.pending}}
    if args.json:
        print_json([_approval_json(a, alive.get(a.run_id, False)) for a in found])
        return EXIT_OK
    if not found:
        console.print("no approvals waiting" if not args.all else "no approvals")
        return EXIT_OK
    print_table(console, [Column("approval", "name"), Column("run", "name"), Column("step", "name"),
                          Column("title", "prose"), Column("asked"), Column("status")], [
        [a.id, a.run_id, escape(a.step_key), escape(preview(a.title, 60)), format_time(a.requested_at),
         str(a.status) if not a.pending or alive[a.run_id] else "pending (run stopped)"] for a in found])
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

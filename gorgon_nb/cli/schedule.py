"""``gorgon schedule``, ``schedules``, ``jobs`` and ``scheduler``: notebooks and workflows as recurring jobs."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING

from rich.markup import escape

from gorgon_nb.cli import EXIT_OK, print_json
from gorgon_nb.cli.commands import open_store
from gorgon_nb.cli.output import Column, print_table, styled
from gorgon_nb.errors import UsageError
from gorgon_nb.model.text import format_duration, format_time

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_jobs", "cmd_schedule", "cmd_scheduler", "cmd_schedules"]


def cmd_schedule(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.model.jobs import job_kind
    from gorgon_nb.notify.dispatch import notify_rules
    from gorgon_nb.scheduler.loop import scheduler_holder
    from gorgon_nb.scheduler.service import without_jupyterlab
    from gorgon_nb.workflow_jobs import dropped_notice, import_gorgon_schedule, schedule_target

    store = open_store()
    dropped: list[str] = []
    options = dict(retries=args.retries, backoff=args.backoff, timeout=args.timeout, missed=args.missed,
                   overlap=args.overlap, keep=args.keep, name=args.name, root=args.root, notify=notify_rules(args.notify))
    if args.from_file:
        if args.target or args.inputs or args.parameters:
            raise UsageError("--from FILE takes the workflow and its inputs from the file; give no "
                             "NOTEBOOK_OR_WORKFLOW, -v or -p with it")
        schedule, dropped = import_gorgon_schedule(store, args.from_file, timezone=args.tz,
                                                   allow_code=args.allow_code, **options)
    else:
        if not args.target:
            raise UsageError("name a notebook or a workflow to schedule (or import a Gorgon schedule file with "
                             "--from FILE), for example: gorgon schedule report.ipynb --every 1h")
        if args.cron is None and args.every is None and args.at is None:
            raise UsageError("say when: give one of --cron, --every or --at (or --from FILE)")
        notebook = job_kind(args.target) == "notebook"
        if notebook and args.inputs:
            raise UsageError("-v sets a workflow's inputs; give a notebook's parameters with -p KEY=VALUE")
        if not notebook and args.parameters:
            raise UsageError("-p sets a notebook's parameters; give a workflow's inputs with -v KEY=VALUE, as "
                             "gorgon run takes them")
        schedule = schedule_target(
            store, args.target, cron=args.cron, timezone=args.tz, every=args.every, at=args.at,
            parameters=dict(args.parameters if notebook else args.inputs), allow_code=args.allow_code, **options)
    if args.json:
        print_json({**schedule.to_dict(), **({"left_out": dropped} if args.from_file else {})})
        return EXIT_OK
    if notice := dropped_notice(schedule.notebook, dropped):
        console.print(f"[yellow]{escape(notice)}[/]")
    paused = " (paused: gorgon schedules resume " + schedule.id + " starts it)" if schedule.paused else ""
    what = "the workflow " if schedule.kind == "workflow" else ""
    console.print(f"scheduled {what}[bold]{escape(schedule.notebook)}[/] ({escape(schedule.trigger)}) "
                  f"as {escape(schedule.id)}; next run {format_time(schedule.next_run_at)}{escape(paused)}")
    if scheduler_holder(store) is None:
        lab = " (JupyterLab comes with: pip install 'gorgon-nb[lab]')" if without_jupyterlab() else ""
        console.print("[dim]no scheduler is running; jobs start while one runs: gorgon scheduler, or JupyterLab "
                      f"with \\[scheduler] enabled = true in the config{escape(lab)}[/]")
    return EXIT_OK


def cmd_schedules(args: argparse.Namespace, console: Console) -> int:
    store = open_store()
    if args.action:
        from gorgon_nb.scheduler import service

        if not args.ref:
            raise UsageError(f"gorgon schedules {args.action} needs a SCHEDULE (an id or a name); "
                             "gorgon schedules lists them")
        if args.action == "run":
            job = service.run_now(store, args.ref)
            result, message = job.to_dict(), f"queued job {job.id}"
        elif args.action == "delete":
            deleted = store.jobs.delete_schedule(args.ref)
            result, message = deleted.to_dict(), f"deleted schedule {deleted.id}"
        else:
            changed = getattr(service, args.action)(store, args.ref)
            result = changed.to_dict()
            message = (f"{changed.id} {'paused' if changed.paused else 'resumed'}; next run "
                       f"{'-' if changed.paused else format_time(changed.next_run_at)}")
        if args.json:
            print_json(result)
        else:
            console.print(message)
        return EXIT_OK
    schedules = store.jobs.schedules()
    if args.json:
        print_json([s.to_dict() for s in schedules])
        return EXIT_OK
    if not schedules:
        console.print("no schedules yet. Try: gorgon schedule report.ipynb --every 1h -p region=EU")
        return EXIT_OK
    print_table(console, [Column("schedule", "name"), Column("name", "name"), Column("kind"),
                          Column("notebook or workflow", "prose"), Column("when"), Column("next run")], [
        [s.id, escape(s.name), s.kind, escape(s.notebook), escape(s.trigger),
         "paused" if s.paused else format_time(s.next_run_at)] for s in schedules])
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace, console: Console) -> int:
    store = open_store()
    if args.action and not args.ref:
        raise UsageError(f"gorgon jobs {args.action} needs a JOB id; gorgon jobs lists recent jobs")
    if args.action == "cancel":
        job_id = store.jobs.get(args.ref).id
        result = store.jobs.request_cancel(job_id)
        if args.json:
            print_json({"job_id": job_id, "result": result})
        else:
            console.print(f"job {job_id}: {'cancelled' if result == 'cancelled' else 'its kernel stops within seconds'}")
        return EXIT_OK
    if args.action == "show":
        job = store.jobs.get(args.ref)
        if args.json:
            print_json(job.to_dict())
            return EXIT_OK
        for key, value in job.to_dict().items():
            if value in (None, [], {}, "") or (key == "not_before" and not value):
                continue
            if key.endswith("_at") or key in ("scheduled_for", "not_before"):
                value = format_time(value)
            elif key == "duration":
                value = format_duration(value)
            console.print(f"[bold]{key:>16}[/] {escape(str(value))}")
        if job.run_ids:
            console.print(f"[dim]its run: gorgon show {job.run_ids[-1]}[/]")
        return EXIT_OK
    schedule_id = store.jobs.get_schedule(args.schedule).id if args.schedule else None
    jobs = store.jobs.recent(args.limit, schedule_id=schedule_id, state=args.state)
    if args.json:
        print_json([j.to_dict() for j in jobs])
        return EXIT_OK
    if not jobs:
        console.print("no jobs match" if args.schedule or args.state else "no jobs yet")
        return EXIT_OK
    print_table(console, [Column("job", "name"), Column("kind"), Column("notebook or workflow", "prose"),
                          Column("state"), Column("due"), Column("duration", right=True), Column("cost", right=True),
                          Column("run", "name"), Column("error", "prose")], [
        [j.id, j.kind, escape(j.notebook), styled(str(j.state)), format_time(j.scheduled_for),
         format_duration(j.duration), "-" if j.cost_usd is None else f"${j.cost_usd:.4f}",
         j.run_ids[-1] if j.kind == "workflow" and j.run_ids else "", escape(j.error or "")] for j in jobs])
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.cli.webhooks import webhook_server
    from gorgon_nb.config import load_config
    from gorgon_nb.scheduler.loop import Scheduler, backend_for

    args.dask = args.dask or load_config().scheduler.dask
    backend = backend_for(args.dask, args.pool)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler = Scheduler(open_store(), backend=backend, concurrency=args.concurrency, lease_ttl=args.lease_ttl,
                              tick=args.tick)
        console.print(f"scheduler {scheduler.owner} running ({'Dask ' + args.dask if args.dask else 'local kernels'}, "
                      f"{args.concurrency} at once); Ctrl-C stops it")
        with webhook_server(args, console):
            await scheduler.run(stop)

    asyncio.run(serve())
    console.print("scheduler stopped")
    return EXIT_OK

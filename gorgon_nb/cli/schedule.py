"""``gorgon schedule``, ``schedules``, ``jobs`` and ``scheduler``: notebooks as recurring jobs."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from gorgon_nb.cli.commands import EXIT_OK, _store, _styled, _table, print_json
from gorgon_nb.errors import UsageError
from gorgon_nb.format import format_duration, format_time

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["add_parsers", "cmd_jobs", "cmd_schedule", "cmd_scheduler", "cmd_schedules"]


def _parameter(text: str) -> tuple[str, Any]:
    from gorgon_nb.scheduler.service import split_parameter

    try:
        return split_parameter(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any) -> None:
    schedule = sub.add_parser("schedule", help="run a notebook on a schedule (cron, interval or once)")
    schedule.add_argument("notebook", help="the notebook, relative to --root")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='five cron fields, for example "0 8 * * MON"')
    when.add_argument("--every", help="an interval: 90, 30s, 15m, 2h, 1d")
    when.add_argument("--at", help="once, at 2026-12-01T09:00")
    schedule.add_argument("--tz", default="UTC", help="the time zone of --cron and --at (UTC)")
    schedule.add_argument("-p", "--parameter", dest="parameters", action="append", type=_parameter, default=[],
                          metavar="KEY=VALUE", help="a papermill parameter, typed as papermill's -p types it")
    schedule.add_argument("--retries", type=int, default=0, help="tries after a failure or a timeout (0)")
    schedule.add_argument("--backoff", default="60", help="before the first retry; doubles each time (60s)")
    schedule.add_argument("--timeout", help="for the whole notebook, e.g. 10m")
    schedule.add_argument("--missed", choices=["skip", "catch-up"], default="skip",
                          help="runs missed while no scheduler ran: skip them, or run once to catch up")
    schedule.add_argument("--overlap", choices=["skip", "queue"], default="skip",
                          help="when the last job still runs: skip this one, or queue it")
    schedule.add_argument("--keep", type=int, default=20, help="executed notebooks kept (20)")
    schedule.add_argument("--name", default="", help="a name to refer to the schedule by")
    schedule.add_argument("--root", help="the folder notebooks are confined to (the current one)")

    schedules = sub.add_parser("schedules", help="list schedules; pause, resume, delete or run one now")
    schedules.add_argument("action", nargs="?", choices=["pause", "resume", "delete", "run"])
    schedules.add_argument("ref", nargs="?", metavar="SCHEDULE", help="an id, a prefix of one, or a name")
    schedules.add_argument("--json", action="store_true")

    jobs = sub.add_parser("jobs", help="list recent jobs; show or cancel one")
    jobs.add_argument("action", nargs="?", choices=["show", "cancel"])
    jobs.add_argument("ref", nargs="?", metavar="JOB")
    jobs.add_argument("-n", "--limit", type=int, default=20)
    jobs.add_argument("--schedule", help="only this schedule's jobs")
    jobs.add_argument("--json", action="store_true")

    scheduler = sub.add_parser("scheduler", help="run the scheduler loop here until Ctrl-C")
    scheduler.add_argument("--dask", metavar="ADDRESS", help="run jobs on this Dask cluster (tcp://host:8786)")
    scheduler.add_argument("--concurrency", type=int, default=2, help="jobs at once (2)")
    scheduler.add_argument("--pool", type=int, default=2, help="kernels started ahead (2)")
    scheduler.add_argument("--lease-ttl", type=float, default=15.0,
                           help="seconds without renewal after which another scheduler takes over (15)")
    scheduler.add_argument("--tick", type=float, default=1.0, help="seconds between looks at the store (1)")


def cmd_schedule(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.scheduler.service import schedule_notebook

    schedule = schedule_notebook(
        _store(), args.notebook, root=args.root, cron=args.cron, timezone=args.tz, every=args.every, at=args.at,
        parameters=dict(args.parameters), retries=args.retries, backoff=args.backoff,
        timeout=args.timeout, missed=args.missed, overlap=args.overlap, keep=args.keep, name=args.name)
    console.print(f"scheduled [bold]{escape(schedule.notebook)}[/] ({escape(schedule.trigger)}) as "
                  f"{schedule.id}; next run {format_time(schedule.next_run_at)}")
    console.print("[dim]jobs start while a scheduler runs: gorgon scheduler, or JupyterLab with "
                  "\\[scheduler] enabled = true in the config[/]")
    return EXIT_OK


def cmd_schedules(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.scheduler import service

    store = _store()
    if args.action:
        if not args.ref:
            raise UsageError(f"gorgon schedules {args.action} needs a SCHEDULE (an id or a name)")
        if args.action == "run":
            job = service.run_now(store, args.ref)
            console.print(f"queued job {job.id}")
        elif args.action == "delete":
            console.print(f"deleted schedule {store.delete_schedule(args.ref).id}")
        else:
            changed = getattr(service, args.action)(store, args.ref)
            console.print(f"{changed.id} {'paused' if changed.paused else 'resumed'}; next run "
                          f"{'-' if changed.paused else format_time(changed.next_run_at)}")
        return EXIT_OK
    schedules = store.list_schedules()
    if args.json:
        print_json([s.to_dict() for s in schedules])
        return EXIT_OK
    if not schedules:
        console.print("no schedules yet. Try: gorgon schedule report.ipynb --every 1h -p region=EU")
        return EXIT_OK
    table = _table(console, ("schedule", 10), ("name", 0), ("notebook", 0), ("when", 0), ("next run", 16))
    for s in schedules:
        table.add_row(s.id, escape(s.name), escape(s.notebook), escape(s.trigger),
                      "paused" if s.paused else format_time(s.next_run_at))
    console.print(table)
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace, console: Console) -> int:
    store = _store()
    if args.action == "cancel":
        result = store.request_job_cancel(args.ref or "")
        console.print(f"job {args.ref}: {'cancelled' if result == 'cancelled' else 'its kernel stops within seconds'}")
        return EXIT_OK
    if args.action == "show":
        job = store.get_job(args.ref or "")
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
        return EXIT_OK
    schedule_id = store.get_schedule(args.schedule).id if args.schedule else None
    jobs = store.list_jobs(args.limit, schedule_id=schedule_id)
    if args.json:
        print_json([j.to_dict() for j in jobs])
        return EXIT_OK
    if not jobs:
        console.print("no jobs yet")
        return EXIT_OK
    table = _table(console, ("job", 10), ("notebook", 0), ("state", 11), ("due", 8), ("duration", -8),
                   ("cost", -7), ("error", 0))
    for j in jobs:
        table.add_row(j.id, escape(j.notebook), _styled(str(j.state)), format_time(j.scheduled_for),
                      format_duration(j.duration), "-" if j.cost_usd is None else f"${j.cost_usd:.4f}",
                      escape(j.error or ""))
    console.print(table)
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import load_config
    from gorgon_nb.scheduler.loop import Scheduler, backend_for

    args.dask = args.dask or load_config().scheduler.dask
    backend = backend_for(args.dask, args.pool)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler = Scheduler(_store(), backend=backend, concurrency=args.concurrency, lease_ttl=args.lease_ttl,
                              tick=args.tick)
        console.print(f"scheduler {scheduler.owner} running ({'Dask ' + args.dask if args.dask else 'local kernels'}, "
                      f"{args.concurrency} at once); Ctrl-C stops it")
        await scheduler.run(stop)

    asyncio.run(serve())
    console.print("scheduler stopped")
    return EXIT_OK

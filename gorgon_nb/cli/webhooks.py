"""``gorgon webhook`` and ``gorgon webhooks``: workflows started by signed HTTP POSTs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from gorgon_nb.cli import EXIT_OK, print_json
from gorgon_nb.cli.commands import open_store
from gorgon_nb.cli.output import Column, print_table, styled
from gorgon_nb.errors import UsageError
from gorgon_nb.model.text import format_time

if TYPE_CHECKING:
    from rich.console import Console

    from gorgon_nb.model.webhooks import Delivery, Webhook

__all__ = ["cmd_webhook", "cmd_webhooks", "delivery_rows", "webhook_rows", "webhook_server"]

WEBHOOK_COLUMNS = [Column("webhook", "name"), Column("workflow", "prose"), Column("secret"), Column("rate"),
                   Column("state")]
DELIVERY_COLUMNS = [Column("delivery", "name"), Column("webhook", "name"), Column("received"), Column("status"),
                    Column("job", "name"), Column("run", "name"), Column("reason", "prose")]


def webhook_rows(webhooks: list[Webhook]) -> list[list[str]]:
    return [[w.name, escape(w.workflow), escape(w.secret_source), f"{w.rate}/min", "paused" if w.paused else "active"]
            for w in webhooks]


def delivery_rows(deliveries: list[Delivery]) -> list[list[str]]:
    def job(d: Delivery) -> str:
        return f"{d.job_id} ({d.job_state})" if d.job_id and d.job_state else d.job_id or "-"

    return [[d.id, d.webhook, format_time(d.received_at), styled(d.status.replace("_", " ")), job(d),
             d.run_id or "-", escape(d.reason + (f" (replay of {d.replay_of})" if d.replay_of else ""))]
            for d in deliveries]


def _create(args: argparse.Namespace, console: Console) -> Webhook:
    from gorgon_nb.config import load_config
    from gorgon_nb.scheduler.webhooks import create_webhook, import_gorgon_webhook
    from gorgon_nb.workflow import declared_inputs

    config, store = load_config(), open_store()
    if args.from_file:
        if args.workflow or args.inputs or args.mappings:
            raise UsageError("--from takes the workflow, inputs and mappings from the file; give none of them, only "
                             "--name, --secret-env, --rate or --root")
        return import_gorgon_webhook(store, config, args.from_file, root=args.root, name=args.name,
                                     secret_env=args.secret_env, rate=args.rate, inputs_of=declared_inputs)
    if not args.name or not args.workflow:
        raise UsageError("gorgon webhook create needs a NAME and a WORKFLOW (gorgon webhook create github_push "
                         "flows/summary.yaml --secret-env GITHUB_PUSH_SECRET), or --from FILE")
    mappings = [{"source_path": path, "target_variable": target} for path, target in args.mappings]
    return create_webhook(store, config, args.name, args.workflow, root=args.root, inputs=dict(args.inputs),
                          payload_mappings=mappings, secret_env=args.secret_env, rate=args.rate,
                          description=args.description, inputs_of=declared_inputs)


def cmd_webhook(args: argparse.Namespace, console: Console) -> int:
    if args.action == "create":
        webhook = _create(args, console)
        if args.json:
            print_json(webhook.to_dict())
            return EXIT_OK
        console.print(f"webhook [bold]{webhook.name}[/] starts {escape(webhook.workflow)}; senders POST to "
                      f"/gorgon/webhooks/{webhook.name} on JupyterLab's server or on `gorgon scheduler --webhooks "
                      f"PORT`, signed with the secret in {escape(webhook.secret_source)}")
        return EXIT_OK
    store = open_store()
    if args.action == "list":
        webhooks = store.webhooks.all()
        if args.json:
            print_json([w.to_dict() for w in webhooks])
        elif not webhooks:
            console.print("no webhooks yet. Try: gorgon webhook create github_push flows/summary.yaml "
                          "--secret-env GITHUB_PUSH_SECRET")
        else:
            print_table(console, WEBHOOK_COLUMNS, webhook_rows(webhooks))
        return EXIT_OK
    if not args.name:
        raise UsageError(f"gorgon webhook {args.action} needs a NAME; gorgon webhook list lists them")
    result: Any
    if args.action == "show":
        result = store.webhooks.get(args.name)
        message = "\n".join(f"[bold]{key:>16}[/] {escape(str(value))}" for key, value in result.to_dict().items())
    elif args.action == "delete":
        result = store.webhooks.delete(args.name)
        message = f"deleted webhook {result.name} and its deliveries"
    else:
        result = store.webhooks.set_paused(args.name, args.action == "pause")
        message = f"webhook {result.name} {'paused: deliveries are refused' if result.paused else 'resumed'}"
    if args.json:
        print_json(result.to_dict())
    else:
        console.print(message)
    return EXIT_OK


def cmd_webhooks(args: argparse.Namespace, console: Console) -> int:
    store = open_store()
    if args.action == "replay":
        from gorgon_nb.config import load_config
        from gorgon_nb.scheduler.webhooks import replay

        if not args.ref:
            raise UsageError("gorgon webhooks replay needs a DELIVERY id; gorgon webhooks deliveries lists them")
        delivery = replay(store, load_config(), args.ref)
        if args.json:
            print_json(delivery.to_dict())
        else:
            console.print(f"delivery {delivery.replay_of} replayed as {delivery.id}: job {delivery.job_id} queued")
        return EXIT_OK
    if args.action == "show":
        if not args.ref:
            raise UsageError("gorgon webhooks show needs a DELIVERY id; gorgon webhooks deliveries lists them")
        shown = store.webhooks.delivery(args.ref)
        if args.json:
            print_json(shown.to_dict())
        else:
            for key, value in shown.to_dict().items():
                if value not in (None, "", {}):
                    value = format_time(value) if key == "received_at" else value
                    console.print(f"[bold]{key:>14}[/] {escape(str(value))}")
        return EXIT_OK
    if args.action == "deliveries":
        if args.ref:
            store.webhooks.get(args.ref)
        deliveries = store.webhooks.deliveries(args.ref, args.limit)
        if args.json:
            print_json([d.to_dict() for d in deliveries])
        elif not deliveries:
            console.print("no deliveries yet")
        else:
            print_table(console, DELIVERY_COLUMNS, delivery_rows(deliveries))
        return EXIT_OK
    if args.ref:
        raise UsageError("gorgon webhooks lists every webhook; for one webhook's deliveries: gorgon webhooks "
                         f"deliveries {args.ref}")
    args.action, args.name = "list", None
    return cmd_webhook(args, console)


@contextmanager
def webhook_server(args: argparse.Namespace, console: Console) -> Iterator[None]:
    """``gorgon scheduler --webhooks PORT``: deliveries taken on ``--webhooks-host:PORT`` while
    the scheduler runs (nothing without ``--webhooks``)."""
    if not args.webhooks:
        yield
        return
    from gorgon_nb.scheduler.webhook_server import start_webhook_server

    try:
        server = start_webhook_server(open_store(), args.webhooks_host, args.webhooks)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.webhooks_host}:{args.webhooks} for webhooks: "
                         f"{exc.strerror or exc}; choose another --webhooks port") from None
    console.print(f"webhooks: POST http://{args.webhooks_host}:{args.webhooks}/gorgon/webhooks/NAME")
    try:
        yield
    finally:
        server.stop()

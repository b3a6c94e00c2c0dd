"""``gorgon notify test TARGET`` and ``gorgon notifications``: try a target, read the outbox."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.markup import escape

from gorgon_nb.cli import EXIT_OK, print_json
from gorgon_nb.cli.commands import open_store
from gorgon_nb.cli.output import Column, print_table
from gorgon_nb.errors import ConfigError
from gorgon_nb.model.text import format_time

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_notifications", "cmd_notify"]


def cmd_notify(args: argparse.Namespace, console: Console) -> int:
    """Send a test message to a target now; a failure says what to check (exit 1)."""
    from gorgon_nb.config import load_config
    from gorgon_nb.notify.message import Message
    from gorgon_nb.notify.senders import send
    from gorgon_nb.steps.notify import find_target

    config = load_config()
    try:
        target = find_target(config.notifications, args.target)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    message = Message(event="test", kind="message", title=f"A test message to {target.name} from gorgon",
                      text="If you read this, notifications to this target work.")
    result = send(config, target, message, "test")
    if args.json:
        print_json({"target": target.name, "to": target.where, **result})
    else:
        console.print(f"sent a test message to [bold]{escape(target.name)}[/] ({escape(target.where)})")
    return EXIT_OK


def cmd_notifications(args: argparse.Namespace, console: Console) -> int:
    """The outbox: recent notifications, whether each was sent, and why one was not."""
    store = open_store()
    run_id = store.runs.resolve_id(args.run) if args.run else None
    notes = store.notifications.recent(args.limit, state=args.state, run_id=run_id)
    if args.json:
        print_json([n.to_dict() for n in notes])
        return EXIT_OK
    if not notes:
        console.print("no notifications match" if args.state or args.run else
                      "no notifications yet; targets are set under [notifications.targets.NAME] in the config file",
                      markup=False)
        return EXIT_OK
    states = {"sent": "[green]sent[/]", "pending": "[yellow]pending[/]", "failed": "[red]failed[/]"}
    print_table(console, [Column("when"), Column("target", "name"), Column("state"), Column("tries", right=True),
                          Column("about", "prose"), Column("error", "prose")], [
        [format_time(n.created_at), escape(n.target), states.get(n.state, n.state), str(n.attempts),
         escape(n.title), escape(n.error or "") + (f" (next try {format_time(n.next_try_at)})"
                                                   if n.state == "pending" and n.error else "")]
        for n in notes])
    return EXIT_OK

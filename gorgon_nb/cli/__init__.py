"""The ``gorgon`` command: run, validate and inspect workflows from a terminal.

Exit codes: 0 success, 1 the run failed, 2 bad input (command line, workflow, inputs,
config), 130 interrupted. With ``--json`` results go to stdout as JSON and errors to
stderr as ``{"error": {"type", "message", "exit_code"}}``.

Only the parser is imported up front; a command's module (and the engine, store, config
or rich it needs) is imported when that command runs, so ``gorgon --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from gorgon_nb.cli.parser import CommandLineError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main", "print_json"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    from gorgon_nb.cli.parser import CommandLineError, parse_args, unknown_command

    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words[: words.index("--")] if "--" in words else "--json" in words
    try:
        parser, args = parse_args(words)
        if args.command is None:  # a bare 'gorgon': what it can do, as git does
            parser.print_help()
            return EXIT_USAGE
        if args.command == "help":
            if args.topic is None:
                parser.print_help()
            elif args.topic in parser.commands:
                parser.commands[args.topic].print_help()
            else:
                parser.commands["help"].error(unknown_command(args.topic, list(parser.commands)))
            return EXIT_OK
    except CommandLineError as exc:
        return _refuse(exc, as_json)
    module, _, name = args.handler.partition(":")
    handler = getattr(import_module(f"gorgon_nb.cli.{module}"), name)
    return _call(handler, args, as_json)


def _refuse(exc: CommandLineError, as_json: bool) -> int:
    usage = exc.parser.format_usage().strip()
    if as_json:
        _print_error("UsageError", exc.message, EXIT_USAGE, usage=usage.removeprefix("usage: "))
    else:
        sys.stderr.write(f"{usage}\n{exc.parser.prog}: error: {exc.message}\n")
    return EXIT_USAGE


def _call(handler: Any, args: Any, as_json: bool) -> int:
    from gorgon_nb.errors import GorgonError, UsageError, WorkflowError

    try:
        return int(handler(args, console()))
    except KeyboardInterrupt:
        return _fail("Interrupted", "interrupted", EXIT_INTERRUPTED, as_json, style="yellow")
    except UsageError as exc:
        problems = [vars(p) for p in exc.problems] if isinstance(exc, WorkflowError) else None
        return _fail(type(exc).__name__, exc.for_surface("cli"), EXIT_USAGE, as_json, problems=problems)
    except GorgonError as exc:
        return _fail(type(exc).__name__, exc.for_surface("cli"), EXIT_FAILED, as_json)
    except Exception as exc:
        if os.environ.get("GORGON_DEBUG"):
            raise
        return _fail("InternalError", f"internal error: {type(exc).__name__}: {exc}\n"
                     "Set GORGON_DEBUG=1 to see the traceback, and please report it.", EXIT_FAILED, as_json)


def _fail(kind: str, message: str, code: int, as_json: bool, *, style: str = "red", **more: Any) -> int:
    if as_json:
        _print_error(kind, message, code, **more)
    else:
        from rich.markup import escape

        label = "" if kind == "Interrupted" else "error: "
        console(stderr=True).print(f"[{style}]{label}[/]{escape(message)}" if label else f"[{style}]{message}[/]")
    return code


def _print_error(kind: str, message: str, code: int, **more: Any) -> None:
    error = {"type": kind, "message": message, "exit_code": code, **{k: v for k, v in more.items() if v is not None}}
    sys.stderr.write(json.dumps({"error": error}, ensure_ascii=False, default=str) + "\n")


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_json(value: Any) -> None:
    from gorgon_nb.secrets import redact

    sys.stdout.write(redact(json.dumps(value, indent=2, ensure_ascii=False, default=str)) + "\n")

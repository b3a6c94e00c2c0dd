"""The ``gorgon`` command: run, validate and inspect workflows from a terminal.

Exit codes: 0 success, 1 the run failed, 2 bad input (workflow, inputs, config), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from gorgon_nb.errors import GorgonError, UsageError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not key=value (for example -v feature_request=\"Add a CSV export\")")
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gorgon", description="Multi-agent LLM workflows: run, validate and inspect them.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a workflow and show its progress")
    run.add_argument("workflow", help="a workflow file, or the name of a bundled or user workflow")
    run.add_argument("-v", "--var", dest="inputs", action="append", type=_key_value, default=[],
                     metavar="KEY=VALUE", help="a workflow input (repeatable)")
    run.add_argument("--model", help="use this model for every LLM step (auto, offline, anthropic:..., "
                                     "openai:..., ollama:llama3.1, NAME:MODEL from your config)")
    run.add_argument("--allow-shell", action="store_true", help="let shell steps run (only for workflows you trust)")
    run.add_argument("--json", action="store_true", help="print the result as JSON instead of a summary")
    run.add_argument("-q", "--quiet", action="store_true", help="no live progress, only the summary")

    validate = sub.add_parser("validate", help="check workflow files and report every problem")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-v", "--var", dest="inputs", action="append", type=_key_value, default=[],
                          metavar="KEY=VALUE", help="also check these inputs against the declared ones")

    runs = sub.add_parser("runs", help="list recent runs")
    runs.add_argument("-n", "--limit", type=int, default=20)
    runs.add_argument("--status", choices=["running", "succeeded", "failed", "cancelled"])
    runs.add_argument("--workflow", help="only runs of this workflow id")
    runs.add_argument("--json", action="store_true")

    show = sub.add_parser("show", help="show one run: steps, outputs, usage and errors")
    show.add_argument("run_id", metavar="RUN", help="a run id, or an unambiguous prefix of one")
    show.add_argument("--json", action="store_true")
    show.add_argument("--brief", action="store_true", help="the table only, without the step outputs")

    def execution_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--json", action="store_true", help="print the result as JSON instead of a summary")
        command.add_argument("-q", "--quiet", action="store_true", help="no live progress, only the summary")

    resume = sub.add_parser("resume", help="go on with a run whose process stopped; finished steps are kept")
    resume.add_argument("run_id", metavar="RUN")
    resume.add_argument("--max-usd", type=float, help="raise the run's dollar budget to this")
    resume.add_argument("--max-tokens", type=int, help="raise the run's token budget to this")
    resume.add_argument("--model", help="use this model for the steps still to run")
    resume.add_argument("--allow-shell", action="store_true")
    execution_options(resume)

    replay = sub.add_parser("replay", help="run a finished run again from its record: same outputs, no cost")
    replay.add_argument("run_id", metavar="RUN")
    execution_options(replay)

    fork = sub.add_parser("fork", help="run a finished run again from a step on, reusing everything before it")
    fork.add_argument("run_id", metavar="RUN")
    fork.add_argument("--from", dest="from_step", required=True, metavar="STEP")
    fork.add_argument("-v", "--var", dest="inputs", action="append", type=_key_value, default=[],
                      metavar="KEY=VALUE", help="change an input (repeatable)")
    fork.add_argument("--model")
    fork.add_argument("--allow-shell", action="store_true")
    execution_options(fork)

    cancel = sub.add_parser("cancel", help="stop a run, from any process; what finished is kept")
    cancel.add_argument("run_id", metavar="RUN")
    cancel.add_argument("--wait", type=float, default=10.0, help="seconds to wait for it to stop (10)")

    approve = sub.add_parser("approve", help="approve (or --reject) what a run waits for")
    approve.add_argument("ref", metavar="APPROVAL_OR_RUN")
    approve.add_argument("--step", help="which step, when the run waits for several")
    approve.add_argument("--reject", action="store_true")
    approve.add_argument("-m", "--message", help="a comment; a rejected step sent back for revision gets it")
    approve.add_argument("--by", help="who decides (default: GORGON_USER or your user name)")

    approvals = sub.add_parser("approvals", help="list what waits for approval")
    approvals.add_argument("--run", help="only this run's")
    approvals.add_argument("--all", action="store_true", help="decided ones too")
    approvals.add_argument("--show", action="store_true", help="print each one's preview: what would be approved")
    approvals.add_argument("--json", action="store_true")

    sub.add_parser("workflows", help="list bundled and user workflows")
    sub.add_parser("roles", help="list the agent roles")
    sub.add_parser("providers", help="show which LLM providers are configured, and how to configure the rest")
    from gorgon_nb.cli.schedule import add_parsers

    add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    try:
        from gorgon_nb.cli import commands, durable, schedule

        handler = next(getattr(module, f"cmd_{args.command}") for module in (commands, durable, schedule)
                       if hasattr(module, f"cmd_{args.command}"))
        return int(handler(args, console))
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        errors.print(f"[red]error:[/] {_escape(str(exc))}")
        return EXIT_USAGE
    except GorgonError as exc:
        errors.print(f"[red]error:[/] {_escape(str(exc))}")
        return EXIT_FAILED
    except Exception as exc:
        if os.environ.get("GORGON_DEBUG"):
            raise
        errors.print(f"[red]internal error:[/] {type(exc).__name__}: {_escape(str(exc))}\n"
                     "Set GORGON_DEBUG=1 to see the traceback, and please report it.")
        return EXIT_FAILED


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")

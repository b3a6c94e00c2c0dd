"""Parse magic lines into typed arguments; a bad line is a short ``MagicError``, never a SystemExit."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gorgon_nb.magics.errors import MagicError

__all__ = ["AgentArgs", "RunArgs", "implied_inputs", "parse_agent", "parse_command", "parse_run", "resolve_inputs"]

FORMATS = ("markdown", "code", "json", "text")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MagicError(f"{self.prog}: {message}. Run %gorgon help for the options.")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise MagicError(message or f"{self.prog}: see %gorgon help")


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise MagicError(f"cannot read the options ({exc}); check the quotes") from None


@dataclass
class RunArgs:
    """Options of ``%%gorgon`` and ``%gorgon run``."""

    workflow: str | None = None
    name: str | None = None
    inputs: list[tuple[str, str | None]] = field(default_factory=list)
    model: str | None = None
    background: bool = False
    out: str | None = None
    allow_code: bool = False
    define: bool = False


@dataclass
class AgentArgs:
    """Options of ``%%gorgon agent ROLE``."""

    role: str
    model: str | None = None
    format: str = "markdown"
    insert: bool = False
    out: str | None = None
    tools: list[str] = field(default_factory=list)
    allow_code: bool = False


def _tool_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _input(text: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE or a notebook variable name")
    return key, value if sep else None


def _run_options(parser: argparse.ArgumentParser, *, cell: bool) -> None:
    parser.add_argument("-v", "--var", dest="inputs", action="append", type=_input, default=[],
                        metavar="KEY=VALUE", help="an input; '-v KEY' alone takes the notebook variable KEY")
    parser.add_argument("--model", help="use this model for every LLM step")
    parser.add_argument("--background", action="store_true", help="return at once; the view keeps updating")
    parser.add_argument("--out", help="also put the result in this notebook variable")
    parser.add_argument("--allow-code", "--allow-shell", dest="allow_code", action="store_true",
                        help="let the workflow run code (shell, notebook and python steps) if it says allow_code: true")
    if cell:
        parser.add_argument("--name", help="name the workflow; '%%gorgon run NAME' runs it again")
        parser.add_argument("--define", action="store_true", help="check and name the workflow without running it")


def parse_run(line: str | Sequence[str], *, cell: bool) -> RunArgs:
    parser = _Parser(prog="%%gorgon" if cell else "%gorgon run", add_help=False)
    if not cell:
        parser.add_argument("workflow")
    _run_options(parser, cell=cell)
    namespace = parser.parse_args(_split(line) if isinstance(line, str) else list(line))
    if namespace.out is not None and not namespace.out.isidentifier():
        raise MagicError(f"--out {namespace.out}: not a valid variable name")
    return RunArgs(**vars(namespace))


def parse_agent(line: str) -> AgentArgs:
    parser = _Parser(prog="%%gorgon agent", add_help=False)
    parser.add_argument("role")
    parser.add_argument("--model")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--insert", action="store_true", help="with --format code: add the code as a new cell below")
    parser.add_argument("--out")
    parser.add_argument("--tools", type=_tool_list, default=[], help="tools the agent may call, comma-separated")
    parser.add_argument("--allow-code", dest="allow_code", action="store_true",
                        help="let it offer tools that run code (shell, kernel.run_code, python:)")
    args = AgentArgs(**vars(parser.parse_args(_split(line))))
    if args.insert and args.format != "code":
        raise MagicError("--insert goes with --format code")
    return args


def parse_command(line: str) -> tuple[str, list[str]]:
    words = _split(line)
    return (words[0], words[1:]) if words else ("help", [])


def parse_options(prog: str, words: Sequence[str], spec: Sequence[tuple[Sequence[str], dict[str, Any]]]) -> Any:
    """Parse the rest of a ``%gorgon COMMAND`` line against ``(flags, argparse kwargs)`` pairs."""
    parser = _Parser(prog=prog, add_help=False)
    for flags, kwargs in spec:
        parser.add_argument(*flags, **kwargs)
    return parser.parse_args(list(words))


def resolve_inputs(pairs: Sequence[tuple[str, str | None]], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """``-v key=value`` gives a string; ``-v key`` gives the notebook variable's value as it is."""
    inputs: dict[str, Any] = {}
    for key, value in pairs:
        if value is not None:
            inputs[key] = value
        elif key in namespace:
            inputs[key] = namespace[key]
        else:
            raise MagicError(f"-v {key}: there is no notebook variable '{key}'; define it first or write -v {key}=VALUE")
    return inputs


def implied_inputs(data: Any, pairs: Sequence[tuple[str, str | None]]) -> str:
    """The ``inputs:`` line a cell's workflow gets when it declares none and ``-v`` passes some.

    Whoever writes the cell also writes its ``-v`` options, so a name passed there is an input
    of the cell: a string for ``-v KEY=VALUE``, any value for ``-v KEY`` (a list stays a list).
    The line is YAML on one line (JSON), so it can stand in for the ``%%gorgon`` line and the
    cell's own lines keep their numbers; a run records it, so resume and replay see it too.
    Empty when the workflow declares its inputs, or is Gorgon JSON, or nothing is passed.
    """
    from gorgon_nb.model.gorgon_json import is_gorgon_json

    if not pairs or not isinstance(data, dict) or "inputs" in data or is_gorgon_json(data):
        return ""
    declared = {key: {"type": "string" if value is not None else "any"} for key, value in pairs}
    return "inputs: " + json.dumps(declared)

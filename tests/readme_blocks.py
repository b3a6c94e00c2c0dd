"""The code blocks of README.md, read at test time and sorted by what running them means.

A block is marked by an HTML comment on the line before its fence:

    <!-- no-test: REASON -->             not run (it needs a key, a service, or minutes); REASON is required
    <!-- output-of: COMMAND -->          what COMMAND prints; the test runs it and compares

Unmarked blocks are run according to their kind (see ``Block.kind``); a block of no known
kind fails the test until it is marked or the test learns to run it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Kind = Literal["skip", "output", "ipython", "shell", "python", "workflow", "steps", "config", "unknown"]

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[\w-]+):\s*(?P<value>.*?)\s*-->\s*$")
MARKERS = ("no-test", "output-of")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its fence language, its text and its marker."""

    line: int  # of the opening fence, counted from 1
    lang: str
    text: str
    marker: str = ""  # "no-test", "output-of" or ""
    marker_value: str = ""

    @property
    def id(self) -> str:
        return f"{self.lang or 'text'}-line{self.line}"

    @property
    def kind(self) -> Kind:
        if self.marker == "no-test":
            return "skip"
        if self.marker == "output-of":
            return "output"
        lines = [line for line in self.text.splitlines() if line.strip()]
        if lines and (lines[0].startswith("%%") or all(line.startswith("%") for line in lines)):
            return "ipython"  # a cell or line magics, whatever the fence says
        if self.lang == "sh":
            return "shell"
        if self.lang == "python":
            return "python"
        if self.lang == "toml":
            return "config"
        if self.lang == "yaml":
            data = yaml.safe_load(self.text)
            if isinstance(data, dict) and "steps" in data:
                return "workflow"
            if isinstance(data, list) and all(isinstance(step, dict) for step in data):
                return "steps"
        return "unknown"


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the marker on the line before its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        indent = len(opening["indent"])
        body = "\n".join(line[indent:] for line in lines[index + 1:end]) + "\n"
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        mark = _MARKER.match(previous)
        name, value = (mark["name"], mark["value"]) if mark else ("", "")
        blocks.append(Block(index + 1, opening["lang"], body, name, value))
        index = end + 1
    return blocks


@dataclass(frozen=True)
class Command:
    """One command of a shell block: its words (quotes removed, comment dropped)."""

    words: tuple[str, ...]
    line: str  # the block's line it came from, for messages


SHELL_SYNTAX = ("|", ";", ">", ">>", "<", "&", "||")


def shell_commands(text: str) -> list[Command]:
    """The commands of a shell block, one per line, ``a && b`` split in two.

    Anything else a shell would treat specially (pipes, redirections, ``$``) is refused, so a
    block that needs a real shell gets marked instead of half run.
    """
    commands: list[Command] = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        special = [w for w in words if w in SHELL_SYNTAX or "$" in w or "`" in w]
        if special:
            raise ValueError(f"{line!r}: shell syntax {special} the README test does not run; mark the block")
        current: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                if current:
                    commands.append(Command(tuple(current), line))
                current = []
            else:
                current.append(word)
    return commands


def toml_leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every ``(path, value)`` of a parsed TOML document, tables walked into."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += toml_leaves(value, (*prefix, key))
        else:
            found.append(((*prefix, key), value))
    return found

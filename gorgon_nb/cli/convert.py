"""``gorgon convert FILE``: the native YAML of a workflow written in one of Gorgon's shapes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_convert", "native_yaml"]


def native_yaml(native: dict[str, Any], source: str) -> str:
    """``native`` as YAML, long texts as blocks, headed by comments on what needs a look."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value and not value.startswith((" ", "\t")) and " \n" not in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(native, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    notes = [f"Converted from {source} by gorgon convert."]
    steps = native.get("steps", [])
    if native.get("allow_code"):
        notes.append("allow_code: the file runs shell commands; a run also needs --allow-code from you.")
    servers = sorted({s["mcp"].partition("/")[0] for s in steps if "mcp" in s})
    if servers:
        notes.append("MCP servers to declare in config.toml: " + ", ".join(f"[mcp.servers.{s}]" for s in servers))
    if any("tools" in s for s in steps):
        notes.append("Agents with tools work in this file's folder: set 'workspace:' on them for another one.")
    unset = [name for name, value in (native.get("outputs") or {}).items() if value is None]
    if unset:
        notes.append("Outputs no step sets (Gorgon left them unset too): " + ", ".join(unset))
    never = [s["id"] for s in steps if s.get("when") is False]
    if never:
        notes.append("Steps whose condition reads a value no step sets, so they never run: " + ", ".join(never))
    return "".join(f"# {note}\n" for note in notes) + body


def cmd_convert(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.errors import Problem, WorkflowError
    from gorgon_nb.model import gorgon_json, gorgon_yaml
    from gorgon_nb.model.source import parse_source, read_source

    file = Path(args.file)
    try:
        text = read_source(file)
    except OSError as exc:
        raise WorkflowError([Problem(f"cannot read it: {exc.strerror or exc}", file=str(file))]) from None
    data, source = parse_source(text, path=str(file))
    if gorgon_json.is_gorgon_json(data):
        native, _ = gorgon_json.convert(data, source)
    elif gorgon_yaml.is_gorgon_yaml(data):
        native, _ = gorgon_yaml.convert(data, source)
    else:
        raise WorkflowError([Problem("this is not a Gorgon workflow (it has an 'id' and no Gorgon keys): "
                                     "it is native already", file=str(file),
                                     hint="gorgon validate FILE checks a native workflow")])
    result = native_yaml(native, file.name)
    if args.output:
        Path(args.output).write_text(result, encoding="utf-8")
        console.print(f"wrote {args.output}", markup=False)
    else:
        print(result, end="")
    return 0

"""``gorgon tools``: the tools agents can call, each set's and each MCP server's."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from gorgon_nb.cli import EXIT_FAILED, EXIT_OK, print_json
from gorgon_nb.cli.output import Column, print_table

if TYPE_CHECKING:
    from gorgon_nb.tools.catalog import ToolGroup

__all__ = ["cmd_tools", "format_group"]


def format_group(group: ToolGroup) -> tuple[str, str, list[list[str]]]:
    """A group's heading, what to say under it (its error or why it lists nothing) and its rows,
    as console markup."""
    heading = f"[bold]{escape(group.ref)}[/]  [dim]{escape(group.description)}"
    heading += f" ({escape(group.origin)})[/]" if group.origin != "gorgon-nb" else "[/]"
    if group.error:
        return heading, "  [red]✗ " + escape(group.error).replace("\n", "\n    ") + "[/]", []
    said = f"  [yellow]{escape(group.note)}[/]" if group.note and group.tools else ""
    if not group.tools:
        return heading, f"  [dim]{escape(group.note or 'no tools')}[/]", []
    rows = [[escape(t.name), "[yellow]writes[/]" if t.writes else "reads", escape(t.description)]
            for t in group.tools]
    return heading, said, rows


def cmd_tools(args: argparse.Namespace, console: Console) -> int:
    from gorgon_nb.config import load_config
    from gorgon_nb.tools.catalog import list_tools

    config = load_config()
    groups = list_tools(config, args.ref)
    if args.json:
        print_json([group.as_json() for group in groups])
    else:
        for group in groups:
            heading, said, rows = format_group(group)
            console.print(heading, no_wrap=True, overflow="ellipsis")
            if said:
                console.print(said)
            if rows:
                print_table(console, [Column("tool", "name"), Column("access"), Column("description", "prose")],
                            rows)
            console.print()
        console.print("[dim]" + escape('give a step tools: [files, "mcp:SERVER", "mcp:SERVER/TOOL"]; calls of tools '
                                       "that write wait for approval unless auto_approve says otherwise") + "[/]")
    return EXIT_FAILED if args.ref and any(group.error for group in groups) else EXIT_OK

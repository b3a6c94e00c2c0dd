"""Parse workflow text (YAML or JSON) into data plus a map of where each value sits.

Validation errors name the file, line and field; the line comes from ``Locations``,
which maps a path such as ``("steps", 2, "agent")`` to the 1-based line of that key
(or list item) in the source text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from gorgon_nb.errors import Problem, WorkflowError

__all__ = ["Locations", "SourceText", "parse_source"]

Path = tuple[str | int, ...]


@dataclass
class Locations:
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


@dataclass
class SourceText:
    """The text a workflow came from, kept so a run records exactly what ran."""

    text: str
    format: Literal["yaml", "json"]
    path: str | None = None
    locations: Locations = field(default_factory=Locations)


def parse_source(text: str, *, path: str | None = None, format: str | None = None) -> tuple[Any, SourceText]:
    """Parse ``text``; raise ``WorkflowError`` pointing at the line of a syntax error."""
    fmt = format or _guess_format(text, path)
    where = path or "<workflow>"
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkflowError(
                [Problem(f"invalid JSON: {exc.msg} (column {exc.colno})", file=where, line=exc.lineno,
                         hint="check for a missing comma, quote or bracket on this line or the one before")]
            ) from None
        # JSON strings cannot hold raw tabs, so this only changes whitespace between tokens.
        locations = _locations_or_empty(text.replace("\t", " "))
        return data, SourceText(text, "json", path, locations)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowError(
            [Problem(f"invalid YAML: {problem}", file=where, line=line,
                     hint="check indentation and quoting; a value holding ': ' or starting with '{' needs quotes")]
        ) from None
    finally:
        loader.dispose()
    locations = Locations()
    if node is not None:
        _walk(node, (), locations.lines)
    return data, SourceText(text, "yaml", path, locations)


def _guess_format(text: str, path: str | None) -> str:
    if path and path.lower().endswith(".json"):
        return "json"
    if path and path.lower().endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


def _locations_or_empty(text: str) -> Locations:
    locations = Locations()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return locations  # lines are a courtesy; the data was parsed by json
    if node is not None:
        _walk(node, (), locations.lines)
    return locations


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines)

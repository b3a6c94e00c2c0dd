"""Parse workflow text (YAML or JSON) into data plus a map of where each value sits.

Validation errors name the file, line and field; the line comes from ``Locations``,
which maps a path such as ``("steps", 2, "agent")`` to the 1-based line of that key
(or list item) in the source text.

Before anything is built, the text is measured against the limits of
``gorgon_nb.model.limits``: its size, how deep it nests, and (for YAML) how many values
it holds once every alias is expanded, so a "billion laughs" file or one nested
thousands deep is refused at once, naming the line, rather than hanging or crashing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal

import yaml

from gorgon_nb.errors import Problem, WorkflowError
from gorgon_nb.model.limits import FILE_BYTES, NESTING, YAML_VALUES

__all__ = ["Conversion", "Locations", "SourceText", "parse_source", "read_source"]

Path = tuple[str | int, ...]

# The C parser reads events about ten times faster; the checks only need events.
_EventLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


@dataclass
class Locations:
    lines: dict[Path, int] = field(default_factory=dict)
    # where a YAML alias stands -> where the value it repeats was written (walked once, there)
    aliases: dict[Path, Path] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one; inside a value
        repeated by an alias, the line where that value is written."""
        for _ in range(64):  # an anchored value may hold aliases in turn
            for cut in range(len(path), -1, -1):
                prefix = path[:cut]
                if cut < len(path) and prefix in self.aliases:
                    path = self.aliases[prefix] + path[cut:]
                    break
                if prefix in self.lines:
                    return self.lines[prefix]
            else:
                return None
        return None

    def copy_line(self, into: dict[Path, int], native: Path, original: Path, deep: bool = True) -> None:
        """Give ``native`` (a path of a converted workflow) the line of ``original`` in ``into``,
        and, if ``deep``, each path below it the line of the one below ``original``."""
        line = self.line_of(original)
        if line is not None:
            into[native] = line
        if deep:
            size = len(original)
            for path, found in self.lines.items():
                if len(path) > size and path[:size] == original:
                    into[native + path[size:]] = found


class Conversion:
    """A conversion of another format's ``data`` (Gorgon's) to a native workflow: the problems
    found, each with its line in ``source``, and the native paths' lines (``lines``)."""

    def __init__(self, data: Mapping[str, Any], source: SourceText | None) -> None:
        self.data = data
        self.file = source.path if source else None
        self.found = source.locations if source else Locations()
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []

    def problem(self, where: Path, label: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(message, label, hint, self.file, self.found.line_of(where)))

    def check(self) -> None:
        if self.problems:
            raise WorkflowError(self.problems)

    def link(self, native: Path, original: Path, deep: bool = True) -> None:
        """Give ``native`` the line of ``original`` (and, if deep, its descendants theirs)."""
        self.found.copy_line(self.lines, native, original, deep)


@dataclass
class SourceText:
    """The text a workflow came from, kept so a run records exactly what ran."""

    text: str
    format: Literal["yaml", "json"]
    path: str | None = None
    locations: Locations = field(default_factory=Locations)


def read_source(path: str | os.PathLike[str]) -> str:
    """The text of a workflow file, refused (``WorkflowError``) when too big or not UTF-8.

    ``OSError`` (no such file, a folder, no permission) is left to the caller.
    """
    file = FilePath(path)
    size = file.stat().st_size
    if size > FILE_BYTES.get():
        raise WorkflowError([Problem(FILE_BYTES.exceeded(f"the file is {size:,} bytes"), file=str(path),
                                     hint=f"a workflow this big is not one a person wrote; {FILE_BYTES.how_to_raise}")])
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise WorkflowError([Problem(
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} (column {column}) is not valid UTF-8",
            file=str(path), line=line, hint="save the file as UTF-8 (an editor's 'save with encoding')")]) from None


def parse_source(text: str, *, path: str | None = None, format: str | None = None) -> tuple[Any, SourceText]:
    """Parse ``text``; raise ``WorkflowError`` pointing at the line of a syntax error or a passed limit."""
    fmt = format or _guess_format(text, path)
    where = path or "<workflow>"
    _check_size(text, where)
    if fmt == "json":
        _check_json_nesting(text, where)
        try:
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_pairs)
        except _DuplicateKey as exc:
            raise WorkflowError([Problem(f"the key '{exc.key}' is written twice in one object", file=where,
                                         hint=_DUPLICATE_HINT)]) from None
        except json.JSONDecodeError as exc:
            raise WorkflowError(
                [Problem(f"invalid JSON: {exc.msg} (column {exc.colno})", file=where, line=exc.lineno,
                         hint="check for a missing comma, quote or bracket on this line or the one before")]
            ) from None
        except RecursionError:  # the bracket count above should have caught it
            raise WorkflowError([_nesting_problem(NESTING.get() + 1, where, None)]) from None
        _check_json_text(data, where)
        # JSON strings cannot hold raw tabs, so this only changes whitespace between tokens.
        locations = _locations_or_empty(text.replace("\t", " "))
        return data, SourceText(text, "json", path, locations)
    _check_yaml_shape(text, where)
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
    except RecursionError:  # only when GORGON_MAX_NESTING was raised past what Python can parse
        raise WorkflowError([_nesting_problem(NESTING.get(), where, None)]) from None
    finally:
        loader.dispose()
    locations = Locations()
    if node is not None:
        if duplicates := _duplicate_keys(node, where):
            raise WorkflowError(duplicates)
        _walk(node, locations)
    return data, SourceText(text, "yaml", path, locations)


def _guess_format(text: str, path: str | None) -> str:
    if path and path.lower().endswith(".json"):
        return "json"
    if path and path.lower().endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


# -- limits, checked before anything is built ------------------------------------------------

def _check_size(text: str, where: str) -> None:
    limit = FILE_BYTES.get()
    if len(text) * 4 <= limit:  # a character is at most 4 bytes of UTF-8
        return
    size = len(text) if len(text) > limit else len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise WorkflowError([Problem(FILE_BYTES.exceeded(f"the workflow is {size:,} bytes"), file=where,
                                     hint=f"a workflow this big is not one a person wrote; {FILE_BYTES.how_to_raise}")])


def _nesting_problem(depth: int, where: str, line: int | None) -> Problem:
    return Problem(NESTING.exceeded(f"the data nests {depth:,} levels deep here"), file=where, line=line,
                   hint=f"no workflow needs this; {NESTING.how_to_raise}")


def _check_json_nesting(text: str, where: str) -> None:
    """Count brackets outside strings: json.loads recurses once per level and would crash."""
    limit = NESTING.get()
    bare = _JSON_STRING.sub('""', text)
    depth = 0
    for match in _JSON_BRACKET.finditer(bare):
        depth += 1 if match.group() in "[{" else -1
        if depth > limit:
            raise WorkflowError([_nesting_problem(depth, where, bare.count("\n", 0, match.start()) + 1)])


def _check_json_text(data: Any, where: str) -> None:
    """JSON's ``\\ud800`` escapes make strings that are not text; refuse them now, not mid-run."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise WorkflowError([_surrogate_problem(value, where, None)])
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _surrogate_problem(value: str, where: str, line: int | None) -> Problem:
    found = _SURROGATE.search(value)
    code = f"\\u{ord(found.group()):04x}" if found else "a surrogate"
    return Problem(f"the text holds {code}, half of a UTF-16 surrogate pair, which is not a character",
                   file=where, line=line, hint="write the character itself, or the \\U escape of its code point")


def _check_yaml_shape(text: str, where: str) -> None:
    """Nesting depth and the size once aliases are expanded, read from the event stream.

    An alias adds what its anchor holds, and each anchor's size is known when it closes,
    so a file whose aliases expand to billions of values is refused after one pass over
    its events, without building anything. An alias inside the value its anchor names
    (``&a [*a]``) would make a structure without end; it is refused too.
    """
    try:
        _measure_yaml(text, where, _EventLoader)
    except yaml.YAMLError:
        if _EventLoader is yaml.SafeLoader:
            return  # a syntax error: the parser that builds the data reports it with its usual words
        try:  # libyaml refuses some text the Python parser takes (deep nesting, surrogate escapes)
            _measure_yaml(text, where, yaml.SafeLoader)
        except yaml.YAMLError:
            return


def _measure_yaml(text: str, where: str, loader: Any) -> None:
    max_depth, max_values = NESTING.get(), YAML_VALUES.get()
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (values it expands to, levels it nests)
    stack: list[list[Any]] = []  # open collections: [anchor, values before it, levels nested below]
    total = 0
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            total += 1
            stack.append([event.anchor, total, 0])
            if len(stack) > max_depth:
                raise WorkflowError([_nesting_problem(len(stack), where, line)])
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, start, below = stack.pop()
            if anchor is not None:
                anchored[anchor] = (total - start + 1, below + 1)
            if stack:
                stack[-1][2] = max(stack[-1][2], below + 1)
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor is not None:
                anchored[event.anchor] = (1, 0)
            if _SURROGATE.search(event.value):
                raise WorkflowError([_surrogate_problem(event.value, where, line)])
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchored:
                if any(frame[0] == event.anchor for frame in stack):
                    raise WorkflowError([Problem(
                        f"the alias *{event.anchor} is inside the value its anchor &{event.anchor} names, "
                        "so the value would never end", file=where, line=line,
                        hint="an alias can only repeat a value that is complete before it")])
                continue  # an unknown alias: the parser below says so
            values, levels = anchored[event.anchor]
            total += values
            if len(stack) + levels > max_depth:
                raise WorkflowError([_nesting_problem(len(stack) + levels, where, line)])
            if stack:
                stack[-1][2] = max(stack[-1][2], levels)
        if total > max_values:
            raise WorkflowError([Problem(
                YAML_VALUES.exceeded(f"with its aliases expanded the workflow holds {total:,} values or more"),
                file=where, line=line,
                hint=f"each alias (*name) repeats all its anchor (&name) holds; {YAML_VALUES.how_to_raise}")])


_DUPLICATE_HINT = "a key written twice keeps only one of its values; keep the one you mean and delete the other"


def _duplicate_keys(root: yaml.Node, where: str) -> list[Problem]:
    """A key written twice in one mapping: YAML keeps the last silently, so what a reader sees
    first is not what runs. Each mapping is looked at once, whatever aliases point at it."""
    problems: list[Problem] = []
    seen: set[int] = set()
    pending: list[yaml.Node] = [root]
    while pending:
        node = pending.pop()
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
            continue
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            pending.append(value_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":  # a merge key may repeat
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first:
                problems.append(Problem(f"the key '{key_node.value}' is written twice in one mapping (first on line "
                                        f"{first[key_node.value]})", file=where, line=line, hint=_DUPLICATE_HINT))
            else:
                first[key_node.value] = line
    return sorted(problems, key=lambda problem: problem.line or 0)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _locations_or_empty(text: str) -> Locations:
    locations = Locations()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return locations  # lines are a courtesy; the data was parsed by json
    if node is not None:
        _walk(node, locations)
    return locations


def _walk(root: yaml.Node, locations: Locations) -> None:
    """Record the line of every key and item, in the order of the text. A value reached
    again through an alias is not walked again: its path is noted as an alias of the first,
    so an alias bomb costs nothing here and lines inside it are still found."""
    lines = locations.lines
    first: dict[int, Path] = {}
    pending: list[tuple[yaml.Node, Path]] = [(root, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in first:
                locations.aliases[path] = first[id(node)]
                continue
            first[id(node)] = path
        children: list[tuple[yaml.Node, Path]] = []
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                lines[(*path, key)] = key_node.start_mark.line + 1
                children.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                children.append((item, (*path, index)))
        pending.extend(reversed(children))  # the first child is walked next: the text's order

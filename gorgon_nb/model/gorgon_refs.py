"""Gorgon ``{{ name.path }}`` placeholders rewritten as native Jinja expressions.

A placeholder's ``name`` is resolved the way Gorgon's run context would have held it:

* ``<step>_output``  -> ``steps.<step>.output``
* a variable         -> ``inputs.<name>``
* ``current_date``   -> ``today()``
* a bare step id     -> ``steps.<step>.output`` (the README style ``{{fetch_email.body}}``)
* anything else      -> ``inputs.<name>``, so the native checker reports it by name

Path parts follow: ``.field``, or ``[0]`` for a number, or ``["items"]`` where a plain
attribute would reach a method of the value (``dict.items``) or is not an identifier.
Text outside placeholders is kept as it is; only the Jinja openers ``{{``, ``{%`` and
``{#`` that are not placeholders are written as ``{{ '{%' }}`` so they render as
themselves. In a ``transform/format`` template placeholders become ``str.format`` fields
instead (see ``format_fields``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Names", "format_fields", "reference", "rewrite", "rewrite_all", "split_placeholder"]

_NAME = r"[A-Za-z_][\w-]*"
_PLACEHOLDER = rf"\{{\{{\s*(?P<name>{_NAME})(?P<path>(?:\.[\w-]+)*)\s*\}}\}}"
_TOKEN = re.compile(rf"{_PLACEHOLDER}|(?P<opener>\{{[{{%#])")
_SOLE = re.compile(rf"^{_PLACEHOLDER}$")
_KEYWORDS = frozenset(
    "and or not in is if else elif endif for endfor block extends import include from as with "
    "without recursive true false none True False None".split()
)
# An attribute of these names would reach a method of the value, not the key.
_ROOT_SHADOWED = frozenset(dir(dict)) | _KEYWORDS
_SHADOWED = frozenset(name for kind in (dict, list, str) for name in dir(kind)) | _KEYWORDS


@dataclass(frozen=True)
class Names:
    """What a Gorgon run context could hold, by kind of name."""

    variables: frozenset[str]
    steps: frozenset[str]
    text_outputs: frozenset[str] = frozenset()  # steps whose Gorgon ``{output: text}`` dict is now text


def _member(part: str, shadowed: frozenset[str] = _SHADOWED) -> str:
    if part.isdigit():
        return f"[{int(part)}]"
    if part.isidentifier() and part not in shadowed:
        return f".{part}"
    return f'["{part}"]'


def _resolve(name: str, path: tuple[str, ...], names: Names) -> tuple[str, tuple[str, ...]]:
    """The root expression for ``name`` and the path parts still to apply to it."""
    if name.endswith("_output") and name[: -len("_output")] in names.steps:
        step = name[: -len("_output")]
    elif name in names.variables:
        return f"inputs{_member(name, _ROOT_SHADOWED)}", path
    elif name == "current_date":
        return "today()", path
    elif name in names.steps:
        step = name
    else:
        return f"inputs{_member(name, _ROOT_SHADOWED)}", path
    if step in names.text_outputs and path[:1] == ("output",):
        path = path[1:]
    return f"steps{_member(step, _ROOT_SHADOWED)}.output", path


def reference(name: str, path: tuple[str, ...], names: Names) -> str:
    """The native expression (no braces) for the Gorgon reference ``name.path``."""
    root, rest = _resolve(name, path, names)
    return root + "".join(_member(part) for part in rest)


def split_placeholder(text: str) -> tuple[str, tuple[str, ...]] | None:
    """``("name", ("a", "0"))`` when ``text`` is exactly one ``{{name.a.0}}``."""
    match = _SOLE.match(text)
    if match is None:
        return None
    return match["name"], tuple(part for part in match["path"].split(".") if part)


def _escape(opener: str) -> str:
    return "{{ '" + opener + "' }}"


def rewrite(text: str, names: Names) -> str:
    """``text`` with each Gorgon placeholder turned into a native ``{{ expression }}``."""

    def replace(match: re.Match[str]) -> str:
        if match["opener"]:
            return _escape(match["opener"])
        path = tuple(part for part in match["path"].split(".") if part)
        return "{{ " + reference(match["name"], path, names) + " }}"

    return _TOKEN.sub(replace, text)


def rewrite_all(value: Any, names: Names) -> Any:
    """``rewrite`` applied to every string inside ``value`` (dicts and lists, recursively)."""
    if isinstance(value, str):
        return rewrite(value, names)
    if isinstance(value, Mapping):
        return {key: rewrite_all(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_all(item, names) for item in value]
    return value


def format_fields(template: str, names: Names) -> tuple[str, dict[str, str]]:
    """A ``str.format`` template with ``{{name.a.0}}`` written as the field ``{name[a][0]}``.

    Returns the template (Jinja openers escaped, so templating leaves it unchanged) and
    the values those fields need, each as a sole native ``{{ expression }}``. Values are
    substituted once by ``str.format``, so braces inside them are never read again.
    """
    values: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        if match["opener"]:
            return _escape(match["opener"])
        name = match["name"]
        root, rest = _resolve(name, tuple(part for part in match["path"].split(".") if part), names)
        values.setdefault(name, "{{ " + root + " }}")
        return "{" + name + "".join(f"[{part}]" for part in rest) + "}"

    return _TOKEN.sub(replace, template), values

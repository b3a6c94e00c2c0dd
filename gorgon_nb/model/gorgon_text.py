"""How Gorgon's ``${name}`` text and step conditions become native templates.

Gorgon kept one flat context of names (the inputs, then every step's ``outputs``) and
replaced each ``${name}`` it held; an unknown ``${name}`` stayed as written. ``Scope``
is that context at one point of the run, as native expressions (``inputs.topic``,
``steps.plan.output``), and ``substitute`` rewrites a text against it:

* ``${name}`` of a known name -> ``{{ expression }}``; a text that is one placeholder
  becomes one expression, which keeps the value's type (a list stays a list);
* ``${name.split('/')[0]}`` (Gorgon's MCP examples) -> the same on the value;
* in a shell command each value is quoted for the shell (``| shell_quote``), as Gorgon
  quoted it with ``shlex.quote``;
* anything else stays literally ``${...}``; Jinja openers (``{{``, ``{%``, ``{#``) in the
  text are written so they render as themselves.

``condition`` turns ``{field, operator, value}`` into a native ``when`` expression with
Gorgon's meaning: a field the context does not hold is false, ``contains`` holds for
strings and lists only, ``greater_than`` / ``less_than`` for numbers only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPERATORS", "Scope", "condition", "literal", "substitute", "substitute_all"]

OPERATORS = ("equals", "not_equals", "contains", "greater_than", "less_than", "in", "not_empty")
_TOKEN = re.compile(
    r"\$\{(?P<name>[A-Za-z_]\w*)(?P<split>\.split\((?P<q>['\"])(?P<sep>[^'\"\\]*)(?P=q)\)\[(?P<n>-?\d+)\])?\}"
    r"|(?P<opener>\{[{%#])"
)


@dataclass
class Scope:
    """Gorgon's flat context at one point: each name and the native expression of its value."""

    names: dict[str, str] = field(default_factory=dict)

    def with_names(self, **more: str) -> Scope:
        return Scope({**self.names, **more})


def literal(value: Any) -> str:
    """``value`` written as a Jinja literal."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _escape(opener: str) -> str:
    return "{{ '" + opener + "' }}"


def substitute(text: str, scope: Scope, *, shell: bool = False) -> str:
    """``text`` with each ``${name}`` Gorgon would have replaced turned into a native expression."""
    sole = _TOKEN.fullmatch(text)
    if sole and sole["name"] and sole["name"] in scope.names and not shell:
        return "{{ " + _expression(sole, scope) + " }}"

    def replace(match: re.Match[str]) -> str:
        if match["opener"]:
            return _escape(match["opener"])
        if match["name"] not in scope.names:
            return match.group()  # Gorgon left a name it did not hold as written
        expression = _expression(match, scope)
        return "{{ " + (f"({expression}) | shell_quote" if shell else expression) + " }}"

    return _TOKEN.sub(replace, text)


def _expression(match: re.Match[str], scope: Scope) -> str:
    expression = scope.names[match["name"]]
    if match["split"]:
        expression = f"({expression} | string).split({literal(match['sep'])})[{int(match['n'])}]"
    return expression


def substitute_all(value: Any, scope: Scope) -> Any:
    """``substitute`` applied to every string inside ``value``, through dicts and lists."""
    if isinstance(value, str):
        return substitute(value, scope)
    if isinstance(value, dict):
        return {key: substitute_all(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_all(item, scope) for item in value]
    return value


def op_needs_list(operator: str, value: Any) -> bool:
    """Whether Gorgon's ``in`` is given a value it cannot look in (so it never holds)."""
    return operator == "in" and not isinstance(value, list | str)


def condition(field_name: str, operator: str, value: Any, scope: Scope) -> str | bool:
    """The native ``when`` for Gorgon's condition; ``False`` when the field is never set."""
    if field_name not in scope.names:
        return False  # Gorgon: a field the context does not hold makes the condition false
    v = scope.names[field_name]
    if op_needs_list(operator, value):
        return False  # Gorgon: `in` holds only for a list or string value
    test = {  # each false for none (an unset value), as Gorgon's `actual is None` was
        "equals": f"{v} is not none and {v} == {literal(value)}",
        "not_equals": f"{v} is not none and {v} != {literal(value)}",
        "contains": f"{v} is sequence and {v} is not mapping and {literal(value)} in {v}",
        "greater_than": f"{v} is number and {v} > {literal(value)}",
        "less_than": f"{v} is number and {v} < {literal(value)}",
        "in": f"{v} is not none and {v} in {literal(value)}",
        "not_empty": v,  # Gorgon's bool(value): a when holds when its value is truthy
    }[operator]
    return "{{ " + test + " }}"

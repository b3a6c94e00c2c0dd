"""Sandboxed Jinja2 templates: undefined names are errors, references are found statically.

Strings without ``{{`` or ``{%`` never touch Jinja, so literal braces and plain text
cost nothing. A string that is exactly one ``{{ expression }}`` renders to the
expression's native value (a list stays a list) where a value is expected, for example
in ``args`` of a python step; prompts always render to text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

__all__ = [
    "Expression",
    "References",
    "Template",
    "TemplateError",
    "compile_expression",
    "compile_template",
    "is_template",
]

_SOLE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
JINJA_GLOBALS = frozenset(
    {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none", "today", "now"}
)


class TemplateError(Exception):
    """A template failed to parse or render; the compiler and executor add the location."""


def _finalize(value: Any) -> Any:
    # Structured outputs read better as JSON than as Python reprs, and a skipped
    # step's output (None) should vanish rather than print "None".
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return value


def _fromjson(text: str) -> Any:
    return json.loads(text)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["fromjson"] = _fromjson
    # Functions, not values, so a long-lived environment never serves a stale date.
    env.globals["today"] = lambda: date.today().isoformat()
    env.globals["now"] = lambda: datetime.now().isoformat(timespec="seconds")
    return env


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@dataclass(frozen=True)
class References:
    """What a template reads: top-level names and ``steps.X`` / ``inputs.X`` / ``loop.X`` members."""

    names: frozenset[str] = frozenset()
    members: frozenset[tuple[str, str]] = frozenset()

    def of(self, root: str) -> set[str]:
        return {attr for name, attr in self.members if name == root}

    def __or__(self, other: References) -> References:
        return References(self.names | other.names, self.members | other.members)


def _references(ast: nodes.Template) -> References:
    members: set[tuple[str, str]] = set()
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name):
            members.add((node.node.name, node.attr))
    for item in ast.find_all(nodes.Getitem):
        if isinstance(item.node, nodes.Name) and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            members.add((item.node.name, item.arg.value))
    return References(frozenset(meta.find_undeclared_variables(ast)), frozenset(members))


@dataclass(frozen=True)
class Template:
    """A compiled template string. Plain strings keep ``compiled = None``."""

    text: str
    refs: References = field(default_factory=References)
    compiled: Any = None
    sole_expression: Any = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self.compiled is None:
            return self.text
        try:
            return str(self.compiled.render(context))
        except (UndefinedError, SecurityError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
            raise TemplateError(_describe(exc)) from None

    def value(self, context: Mapping[str, Any]) -> Any:
        """The native value of a sole ``{{ expression }}``; otherwise the rendered text."""
        if self.sole_expression is None:
            return self.render(context)
        try:
            return _defined(self.sole_expression(**context), self.text)
        except (UndefinedError, SecurityError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
            raise TemplateError(_describe(exc)) from None


@dataclass(frozen=True)
class Expression:
    """A condition or a list source: ``inputs.n > 3`` (``{{ }}`` around it is optional)."""

    text: str
    refs: References
    compiled: Any

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            return _defined(self.compiled(**context), self.text)
        except (UndefinedError, SecurityError, TypeError, ValueError, LookupError, ArithmeticError) as exc:
            raise TemplateError(_describe(exc)) from None


def _defined(value: Any, text: str) -> Any:
    # An expression's value is not rendered, so StrictUndefined never gets the chance to
    # raise: a missing key would flow on as an Undefined object.
    if isinstance(value, Undefined):
        raise TemplateError(f"undefined value in template: {value._undefined_message} (in '{text.strip()}')")
    return value


def _describe(exc: Exception) -> str:
    message = str(exc)
    if isinstance(exc, UndefinedError):
        # jinja says "'dict object' has no attribute 'x'"; say what that means here.
        return f"undefined value in template: {message}"
    return f"{type(exc).__name__}: {message}"


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """Compile ``text``; raise ``TemplateError`` on a syntax error."""
    if not is_template(text):
        return Template(text)
    env = environment()
    try:
        ast = env.parse(text)
        compiled = env.from_string(ast)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error on its line {exc.lineno}: {exc.message}") from None
    sole = None
    match = _SOLE_EXPRESSION.match(text)
    if match and "{{" not in match.group(1) and "{%" not in match.group(1):
        try:
            sole = env.compile_expression(match.group(1).strip(), undefined_to_none=False)
        except TemplateSyntaxError:
            sole = None
    return Template(text, _references(ast), compiled, sole)


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> Expression:
    """Compile a bare or ``{{ }}``-wrapped expression; raise ``TemplateError`` on a syntax error."""
    match = _SOLE_EXPRESSION.match(text)
    source = match.group(1).strip() if match else text.strip()
    env = environment()
    try:
        ast = env.parse("{{ " + source + " }}")
        compiled = env.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"expression syntax error: {exc.message}") from None
    return Expression(source, _references(ast), compiled)

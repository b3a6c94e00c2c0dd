"""Sandboxed Jinja2 templates: undefined names are errors, references are found statically.

Strings without ``{{`` or ``{%`` never touch Jinja, so literal braces and plain text
cost nothing. A string that is exactly one ``{{ expression }}`` renders to the
expression's native value (a list stays a list) where a value is expected, for example
in ``args`` of a python step; prompts always render to text.

Rendering is bounded by the limits of ``gorgon_nb.model.limits``, so a template cannot
hang a run or fill its memory:

- every loop round, call, attribute read, operator and filter counts against an
  operation budget per render (a template is rewritten at compile time so that loops,
  ``~`` joins and the literal text of loop bodies are seen too);
- what a template would build (``'a' * n``, ``range(n)``, ``lipsum(n)``, ``x|center(n)``,
  ``s.replace(...)``, ``'%*d' % ...``, JSON of shared parts) is measured *before* it is
  built, and every character written counts against the size limit;
- a render stops at the step's or the run's timeout (``render_deadline``), so the event
  loop, and every other step, is never held up past them.

Names under ``inputs`` and ``steps`` (and ``loop.previous``) come before a mapping's
methods: an input named ``items`` is the input, not ``dict.items``.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import string
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from gorgon_nb.errors import ExecutionError
from gorgon_nb.model.limits import RENDERED_CHARS, TEMPLATE_DIGITS, TEMPLATE_OPS, TEMPLATE_RANGE

__all__ = [
    "Expression",
    "Names",
    "References",
    "Template",
    "TemplateError",
    "compile_expression",
    "compile_template",
    "is_template",
    "render_deadline",
]

_SOLE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
JINJA_GLOBALS = frozenset(
    {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none", "today", "now"}
)
_NESTED = (str, list, dict, tuple, set, frozenset)
_SMALL_INT = 10**18  # an int written in fewer than 20 characters counts as one
_RENDER_ERRORS = (UndefinedError, SecurityError, TypeError, ValueError, LookupError, ArithmeticError)


class TemplateError(ExecutionError):
    """A template failed to parse or render; the compiler and executor add the location."""


class Names(dict[str, Any]):
    """A mapping whose keys come before its methods in a template: ``inputs.items`` is the
    input named ``items``. Used for ``inputs``, ``steps`` and ``loop.previous``."""


# -- the budget of one render ------------------------------------------------------------------

_deadline: ContextVar[tuple[float, str] | None] = ContextVar("gorgon_render_deadline", default=None)


@contextmanager
def render_deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Templates rendered inside stop ``seconds`` from now; ``what`` names the timeout in the
    message ("the step's timeout of 5s"). An earlier deadline already set is kept."""
    current = _deadline.get()
    at = time.monotonic() + seconds if seconds is not None else None
    if at is None or (current is not None and current[0] <= at):
        yield
        return
    token = _deadline.set((at, what))
    try:
        yield
    finally:
        _deadline.reset(token)


class _Budget:
    """What one render may still do: operations, characters written, time."""

    __slots__ = ("chars", "deadline", "max_chars", "max_ops", "next_clock", "ops", "timeout")

    def __init__(self) -> None:
        self.ops = self.chars = 0
        self.max_ops, self.max_chars = TEMPLATE_OPS.get(), RENDERED_CHARS.get()
        found = _deadline.get()
        self.deadline: float | None = found[0] if found is not None else None
        self.timeout = found[1] if found is not None else ""
        self.next_clock = 0

    def tick(self) -> None:
        self.ops += 1
        if self.ops > self.max_ops:
            raise TemplateError(TEMPLATE_OPS.message(
                f"the template did {self.ops:,} operations (loop rounds, calls, reads) without ending"))
        if self.ops >= self.next_clock:
            self.next_clock = self.ops + 256
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise TemplateError(f"the template was still rendering when {self.timeout} passed; "
                                    "raise that timeout, or make the template do less")

    def spend(self, items: int) -> None:
        """Work in proportion to a size (measuring, copying): one operation per 16 items."""
        self.ops += items >> 4
        self.tick()

    def wrote(self, count: int) -> None:
        self.chars += count
        if self.chars > self.max_chars:
            raise TemplateError(RENDERED_CHARS.message(f"the template wrote {self.chars:,} characters"))


_budget: ContextVar[_Budget | None] = ContextVar("gorgon_template_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


@contextmanager
def _rendering() -> Iterator[None]:
    """One render: a fresh budget, and Python's own limits said in a template's words."""
    token = _budget.set(_Budget())
    try:
        yield
    except RecursionError:
        raise TemplateError("the template calls itself too deep (a macro that calls itself without end?)") from None
    except MemoryError:
        raise TemplateError(RENDERED_CHARS.message("the template ran out of memory")) from None
    finally:
        _budget.reset(token)


# -- sizes, measured before a value is built --------------------------------------------------

def _expanded_size(value: Any, limit: int) -> int:
    """Characters and items in ``value``, a part shared N times counted N times (as it
    would be written); stops counting once past ``limit``. Measuring costs operations."""
    return _measure((value,), limit)


def _measure(values: Iterable[Any], limit: int) -> int:
    """The expanded sizes of ``values`` together (see ``_expanded_size``)."""
    total = 0
    pending = list(values)
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= limit:
                pending.extend(part for pair in item.items() for part in pair if isinstance(part, _NESTED))
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= limit:
                pending.extend([part for part in item if isinstance(part, _NESTED) or _big_int(part)])
        elif _big_int(item):
            total += int(_digits(item)) + 1
        else:
            total += 1
    budget = _budget.get()
    if budget is not None and total <= limit:
        budget.spend(total)
    return total


def _big_int(value: Any) -> bool:
    return isinstance(value, int) and not -_SMALL_INT < value < _SMALL_INT


def _refuse_big(size: float, what: str) -> None:
    limit = RENDERED_CHARS.get()
    if size > limit:
        shown = f"{size:,.0f}" if size < 1e18 else "far more than that many"
        raise TemplateError(RENDERED_CHARS.message(f"{what} would make {shown} characters (or items)"))


def _check_made(value: Any, what: str) -> None:
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        _refuse_big(len(value), what)
        budget = _budget.get()
        if budget is not None:
            budget.spend(len(value))


def _refuse_digits(digits: float, what: str) -> None:
    if digits > TEMPLATE_DIGITS.get():
        shown = f"{digits:,.0f}" if digits < 1e18 else "far more than that many"
        raise TemplateError(TEMPLATE_DIGITS.message(f"{what} would make a number of about {shown} digits"))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _digits(number: int) -> float:
    return abs(number).bit_length() * 0.30103


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        count, sequence = (_int(right), left) if _int(right) is not None else (_int(left), right)
        if count is not None and isinstance(sequence, str | list | tuple):
            _refuse_big(len(sequence) * count, "this '*'")
        elif _int(left) is not None and _int(right) is not None:
            _refuse_digits(_digits(left) + _digits(right), "this '*'")
    elif operator == "+":
        if isinstance(left, str | list | tuple) and type(left) is type(right):
            _refuse_big(len(left) + len(right), "this '+'")
    elif operator == "**":
        base, power = _int(left), _int(right)
        if base is not None and power is not None and power > 0 and abs(base) > 1:
            _refuse_digits(power * math.log10(abs(base)), "this '**'")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _widest(values: Iterable[Any], limit: int) -> int:
    return max((_measure((v,), limit) for v in values), default=0)


def _check_percent(text: str, args: Any) -> None:
    """``text % args``: the widths it asks for and the values it repeats."""
    values = tuple(args.values()) if isinstance(args, Mapping) else args if isinstance(args, tuple) else (args,)
    fields, widths, starred = 0, 0, False
    for match in _PERCENT_FIELD.finditer(text):
        if match.group(3) == "%":
            continue
        fields += 1
        for number in match.group(1, 2):
            starred = starred or number == "*"
            widths += int(number) if number and number != "*" else 0
    if starred:
        widths += sum(max(_int(v) or 0, 0) for v in values)
    limit = RENDERED_CHARS.get()
    _refuse_big(len(text) + widths + fields * _widest(values, limit), "this '%' formatting")


def _check_format(text: str, values: list[Any]) -> None:
    """``text.format(...)``: the widths its fields ask for and the values they repeat."""
    fields, widths, nested = 0, 0, False
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is None:
            continue
        fields += 1
        if spec:
            nested = nested or "{" in spec
            widths += sum(int(number) for number in re.findall(r"\d+", spec))
    if nested:
        widths += sum(max(_int(v) or 0, 0) for v in values)
    limit = RENDERED_CHARS.get()
    _refuse_big(len(text) + widths + fields * _widest(values, limit), "this format()")


def _replaced_size(text: str, old: str, new: str, count: int) -> int:
    found = text.count(old) if old else len(text) + 1
    return len(text) + (min(found, count) if count >= 0 else found) * (len(new) - len(old))


def _joined_size(separator: str, items: list[Any]) -> int:
    glue = len(separator) * max(len(items) - 1, 0)
    return glue + _measure(items, max(RENDERED_CHARS.get() - glue, 0))


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A call of a string's method that can make a long string; ``join``'s items are made a list."""
    if name in ("center", "ljust", "rjust", "zfill"):
        _refuse_big(_int(args[0] if args else kwargs.get("width")) or 0, f"str.{name}()")
    elif name == "expandtabs":
        tab = _int(args[0] if args else kwargs.get("tabsize", 8)) or 0
        _refuse_big(len(text) + text.count("\t") * tab, "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = _int(args[2] if len(args) > 2 else kwargs.get("count", -1))
        _refuse_big(_replaced_size(text, args[0], args[1], -1 if count is None else count), "str.replace()")
    elif name == "join" and args:
        items = list(args[0])
        _refuse_big(_joined_size(text, items), "str.join()")
        return (items, *args[1:])
    return args


# -- what templates can call --------------------------------------------------------------------

def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = TEMPLATE_RANGE.get() + 1
    if size > TEMPLATE_RANGE.get():
        raise TemplateError(TEMPLATE_RANGE.message(f"range{args} has {size:,} items"))
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _refuse_big((_int(n) or 0) * (_int(max) or 0) * 10, f"lipsum({n}, max={max})")
    return str(generate_lorem_ipsum(n, html, min, max))


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Each round of a template's ``for`` loop, counted (see ``_Guard``)."""
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.tick()
        yield item


def _concat(*parts: Any) -> str:
    """``a ~ b``, measured before it is joined."""
    limit = RENDERED_CHARS.get()
    _refuse_big(_measure(parts, limit), "this '~'")
    return "".join(map(str, parts))


def _literal(text: str) -> str:
    return text  # written through finalize, so its characters are counted


_JSON = json.JSONEncoder(ensure_ascii=False, indent=2)


def _as_json(value: Any) -> str:
    """``value`` as indented JSON, stopped as soon as it passes the size limit (indentation
    and shared parts can make JSON far bigger than the value's own size)."""
    limit, size, chunks = RENDERED_CHARS.get(), 0, []
    try:
        for chunk in _JSON.iterencode(value):
            size += len(chunk)
            if size > limit:
                raise TemplateError(RENDERED_CHARS.message(f"writing this value as JSON made {size:,} characters"))
            chunks.append(chunk)
    except RecursionError:
        raise TemplateError("the value nests too deep to be written as JSON") from None
    budget = _budget.get()
    if budget is not None:
        budget.spend(size)
    return "".join(chunks)


def _finalize(value: Any) -> str:
    # Structured outputs read better as JSON than as Python reprs, and a skipped
    # step's output (None) should vanish rather than print "None".
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict | list):
        text = _as_json(value)
    else:
        if isinstance(value, tuple | set | frozenset):
            _refuse_big(_expanded_size(value, RENDERED_CHARS.get()), "writing this value")
        text = str(value)
    budget = _budget.get()
    if budget is not None:
        budget.wrote(len(text))
    return text


def _shell_quote(value: Any) -> str:
    """``value`` as one shell word (nothing: ``''``), so a command can hold any text safely."""
    return shlex.quote("" if value is None else str(value))


def _fromjson(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise TemplateError("fromjson: the JSON nests too deep to be read") from None


# -- filters: each counts, and those that can make a long value are measured first ------------

def _width_filter(value: Any, width: Any = 80, *args: Any) -> None:
    _refuse_big(_int(width) or 0, "the center filter")


def _indent_filter(value: Any, width: Any = 4, *args: Any) -> None:
    text = str(value)
    each = len(width) if isinstance(width, str) else _int(width) or 0
    _refuse_big(len(text) + (text.count("\n") + 1) * each, "the indent filter")


def _replace_filter(value: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if isinstance(old, str) and isinstance(new, str):
        times = _int(count)
        _refuse_big(_replaced_size(str(value), old, new, -1 if times is None else times), "the replace filter")


def _wordwrap_filter(value: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
                     *args: Any) -> None:
    if isinstance(wrapstring, str):
        text = str(value)
        lines = len(text) // max(_int(width) or 1, 1) + text.count("\n") + 1
        _refuse_big(len(text) + lines * len(wrapstring), "the wordwrap filter")


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent(str(value), kwargs or args)


def _count_filter(name: str) -> Any:
    def check(value: Any, count: Any = None, *args: Any, **kwargs: Any) -> None:
        if name == "slice" or kwargs.get("fill_with", args[0] if args else None) is not None:
            _refuse_big(_int(count) or 0, f"the {name} filter")
    return check


def _whole_filter(name: str) -> Any:
    def check(value: Any, *args: Any, **kwargs: Any) -> None:
        _refuse_big(_expanded_size(value, RENDERED_CHARS.get()), f"the {name} filter")
    return check


_FILTER_CHECKS: dict[str, Any] = {
    "center": _width_filter, "indent": _indent_filter, "replace": _replace_filter, "wordwrap": _wordwrap_filter,
    "format": _format_filter, "batch": _count_filter("batch"), "slice": _count_filter("slice"),
    **{name: _whole_filter(name) for name in ("string", "tojson", "pprint", "list", "sum", "e", "escape",
                                              "forceescape", "urlencode", "xmlattr")},
}


def _guard_filter(name: str, function: Any) -> Any:
    passes_first = _PassArg.from_obj(function) is not None  # its first argument is the environment or context
    check = _FILTER_CHECKS.get(name)

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        head, own = (args[:1], args[1:]) if passes_first else ((), args)
        if name == "join" and own:  # measured, so its items must be a list it can read twice
            own = (list(own[0]), *own[1:])
            separator = own[1] if len(own) > 1 else kwargs.get("d", "")
            _refuse_big(_joined_size(str(separator), own[0]), "the join filter")
        elif check is not None and own:
            check(*own, **kwargs)
        result = function(*head, *own, **kwargs)
        _check_made(result, f"the {name} filter")
        return result

    return guarded


# -- the environment ------------------------------------------------------------------------

class _Guard(NodeTransformer):
    """Rewrites a parsed template so the sandbox sees what it otherwise could not: each
    round of a ``for`` loop (a loop that calls nothing would run unseen), each ``~`` (joined
    without an operator hook), and the literal text of loop and macro bodies (repeated)."""

    def __init__(self, env: SandboxedEnvironment) -> None:
        self.env = env
        self.repeated = 0

    def _call(self, name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None, lineno=lineno)
        call.set_environment(self.env).set_lineno(lineno)
        return call

    def _repeated(self, node: nodes.Node) -> nodes.Node:
        self.repeated += 1
        try:
            return self.generic_visit(node)
        finally:
            self.repeated -= 1

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self._repeated(node)
        node.iter = self._call("gorgon_counted", [node.iter], node.lineno)  # type: ignore[list-item]
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        return self._repeated(node)

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        return self._repeated(node)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("gorgon_concat", list(node.nodes), node.lineno)

    def visit_TemplateData(self, node: nodes.TemplateData) -> nodes.Node:
        if not self.repeated:
            return node
        return self._call("gorgon_literal", [nodes.Const(node.data, lineno=node.lineno)], node.lineno)


class _BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with the bounds of the module doc."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    # what the rewritten templates call (see _Guard)
    gorgon_counted = staticmethod(_counted)
    gorgon_concat = staticmethod(_concat)
    gorgon_literal = staticmethod(_literal)

    def compile(self, source: Any, name: str | None = None, filename: str | None = None,
                raw: bool = False, defer_init: bool = False) -> Any:
        if isinstance(source, str):
            source = self.parse(source, name, filename)
        return super().compile(_Guard(self).visit(source), name, filename, raw, defer_init)  # type: ignore[call-overload]

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, Names) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _literal:  # the text of a loop body, counted as it is written
            return args[0]
        _tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_made(result, f"{getattr(__obj, '__name__', 'this call')}()")
        if isinstance(owner, list | dict | set):  # list.extend(list) doubles it
            _check_made(owner, f"{getattr(__obj, '__name__', 'this call')}()")
        return result

    def wrap_str_format(self, value: Any) -> Any:
        formatted = super().wrap_str_format(value)
        if formatted is None:
            return None
        text, by_map = value.__self__, value.__name__ == "format_map"

        @wraps(formatted)
        def measured(*args: Any, **kwargs: Any) -> str:
            values = list(args[0].values()) if by_map and args and isinstance(args[0], Mapping) else [
                *args, *kwargs.values()]
            _check_format(text, values)
            return str(formatted(*args, **kwargs))

        return measured


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = _BoundedEnvironment(
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["fromjson"] = _fromjson
    env.filters["shell_quote"] = _shell_quote
    env.filters = {name: _guard_filter(name, function) for name, function in env.filters.items()}
    env.globals["range"] = _range
    env.globals["lipsum"] = _lipsum
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
            with _rendering():
                return str(self.compiled.render(context))
        except _RENDER_ERRORS as exc:
            raise TemplateError(_describe(exc)) from None

    def value(self, context: Mapping[str, Any]) -> Any:
        """The native value of a sole ``{{ expression }}``; otherwise the rendered text."""
        if self.sole_expression is None:
            return self.render(context)
        try:
            with _rendering():
                return _defined(self.sole_expression(**context), self.text)
        except _RENDER_ERRORS as exc:
            raise TemplateError(_describe(exc)) from None


@dataclass(frozen=True)
class Expression:
    """A condition or a list source: ``inputs.n > 3`` (``{{ }}`` around it is optional)."""

    text: str
    refs: References
    compiled: Any

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        try:
            with _rendering():
                return _defined(self.compiled(**context), self.text)
        except _RENDER_ERRORS as exc:
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
        refs = _references(ast)  # before compiling, which rewrites the tree (see _Guard)
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
    return Template(text, refs, compiled, sole)


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

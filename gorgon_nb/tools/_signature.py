"""A Python function as a tool's arguments: a pydantic model made from its signature, its
type hints and its docstring, which gives the JSON schema the model is offered and
validates what the model sends before the function is called."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gorgon_nb.errors import ToolError

__all__ = ["Arguments", "arguments_of", "summary"]

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    text = inspect.cleandoc(doc or "")
    return " ".join(text.split("\n\n", 1)[0].split())


def parameter_docs(doc: str | None) -> dict[str, str]:
    """What the docstring says of each parameter (its Google-style ``Args:`` section, or
    Sphinx-style ``:param name:`` lines)."""
    found: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    current: str | None = None
    inside, indent, item_indent = False, 0, 0
    for line in lines:
        if (sphinx := _SPHINX.match(line.strip())) is not None:
            current, found[sphinx[1]] = sphinx[1], sphinx[2].strip()
            continue
        if _SECTION.match(line.strip()):
            inside, current, indent = True, None, len(line) - len(line.lstrip())
            continue
        if not inside:
            continue
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth <= indent:  # the next section
            inside, current = False, None
            continue
        item = _ITEM.match(line.strip())
        if item is not None and (current is None or depth <= item_indent):
            current, item_indent = item[1].lstrip("*"), depth
            found[current] = item[3].strip()
        elif current is not None and line.strip():
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found



@dataclass(frozen=True)
class Arguments:
    """A function's arguments as a model gives them: ``schema`` to offer, ``bind`` to
    validate what came back into the arguments of a call."""

    schema: dict[str, Any]
    model: Any  # the pydantic model
    names: tuple[tuple[str, str, bool], ...]  # (field, parameter, positional only)

    def bind(self, arguments: dict[str, Any], ref: str) -> tuple[list[Any], dict[str, Any]]:
        """Validated positional and keyword arguments, or a ``ToolError`` the model can read."""
        from pydantic import ValidationError

        try:
            values = self.model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}"
                                 for error in exc.errors(include_url=False))
            raise ToolError(f"the arguments do not fit {ref}: {problems}") from None
        given = values.model_fields_set
        positional = [field for field, _, only in self.names if only]
        # up to the last one given, positional-only parameters are passed (their defaults filling gaps)
        last = max((i for i, field in enumerate(positional) if field in given), default=-1)
        args = [getattr(values, field) for field in positional[:last + 1]]
        kwargs = {name: getattr(values, field) for field, name, only in self.names if not only and field in given}
        return args, kwargs


def _hints(function: Callable[..., Any], signature: inspect.Signature, unknown: Any) -> dict[str, Any]:
    """The parameters' type hints, resolved; one that cannot be (a name imported only for
    type checkers, a hint missing) is ``unknown``."""
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # resolve each on its own: one unresolvable hint must not lose the others
        pass
    # as get_type_hints does: the strings are the module's own source, which importing it ran already
    scope = {**vars(typing), **getattr(function, "__globals__", {})}
    hints: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        try:
            hints[parameter.name] = eval(annotation, scope) if isinstance(annotation, str) else annotation
        except Exception:
            hints[parameter.name] = unknown
    return hints


def arguments_of(function: Callable[..., Any], ref: str, *, unknown: Any = Any, skip: int = 0) -> Arguments:
    """The ``Arguments`` of ``function`` (less its first ``skip`` parameters); a parameter
    with no type hint is of type ``unknown``. A parameter a model cannot give as JSON is a
    ``ToolError`` (fatal: the step's tools are wrong, not the model's call)."""
    from pydantic import ConfigDict, Field, create_model
    from pydantic.errors import PydanticUserError

    signature = inspect.signature(function)
    hints = _hints(function, signature, unknown)
    docs = parameter_docs(function.__doc__)
    fields: dict[str, Any] = {}
    names: list[tuple[str, str, bool]] = []
    for index, parameter in enumerate(signature.parameters.values()):
        if index < skip or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) \
                or parameter.name.startswith("_"):
            continue
        hint = hints.get(parameter.name, unknown) if parameter.annotation is not parameter.empty else unknown
        default = ... if parameter.default is parameter.empty else parameter.default
        # fields are named p0, p1...: a parameter called 'schema' or 'copy' must not shadow the model's own
        fields[f"p{index}"] = (hint, Field(default, alias=parameter.name, title=parameter.name,
                                           description=docs.get(parameter.name)))
        names.append((f"p{index}", parameter.name, parameter.kind is parameter.POSITIONAL_ONLY))
    try:
        model = create_model(f"{getattr(function, '__name__', 'function')}_arguments",
                             __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)
        schema = model.model_json_schema(by_alias=True)
    except (PydanticUserError, TypeError, ValueError) as exc:
        raise ToolError(f"{ref} cannot be a tool: a model gives its arguments as JSON, and {exc}", fatal=True) \
            from None
    schema.pop("title", None)
    schema.pop("additionalProperties", None)
    schema = {"type": "object", "properties": {}, **schema, "additionalProperties": False}
    return Arguments(schema, model, tuple(names))

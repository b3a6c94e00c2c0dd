"""Bind the values a caller gives to a workflow's declared inputs, checking and coercing them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gorgon_nb.engine.templating import TemplateError, compile_template
from gorgon_nb.errors import Advice, InputError, did_you_mean
from gorgon_nb.model.workflow import InputSpec, WorkflowSpec

__all__ = ["bind_inputs", "coerce"]

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def coerce(name: str, spec: InputSpec, value: Any) -> Any:
    """``value`` as the declared type; strings (from ``-v key=value``) are parsed."""
    kind = spec.type
    if isinstance(value, bool) and kind in ("integer", "number"):
        raise InputError(f"input '{name}' must be {_article(kind)}, got {value!r}")
    try:
        if kind == "integer" and not isinstance(value, bool):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value) if isinstance(value, int | str) else _bad(value)
        if kind == "number" and not isinstance(value, bool):
            return float(value) if isinstance(value, int | float | str) else _bad(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            return _bad(value)
        if kind in ("list", "object"):
            if isinstance(value, str):
                value = json.loads(value) if value.strip()[:1] in "[{" else [v.strip() for v in value.split(",")]
            expected = list if kind == "list" else dict
            return value if isinstance(value, expected) else _bad(value)
        if kind == "string":
            return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    else:
        return value
    raise InputError(f"input '{name}' must be {_article(kind)}, got {value!r}")


def _bad(value: Any) -> Any:
    raise TypeError(value)


def _article(kind: str) -> str:
    return {"integer": "an integer", "object": "an object (JSON mapping)",
            "list": "a list (JSON list or comma-separated)"}.get(kind, f"a {kind}")


def bind_inputs(spec: WorkflowSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's inputs: given values coerced, defaults filled; every problem reported at once."""
    given = dict(given or {})
    problems: list[tuple[str | Advice, ...]] = []
    for name in given:
        if name not in spec.inputs:
            hint = did_you_mean(name, spec.inputs) or "this workflow declares no inputs"
            problems.append((f"unknown input '{name}' ({hint})",))
    bound: dict[str, Any] = {}
    for name, declared in spec.inputs.items():
        if name in given:
            try:
                bound[name] = coerce(name, declared, given[name])
            except InputError as exc:
                problems.append((str(exc),))
                continue
        elif declared.is_required:
            problems.append((f"missing required input '{name}'"
                             + (f" ({declared.description})" if declared.description else "") + ": ",
                             _how_to_pass(name, declared)))
            continue
        else:
            bound[name] = _default(name, declared)
        if declared.enum is not None and bound[name] not in declared.enum:
            problems.append((f"input '{name}' must be one of {declared.enum}, got {bound[name]!r}",))
    if problems:
        parts: list[str | Advice] = []
        for problem in problems:
            parts += ["; ", *problem] if parts else problem
        raise InputError(*parts)
    return bound


def _how_to_pass(name: str, declared: InputSpec) -> Advice:
    value = "..." if declared.type == "string" else f"<{declared.type}>"
    return Advice(python=f"pass inputs={{'{name}': {value}}}",
                  notebook=f"add -v {name}={value} to the %%gorgon or %gorgon run line",
                  cli=f"pass -v {name}={value}", sidebar=f"add {name}={value} to the /run line")


def _default(name: str, declared: InputSpec) -> Any:
    value = declared.default
    if isinstance(value, str) and "{{" in value:
        # Defaults may use today() / now(), e.g. a report date.
        try:
            return compile_template(value).render({})
        except TemplateError as exc:
            raise InputError(f"default of input '{name}': {exc}") from None
    return value

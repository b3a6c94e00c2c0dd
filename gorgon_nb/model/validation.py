"""From pydantic's validation errors to problems a person can act on: line, field, hint."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from gorgon_nb.errors import Problem, did_you_mean
from gorgon_nb.model.kinds import all_kinds, body_keys, find_kind, kind_key, plugin_problems
from gorgon_nb.model.source import SourceText
from gorgon_nb.model.workflow import (
    Budget,
    Defaults,
    InputSpec,
    RetryPolicy,
    WorkflowSpec,
)

__all__ = ["partial_spec", "problems_from_validation"]


def partial_spec(data: dict[str, Any], exc: ValidationError, source: SourceText | None) -> tuple[WorkflowSpec, SourceText | None] | None:
    """The workflow with the failing parts taken out, so the rest can still be checked.

    A failing step keeps its valid keys (so its role and references are still checked);
    if that is not enough, it is stood in for by an empty step of the same id, which keeps
    references to it from being reported as unknown.
    """
    steps = data.get("steps")
    if not isinstance(steps, list):
        return None
    bad_keys: set[str] = set()
    bad_fields: dict[int, set[str]] = {}
    for error in exc.errors():
        loc = error["loc"]
        if not loc:
            continue
        if loc[0] != "steps":
            bad_keys.add(str(loc[0]))
        elif len(loc) > 1 and isinstance(loc[1], int):
            # loc is ("steps", i, field, ...) for a field; ("steps", i) for the kind itself
            bad_fields.setdefault(loc[1], set()).add(str(loc[2]) if len(loc) > 2 else "")
    if "id" in bad_keys:
        return None
    trimmed = {k: v for k, v in data.items() if k not in bad_keys}
    cleaned = [_clean_step(step, bad_fields.get(i)) for i, step in enumerate(steps)]
    stand_ins = [_stand_in(step) if i in bad_fields else step for i, step in enumerate(steps)]
    for candidate in (cleaned, stand_ins):
        try:
            return WorkflowSpec.model_validate({**trimmed, "steps": candidate}), source
        except ValidationError:
            continue
    return None


def _clean_step(step: Any, bad: set[str] | None) -> Any:
    if not bad or not isinstance(step, dict):
        return step
    if "" in bad or "id" in bad:  # the step's kind or id is what failed
        return _stand_in(step)
    return {k: v for k, v in step.items() if k not in bad}


def _stand_in(step: Any) -> dict[str, Any]:
    step_id = step.get("id") if isinstance(step, dict) else None
    return {"id": step_id if isinstance(step_id, str) else "_invalid", "llm": ""}


# -- pydantic errors -> problems with a line and a hint -------------------------------------

_NESTED_MODELS: dict[str, type[BaseModel]] = {
    "defaults": Defaults, "budget": Budget, "retry": RetryPolicy,
}


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return sorted((f.alias or name) for name, f in model.model_fields.items() if name != "kind")


# pydantic names the member of a union (``when: str | bool``) that failed after the field
_UNION_MEMBERS = frozenset({"str", "bool", "int", "float", "list[any]", "dict[str,any]"})


def problems_from_validation(exc: ValidationError, data: Any, source: SourceText | None) -> list[Problem]:
    problems = []
    seen: set[tuple[str | int, ...]] = set()
    for error in exc.errors():
        loc = error["loc"]
        union = len(loc) > 1 and isinstance(loc[-1], str) and loc[-1] in _UNION_MEMBERS
        path, model, step_id = _clean_loc(loc[:-1] if union else loc, data)
        if union:
            if path in seen:  # one problem for the field, not one per member of its union
                continue
            seen.add(path)
            message, hint = _describe_union(error, path)
        else:
            message, hint = _describe(error, path, model)
        line = source.locations.line_of(path) if source else None
        problems.append(Problem(message, _field_label(path, step_id), hint, source.path if source else None, line))
    return problems


def _field_label(path: tuple[str | int, ...], step_id: str | None) -> str:
    """``build.tsk`` for a field of step ``build``; ``defaults.model`` elsewhere."""
    dotted = lambda parts: ".".join(str(p) for p in parts)  # noqa: E731
    starts = [i + 1 for i, part in enumerate(path) if isinstance(part, int) and i and path[i - 1] in ("steps", *body_keys())]
    if step_id is None or not starts:
        return dotted(path)
    rest = path[starts[-1]:]
    return f"{step_id}.{dotted(rest)}" if rest else step_id


def _clean_loc(loc: tuple[str | int, ...], data: Any) -> tuple[tuple[str | int, ...], type[BaseModel], str | None]:
    """The path of an error's location, the model that holds its last key, and its step's id."""
    path: list[str | int] = []
    model: type[BaseModel] = WorkflowSpec
    step_id: str | None = None
    node: Any = data
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        path.append(part)
        node = _child(node, part)
        if isinstance(part, int) and len(path) > 1 and path[-2] in ("steps", *body_keys()):
            step_id = node.get("id") if isinstance(node, dict) and isinstance(node.get("id"), str) else None
            keys = kind_key(node) if isinstance(node, dict) else []
            kind = find_kind(keys[0]) if len(keys) == 1 else None
            if kind is not None:
                model = kind.model
        elif isinstance(part, str):
            if part in _NESTED_MODELS:
                model = _NESTED_MODELS[part]
            elif len(path) >= 2 and path[-2] == "inputs":
                model = InputSpec
        i += 1
    return tuple(path), model, step_id


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _describe_union(error: Any, path: tuple[str | int, ...]) -> tuple[str, str]:
    key = path[-1] if path else ""
    if key in ("when", "until"):
        return (f"{error['input']!r} is neither true, false nor a condition",
                "write true, false, or a condition such as inputs.n > 3")
    return f"{error['input']!r} is not allowed here", ""


def _describe(error: Any, path: tuple[str | int, ...], model: type[BaseModel]) -> tuple[str, str]:
    kind = error["type"]
    key = path[-1] if path else ""
    if kind == "limit":
        return error["msg"], error.get("ctx", {}).get("hint", "")
    if kind == "bool_type":
        return f"{error['input']!r} is not true or false", "write true or false, without quotes"
    if kind == "finite_number":
        return f"{error['input']!r} is not a finite number", "write a number such as 30"
    if kind == "extra_forbidden":
        return f"unknown key '{key}'", did_you_mean(str(key), _allowed_keys(model))
    if kind == "missing":
        return f"missing required key '{key}'", ""
    if kind == "step_kind":
        raw = error.get("input")
        known = all_kinds()
        kinds = ", ".join(known)
        if isinstance(raw, dict):
            present = [k for k in known if k in raw]
            if len(present) > 1:
                return f"a step can only be one kind, but this one has {' and '.join(present)}", "keep one of them"
        broken = "".join(f"; {problem}" for problem in plugin_problems())
        return "this step has no kind", f"give it one of: {kinds} (for example 'agent: planner'){broken}"
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed; expected {error['ctx']['expected']}", ""
    if kind == "string_pattern_mismatch" and key == "id":  # a workflow's id may also have - and .
        dotted = re.fullmatch(str(error.get("ctx", {}).get("pattern", "")), "a-b.c")
        allowed = "letters, digits, _, - and ." if dotted else "letters, digits and _"
        return f"{error['input']!r} is not a valid id", f"use {allowed}, starting with a letter or _"
    if kind == "too_short" and key in ("steps", *body_keys()):
        return f"'{key}' needs at least one step", ""
    return error["msg"][0].lower() + error["msg"][1:], ""

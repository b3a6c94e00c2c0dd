"""Filters and sorts of the fake Notion API's data source queries, on pages' plain values.

The conditions served are those of text, number, date, checkbox, select, status and
multi-select properties and of the pages' timestamps, combined with ``and``/``or``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gorgon_nb.testing._notion_values import notion_invalid, plain_value, property_id

__all__ = ["matches", "sort_pages"]

_TEXT_KINDS = frozenset({"title", "rich_text", "url", "email", "phone_number"})


def _schema_name(schema: Mapping[str, str], ident: Any) -> str | None:
    if ident in schema:
        return str(ident)
    return next((n for n, k in schema.items() if property_id(n, k) == ident), None)


def matches(page: dict[str, Any], condition: Any, schema: Mapping[str, str]) -> bool:
    if not isinstance(condition, dict):
        raise notion_invalid("body failed validation: body.filter should be an object.")
    if "and" in condition:
        return all(matches(page, part, schema) for part in condition["and"])
    if "or" in condition:
        return any(matches(page, part, schema) for part in condition["or"])
    if "timestamp" in condition:
        stamp = str(condition["timestamp"])
        return _compare(page.get(stamp), "date", condition.get(stamp) or {})
    ident = condition.get("property")
    name = _schema_name(schema, ident)
    if name is None:
        raise notion_invalid(f"Could not find property with name or id: {ident}")
    kind = schema[name]
    given = [key for key in condition if key != "property"]
    if len(given) != 1 or not isinstance(condition[given[0]], dict):
        raise notion_invalid(f"body failed validation: the filter on {name} has no condition.")
    filter_kind = given[0]
    if filter_kind != kind and not {filter_kind, kind} <= _TEXT_KINDS:
        raise notion_invalid(
            f"body failed validation: the filter on {name} is a {filter_kind} filter, "
            f"but {name} is a {kind} property."
        )
    return _compare(plain_value(page["properties"][name]), kind, condition[filter_kind])


def sort_pages(
    pages: list[dict[str, Any]], sort: Any, schema: Mapping[str, str]
) -> list[dict[str, Any]]:
    if not isinstance(sort, dict):
        raise notion_invalid("body failed validation: body.sorts should hold objects.")
    descending = sort.get("direction") == "descending"
    stamp = sort.get("timestamp")
    name = None if stamp else _schema_name(schema, sort.get("property"))
    if not stamp and name is None:
        raise notion_invalid(
            f"Could not find sort property with name or id: {sort.get('property')}"
        )

    def value(page: dict[str, Any]) -> Any:
        if name is None:
            return page.get(str(stamp))
        found = plain_value(page["properties"][name])
        return ",".join(found) if isinstance(found, list) else found

    present = [page for page in pages if value(page) not in (None, "")]
    absent = [page for page in pages if value(page) in (None, "")]
    return sorted(present, key=value, reverse=descending) + absent


def _compare(value: Any, kind: str, condition: dict[str, Any]) -> bool:
    """Whether ``value`` (a plain property value of ``kind``) meets a filter condition."""
    if not condition:
        raise notion_invalid("body failed validation: a filter condition is empty.")
    op, arg = next(iter(condition.items()))
    if op == "is_empty":
        return value in (None, "", [])
    if op == "is_not_empty":
        return value not in (None, "", [])
    if kind in _TEXT_KINDS:
        text, needle = str(value or ""), str(arg)
        tests: dict[str, Callable[[], bool]] = {
            "equals": lambda: text == needle,
            "does_not_equal": lambda: text != needle,
            "contains": lambda: needle.lower() in text.lower(),
            "does_not_contain": lambda: needle.lower() not in text.lower(),
            "starts_with": lambda: text.lower().startswith(needle.lower()),
            "ends_with": lambda: text.lower().endswith(needle.lower()),
        }
    elif kind == "multi_select":
        names = value or []
        tests = {"contains": lambda: arg in names, "does_not_contain": lambda: arg not in names}
    elif kind in ("number", "date"):
        tests = {
            "equals": lambda: value == arg,
            "does_not_equal": lambda: value != arg,
            "greater_than": lambda: value is not None and value > arg,
            "less_than": lambda: value is not None and value < arg,
            "greater_than_or_equal_to": lambda: value is not None and value >= arg,
            "less_than_or_equal_to": lambda: value is not None and value <= arg,
            "after": lambda: value is not None and value > arg,
            "before": lambda: value is not None and value < arg,
            "on_or_after": lambda: value is not None and value >= arg,
            "on_or_before": lambda: value is not None and value <= arg,
        }
    else:  # select, status, checkbox and the rest compare whole values
        tests = {"equals": lambda: value == arg, "does_not_equal": lambda: value != arg}
    if op not in tests:
        raise notion_invalid(f"body failed validation: {op} is not a {kind} filter condition.")
    return tests[op]()

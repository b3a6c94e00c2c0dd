"""The values of the fake Notion API: its errors, rich text, property values and blocks,
as the API takes them (with its limits) and returns them (completed).

Property values are stored as the API returns them; ``simple_value`` makes one from a
plain Python value (for seeding) and ``plain_value`` turns one back (for assertions).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gorgon_nb.testing._api import Refusal, Reply, status_phrase

__all__ = [
    "BOT_USER",
    "OPTION_KINDS",
    "api_value",
    "archived_refusal",
    "block_type",
    "check_block_content",
    "check_blocks",
    "compact_id",
    "complete_block_content",
    "complete_rich_text",
    "empty_value",
    "error_body",
    "lookup",
    "notion_error",
    "notion_invalid",
    "notion_missing",
    "notion_object",
    "notion_time",
    "plain_value",
    "property_id",
    "rich_text_item",
    "simple_value",
]

_NOTION_SHARED = "Make sure the relevant pages and databases are shared with your integration."
_NOTION_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_NOTION_MESSAGES = {
    401: "API token is invalid.",
    403: "API token does not have access to this resource.",
    404: f"Could not find the object. {_NOTION_SHARED}",
    409: "Conflict occurred while saving. Please try again.",
    429: "You have been rate limited. Please try again in a few minutes.",
    500: "Unexpected error occurred.",
    503: "Notion is unavailable, please try again later.",
    504: "Notion timed out, please try again later.",
}
_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
OPTION_KINDS = frozenset({"select", "status", "multi_select"})
_LIST_KINDS = frozenset({"title", "rich_text", "multi_select", "people", "relation", "files"})
BOT_USER = {"object": "user", "id": "00000000-0000-4000-8000-0000000000b0"}


def notion_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def notion_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"object": "error", "status": status, "code": code, "message": message})


def notion_invalid(message: str) -> Refusal:
    return Refusal(notion_error(400, "validation_error", message))


def notion_missing(kind: str, ident: str) -> Refusal:
    return Refusal(
        notion_error(
            404, "object_not_found", f"Could not find {kind} with ID: {ident}. {_NOTION_SHARED}"
        )
    )


def archived_refusal() -> Refusal:
    """What editing a page or block in the trash gets (the API says "block" for both)."""
    return notion_invalid(
        "Can't edit block that is archived. You must unarchive the block before editing."
    )


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The body Notion sends with ``status`` when something goes wrong."""
    code = _NOTION_CODES.get(status) or (
        "internal_server_error" if status >= 500 else "validation_error"
    )
    text = message or _NOTION_MESSAGES.get(status) or f"Request failed: {status_phrase(status)}."
    body: dict[str, Any] = notion_error(status, code, text).body
    return body


def notion_object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Refusal(notion_error(400, "invalid_json", "Error parsing JSON body."))
    return body


def rich_text_item(text: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": text, "link": None},
        "annotations": dict(_ANNOTATIONS),
        "plain_text": text,
        "href": None,
    }


def complete_rich_text(items: Any) -> list[dict[str, Any]]:
    """Rich text items as Notion returns them: typed, annotated, with ``plain_text``."""
    completed = []
    for given in items or []:
        item: dict[str, Any] = (
            copy.deepcopy(given) if isinstance(given, dict) else {"text": {"content": str(given)}}
        )
        kind = item.get("type") or next(
            (k for k in ("text", "mention", "equation") if k in item), "text"
        )
        item["type"] = kind
        plain, href = item.get("plain_text", ""), None
        if kind == "text":
            text = item.setdefault("text", {})
            text.setdefault("content", "")
            text.setdefault("link", None)
            plain = text["content"]
            href = (text["link"] or {}).get("url")
        elif kind == "equation":
            plain = item.get("equation", {}).get("expression", "")
        item["annotations"] = {**_ANNOTATIONS, **(item.get("annotations") or {})}
        item["plain_text"] = plain
        item.setdefault("href", href)
        completed.append(item)
    return completed


def _plain_text(items: Any) -> str:
    return "".join(item.get("plain_text", "") for item in items or [])


def _option(value: Any) -> dict[str, Any]:
    name = value.get("name", "") if isinstance(value, dict) else str(value)
    ident = value.get("id") if isinstance(value, dict) else None
    color = value.get("color", "default") if isinstance(value, dict) else "default"
    return {
        "id": ident or hashlib.sha1(name.encode()).hexdigest()[:8],
        "name": name,
        "color": color,
    }


def empty_value(kind: str) -> Any:
    if kind in _LIST_KINDS:
        return []
    return False if kind == "checkbox" else None


def simple_value(kind: str, value: Any) -> Any:
    """A Python value (``"Done"``, ``["a", "b"]``, ``3``) as a property value of ``kind``."""
    if value is None:
        return empty_value(kind)
    if kind in ("title", "rich_text"):
        return [rich_text_item(str(value))] if value != "" else []
    if kind in ("select", "status"):
        return _option(value)
    if kind == "multi_select":
        return [_option(v) for v in value]
    if kind == "date":
        return {"start": value, "end": None, "time_zone": None} if isinstance(value, str) else value
    return copy.deepcopy(value)


def api_value(name: str, kind: str, given: Any, where: str) -> Any:
    """A property value object sent to the API (``{"select": {"name": "Done"}}``), completed.

    A bare list stands for a list-valued property's value (``{"title": [...]}`` as
    ``[...]``), which the API accepts too."""
    if isinstance(given, list) and kind in _LIST_KINDS:
        given = {kind: given}
    if not isinstance(given, dict) or kind not in given:
        raise notion_invalid(f"{name} is expected to be {kind}.")
    value = given[kind]
    if value is None:
        return empty_value(kind)
    if kind in ("title", "rich_text"):
        _check_rich_text(value, f"{where}.{kind}")
        return complete_rich_text(value)
    if kind in ("select", "status"):
        return _option(value)
    if kind == "multi_select":
        return [_option(v) for v in value]
    if kind == "date":
        return {"end": None, "time_zone": None, **value}
    return copy.deepcopy(value)


def plain_value(prop: dict[str, Any]) -> Any:
    """A property value as a Python value: text, option name(s), number, ..."""
    kind = prop["type"]
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return _plain_text(value)
    if kind in ("select", "status"):
        return value["name"] if value else None
    if kind == "multi_select":
        return [option["name"] for option in value or []]
    if kind == "date":
        return value["start"] if value else None
    return value


def property_id(name: str, kind: str) -> str:
    return "title" if kind == "title" else hashlib.sha1(name.encode()).hexdigest()[:4]


def _check_array(items: Any, where: str) -> list[Any]:
    """An array sent to the API, within its limit of 100 items."""
    if not isinstance(items, list):
        raise notion_invalid(f"body failed validation: {where} should be an array.")
    if len(items) > 100:
        raise notion_invalid(
            f"body failed validation: {where}.length should be ≤ `100`, instead was `{len(items)}`."
        )
    return items


def _check_rich_text(items: Any, where: str) -> None:
    for j, item in enumerate(_check_array(items, where)):
        content = (item.get("text") or {}).get("content", "") if isinstance(item, dict) else ""
        if len(content) > 2000:
            raise notion_invalid(
                f"body failed validation: {where}[{j}].text.content.length should be ≤ `2000`, "
                f"instead was `{len(content)}`."
            )


def block_type(block: Any) -> str | None:
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind is None:
        kind = next((k for k in block if k not in ("object", "type", "id")), None)
    return kind if isinstance(kind, str) and isinstance(block.get(kind), dict) else None


def check_blocks(children: Any, where: str) -> None:
    """Notion's limits on blocks sent in one request."""
    for i, block in enumerate(_check_array(children, where)):
        kind = block_type(block)
        if kind is None:
            raise notion_invalid(f"body failed validation: {where}[{i}] should be a block object.")
        check_block_content(block[kind], f"{where}[{i}].{kind}")


def check_block_content(content: dict[str, Any], where: str) -> None:
    for key in ("rich_text", "caption"):
        if key in content:
            _check_rich_text(content[key], f"{where}.{key}")
    if "children" in content:
        check_blocks(content["children"], f"{where}.children")


def complete_block_content(content: dict[str, Any]) -> dict[str, Any]:
    """A block's content with its rich text completed (it is changed in place)."""
    for key in ("rich_text", "caption"):
        if key in content:
            content[key] = complete_rich_text(content[key])
    return content


def compact_id(ident: str) -> str:
    return ident.replace("-", "").lower()


def lookup(mapping: Mapping[str, Any], ident: str) -> str | None:
    """The key of ``mapping`` naming ``ident``, with or without the uuid's dashes."""
    if ident in mapping:
        return ident
    return next((key for key in mapping if compact_id(key) == compact_id(ident)), None)

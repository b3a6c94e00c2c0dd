"""Notion through notion-client: search, databases, pages and their content.

Notion's API (version 2025-09-03, notion-client 3) keeps a database's rows in its data
source: a database is looked up first, then its data source is queried or written to.
Page content is written from Markdown (``text.to_blocks``) in batches of at most 100
blocks, Notion's limit per request. Property values may be Notion's own objects
(``{"select": {"name": "Done"}}``) or plain values (``"Done"``, ``["a", "b"]``, ``3``,
``true``), which are shaped by the property's type.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError
from gorgon_nb.integrations import Preview, action
from gorgon_nb.integrations.text import blocks_text, plain, rich_text, to_blocks

if TYPE_CHECKING:
    from notion_client import Client

    from gorgon_nb.config import IntegrationSettings

__all__ = ["connect", "translate"]

API = "https://api.notion.com"
BATCH = 100  # blocks per request
_SHARE = "If it exists, share it with the integration (••• menu → Connections)"


def connect(settings: IntegrationSettings, token: str) -> Client:
    from notion_client import Client

    return Client(auth=token, base_url=(settings.base_url or API).rstrip("/"), timeout_ms=int(settings.timeout * 1000),
                  retry=False, logger=logging.getLogger("gorgon_nb.notion"))


def _fail(message: str) -> IntegrationError:
    return IntegrationError(message, service="notion")


def translate(exc: Exception) -> IntegrationError:
    """A notion-client or httpx exception as an ``IntegrationError`` a person can act on."""
    import httpx
    from notion_client import APIResponseError
    from notion_client.errors import HTTPResponseError, RequestTimeoutError

    if isinstance(exc, APIResponseError):
        code, said = str(getattr(exc.code, "value", exc.code)), str(exc)
        if code == "rate_limited":
            wait = exc.headers.get("retry-after") if exc.headers is not None else None
            return IntegrationError(f"Notion's rate limit was reached ({said})", service="notion", retryable=True,
                                    retry_after=float(wait) if wait else None)
        if code == "unauthorized":
            return _fail(f"Notion refused the token ({said}): check that it is the integration's current secret")
        if code == "restricted_resource":
            return _fail(f"the Notion integration lacks a capability this needs ({said}): turn on reading, "
                         "updating or inserting content under Capabilities at https://www.notion.so/my-integrations")
        if code == "object_not_found":
            return _fail(f"Notion found nothing there ({said}). {_SHARE}")
        if code == "conflict_error":
            return IntegrationError(f"Notion saw a conflicting change ({said})", service="notion", retryable=True)
        if exc.status >= 500:
            return IntegrationError(f"Notion failed with {exc.status} ({said})", service="notion", retryable=True,
                                    unsure=True)
        return _fail(f"Notion refused the request ({code}): {said}")
    if isinstance(exc, HTTPResponseError):
        retry = exc.status >= 500 or exc.status == 429
        return IntegrationError(f"Notion answered {exc.status}: {exc}", service="notion", retryable=retry, unsure=retry)
    if isinstance(exc, httpx.ConnectError):
        return IntegrationError(f"cannot reach Notion: {exc}", service="notion", retryable=True)
    if isinstance(exc, RequestTimeoutError | httpx.HTTPError):
        return IntegrationError(f"Notion did not answer in time: {exc}", service="notion", retryable=True, unsure=True)
    return IntegrationError(f"Notion call failed: {type(exc).__name__}: {exc}", service="notion", unsure=True)


# -- shapes ---------------------------------------------------------------------------------

def _simple(prop: dict[str, Any]) -> Any:
    """A property's value as plain data (the text of a title, the name of a select...)."""
    kind = prop.get("type") or next((k for k in prop if k not in ("id", "name")), "")
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return plain(value)
    if kind in ("select", "status"):
        return value.get("name") if value else None
    if kind == "multi_select":
        return [option.get("name") for option in value or []]
    if kind == "relation":
        return [link.get("id") for link in value or []]
    if kind == "people":
        return [person.get("name") or person.get("id") for person in value or []]
    if kind == "date":
        return value.get("start") if value else None
    if kind == "formula":
        return (value or {}).get((value or {}).get("type", ""))
    return value


def _page(page: dict[str, Any]) -> dict[str, Any]:
    properties = {name: _simple(prop) for name, prop in (page.get("properties") or {}).items()}
    title = next((plain(p.get("title")) for p in (page.get("properties") or {}).values() if p.get("type") == "title"), "")
    return {"id": page["id"], "url": page.get("url"), "title": title, "created_time": page.get("created_time"),
            "last_edited_time": page.get("last_edited_time"), "properties": properties}


def _shaped(value: Any, kind: str) -> dict[str, Any]:
    """A plain ``value`` as the property object of type ``kind``."""
    if isinstance(value, dict):
        return value  # already Notion's shape
    if kind in ("title", "rich_text"):
        return {kind: rich_text(str(value), inline=False)}
    if kind in ("select", "status"):
        return {kind: {"name": str(value)} if value is not None else None}
    if kind == "multi_select":
        return {kind: [{"name": str(v)} for v in (value if isinstance(value, list) else [value])]}
    if kind == "date":
        return {kind: {"start": str(value)} if value else None}
    if kind in ("number", "checkbox", "url", "email", "phone_number"):
        return {kind: value}
    if kind == "relation":
        return {kind: [{"id": v} for v in (value if isinstance(value, list) else [value])]}
    raise _fail(f"give the value of a '{kind}' property as a Notion property object, not {value!r}")


def _properties(values: dict[str, Any] | None, types: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name, value in (values or {}).items():
        if not isinstance(value, dict) and name not in types:
            known = ", ".join(sorted(types)) or "none"
            raise _fail(f"'{name}' is not a property of this database (its properties: {known})")
        out[name] = _shaped(value, types.get(name, ""))
    return out


class _Database:
    """A database's data source, title and property types (two requests)."""

    def __init__(self, no: Client, database_id: str) -> None:
        database: Any = no.databases.retrieve(database_id=database_id)
        sources = database.get("data_sources") or []
        if not sources:
            raise _fail(f"Notion database {database_id} has no data source to hold pages")
        self.id = database_id
        self.source = sources[0]["id"]
        self.title = plain(database.get("title")) or database_id
        schema: Any = no.data_sources.retrieve(data_source_id=self.source)
        self.types = {name: prop.get("type", "") for name, prop in (schema.get("properties") or {}).items()}
        self.title_property = next((name for name, kind in self.types.items() if kind == "title"), "Name")


def _append(no: Client, block_id: str, blocks: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(blocks), BATCH):
        done: Any = no.blocks.children.append(block_id=block_id, children=blocks[start:start + BATCH])
        ids += [block["id"] for block in done.get("results", [])]
    return ids


def _page_title(no: Client, page_id: str) -> str:
    page: Any = no.pages.retrieve(page_id=page_id)
    return _page(page)["title"] or page_id


def _shown(properties: dict[str, Any]) -> str:
    rows = [f"| {name} | {_simple(value) if isinstance(value, dict) else value} |"
            for name, value in properties.items()]
    return "| property | value |\n| --- | --- |\n" + "\n".join(rows) if rows else ""


# -- reading --------------------------------------------------------------------------------

@action("notion")
def search(no: Client, query: str = "", kind: str = "page", limit: int = 20) -> list[dict[str, Any]]:
    """Pages (``kind: page``) or databases (``kind: database``) whose title matches ``query``."""
    value = "data_source" if kind == "database" else "page"
    found: Any = no.search(query=query, filter={"property": "object", "value": value}, page_size=min(int(limit), 100))
    out = []
    for item in found.get("results", [])[: int(limit)]:
        title = plain(item.get("title")) if item.get("object") != "page" else _page(item)["title"]
        out.append({"id": item["id"], "object": item.get("object"), "title": title, "url": item.get("url")})
    return out


@action("notion")
def query_database(no: Client, database_id: str, filter: dict[str, Any] | None = None,
                   sorts: list[dict[str, Any]] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The rows (pages) of a database matching ``filter``, in ``sorts`` order, at most ``limit``."""
    source: Any = no.databases.retrieve(database_id=database_id)
    if not source.get("data_sources"):
        raise _fail(f"Notion database {database_id} has no data source to query")
    request: dict[str, Any] = {"data_source_id": source["data_sources"][0]["id"]}
    if filter:
        request["filter"] = filter
    if sorts:
        request["sorts"] = sorts
    pages: list[dict[str, Any]] = []
    while len(pages) < int(limit):
        found: Any = no.data_sources.query(**request, page_size=min(BATCH, int(limit) - len(pages)))
        pages += found.get("results", [])
        if not found.get("has_more") or not found.get("next_cursor"):
            break
        request["start_cursor"] = found["next_cursor"]
    return [_page(page) for page in pages[: int(limit)]]


@action("notion")
def get_page(no: Client, page_id: str) -> dict[str, Any]:
    """A page's title, url, times and properties (as plain values)."""
    page: Any = no.pages.retrieve(page_id=page_id)
    return _page(page)


@action("notion")
def read_page(no: Client, page_id: str) -> str:
    """A page's content as Markdown-like text."""
    from notion_client.helpers import collect_paginated_api

    return blocks_text(collect_paginated_api(no.blocks.children.list, block_id=page_id))


@action("notion")
def get_database_schema(no: Client, database_id: str) -> dict[str, Any]:
    """A database's title and its properties with their types."""
    database = _Database(no, database_id)
    return {"id": database_id, "title": database.title,
            "properties": {name: {"type": kind} for name, kind in database.types.items()}}


# -- writing --------------------------------------------------------------------------------

def _new_page(no: Client, database_id: str | None, parent_page_id: str | None, title: str | None,
              properties: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The parent and properties of a page to create, and where it goes (for people)."""
    if bool(database_id) == bool(parent_page_id):
        raise _fail("create_page needs one parent: database_id or parent_page_id")
    if database_id:
        database = _Database(no, database_id)
        shaped = _properties(properties, database.types)
        if title:
            shaped.setdefault(database.title_property, _shaped(title, "title"))
        parent = {"type": "data_source_id", "data_source_id": database.source}
        return parent, shaped, f"a new row in the database **{database.title}**"
    if properties:
        raise _fail("a page under another page has only a title; give properties to rows of a database")
    parent = {"type": "page_id", "page_id": parent_page_id}
    shaped = {"title": _shaped(title or "Untitled", "title")}
    return parent, shaped, f"a new page under **{_page_title(no, str(parent_page_id))}**"


def _create_preview(no: Client, database_id: str | None = None, parent_page_id: str | None = None,
                    title: str | None = None, properties: dict[str, Any] | None = None,
                    content: str | None = None) -> Preview:
    _, shaped, where = _new_page(no, database_id, parent_page_id, title, properties)
    name = next((_simple(p) for p in shaped.values() if "title" in p), "") or "(untitled)"
    body = f"**Notion:** {where}\n\n**Title:** {name}\n\n{_shown(shaped)}"
    return Preview(f"Create Notion page: {name}", body + ("\n\n**Content:**\n\n" + content if content else ""))


@action("notion", write=True, preview=_create_preview)
def create_page(no: Client, database_id: str | None = None, parent_page_id: str | None = None,
                title: str | None = None, properties: dict[str, Any] | None = None,
                content: str | None = None) -> dict[str, Any]:
    """A new page: a row of a database (``database_id``) or a page under another (``parent_page_id``),
    with a title, properties and Markdown content."""
    parent, shaped, _ = _new_page(no, database_id, parent_page_id, title, properties)
    blocks = to_blocks(content or "")
    page: Any = no.pages.create(parent=parent, properties=shaped, children=blocks[:BATCH])
    _append(no, page["id"], blocks[BATCH:])
    return {"id": page["id"], "url": page.get("url")}


def _update_preview(no: Client, page_id: str, properties: dict[str, Any] | None = None,
                    archived: bool | None = None) -> Preview:
    page: Any = no.pages.retrieve(page_id=page_id)
    name = _page(page)["title"] or page_id
    types = {key: prop.get("type", "") for key, prop in (page.get("properties") or {}).items()}
    body = f"**Notion page:** {name}\n\n" + _shown(_properties(properties, types))
    if archived is not None:
        body += f"\n\n**{'Move to the trash' if archived else 'Restore from the trash'}**"
    return Preview(f"Update Notion page: {name}", body)


@action("notion", write=True, idempotent=True, preview=_update_preview)
def update_page(no: Client, page_id: str, properties: dict[str, Any] | None = None,
                archived: bool | None = None) -> dict[str, Any]:
    """Set a page's properties (plain values or Notion's objects), or move it to the trash."""
    request: dict[str, Any] = {}
    if properties:
        page: Any = no.pages.retrieve(page_id=page_id)
        types = {key: prop.get("type", "") for key, prop in (page.get("properties") or {}).items()}
        request["properties"] = _properties(properties, types)
    if archived is not None:
        request["in_trash"] = bool(archived)
    updated: Any = no.pages.update(page_id=page_id, **request)
    return {"id": updated["id"], "url": updated.get("url"), "archived": bool(updated.get("in_trash"))}


def _archive_preview(no: Client, page_id: str) -> Preview:
    name = _page_title(no, page_id)
    return Preview(f"Move Notion page to the trash: {name}", f"**Notion page:** {name} goes to the trash.")


@action("notion", write=True, idempotent=True, preview=_archive_preview)
def archive_page(no: Client, page_id: str) -> dict[str, Any]:
    """Move a page to the trash."""
    no.pages.update(page_id=page_id, in_trash=True)
    return {"id": page_id, "archived": True}


def _append_preview(no: Client, page_id: str, content: str) -> Preview:
    name = _page_title(no, page_id)
    return Preview(f"Add to Notion page: {name}", f"**Notion page:** {name}\n\n**Added at the end:**\n\n{content}")


@action("notion", write=True, preview=_append_preview)
def append_blocks(no: Client, page_id: str, content: str) -> dict[str, Any]:
    """Add Markdown content at the end of a page."""
    ids = _append(no, page_id, to_blocks(content))
    return {"success": True, "block_id": ids[0] if ids else None, "block_ids": ids}


def _block_preview(no: Client, block_id: str, content: str) -> Preview:
    return Preview(f"Replace the text of Notion block {block_id}", f"**New text:**\n\n{content}")


@action("notion", write=True, idempotent=True, preview=_block_preview)
def update_block(no: Client, block_id: str, content: str) -> dict[str, Any]:
    """Replace a paragraph block's text."""
    updated: Any = no.blocks.update(block_id=block_id, paragraph={"rich_text": rich_text(content)})
    return {"id": updated["id"], "type": updated.get("type")}


def _delete_preview(no: Client, block_id: str) -> Preview:
    return Preview(f"Delete Notion block {block_id}", f"**Notion block** {block_id} will be deleted.")


@action("notion", write=True, idempotent=True, preview=_delete_preview)
def delete_block(no: Client, block_id: str) -> dict[str, Any]:
    """Delete a block (it goes to the trash)."""
    no.blocks.delete(block_id=block_id)
    return {"deleted": True, "block_id": block_id}

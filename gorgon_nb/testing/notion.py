"""The fake Notion API (version 2025-09-03): the workspace (``_notion_store``), its values
(``_notion_values``), queries (``_notion_query``), and here the routes and handlers."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, cast

from gorgon_nb.testing._api import Reply, RouteHandler, Service, ServiceRequest, bounded_int
from gorgon_nb.testing._notion_query import matches, sort_pages
from gorgon_nb.testing._notion_store import NotionStore
from gorgon_nb.testing._notion_values import (
    OPTION_KINDS,
    archived_refusal,
    check_block_content,
    check_blocks,
    compact_id,
    complete_block_content,
    error_body,
    lookup,
    notion_error,
    notion_invalid,
    notion_missing,
    notion_object,
    plain_value,
    property_id,
    rich_text_item,
)

__all__ = ["NotionState"]


class NotionState(NotionStore):
    """Notion (API version 2025-09-03): databases, their data sources, pages and blocks.

    ``databases[id]`` holds ``title`` and ``data_sources`` (ids); ``data_sources[id]``
    holds ``name``, ``database_id`` and ``properties`` (name -> type); ``pages[id]`` is
    the page object as the API returns it; ``blocks[parent id]`` the children of a page or
    block, in order (deleted ones stay, with ``in_trash``). ``values(page_id)`` gives a
    page's properties as plain Python values.

    Served: ``GET /v1/databases/{id}``, ``GET /v1/data_sources/{id}``, ``POST
    /v1/data_sources/{id}/query``, ``POST /v1/search``, ``POST /v1/pages``, ``GET|PATCH
    /v1/pages/{id}``, ``PATCH|DELETE /v1/blocks/{id}``, ``GET|PATCH
    /v1/blocks/{id}/children``.
    """

    service: Service = "notion"

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, RouteHandler]]:
        ident = r"(?P<id>[^/]+)"
        return [
            ("GET", rf"/v1/databases/{ident}", self._get_database),
            ("GET", rf"/v1/data_sources/{ident}", self._get_data_source),
            ("POST", rf"/v1/data_sources/{ident}/query", self._query),
            ("POST", r"/v1/search", self._search),
            ("POST", r"/v1/pages", self._create_page),
            ("GET", rf"/v1/pages/{ident}", self._get_page),
            ("PATCH", rf"/v1/pages/{ident}", self._update_page),
            ("PATCH", rf"/v1/blocks/{ident}", self._update_block),
            ("DELETE", rf"/v1/blocks/{ident}", self._delete_block),
            ("GET", rf"/v1/blocks/{ident}/children", self._list_children),
            ("PATCH", rf"/v1/blocks/{ident}/children", self._append_children),
        ]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> Reply | None:
        if request.headers.get("authorization") == f"Bearer {token}":
            return None
        return notion_error(401, "unauthorized", "API token is invalid.")

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> Reply | None:
        if "notion-version" not in request.headers:
            message = (
                "Notion-Version header failed validation: Notion-Version header should be "
                "defined, instead was `undefined`."
            )
            return notion_error(400, "missing_version", message)
        return None

    def _unknown(self, request: ServiceRequest) -> Reply:
        return notion_error(400, "invalid_request_url", "Invalid request URL.")

    def default_error(self, status: int, message: str | None = None) -> Any:
        return error_body(status, message)

    def _page_as_block(self, page: dict[str, Any]) -> dict[str, Any]:
        title = plain_value(page["properties"][self._title_of(page)])
        return {
            "object": "block",
            "id": page["id"],
            "parent": page["parent"],
            "created_time": page["created_time"],
            "last_edited_time": page["last_edited_time"],
            "has_children": bool(self.blocks.get(page["id"])),
            "archived": page["archived"],
            "in_trash": page["in_trash"],
            "type": "child_page",
            "child_page": {"title": title},
        }

    def _listing(self, items: list[Any], options: Mapping[str, Any], kind: str) -> dict[str, Any]:
        size = bounded_int(options.get("page_size"), 100, high=100)
        cursor = options.get("start_cursor")
        try:
            start = int(cursor) if cursor else 0
        except ValueError:
            raise notion_invalid(f"start_cursor {cursor} is not valid.") from None
        chunk = items[start : start + size]
        more = start + size < len(items)
        return {
            "object": "list",
            "results": copy.deepcopy(chunk),
            "next_cursor": str(start + size) if more else None,
            "has_more": more,
            "type": kind,
            kind: {},
        }

    # Representations -------------------------------------------------------------------

    def _database_json(self, database: dict[str, Any]) -> dict[str, Any]:
        sources = [self.data_sources[ds] for ds in database["data_sources"]]
        return {
            "object": "database",
            "id": database["id"],
            "title": [rich_text_item(database["title"])] if database["title"] else [],
            "description": [],
            "data_sources": [{"id": source["id"], "name": source["name"]} for source in sources],
            "parent": {"type": "workspace", "workspace": True},
            "created_time": database["created_time"],
            "last_edited_time": database["created_time"],
            "is_inline": False,
            "in_trash": False,
            "archived": False,
            "icon": None,
            "cover": None,
            "url": self._url(database["id"]),
            "public_url": None,
        }

    def _source_json(self, source: dict[str, Any]) -> dict[str, Any]:
        properties = {}
        for name, kind in source["properties"].items():
            config: dict[str, Any] = {}
            if kind in OPTION_KINDS:
                config = {"options": self._options_in_use(source["id"], name)}
            properties[name] = {
                "id": property_id(name, kind),
                "name": name,
                "type": kind,
                kind: config,
            }
        return {
            "object": "data_source",
            "id": source["id"],
            "title": [rich_text_item(source["name"])] if source["name"] else [],
            "description": [],
            "properties": properties,
            "parent": {"type": "database_id", "database_id": source["database_id"]},
            "database_parent": {"type": "workspace", "workspace": True},
            "created_time": source["created_time"],
            "last_edited_time": source["created_time"],
            "in_trash": False,
            "archived": False,
            "icon": None,
            "cover": None,
            "url": self._url(source["database_id"]),
        }

    def _options_in_use(self, source_id: str, name: str) -> list[dict[str, Any]]:
        options: dict[str, dict[str, Any]] = {}
        for page in self._pages_in(source_id):
            prop = page["properties"].get(name, {})
            value = prop.get(prop.get("type", ""))
            for option in value if isinstance(value, list) else [value] if value else []:
                options.setdefault(option["name"], option)
        return list(options.values())

    # Handlers ---------------------------------------------------------------------------

    def _get_database(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        key = lookup(self.databases, params["id"])
        if key is None:
            raise notion_missing("database", params["id"])
        return Reply(200, self._database_json(self.databases[key]))

    def _get_data_source(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return Reply(200, self._source_json(self._source_of(params["id"])))

    def _query(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        source = self._source_of(params["id"])
        body = notion_object(request.body)
        schema: dict[str, str] = source["properties"]
        pages = self._pages_in(source["id"])
        if body.get("filter"):
            pages = [page for page in pages if matches(page, body["filter"], schema)]
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise notion_invalid("body failed validation: body.sorts should be an array.")
        for sort in reversed(sorts):
            pages = sort_pages(pages, sort, schema)
        return Reply(200, self._listing(pages, body, "page_or_data_source"))

    def _search(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        body = notion_object(request.body)
        query = str(body.get("query") or "").lower()
        wanted = (body.get("filter") or {}).get("value")
        if wanted not in (None, "page", "data_source"):
            raise notion_invalid(
                'body failed validation: body.filter.value should be `"page"` or '
                f'`"data_source"`, instead was `{json.dumps(wanted)}`.'
            )
        found: list[dict[str, Any]] = []
        if wanted in (None, "data_source"):
            found += [
                self._source_json(source)
                for source in self.data_sources.values()
                if query in source["name"].lower()
            ]
        if wanted in (None, "page"):
            for page in self.pages.values():
                title = plain_value(page["properties"][self._title_of(page)])
                if not page["in_trash"] and query in title.lower():
                    found.append(page)
        sort = body.get("sort")
        if isinstance(sort, dict) and sort.get("timestamp"):
            found.sort(
                key=lambda item: item["last_edited_time"],
                reverse=sort.get("direction") != "ascending",
            )
        return Reply(200, self._listing(found, body, "page_or_data_source"))

    def _create_page(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        body = notion_object(request.body)
        parent, schema = self._parent(body.get("parent"))
        given = body.get("properties") or {}
        if schema is not None and isinstance(given, dict):
            title = self._title_name(schema)
            if title not in given and "title" not in given:
                raise notion_invalid(
                    f"body failed validation: body.properties.{title} should be defined, "
                    "instead was `undefined`."
                )
        page = self._new_page(parent, schema, given, body.get("children") or [])
        for key in ("icon", "cover"):
            page[key] = body.get(key)
        return Reply(200, copy.deepcopy(page))

    def _get_page(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return Reply(200, copy.deepcopy(self._page_of(params["id"])))

    def _update_page(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        page = self._page_of(params["id"])
        body = notion_object(request.body)
        edits = [key for key in ("properties", "icon", "cover") if key in body]
        trash = self._trash_change(page, body, editing=bool(edits))
        if "properties" in body:
            parent = page["parent"]
            schema = None
            if parent["type"] == "data_source_id":
                schema = self._source_of(parent["data_source_id"])["properties"]
            page["properties"] = self._properties(body["properties"], schema, page["properties"])
        for key in ("icon", "cover"):
            if key in body:
                page[key] = body[key]
        return self._edited(page, trash)

    def _update_block(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        block = self._find_block(params["id"])
        if block is None:
            raise notion_missing("block", params["id"])
        body = notion_object(request.body)
        kind = block["type"]
        other = next((k for k in body if k not in (kind, "type", "in_trash", "archived")), None)
        if other is not None:
            raise notion_invalid(f"Block type {other} does not match existing block type {kind}.")
        trash = self._trash_change(block, body, editing=kind in body)
        if isinstance(body.get(kind), dict):
            check_block_content(body[kind], f"body.{kind}")
            content = complete_block_content(copy.deepcopy(body[kind]))
            block[kind] = {**block[kind], **content}
        return self._edited(block, trash)

    def _delete_block(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        block = self._find_block(params["id"])
        if block is None:
            page = self._page_of(params["id"]) if lookup(self.pages, params["id"]) else None
            if page is None:
                raise notion_missing("block", params["id"])
            page["in_trash"] = page["archived"] = True
            return Reply(200, self._page_as_block(page))
        if block["in_trash"]:
            raise archived_refusal()
        return self._edited(block, True)

    def _children_of(self, ident: str) -> str:
        """The key in ``blocks`` of the page or block ``ident``."""
        key = lookup(self.blocks, ident)
        if key is None or (key not in self.pages and self._find_block(key) is None):
            raise notion_missing("block", ident)
        return key

    def _list_children(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        key = self._children_of(params["id"])
        children = [block for block in self.blocks[key] if not block["in_trash"]]
        return Reply(200, self._listing(children, request.query, "block"))

    def _append_children(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        key = self._children_of(params["id"])
        body = notion_object(request.body)
        children = body.get("children")
        check_blocks(children, "body.children")
        after = None
        if body.get("after"):
            ids = [compact_id(block["id"]) for block in self.blocks[key]]
            if compact_id(str(body["after"])) not in ids:
                raise notion_missing("block", str(body["after"]))
            after = ids.index(compact_id(str(body["after"])))
        parent = (
            {"type": "page_id", "page_id": key}
            if key in self.pages
            else {"type": "block_id", "block_id": key}
        )
        created = self._store_blocks(key, parent, cast(list[dict[str, Any]], children), after)
        if (block := self._find_block(key)) is not None:
            block["has_children"] = True
        return Reply(200, self._listing(created, {}, "block"))

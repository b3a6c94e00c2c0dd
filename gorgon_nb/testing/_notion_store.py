"""The contents of the fake Notion workspace: databases, their data sources, pages and
blocks, with the seeding methods tests call and the plumbing the API's handlers share.

``NotionStore`` holds this part of ``NotionState`` (in ``notion``), which adds the routes
and the handlers. Ids come from a counter, so a run repeats exactly.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from gorgon_nb.testing._api import Clock, FakeAPI, Reply
from gorgon_nb.testing._notion_values import (
    BOT_USER,
    api_value,
    archived_refusal,
    block_type,
    check_blocks,
    compact_id,
    complete_block_content,
    empty_value,
    lookup,
    notion_invalid,
    notion_missing,
    notion_time,
    plain_value,
    property_id,
    simple_value,
)

__all__ = ["NotionStore"]


def _kinds(schema: Mapping[str, str] | None) -> dict[str, str]:
    """A parent's property types: a data source's schema, or a page's lone title."""
    return dict(schema) if schema is not None else {"title": "title"}


class NotionStore(FakeAPI):
    """The workspace part of ``NotionState`` (see its doc)."""

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, list[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)

    # Seeding ---------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{next(self._numbers):08x}-0000-4000-8000-000000000000"

    def add_database(
        self,
        database_id: str | None = None,
        *,
        title: str = "",
        properties: Mapping[str, str] | None = None,
    ) -> str:
        """A database with one data source (``"ds-" + database_id``); the database's id.

        ``properties`` maps names to types (``"title"``, ``"select"``, ...); a ``Name``
        title property is added when none is a title.
        """
        schema = dict(properties or {})
        if "title" not in schema.values():
            schema = {"Name": "title", **schema}
        with self._lock:
            database_id = database_id or self.new_id()
            source_id = f"ds-{database_id}"
            now = notion_time(self._clock.tick())
            self.databases[database_id] = {
                "id": database_id,
                "title": title,
                "data_sources": [source_id],
                "created_time": now,
            }
            self.data_sources[source_id] = {
                "id": source_id,
                "database_id": database_id,
                "name": title,
                "properties": schema,
                "created_time": now,
            }
            return database_id

    def add_page(
        self,
        *,
        parent_database: str | None = None,
        parent_data_source: str | None = None,
        parent_page: str | None = None,
        properties: Mapping[str, Any] | None = None,
        title: str | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> str:
        """A page in a database (properties as plain values, or as property objects), under
        a page, or at the top of the workspace (just a title); its id."""
        with self._lock:
            parent_json: dict[str, Any] = {"type": "workspace", "workspace": True}
            schema: dict[str, str] | None = None
            if parent_page is not None:
                parent_json, schema = self._parent({"page_id": parent_page})
            elif parent_database is not None:
                parent_json, schema = self._parent({"database_id": parent_database})
            elif parent_data_source is not None:
                parent_json, schema = self._parent({"data_source_id": parent_data_source})
            values = dict(properties or {})
            if title is not None:
                values[self._title_name(schema)] = title
            given: dict[str, Any] = {}
            for name, value in values.items():
                kind = (schema or {"title": "title"}).get(name)
                if kind is None:
                    raise KeyError(f"{name} is not a property of the parent")
                given[name] = (
                    value if isinstance(value, dict) else {kind: simple_value(kind, value)}
                )
            return str(self._new_page(parent_json, schema, given, children or [])["id"])

    def values(self, page_id: str) -> dict[str, Any]:
        """A page's properties as plain values (text, option names, numbers, ...)."""
        with self._lock:
            page = self.pages[lookup(self.pages, page_id) or page_id]
            return {name: plain_value(prop) for name, prop in page["properties"].items()}

    # Plumbing --------------------------------------------------------------------------

    def _now(self) -> str:
        return notion_time(self._clock.tick())

    def _url(self, ident: str) -> str:
        return f"https://www.notion.so/{compact_id(ident)}"

    def _source_of(self, ident: str) -> dict[str, Any]:
        key = lookup(self.data_sources, ident)
        if key is None:
            raise notion_missing("data source", ident)
        return self.data_sources[key]

    def _page_of(self, ident: str) -> dict[str, Any]:
        key = lookup(self.pages, ident)
        if key is None:
            raise notion_missing("page", ident)
        return self.pages[key]

    @staticmethod
    def _title_name(schema: Mapping[str, str] | None) -> str:
        if schema is None:
            return "title"
        return next(name for name, kind in schema.items() if kind == "title")

    @staticmethod
    def _title_of(page: dict[str, Any]) -> str:
        return next(name for name, prop in page["properties"].items() if prop["type"] == "title")

    def _parent(self, parent: Any) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The parent's JSON and, for a data source, its schema."""
        if not isinstance(parent, dict):
            raise notion_invalid("body failed validation: body.parent should be an object.")
        if parent.get("page_id"):
            page = self._page_of(str(parent["page_id"]))
            return {"type": "page_id", "page_id": page["id"]}, None
        if parent.get("database_id") and not parent.get("data_source_id"):
            key = lookup(self.databases, str(parent["database_id"]))
            if key is None:
                raise notion_missing("database", str(parent["database_id"]))
            source = self.data_sources[self.databases[key]["data_sources"][0]]
        elif parent.get("data_source_id"):
            source = self._source_of(str(parent["data_source_id"]))
        else:
            raise notion_invalid(
                "body failed validation: body.parent should have one of page_id, "
                "database_id or data_source_id."
            )
        parent_json = {
            "type": "data_source_id",
            "data_source_id": source["id"],
            "database_id": source["database_id"],
        }
        return parent_json, source["properties"]

    def _properties(
        self, given: Any, schema: Mapping[str, str] | None, base: dict[str, Any]
    ) -> dict[str, Any]:
        """``base`` updated with the property values ``given`` to the API."""
        if not isinstance(given, dict):
            raise notion_invalid("body failed validation: body.properties should be an object.")
        kinds = _kinds(schema)
        ids = {property_id(name, kind): name for name, kind in kinds.items()}
        merged = copy.deepcopy(base)
        for key, value in given.items():
            name = key if key in kinds else ids.get(key)
            if name is None:
                raise notion_invalid(f"{key} is not a property that exists.")
            kind = kinds[name]
            where = f"body.properties.{name}"
            merged[name] = {
                "id": property_id(name, kind),
                "type": kind,
                kind: api_value(name, kind, value, where),
            }
        return merged

    def _new_page(
        self,
        parent: dict[str, Any],
        schema: Mapping[str, str] | None,
        given: dict[str, Any],
        children: list[dict[str, Any]],
    ) -> dict[str, Any]:
        check_blocks(children, "body.children")
        kinds = _kinds(schema)
        empty = {
            name: {"id": property_id(name, kind), "type": kind, kind: empty_value(kind)}
            for name, kind in kinds.items()
        }
        properties = self._properties(given, schema, empty)
        page = self._created("page")
        page_id = page["id"]
        page |= {
            "cover": None,
            "icon": None,
            "parent": parent,
            "archived": False,
            "in_trash": False,
            "is_locked": False,
            "properties": properties,
            "url": self._url(page_id),
            "public_url": None,
        }
        self.pages[page_id] = page
        self.blocks[page_id] = []
        self._store_blocks(page_id, {"type": "page_id", "page_id": page_id}, children)
        return page

    def _created(self, kind: str) -> dict[str, Any]:
        """The fields a new page or block starts with: its id, times and author."""
        now = self._now()
        return {
            "object": kind,
            "id": self.new_id(),
            "created_time": now,
            "last_edited_time": now,
            "created_by": dict(BOT_USER),
            "last_edited_by": dict(BOT_USER),
        }

    def _store_blocks(
        self,
        parent_id: str,
        parent: dict[str, Any],
        children: list[dict[str, Any]],
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        created = []
        for given in children:
            kind = cast(str, block_type(given))
            content = copy.deepcopy(given[kind])
            nested = content.pop("children", None) or []
            complete_block_content(content)
            block = self._created("block")
            block_id = block["id"]
            block |= {
                "parent": parent,
                "has_children": bool(nested),
                "archived": False,
                "in_trash": False,
                "type": kind,
                kind: content,
            }
            created.append(block)
            self.blocks[block_id] = []
            if nested:
                self._store_blocks(block_id, {"type": "block_id", "block_id": block_id}, nested)
        siblings = self.blocks.setdefault(parent_id, [])
        at = len(siblings) if after is None else after + 1
        siblings[at:at] = created
        return created

    def _find_block(self, ident: str) -> dict[str, Any] | None:
        for siblings in self.blocks.values():
            for block in siblings:
                if compact_id(block["id"]) == compact_id(ident):
                    return block
        return None

    def _pages_in(self, source_id: str) -> list[dict[str, Any]]:
        return [
            page
            for page in self.pages.values()
            if page["parent"].get("data_source_id") == source_id and not page["in_trash"]
        ]

    @staticmethod
    def _trash_change(item: dict[str, Any], body: dict[str, Any], editing: bool) -> Any:
        """What a PATCH ``body`` asks of a page's or block's ``in_trash`` (``None``: no
        change); an ``item`` in the trash can be edited only by the request that restores it."""
        trash = body.get("in_trash", body.get("archived"))
        if item["in_trash"] and trash is not False and editing:
            raise archived_refusal()
        return trash

    def _edited(self, item: dict[str, Any], trash: Any) -> Reply:
        """The answer to an edit of a page or block, moving it in or out of the trash."""
        if trash is not None:
            item["in_trash"] = item["archived"] = bool(trash)
        item["last_edited_time"] = self._now()
        return Reply(200, copy.deepcopy(item))

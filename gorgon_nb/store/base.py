"""What the store's parts rely on from each other."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gorgon_nb.model.approval import ApprovalRequest

__all__ = ["StoreParts", "newest"]


def newest(table: str, order: str, filters: dict[str, Any], limit: int) -> tuple[str, tuple[Any, ...]]:
    """``SELECT *`` from ``table`` with the given ``column: value`` filters (None ignored), newest first."""
    given = {column: value for column, value in filters.items() if value}
    where = " WHERE " + " AND ".join(f"{column} = ?" for column in given) if given else ""
    return f"SELECT * FROM {table}{where} ORDER BY {order} DESC LIMIT ?", (*given.values(), limit)


class StoreParts(Protocol):
    """The core of ``Store`` as its mixins (approvals, run control) see it."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[None]: ...

    def _write(self, sql: str, params: tuple[Any, ...]) -> None: ...

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...

    def resolve_run_id(self, run_id: str) -> str: ...

    def get_approval(self, approval_id: str) -> ApprovalRequest: ...

    def list_approvals(self, *, status: str | None = "pending", run_id: str | None = None,
                       limit: int = 100) -> list[ApprovalRequest]: ...

    def cancel_approvals(self, run_id: str) -> int: ...


"""What the store's parts rely on from each other."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gorgon_nb.model.approval import ApprovalRequest

__all__ = ["StoreParts", "newest"]


ID_ALPHABET = "0123456789abcdefghijkmnpqrstuvwxyz"  # no l/o: ids are read and typed by people


def new_id(length: int = 10) -> str:
    """A random id for a run, an approval, a chat, a schedule or a job."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def newest(table: str, order: str, filters: dict[str, Any], limit: int,
           exclude: dict[str, Any] | None = None) -> tuple[str, tuple[Any, ...]]:
    """``SELECT *`` from ``table`` with the given ``column: value`` filters, and without the
    rows matching ``exclude`` (None values ignored in both), newest first."""
    given = [(f"{column} = ?", value) for column, value in filters.items() if value]
    given += [(f"{column} IS NOT ?", value) for column, value in (exclude or {}).items() if value]
    where = " WHERE " + " AND ".join(clause for clause, _ in given) if given else ""
    return f"SELECT * FROM {table}{where} ORDER BY {order} DESC LIMIT ?", (*(v for _, v in given), limit)


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


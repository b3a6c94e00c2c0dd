"""What the store's parts rely on from each other."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gorgon_nb.model.approval import ApprovalRequest

__all__ = ["StoreParts"]


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


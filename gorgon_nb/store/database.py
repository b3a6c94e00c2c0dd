"""The one connection every part of the store shares, and the rules all of them follow.

- One ``Database`` per ``Store``: one SQLite connection, used by every thread of the
  process under one re-entrant lock, so the threads of a process take turns.
- Every write runs in a transaction opened with ``BEGIN IMMEDIATE``: it takes the file's
  write lock at once, so two processes never deadlock upgrading a read lock, and the
  busy timeout makes a second writer wait its turn instead of failing.
- A transaction opened inside another joins it: the outer one commits or rolls back all.
  A part opens one around whatever must happen together; a caller that needs two parts
  to change together (a step row and its event) opens one around both.
- Reads need no transaction: WAL mode lets them see the last commit while a write goes on.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gorgon_nb.errors import StoreError

__all__ = ["BUSY_TIMEOUT_SECONDS", "Database", "new_id", "newest", "retry_locked"]

BUSY_TIMEOUT_SECONDS = 10.0
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


def retry_locked(statement: Callable[[], object]) -> None:
    """Run a statement that ignores the busy timeout (``journal_mode``) until the lock clears."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


class Database:
    """An open connection with its lock: transactions, reads and one-statement writes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; a nested one joins the outer (which commits or rolls back all)."""
        with self.lock:
            if self.conn.in_transaction:
                yield
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the store is busy or unwritable: {exc}") from None
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def write(self, sql: str, params: tuple[Any, ...]) -> None:
        """One statement in its own transaction (or in the one already open)."""
        with self.transaction():
            self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of a read, each as a ``column: value`` dict."""
        with self.lock:
            try:
                cursor = self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store: {exc}") from None
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        with self.lock:
            self.conn.close()

"""The SQLite store: one file shared by every process, read and written through its parts.

``Store`` opens the file and hands one ``Database`` (the connection, its lock and its
transactions) to each part, which a reader finds by name:

- ``store.runs``: runs, steps, events, recorded model calls and usage (``runs.py``)
- ``store.control``: who owns a run, claims on resume, cancel requests (``control.py``)
- ``store.approvals``: a person's yes or no on a step (``approvals.py``)
- ``store.chat``: chat sessions and their messages (``chat.py``)
- ``store.jobs``: schedules, jobs and the scheduler's lease (``jobs.py``)
- ``store.writes``: the journal of writes to outside services (``writes.py``)
- ``store.webhooks``: webhooks and their deliveries (``webhooks.py``)

Each part's module states its own transaction rules; the rules all share are in
``database.py``. WAL mode lets readers (the Jupyter server, ``gorgon runs``) proceed while
a run writes; ``synchronous=NORMAL`` keeps commits fast and still survives the death of
any process (only a power cut can lose the last commits).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from gorgon_nb.errors import StoreError
from gorgon_nb.store.approvals import ApprovalStore
from gorgon_nb.store.chat import ChatStore
from gorgon_nb.store.control import RunControl
from gorgon_nb.store.database import BUSY_TIMEOUT_SECONDS, Database, retry_locked
from gorgon_nb.store.jobs import JobStore
from gorgon_nb.store.migrations import migrations
from gorgon_nb.store.runs import RunStore
from gorgon_nb.store.tools import ToolCallJournal
from gorgon_nb.store.webhooks import WebhookStore
from gorgon_nb.store.writes import WriteJournal

__all__ = ["Store"]


class Store:
    """Open on a path (created with its folders), ``":memory:"``, or an open connection.

    ``conn`` is the open connection and ``db`` the same one as a ``sqlite_utils.Database``
    (the migrations run through it); ``path`` is None for a store in memory or on a
    connection.
    """

    runs: RunStore
    control: RunControl
    approvals: ApprovalStore
    chat: ChatStore
    jobs: JobStore
    writes: WriteJournal
    webhooks: WebhookStore

    def __init__(self, path: str | os.PathLike[str] | sqlite3.Connection = ":memory:") -> None:
        try:
            if isinstance(path, sqlite3.Connection):
                conn, self.path = path, None
            else:
                self.path = None if str(path) == ":memory:" else Path(path)
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
            retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            self.conn = conn
            self._database = Database(conn)
            with self.transaction():
                migrations.apply(self.db)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(f"the store at {path} stayed locked by another process for "
                                 f"{BUSY_TIMEOUT_SECONDS:g}s; try again when it is done") from None
            raise StoreError(f"cannot open the store at {path}: {exc}. Check the path and its permissions, "
                             "or set GORGON_HOME to another folder.") from None
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}. Check the path and its permissions, "
                             "or set GORGON_HOME to another folder.") from None
        self.runs = RunStore(self._database)
        self.approvals = ApprovalStore(self._database, self.runs)
        self.control = RunControl(self._database, self.runs, self.approvals)
        self.chat = ChatStore(self._database)
        self.jobs = JobStore(self._database)
        self.writes = WriteJournal(self._database)
        self.tools = ToolCallJournal(self._database)
        self.webhooks = WebhookStore(self._database, self.jobs)

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction around writes that must land together (a step row and the
        event that reports it): the parts' own writes join it, and it commits or rolls
        back all of them."""
        return self._database.transaction()

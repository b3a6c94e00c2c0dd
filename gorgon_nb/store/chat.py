"""Chat sessions and their messages, kept so conversations survive a server restart.

Transaction rules:
- The chat service of one Jupyter server writes its sessions and messages; a message's
  ``seq`` is counted and the message inserted in one transaction, with its session's
  ``updated_at``, so two messages added at once never share a place.
- A message is written whole when added and rewritten whole when it changes (a streamed
  answer grows in place); each such write is one statement.
- A server that starts marks the messages an earlier one left streaming as interrupted.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gorgon_nb.errors import NotFoundError
from gorgon_nb.secrets import redact
from gorgon_nb.store.database import Database, new_id

__all__ = ["ChatMessage", "ChatSession", "ChatStore"]

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[*_`#>|~]+|^\s*[-+]\s", re.MULTILINE)


@dataclass
class ChatSession:
    id: str
    title: str
    created_at: float
    updated_at: float
    preview: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChatMessage:
    """One message: ``role`` is user, agent, workflow or error; ``agent`` the role that wrote it."""

    id: str
    session_id: str
    seq: int
    role: str
    content: str = ""
    agent: str | None = None
    status: str = "done"  # streaming | done | stopped | error | interrupted
    parent_id: str | None = None
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(markdown: str) -> str:
    """The words of a message, for a one-line preview: Markdown marks and links dropped."""
    text = _LINK.sub(r"\1", markdown)
    return " ".join(_MARKS.sub(" ", text).split())


def _message(row: dict[str, Any]) -> ChatMessage:
    return ChatMessage(id=row["id"], session_id=row["session_id"], seq=row["seq"], role=row["role"],
                       content=row["content"], agent=row["agent"], status=row["status"], parent_id=row["parent_id"],
                       run_id=row["run_id"], meta=json.loads(row["meta"] or "{}"), created_at=row["created_at"],
                       updated_at=row["updated_at"])


class ChatStore:
    """``store.chat``: the chat sessions and their messages."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_session(self, title: str) -> ChatSession:
        now = time.time()
        session = ChatSession(new_id(12), title, now, now)
        self._db.write("INSERT INTO chat_sessions (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                       (session.id, title, now, now))
        return session

    def get_session(self, session_id: str) -> ChatSession:
        rows = self._db.query("SELECT * FROM chat_sessions WHERE id = ?", (session_id,))
        if not rows:
            raise NotFoundError(f"no chat session '{session_id}'")
        return ChatSession(rows[0]["id"], rows[0]["title"], rows[0]["created_at"], rows[0]["updated_at"])

    def sessions(self, limit: int = 200) -> list[ChatSession]:
        rows = self._db.query(
            "SELECT s.*, (SELECT content FROM chat_messages m WHERE m.session_id = s.id AND m.parent_id IS NULL "
            "ORDER BY seq DESC LIMIT 1) AS last FROM chat_sessions s ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [ChatSession(r["id"], r["title"], r["created_at"], r["updated_at"], _plain(r["last"] or "")[:120])
                for r in rows]

    def rename_session(self, session_id: str, title: str) -> ChatSession:
        self.get_session(session_id)
        self._db.write("UPDATE chat_sessions SET title = ?, updated_at = ? WHERE id = ?",
                       (title, time.time(), session_id))
        return self.get_session(session_id)

    def delete_session(self, session_id: str) -> None:
        self.get_session(session_id)
        self._db.write("DELETE FROM chat_sessions WHERE id = ?", (session_id,))

    def add_message(self, message: ChatMessage) -> ChatMessage:
        """Store a new message at the end of its session (its id and seq are given here)."""
        now = time.time()
        with self._db.transaction():
            row = self._db.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE session_id = ?",
                                        (message.session_id,)).fetchone()
            message.id, message.seq = message.id or new_id(12), int(row[0])
            message.created_at = message.updated_at = now
            self._db.conn.execute(
                "INSERT INTO chat_messages (id, session_id, seq, role, agent, content, status, parent_id, run_id, "
                "meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.id, message.session_id, message.seq, message.role, message.agent, redact(message.content),
                 message.status, message.parent_id, message.run_id, json.dumps(message.meta), now, now))
            self._db.conn.execute("UPDATE chat_sessions SET updated_at = ? WHERE id = ?", (now, message.session_id))
        return message

    def update_message(self, message: ChatMessage) -> ChatMessage:
        message.updated_at = time.time()
        self._db.write("UPDATE chat_messages SET content = ?, status = ?, run_id = ?, meta = ?, updated_at = ? "
                       "WHERE id = ?",
                       (redact(message.content), message.status, message.run_id, json.dumps(message.meta),
                        message.updated_at, message.id))
        return message

    def messages(self, session_id: str) -> list[ChatMessage]:
        self.get_session(session_id)
        return [_message(r) for r in self._db.query("SELECT * FROM chat_messages WHERE session_id = ? ORDER BY seq",
                                                    (session_id,))]

    def interrupt_streaming(self) -> int:
        """Messages left streaming by a server that stopped: mark them interrupted."""
        with self._db.transaction():
            return self._db.conn.execute("UPDATE chat_messages SET status = 'interrupted' WHERE status = 'streaming'"
                                         ).rowcount

"""SQLite persistence: runs, approvals, chat, schedules and jobs, and the write journal,
each a part of ``Store`` (see ``gorgon_nb.store.sqlite``)."""

from gorgon_nb.store.sqlite import Store

__all__ = ["Store"]

"""SQLite persistence for runs, steps, events and usage."""

from gorgon_nb.store.sqlite import Store

__all__ = ["Store"]

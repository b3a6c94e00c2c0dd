"""Notebook widgets: the live view of a run and the history of recent runs.

Both are anywidget widgets whose frontend code lives in ``static/``; each also prints as
plain text and Markdown, so a notebook run without a frontend still shows its results.
"""

from __future__ import annotations

from gorgon_nb.widgets.history import HistoryView
from gorgon_nb.widgets.run_view import RunView

__all__ = ["HistoryView", "RunView"]

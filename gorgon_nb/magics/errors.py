"""Errors a magic shows in the cell: a short message, not a traceback."""

from __future__ import annotations

__all__ = ["MagicError"]

_RED, _RESET = "\x1b[31m", "\x1b[0m"


class MagicError(Exception):
    """Shown by IPython as the message alone (``_render_traceback_``), and the cell fails.

    Failing the cell is deliberate: under papermill or nbval a broken workflow or a failed
    run must stop the notebook, not pass silently.
    """

    def _render_traceback_(self) -> list[str]:
        lines = str(self).splitlines() or [""]
        return [f"{_RED}gorgon: {lines[0]}{_RESET}", *lines[1:]]

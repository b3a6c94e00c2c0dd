"""IPython magics: ``%%gorgon`` and ``%gorgon``.

``%load_ext gorgon_nb`` registers them; everything heavy (the engine, the widgets, the
providers) is imported when a magic first runs, so loading stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    from gorgon_nb.magics.magics import GorgonMagics

    ipython.register_magics(GorgonMagics)


def unload_ipython_extension(ipython: Any) -> None:
    # IPython has no way to unregister magics; the next %load_ext replaces them.
    return None

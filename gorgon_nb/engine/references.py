"""Functions named by reference, ``MODULE:NAME``, as ``python:`` steps and tools name them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FunctionNotFound", "import_function"]


class FunctionNotFound(Exception):
    """A reference that names no function: its message says why and what to do."""


def import_function(ref: str, base_dir: Path | None) -> Callable[..., Any]:
    """The function ``ref`` names; a module beside the workflow file (in ``base_dir``)
    imports without being installed."""
    module_name, _, name = ref.partition(":")
    added = base_dir is not None and str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FunctionNotFound(f"cannot import module '{module_name}': {exc}. Install it, or put it next to the "
                               "workflow file or on PYTHONPATH") from None
    except Exception as exc:  # the module itself failed while it was imported
        raise FunctionNotFound(f"importing module '{module_name}' failed: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(str(base_dir))
    function = getattr(module, name, None)
    if not callable(function):
        raise FunctionNotFound(f"module '{module_name}' has no function '{name}'")
    return function

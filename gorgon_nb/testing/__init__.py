"""Tools for testing code that calls LLMs: a loopback server speaking the OpenAI and
Anthropic APIs.

The names are loaded on first use so that ``python -m gorgon_nb.testing.llm_server``
does not import the module twice (runpy warns when a package has already imported the
module it is asked to run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gorgon_nb.testing.llm_server import Fault, FaultKind, LLMServer, RecordedRequest, Responder

__all__ = ["Fault", "FaultKind", "LLMServer", "RecordedRequest", "Responder"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("gorgon_nb.testing.llm_server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

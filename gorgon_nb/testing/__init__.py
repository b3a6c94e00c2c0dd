"""Tools for testing code that calls outside services: loopback servers speaking the
OpenAI and Anthropic APIs (``LLMServer``) and the GitHub, Notion and Slack APIs
(``ServiceServer``).

The names are loaded on first use so that ``python -m gorgon_nb.testing.llm_server``
does not import the module twice (runpy warns when a package has already imported the
module it is asked to run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gorgon_nb.testing.llm_server import Fault, FaultKind, LLMServer, RecordedRequest, Responder
    from gorgon_nb.testing.services import (
        GitHubState,
        NotionState,
        ServiceFault,
        ServiceRequest,
        ServiceServer,
        SlackState,
    )

_MODULES = {
    "Fault": "gorgon_nb.testing.llm_server",
    "FaultKind": "gorgon_nb.testing.llm_server",
    "LLMServer": "gorgon_nb.testing.llm_server",
    "RecordedRequest": "gorgon_nb.testing.llm_server",
    "Responder": "gorgon_nb.testing.llm_server",
    "GitHubState": "gorgon_nb.testing.services",
    "NotionState": "gorgon_nb.testing.services",
    "ServiceFault": "gorgon_nb.testing.services",
    "ServiceRequest": "gorgon_nb.testing.services",
    "ServiceServer": "gorgon_nb.testing.services",
    "SlackState": "gorgon_nb.testing.services",
}

__all__ = [
    "Fault",
    "FaultKind",
    "GitHubState",
    "LLMServer",
    "NotionState",
    "RecordedRequest",
    "Responder",
    "ServiceFault",
    "ServiceRequest",
    "ServiceServer",
    "SlackState",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

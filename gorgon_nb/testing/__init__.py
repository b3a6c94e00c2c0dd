"""Tools for testing code that calls outside services: loopback servers speaking the
OpenAI and Anthropic APIs (``LLMServer``) and the GitHub, Notion, Slack and Gmail APIs
(``ServiceServer``; each fake API has its own module: ``github``, ``notion``, ``slack``,
``gmail``),
a model that calls tools by script (``ScriptedModel``) and a person who decides approvals
(``Approver``).

The names are loaded on first use so that ``python -m gorgon_nb.testing.llm_server``
does not import the module twice (runpy warns when a package has already imported the
module it is asked to run).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gorgon_nb.testing.github import GitHubState
    from gorgon_nb.testing.gmail import GmailState
    from gorgon_nb.testing.llm_server import (
        CallTool,
        Fault,
        FaultKind,
        LLMServer,
        RecordedRequest,
        Responder,
        ToolCalls,
        ToolResult,
    )
    from gorgon_nb.testing.notion import NotionState
    from gorgon_nb.testing.scripted import Approver, ScriptedModel
    from gorgon_nb.testing.service_server import ServiceFault, ServiceRequest, ServiceServer
    from gorgon_nb.testing.slack import SlackState

_MODULES = {
    "Approver": "gorgon_nb.testing.scripted",
    "ScriptedModel": "gorgon_nb.testing.scripted",
    "CallTool": "gorgon_nb.testing.llm_server",
    "ToolCalls": "gorgon_nb.testing.llm_server",
    "ToolResult": "gorgon_nb.testing.llm_server",
    "Fault": "gorgon_nb.testing.llm_server",
    "FaultKind": "gorgon_nb.testing.llm_server",
    "LLMServer": "gorgon_nb.testing.llm_server",
    "RecordedRequest": "gorgon_nb.testing.llm_server",
    "Responder": "gorgon_nb.testing.llm_server",
    "GitHubState": "gorgon_nb.testing.github",
    "GmailState": "gorgon_nb.testing.gmail",
    "NotionState": "gorgon_nb.testing.notion",
    "ServiceFault": "gorgon_nb.testing.service_server",
    "ServiceRequest": "gorgon_nb.testing.service_server",
    "ServiceServer": "gorgon_nb.testing.service_server",
    "SlackState": "gorgon_nb.testing.slack",
}

__all__ = [
    "Approver",
    "CallTool",
    "Fault",
    "FaultKind",
    "GitHubState",
    "GmailState",
    "LLMServer",
    "NotionState",
    "RecordedRequest",
    "Responder",
    "ScriptedModel",
    "ServiceFault",
    "ServiceRequest",
    "ServiceServer",
    "SlackState",
    "ToolCalls",
    "ToolResult",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

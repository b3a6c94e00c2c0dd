"""gorgon-nb: notebook-native multi-agent LLM workflows.

    >>> from gorgon_nb import Workflow
    >>> result = Workflow.load("dev_plan_build_test_review").run({"feature_request": "Add a CSV export"})
    >>> result.status, result.outputs["review"][:40]

Names are imported on first use, so ``import gorgon_nb`` (and ``%load_ext gorgon_nb``)
stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built sidebar is (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "gorgon-nb"}]


_EXPORTS: dict[str, str] = {
    "Workflow": "gorgon_nb.workflow",
    "run": "gorgon_nb.runner",
    "arun": "gorgon_nb.runner",
    "Runner": "gorgon_nb.runner",
    "RunResult": "gorgon_nb.model.run",
    "StepResult": "gorgon_nb.model.run",
    "RunStatus": "gorgon_nb.model.run",
    "StepStatus": "gorgon_nb.model.run",
    "RunFailed": "gorgon_nb.model.run",
    "Usage": "gorgon_nb.model.usage",
    "Event": "gorgon_nb.model.events",
    "Store": "gorgon_nb.store",
    "Config": "gorgon_nb.config",
    "load_config": "gorgon_nb.config",
    "Role": "gorgon_nb.roles",
    "GorgonError": "gorgon_nb.errors",
    "UsageError": "gorgon_nb.errors",
    "WorkflowError": "gorgon_nb.errors",
    "InputError": "gorgon_nb.errors",
    "ConfigError": "gorgon_nb.errors",
    "NotFoundError": "gorgon_nb.errors",
    "ExecutionError": "gorgon_nb.errors",
    "ProviderError": "gorgon_nb.errors",
    "BudgetExceededError": "gorgon_nb.errors",
    "Problem": "gorgon_nb.errors",
    "glue": "gorgon_nb.glued",
    "schedule": "gorgon_nb.workflow_jobs",
    "read_glued": "gorgon_nb.glued",
    "tool": "gorgon_nb.tools.python",
}

__all__ = [
    "BudgetExceededError",
    "Config",
    "ConfigError",
    "Event",
    "ExecutionError",
    "GorgonError",
    "InputError",
    "NotFoundError",
    "Problem",
    "ProviderError",
    "Role",
    "RunFailed",
    "RunResult",
    "RunStatus",
    "Runner",
    "StepResult",
    "StepStatus",
    "Store",
    "Usage",
    "UsageError",
    "Workflow",
    "WorkflowError",
    "__version__",
    "arun",
    "glue",
    "load_config",
    "read_glued",
    "run",
    "schedule",
    "tool",
]

if TYPE_CHECKING:
    from gorgon_nb.config import Config, load_config
    from gorgon_nb.errors import (
        BudgetExceededError,
        ConfigError,
        ExecutionError,
        GorgonError,
        InputError,
        NotFoundError,
        Problem,
        ProviderError,
        UsageError,
        WorkflowError,
    )
    from gorgon_nb.glued import glue, read_glued
    from gorgon_nb.model.events import Event
    from gorgon_nb.model.run import RunFailed, RunResult, RunStatus, StepResult, StepStatus
    from gorgon_nb.model.usage import Usage
    from gorgon_nb.roles import Role
    from gorgon_nb.runner import Runner, arun, run
    from gorgon_nb.store import Store
    from gorgon_nb.tools.python import tool
    from gorgon_nb.workflow import Workflow
    from gorgon_nb.workflow_jobs import schedule


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gorgon_nb``: register the ``%%gorgon`` and ``%gorgon`` magics."""
    from gorgon_nb.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from gorgon_nb.magics import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gorgon_nb' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

"""Plugins: what other packages add to gorgon-nb through entry points, as papermill's engines do.

=========================  ===============================================================
entry point group          what an entry point names
=========================  ===============================================================
``gorgon_nb.steps``        a ``model.kinds.StepKind``, or a module whose ``KIND``/``KINDS`` has them
``gorgon_nb.providers``    a ``providers.plugins.ProviderPlugin``
=========================  ===============================================================

A package declares them in its ``pyproject.toml``::

    [project.entry-points."gorgon_nb.providers"]
    echo = "my_package.echo:PLUGIN"

Each group is loaded once, on first use. An entry point that fails to import, or names
something of the wrong type, is reported by name (``gorgon providers`` and ``gorgon
validate`` show it) and logged; the others load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["PluginProblem", "load_group"]

logger = logging.getLogger("gorgon_nb")

T = TypeVar("T")


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded, and why."""

    group: str
    name: str
    value: str
    error: str

    def __str__(self) -> str:
        return f"plugin '{self.name}' ({self.value}, group {self.group}) could not be loaded: {self.error}"


def load_group(group: str, accept: Callable[[Any], list[T]]) -> tuple[list[tuple[EntryPoint, T]], list[PluginProblem]]:
    """Every entry point of ``group`` loaded and passed through ``accept`` (which gives what it
    found in the loaded object, or raises ``TypeError``); what failed, by name."""
    from importlib.metadata import entry_points  # scanning the installed packages: only when asked

    found: list[tuple[EntryPoint, T]] = []
    problems: list[PluginProblem] = []
    for point in entry_points(group=group):
        try:
            items = accept(point.load())
            if not items:
                raise TypeError("it names nothing this group takes")
            found.extend((point, item) for item in items)
        except Exception as exc:  # a broken plugin must not break the others
            problem = PluginProblem(group, point.name, point.value, f"{type(exc).__name__}: {exc}")
            problems.append(problem)
            logger.warning("%s", problem)
    return found, problems

"""Plugins: what other packages add to gorgon-nb through entry points, as papermill's engines do.

=========================  ===============================================================
entry point group          what an entry point names
=========================  ===============================================================
``gorgon_nb.steps``        a ``model.kinds.StepKind``, or a module whose ``KIND``/``KINDS`` has them
``gorgon_nb.tools``        a ``model.tools.ToolSet``, or a module whose ``TOOLSET``/``TOOLSETS`` has them
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

import dataclasses
import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["PluginProblem", "Registry", "load_group"]

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


class _Registered(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def origin(self) -> str: ...


R = TypeVar("R", bound=_Registered)


class Registry(Generic[R]):
    """Things of one type by key (step kinds, tool sets): gorgon-nb's own are the modules of
    ``package`` (each names its items ``single`` or lists them as ``many``), loaded on first
    use; other packages' come from the entry point ``group``, loaded when a key is not one
    of gorgon-nb's (or every item is asked for). A second item with a taken key is refused."""

    def __init__(self, what: str, cls: type[R], package: str, group: str, single: str, many: str) -> None:
        self.what, self.cls, self.package, self.group = what, cls, package, group
        self.single, self.many = single, many
        self.items: dict[str, R] = {}
        self._lock = threading.RLock()
        self._builtins = self._plugins = False
        self._problems: list[PluginProblem] = []

    def register(self, item: R) -> R:
        with self._lock:
            known = self.items.get(item.key)
            if known is not None and known is not item:
                raise ValueError(f"{self.what} '{item.key}' is already registered (by {known.origin})")
            self.items[item.key] = item
        return item

    def of_module(self, module: Any) -> list[R]:
        found = getattr(module, self.many, None) or ([getattr(module, self.single)]
                                                      if hasattr(module, self.single) else [])
        return [item for item in found if isinstance(item, self.cls)]

    def load_builtins(self) -> dict[str, R]:
        """gorgon-nb's own items, loaded once; everything registered so far."""
        if not self._builtins:
            with self._lock:
                if not self._builtins:
                    package = importlib.import_module(self.package)
                    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                        if not info.name.startswith("_"):
                            for item in self.of_module(importlib.import_module(f"{self.package}.{info.name}")):
                                self.register(item)
                    self._builtins = True
        return self.items

    def load_plugins(self) -> dict[str, R]:
        """The plugins' items too, loaded once; everything registered so far."""
        self.load_builtins()
        if not self._plugins:
            with self._lock:
                if not self._plugins:
                    def accept(loaded: Any) -> list[R]:
                        return [loaded] if isinstance(loaded, self.cls) else self.of_module(loaded)

                    found, problems = load_group(self.group, accept)
                    for point, item in found:
                        origin = point.dist.name if point.dist else point.value
                        try:
                            self.register(dataclasses.replace(item, origin=origin))  # type: ignore[type-var]
                        except ValueError as exc:  # a key taken already: the first one keeps it
                            problems.append(PluginProblem(self.group, point.name, point.value, str(exc)))
                    self._problems.extend(problems)
                    self._plugins = True
        return self.items

    def problems(self) -> list[PluginProblem]:
        """The plugins that failed to load (loading them all first)."""
        self.load_plugins()
        return list(self._problems)

    def find(self, key: str) -> R | None:
        items = self.load_builtins()
        if key not in items:
            items = self.load_plugins()
        return items.get(key)

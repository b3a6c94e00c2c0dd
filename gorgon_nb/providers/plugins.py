"""Providers from other packages, through the ``gorgon_nb.providers`` entry point group.

A package names a ``ProviderPlugin`` in its ``pyproject.toml``::

    [project.entry-points."gorgon_nb.providers"]
    echo = "my_package.echo:PLUGIN"

and workflows then write ``model: echo:some-model``. Plugins are loaded the first time a
model names a provider the config does not know, and by ``gorgon providers``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gorgon_nb.config import Config, ProviderSettings
from gorgon_nb.plugins import PluginProblem, load_group
from gorgon_nb.providers.base import Provider

__all__ = ["ENTRY_POINT_GROUP", "ProviderPlugin", "plugin_problems", "plugin_providers", "plugin_settings"]

ENTRY_POINT_GROUP = "gorgon_nb.providers"


@dataclass(frozen=True)
class ProviderPlugin:
    """A provider another package adds: ``name`` is the prefix workflows write (``name:model``);
    ``create`` makes the provider from its settings and the config (its ``env`` holds the keys)."""

    name: str
    create: Callable[[ProviderSettings, Config], Provider]
    model: str | None = None  # the model used when only the provider is named
    api_key_env: str | None = None  # the variable holding its key, if it needs one
    concurrency: int = 4
    free: bool = False  # its calls cost nothing
    description: str = ""


_lock = threading.Lock()
_loaded: tuple[dict[str, tuple[str, ProviderPlugin]], list[PluginProblem]] | None = None


def _load() -> tuple[dict[str, tuple[str, ProviderPlugin]], list[PluginProblem]]:
    global _loaded
    with _lock:
        if _loaded is None:
            found, problems = load_group(ENTRY_POINT_GROUP, lambda loaded: (
                [loaded] if isinstance(loaded, ProviderPlugin) else []))
            plugins: dict[str, tuple[str, ProviderPlugin]] = {}
            for point, plugin in found:
                plugins.setdefault(plugin.name, (point.dist.name if point.dist else point.value, plugin))
            _loaded = plugins, problems
        return _loaded


def plugin_providers() -> dict[str, tuple[str, ProviderPlugin]]:
    """Each plugin provider by name, with the package it comes from."""
    return dict(_load()[0])


def plugin_problems() -> list[PluginProblem]:
    return list(_load()[1])


def plugin_settings(name: str, config: Config) -> ProviderSettings | None:
    """The settings of plugin provider ``name``, added to ``config`` (None when no plugin has it).
    A provider of the config of the same name wins over a plugin's."""
    if name in config.providers:
        return config.providers[name]
    found = plugin_providers().get(name)
    if found is None:
        return None
    plugin = found[1]
    settings = ProviderSettings(name=name, kind="plugin", model=plugin.model, api_key_env=plugin.api_key_env,
                                concurrency=plugin.concurrency, free=plugin.free)
    config.providers[name] = settings
    return settings

"""Shared fixtures: an isolated GORGON_HOME, a config, a store in a real SQLite file, a runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from support import SCRUBBED, ipython

from gorgon_nb.config import Config, load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh GORGON_HOME for every test, with no API keys set."""
    path = tmp_path_factory.mktemp("gorgon-home")
    monkeypatch.setenv("GORGON_HOME", str(path))
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    yield path


@pytest.fixture
def config(home: Path) -> Config:
    return load_config()


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with Store(home / "test.db") as opened:
        yield opened


@pytest.fixture
def runner(config: Config, store: Store) -> Runner:
    return Runner(config, store)


@pytest.fixture
def ip(home: Path) -> Iterator[InteractiveShell]:
    """The real IPython shell with gorgon_nb loaded, and no ``_gorgon`` left by another test."""
    shell = ipython()
    shell.user_ns.pop("_gorgon", None)
    yield shell
    shell.user_ns.pop("_gorgon", None)

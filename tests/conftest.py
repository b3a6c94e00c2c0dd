"""Shared fixtures: an isolated GORGON_HOME, a config, a store in a real SQLite file, a runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gorgon_nb.config import Config, load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"

# Keys of the real services must never leak into tests: every test runs as a fresh user.
_SCRUBBED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GORGON_MODEL",
             "GORGON_CONFIG", "OLLAMA_HOST", "GITHUB_TOKEN", "NOTION_TOKEN", "SLACK_BOT_TOKEN")


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh GORGON_HOME for every test, with no API keys set."""
    path = tmp_path_factory.mktemp("gorgon-home")
    monkeypatch.setenv("GORGON_HOME", str(path))
    for name in _SCRUBBED:
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


def env_without_keys() -> dict[str, str]:
    """The environment for a subprocess, with the same scrubbing as the ``home`` fixture."""
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED}

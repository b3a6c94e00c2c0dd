"""Fixtures: the real SDKs against a loopback GitHub, Notion and Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import ENV, TOKENS, configure

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer


@pytest.fixture
def svc() -> Iterator[ServiceServer]:
    with ServiceServer(tokens=TOKENS) as server:
        server.github.login = "octo"
        server.github.add_repo("octo/site", description="The web site", default_branch="main")
        server.github.add_repo("octo/tools", description="Small tools", default_branch="main")
        server.github.add_file("octo/site", "docs/guide.md", "# Guide\n\nold line\n")
        server.notion.add_database("db-tasks", title="Tasks", properties={
            "Name": "title", "Status": "select", "Tags": "multi_select", "Type": "select"})
        server.notion.add_page(parent_database="db-tasks", properties={"Name": "Write docs", "Status": "In Progress"})
        server.notion.add_page(parent_database="db-tasks", properties={"Name": "Ship 1.0", "Status": "Done"})
        server.slack.add_channel("C100", "general")
        yield server


@pytest.fixture
def wired(home: Path, svc: ServiceServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """A runner whose services are the loopback ones, with every token set."""
    configure(home, svc)
    for service, name in ENV.items():
        monkeypatch.setenv(name, TOKENS[service])
    with Store(home / "gorgon.db") as store:
        yield Runner(load_config(), store)

"""The real SDKs against a loopback GitHub, Notion and Slack, and a person who decides approvals."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer
from gorgon_nb.workflow import Workflow

TOKENS = {"github": "ghp_loopback_token_1", "notion": "ntn_loopback_token_2", "slack": "xoxb-loopback-token-3"}
ENV = {"github": "GITHUB_TOKEN", "notion": "NOTION_TOKEN", "slack": "SLACK_BOT_TOKEN"}


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


def configure(home: Path, svc: ServiceServer, extra: str = "") -> None:
    """A config file pointing each service at the loopback server."""
    (home / "config.toml").write_text(
        f'[integrations.github]\nbase_url = "{svc.github_url}"\n{extra}\n'
        f'[integrations.notion]\nbase_url = "{svc.notion_url}"\n\n'
        f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n', encoding="utf-8")


@pytest.fixture
def wired(home: Path, svc: ServiceServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """A runner whose services are the loopback ones, with every token set."""
    configure(home, svc)
    for service, name in ENV.items():
        monkeypatch.setenv(name, TOKENS[service])
    with Store(home / "gorgon.db") as store:
        yield Runner(load_config(), store)


@dataclass
class Person:
    """Decides every approval as it is asked, from a connection of its own (as from another process)."""

    db: Path
    approve: bool = True
    comment: str = ""
    seen: list[ApprovalRequest] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Person:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        with Store(self.db) as store:
            while not self._stop.is_set():
                for request in store.list_approvals(status="pending"):
                    self.seen.append(request)
                    store.decide_approval(request.id, approve=self.approve, by="alice", comment=self.comment)
                time.sleep(0.05)


def run(runner: Runner, steps: str, *, approve: bool = True, comment: str = "", **options: Any
        ) -> tuple[RunResult, list[ApprovalRequest]]:
    """Run a workflow of ``steps`` (YAML) while a person approves (or rejects) each write."""
    workflow = Workflow.from_yaml("id: t\nsteps:\n" + steps)
    assert runner.store is not None and runner.store.path is not None
    with Person(runner.store.path, approve, comment) as person:
        result = runner.run(workflow, **options)
    return result, person.seen

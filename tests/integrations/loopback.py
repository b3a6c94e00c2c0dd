"""Helpers of the integration tests: tokens, the config pointing at the loopback services,
and a person who decides approvals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer
from gorgon_nb.workflow import Workflow

TOKENS = {"github": "ghp_loopback_token_1", "notion": "ntn_loopback_token_2", "slack": "xoxb-loopback-token-3"}
ENV = {"github": "GITHUB_TOKEN", "notion": "NOTION_TOKEN", "slack": "SLACK_BOT_TOKEN"}



def configure(home: Path, svc: ServiceServer, extra: str = "") -> None:
    """A config file pointing each service at the loopback server."""
    (home / "config.toml").write_text(
        f'[integrations.github]\nbase_url = "{svc.github_url}"\n{extra}\n'
        f'[integrations.notion]\nbase_url = "{svc.notion_url}"\n\n'
        f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n', encoding="utf-8")



@dataclass
class Person:
    """Decides every approval as it is asked, from a connection of its own (as from another process)."""

    db: Path
    approve: bool = True
    comment: str = ""
    seen: list[ApprovalRequest] = field(default_factory=list)
    meanwhile: Callable[[], None] | None = None  # done after a request is seen, before it is decided
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
                for request in store.approvals.recent(status="pending"):
                    self.seen.append(request)
                    if self.meanwhile is not None:
                        self.meanwhile()
                    store.approvals.decide(request.id, approve=self.approve, by="alice", comment=self.comment)
                time.sleep(0.05)


def run(runner: Runner, steps: str, *, approve: bool = True, comment: str = "", **options: Any
        ) -> tuple[RunResult, list[ApprovalRequest]]:
    """Run a workflow of ``steps`` (YAML) while a person approves (or rejects) each write."""
    workflow = Workflow.from_yaml("id: t\nsteps:\n" + steps)
    assert runner.store is not None and runner.store.path is not None
    with Person(runner.store.path, approve, comment) as person:
        result = runner.run(workflow, **options)
    return result, person.seen

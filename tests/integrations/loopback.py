"""Helpers of the integration tests: tokens, the config pointing at the loopback services,
and a run while a person (``gorgon_nb.testing.Approver``) decides approvals."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import until

from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver, ServiceServer
from gorgon_nb.testing._api import Service
from gorgon_nb.workflow import Workflow

TOKENS = {"github": "ghp_loopback_token_1", "notion": "ntn_loopback_token_2", "slack": "xoxb-loopback-token-3",
          "gmail": "ya29.loopback-token-4"}
ENV = {"github": "GITHUB_TOKEN", "notion": "NOTION_TOKEN", "slack": "SLACK_BOT_TOKEN"}
GMAIL_VALID_UNTIL = "2099-01-01T00:00:00Z"  # the access token in the token file needs no refresh



def configure(home: Path, svc: ServiceServer, extra: str = "") -> None:
    """A config file pointing each service at the loopback server, and Gmail's token file."""
    token_file = home / "gmail-token.json"
    token_file.write_text(json.dumps(svc.gmail.token_file(TOKENS["gmail"], expiry=GMAIL_VALID_UNTIL)),
                          encoding="utf-8")
    (home / "config.toml").write_text(
        f'[integrations.github]\nbase_url = "{svc.github_url}"\n{extra}\n'
        f'[integrations.notion]\nbase_url = "{svc.notion_url}"\n\n'
        f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n\n'
        f'[integrations.gmail]\nbase_url = "{svc.gmail_url}"\ntoken_url = "{svc.gmail.token_url}"\n'
        f'token_file = "{token_file}"\n', encoding="utf-8")



def run(runner: Runner, steps: str, *, approve: bool = True, comment: str = "", **options: Any
        ) -> tuple[RunResult, list[ApprovalRequest]]:
    """Run a workflow of ``steps`` (YAML) while a person approves (or rejects) each write."""
    workflow = Workflow.from_yaml("id: t\nsteps:\n" + steps)
    assert runner.store is not None and runner.store.path is not None
    with Approver(runner.store.path, approve, comment) as person:
        result = runner.run(workflow, **options)
    return result, person.seen




def killed_on_third_write(home: Path, svc: ServiceServer, workflow: Path, service: Service, path: str) -> str:
    """Run ``workflow`` in a ``gorgon run`` process while ``service`` holds each request to
    ``path`` (a pattern) for 2 s; kill it with SIGKILL once the third is held; its run id."""
    svc.slow(service, "POST", path, seconds=2.0, times=3)
    env = {**os.environ, "GORGON_HOME": str(home), **{ENV[s]: TOKENS[s] for s in ENV}}
    process = subprocess.Popen([str(Path(sys.executable).with_name("gorgon")), "run", str(workflow)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until(lambda: len([r for r in svc.requests_to(service) if fnmatch.fnmatchcase(r.path, path)]) == 3)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    with Store(home / "gorgon.db") as store:
        (run,) = store.runs.recent(1)
        return run.run_id

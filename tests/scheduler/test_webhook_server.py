"""``gorgon scheduler --webhooks PORT``: a real scheduler process that takes webhook
deliveries without a Jupyter server.

The test holds the scheduler's lease itself, so the process only serves webhooks and the
queued job stays as the delivery left it (running it is the scheduler's own tests' part).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gorgon_nb.scheduler.loop import LEASE
from gorgon_nb.scheduler.webhooks import import_gorgon_webhook
from gorgon_nb.store import Store
from gorgon_nb.testing.webhooks import github_headers, push_payload

GORGON = Path(sys.executable).with_name("gorgon")
GORGON_FILES = Path(__file__).resolve().parents[1] / "gorgon_webhooks"
SECRET = "it-is-a-shared-secret-0123456789"
WAIT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


@pytest.fixture
def served(home: Path, tmp_path: Path, config: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Store]]:
    """Gorgon's push webhook, and a scheduler process taking its deliveries on a free port."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, root / name)
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    from gorgon_nb.config import load_config

    store = Store(load_config().db_path)
    import_gorgon_webhook(store, load_config(), root / "webhook_github_push.json", root=root, secret_env="PUSH_SECRET")
    assert store.jobs.acquire_lease(LEASE, "the-test", ttl=3600)
    port = free_port()
    log = (home / "scheduler.log").open("wb")
    process = subprocess.Popen([str(GORGON), "scheduler", "--pool", "0", "--webhooks", str(port)],
                               env={**os.environ, "GORGON_HOME": str(home)}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/gorgon/webhooks/github_push_handler"
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, (home / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the webhook server did not start"
            time.sleep(0.1)
    yield url, store
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(30) == 0, (home / "scheduler.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
        store.close()


def test_the_scheduler_takes_signed_deliveries_and_queues_their_jobs(served: tuple[str, Store]) -> None:
    url, store = served
    body = push_payload("octo/hello", pusher="alice", message="Fix the parser")
    code, _, answer = post(url, body, github_headers(SECRET, body, delivery="d-1"))
    assert code == 202, answer
    job = store.jobs.get(str(answer["job"]))
    assert job.notebook == "simple_ai_completion.json"
    assert job.parameters["prompt"] == ("Summarize this code push: Repository octo/hello, pushed by alice, "
                                        "commit: Fix the parser")
    assert store.webhooks.delivery(str(answer["delivery"])).status == "accepted"

    again, _, same = post(url, body, github_headers(SECRET, body, delivery="d-1"))
    assert again == 200 and same["job"] == job.id
    forged, _, _ = post(url, body, {**github_headers(SECRET, body), "X-Hub-Signature-256": "sha256=" + "1" * 64})
    assert forged == 401
    large = b'{"x": "' + b"y" * (1024 * 1024) + b'"}'
    too_large, _, _ = post(url, large, github_headers(SECRET, large))
    assert too_large == 413
    assert len(store.jobs.recent(50)) == 1 and len(store.webhooks.deliveries()) == 2


def test_a_port_in_use_is_a_clear_error(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(GORGON), "scheduler", "--pool", "0", "--webhooks", str(port)], capture_output=True,
                              text=True, env={**os.environ, "GORGON_HOME": str(home)}, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port} for webhooks" in " ".join(done.stderr.split())

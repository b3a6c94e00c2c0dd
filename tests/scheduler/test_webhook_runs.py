"""A webhook delivery, end to end: a signed GitHub push to ``gorgon scheduler --webhooks``
queues a job, the same scheduler runs Gorgon's workflow with the mapped inputs on the
offline provider, and the delivery shows the run it started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_webhook_server import GORGON_FILES, SECRET, WAIT, free_port, post

from gorgon_nb.config import load_config
from gorgon_nb.scheduler.webhooks import import_gorgon_webhook
from gorgon_nb.store import Store
from gorgon_nb.testing import LLMServer
from gorgon_nb.testing.webhooks import github_headers, push_payload
from gorgon_nb.workflow import declared_inputs

GORGON = Path(sys.executable).with_name("gorgon")


def test_a_push_runs_gorgons_workflow_and_its_delivery_names_the_run(
        home: Path, tmp_path: Path, config: object, ) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, root / name)
    # Gorgon's workflow asks for gpt-4o-mini: the real OpenAI SDK answers from the loopback server
    llm = LLMServer(api_key="sk-loopback", responder=lambda request: "A parser fix by alice.").start()
    (home / "config.toml").write_text(f'[providers.openai]\nbase_url = "{llm.openai_base_url}"\n')
    env = {**os.environ, "GORGON_HOME": str(home), "PUSH_SECRET": SECRET, "OPENAI_API_KEY": "sk-loopback"}
    os.environ["PUSH_SECRET"] = SECRET
    try:
        with Store(load_config().db_path) as store:
            hook = import_gorgon_webhook(store, load_config(), root / "webhook_github_push.json", root=root,
                                         secret_env="PUSH_SECRET", inputs_of=declared_inputs)
        # the workflow has one input, prompt: the mapped values only fill its {{placeholders}}
        assert [(m.target_variable, m.as_input) for m in hook.payload_mappings] == [
            ("repo_name", False), ("pusher", False), ("commit_message", False)]
    finally:
        del os.environ["PUSH_SECRET"]
    port = free_port()
    log = (home / "scheduler.log").open("wb")
    process = subprocess.Popen([str(GORGON), "scheduler", "--pool", "0", "--tick", "0.5", "--webhooks", str(port)],
                               env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}/gorgon/webhooks/github_push_handler"
        body = push_payload("octo/hello", pusher="alice", message="Fix the parser")
        deadline = time.monotonic() + WAIT
        while True:
            try:
                code, _, answer = post(url, body, github_headers(SECRET, body, delivery="push-1"))
                break
            except OSError:  # not listening yet
                assert process.poll() is None, (home / "scheduler.log").read_text()
                assert time.monotonic() < deadline, "the webhook server did not start"
                time.sleep(0.2)
        assert code == 202, answer
        with Store(load_config().db_path) as store:
            deadline = time.monotonic() + 120
            while (job := store.jobs.get(str(answer["job"]))).state not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, f"the job is still {job.state}"
                time.sleep(0.5)
            assert job.state == "succeeded", job.error
            (run_id,) = job.run_ids
            run = store.runs.get(run_id)
            assert run.status == "succeeded"
            assert run.inputs == {"prompt": "Summarize this code push: Repository octo/hello, pushed by alice, commit: Fix the parser"}
        listed = subprocess.run([str(GORGON), "webhooks", "deliveries", "--json"], env=env, capture_output=True,
                                text=True, timeout=120, check=True)
        (delivery,) = json.loads(listed.stdout)
        assert (delivery["status"], delivery["run_id"], delivery["job_state"]) == ("accepted", run_id, "succeeded")
        (asked,) = llm.requests
        assert asked.model == "gpt-4o-mini" and "Repository octo/hello, pushed by alice" in asked.prompt
    finally:
        llm.stop()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()

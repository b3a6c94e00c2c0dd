"""The webhooks at the end of the Jobs tab in a real JupyterLab: webhooks, the deliveries GitHub-shaped POSTs made
(signed, without the Jupyter token), and Replay on a rate-limited one. Screenshots in the
light and the dark theme go to test-artifacts/sidebar_webhooks_{light,dark}.png.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_lab_widget import UI_TIMEOUT
from test_sidebar import open_lab, open_tab, screenshots

from gorgon_nb.config import load_config
from gorgon_nb.scheduler.webhooks import import_gorgon_webhook
from gorgon_nb.store import Store
from gorgon_nb.testing.webhooks import github_headers, push_payload

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "it-is-a-shared-secret-0123456789"
LAB_CONFIG = f'[webhooks.github_push_handler]\nsecret = "{SECRET}"\n'
GORGON_FILES = Path(__file__).resolve().parents[1] / "gorgon_webhooks"


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    return configured_lab_server


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


async def test_the_jobs_tab_lists_webhook_deliveries_and_replays_a_rate_limited_one(
    page: Any, lab_server: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, lab_server.root / name)
    config = load_config(lab_server.home / "config.toml", env={"GORGON_HOME": str(lab_server.home)})
    with Store(config.db_path) as store:
        import_gorgon_webhook(store, config, lab_server.root / "webhook_github_push.json", root=lab_server.root,
                              rate=1)
        url = f"{lab_server.base_url}/gorgon/webhooks/github_push_handler"
        codes = []
        for delivery in ("d-1", "d-2"):
            body = push_payload("octo/hello", message=delivery)
            codes.append(post(url, body, github_headers(SECRET, body, delivery=delivery)))
        assert codes == [202, 429]

        await open_lab(page, lab_server)
        tab = (await open_tab(page, "Jobs")).locator(".jp-gorgon-webhooks")
        hook = tab.locator(".jp-gorgon-webhook-row[data-webhook='github_push_handler']")
        await expect(hook).to_contain_text("simple_ai_completion.json", timeout=UI_TIMEOUT)
        await tab.scroll_into_view_if_needed()
        await expect(hook.locator(".jp-gorgon-status")).to_have_text("active")
        rows = tab.locator(".jp-gorgon-delivery-row")
        await expect(rows).to_have_count(2, timeout=UI_TIMEOUT)
        limited = tab.locator(".jp-gorgon-delivery-row[data-status='rate_limited']")
        await expect(limited).to_contain_text("the rate is 1")
        await expect(tab.locator(".jp-gorgon-delivery-row[data-status='accepted'] .jp-gorgon-replay")).to_have_count(0)
        await screenshots(page, artifacts, "webhooks")

        await limited.locator(".jp-gorgon-replay").click()
        await expect(rows).to_have_count(3, timeout=UI_TIMEOUT)
        newest = rows.first
        await expect(newest).to_have_attribute("data-status", "accepted")
        await expect(newest).to_contain_text("replay of")
        replay = store.webhooks.deliveries(limit=1)[0]
        assert replay.replay_of is not None and replay.job_id is not None
        assert store.jobs.get(replay.job_id).parameters["repo_name"] == "octo/hello"
        assert len(store.jobs.recent(10)) == 2

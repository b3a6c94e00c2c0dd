"""``%gorgon webhooks`` in a real IPython shell: the webhooks, their deliveries, a replay."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from gorgon_nb.config import load_config
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.runner import default_runner
from gorgon_nb.scheduler.webhook_server import receive
from gorgon_nb.scheduler.webhooks import import_gorgon_webhook
from gorgon_nb.testing.webhooks import github_headers, push_payload

GORGON_FILES = Path(__file__).resolve().parents[1] / "gorgon_webhooks"
SECRET = "it-is-a-shared-secret-0123456789"


def test_webhooks_and_their_deliveries_from_the_notebook(ip: InteractiveShell, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert "no webhooks yet" in ip.run_line_magic("gorgon", "webhooks")._repr_markdown_()
    for name in ("webhook_github_push.json", "simple_ai_completion.json"):
        shutil.copyfile(GORGON_FILES / name, tmp_path / name)
    monkeypatch.setenv("PUSH_SECRET", SECRET)
    store = default_runner().store
    import_gorgon_webhook(store, load_config(), tmp_path / "webhook_github_push.json", root=tmp_path,
                          secret_env="PUSH_SECRET", rate=1)
    answers = []
    for delivery in ("d-1", "d-2"):
        body = push_payload("octo/hello", message=delivery)
        answers.append(receive(store, load_config(), "github_push_handler", body,
                               github_headers(SECRET, body, delivery=delivery)))
    assert [a.status for a in answers] == [202, 429]

    shown = ip.run_line_magic("gorgon", "webhooks")._repr_markdown_()
    assert "**Webhooks**" in shown and "github_push_handler" in shown and "$PUSH_SECRET" in shown
    assert "**Recent deliveries**" in shown and "rate limited" in shown and "accepted" in shown
    assert SECRET not in shown
    listed = ip.run_line_magic("gorgon", "webhooks deliveries github_push_handler")
    assert [row[3] for row in listed.rows] == ["rate limited", "accepted"]

    limited = answers[1].body["delivery"]
    replayed = ip.run_line_magic("gorgon", f"webhooks replay {limited}")._repr_markdown_()
    assert replayed.startswith(f"Delivery `{limited}` replayed as")
    assert len(store.jobs.recent(10)) == 2
    with pytest.raises(MagicError) as twice:
        ip.run_line_magic("gorgon", f"webhooks replay {limited}")
    assert "replayed already" in str(twice.value)
    with pytest.raises(MagicError) as unknown:
        ip.run_line_magic("gorgon", "webhooks deliveries nobody")
    assert "no webhook 'nobody'" in str(unknown.value)

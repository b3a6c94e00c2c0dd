"""The README's install, in a fresh virtualenv: what the base install brings is enough for the
documented features (a Python kernel for notebook steps and scheduled notebooks), and a kernel
that is missing is reported at schedule time with the command that fixes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gorgon_nb.testing.notebooks import write_notebook

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A new virtualenv with `pip install -e .` (the pins of requirements.lock, as the README's
    install gets them), and no extra."""
    folder = tmp_path_factory.mktemp("fresh-install")
    venv = folder / "venv"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN", "_MODEL", "_CONFIG"))}
    env.update(GORGON_HOME=str(folder / "home"), PIP_CONSTRAINT=str(REPO / "requirements.lock"),
               PIP_DISABLE_PIP_VERSION_CHECK="1", SKIP_JUPYTER_BUILDER="1")
    env.pop("VIRTUAL_ENV", None)
    made = _run(sys.executable, "-m", "venv", venv, cwd=folder, env=env)
    assert made.returncode == 0, made.stderr
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-e", REPO, cwd=folder, env=env,
                     timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    yield venv, env


def test_the_base_install_runs_a_notebook_step_and_schedules_a_notebook(
        fresh: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = fresh
    write_notebook(tmp_path / "square.ipynb", "from gorgon_nb import glue\nglue('square', n * n)",
                   parameters="n = 0")
    (tmp_path / "wf.yaml").write_text(
        "id: nb\nallow_code: true\nsteps:\n  - id: sq\n    notebook: square.ipynb\n    parameters: {n: 7}\n")
    ran = _run(venv / "bin" / "gorgon", "run", "wf.yaml", "--json", "--allow-code", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert '"square": 49' in ran.stdout
    scheduled = _run(venv / "bin" / "gorgon", "schedule", "square.ipynb", "--every", "1h", cwd=tmp_path, env=env)
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    said = " ".join(scheduled.stdout.split())
    assert "no scheduler is running" in said and "pip install 'gorgon-nb[lab]'" in said


def test_a_missing_kernel_is_refused_at_schedule_time_with_the_fix(
        fresh: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = fresh
    write_notebook(tmp_path / "report.ipynb", "x = 1")
    removed = _run(venv / "bin" / "python", "-m", "pip", "uninstall", "--yes", "--quiet", "ipykernel",
                   cwd=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    refused = _run(venv / "bin" / "gorgon", "schedule", "report.ipynb", "--every", "1h", cwd=tmp_path, env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "kernel 'python3' is not installed" in message and "pip install ipykernel" in message
    assert "Traceback" not in refused.stderr
    listed = _run(venv / "bin" / "gorgon", "schedules", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "report.ipynb" not in [s["notebook"] for s in json.loads(listed.stdout)]


def test_gmail_steps_without_the_gmail_extra_say_how_to_install_it(
        fresh: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv, env = fresh
    token = tmp_path / "token.json"
    token.write_text('{"refresh_token": "r", "client_id": "c", "client_secret": "s", "token": "t"}')
    (tmp_path / "mail.yaml").write_text("id: mail\nsteps:\n  - {id: inbox, gmail: list_messages}\n")
    checked = _run(venv / "bin" / "gorgon", "validate", "mail.yaml", cwd=tmp_path,
                   env={**env, "GORGON_GMAIL_TOKEN_FILE": str(token)})
    assert checked.returncode == 2
    said = " ".join((checked.stdout + checked.stderr).split())
    assert "Gmail steps need Google's client library, which is not installed" in said
    assert "pip install 'gorgon-nb[gmail]'" in said and "Traceback" not in said

"""A plugin package installed with pip adds a step kind and a provider; a broken one is named."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import env_without_keys

GORGON = str(Path(sys.executable).parent / "gorgon")
PLUGIN = Path(__file__).parent / "echo_plugin" / "gorgon_echo_plugin"
ENTRY_POINTS = """\
[gorgon_nb.steps]
shout = gorgon_echo_plugin:KIND
vanished = gorgon_echo_plugin.vanished:KIND

[gorgon_nb.providers]
reverse = gorgon_echo_plugin:PROVIDER
not_a_provider = gorgon_echo_plugin:KIND
"""
WORKFLOW = """\
id: plugged
inputs:
  name: {type: string}
steps:
  - id: loud
    shout: "hello {{ inputs.name }}"
  - id: mirror
    llm: "{{ steps.loud.output }}"
    model: reverse
"""


def _wheel(folder: Path) -> Path:
    """The plugin as a wheel, written by hand (no build backend, no network)."""
    dist = "gorgon_echo_plugin-1.0.dist-info"
    files = {
        "gorgon_echo_plugin/__init__.py": (PLUGIN / "__init__.py").read_bytes(),
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: gorgon-echo-plugin\nVersion: 1.0\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": ENTRY_POINTS.encode(),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    wheel = folder / "gorgon_echo_plugin-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed by pip into a folder that the test's commands put on their path."""
    folder = tmp_path_factory.mktemp("plugin")
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(_wheel(folder))], check=True)
    return target


def _gorgon(site: Path, home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**env_without_keys(), "GORGON_HOME": str(home), "PYTHONPATH": str(site), "COLUMNS": "200"}
    env.pop("GORGON_DEBUG", None)
    return subprocess.run([GORGON, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_plugin_step_kind_and_provider_run_a_workflow(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "plugged.yaml").write_text(WORKFLOW)
    done = _gorgon(installed, tmp_path / "home", "run", "plugged.yaml", "--json", "-v", "name=ada", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    assert run["outputs"]["loud"] == "HELLO ADA!"
    assert run["outputs"]["mirror"] == "!ADA OLLEH"  # the reverse provider answered


def test_gorgon_providers_lists_plugin_providers_and_names_broken_ones(installed: Path, tmp_path: Path) -> None:
    done = _gorgon(installed, tmp_path / "home", "providers", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    providers = {p["name"]: p for p in json.loads(done.stdout)["providers"]}
    assert providers["reverse"]["kind"] == "plugin" and providers["reverse"]["ready"]
    assert providers["reverse"]["model"] == "backwards"
    assert "gorgon-echo-plugin" in providers["reverse"]["detail"]
    broken = providers["not_a_provider"]
    assert not broken["ready"] and "could not be loaded" in broken["detail"]
    assert providers["offline"]["ready"]  # the built-in providers are all still there


def test_a_broken_step_plugin_is_named_and_the_rest_still_work(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text("id: odd\nsteps:\n  - id: a\n    whisper: hi\n")
    done = _gorgon(installed, tmp_path / "home", "validate", "odd.yaml", cwd=tmp_path)
    assert done.returncode != 0
    assert "this step has no kind" in done.stdout + done.stderr
    assert "plugin 'vanished'" in done.stdout + done.stderr  # the broken plugin, by name
    assert "shout" in done.stdout + done.stderr  # the working plugin's kind is offered


def test_without_the_plugin_its_kind_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "plugged.yaml").write_text(WORKFLOW)
    env = {**env_without_keys(), "GORGON_HOME": str(tmp_path / "home")}
    done = subprocess.run([GORGON, "validate", "plugged.yaml"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0 and "this step has no kind" in done.stdout + done.stderr

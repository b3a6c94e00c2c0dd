"""A real JupyterLab server and a headless Chromium driven by Playwright, for the browser tests.

Chromium comes from Debian (``apt-get install -y chromium``); Playwright's own browser
download is never used. Every test in this folder is marked ``browser``: deselect them with
``-m "not browser"``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from support import env_without_keys

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 15.0
INSTALL_HINT = (
    f"Chromium is needed for the browser tests and {CHROMIUM} is missing. Install it with\n"
    "    apt-get update && apt-get install -y chromium\n"
    "(scripts/test.sh does this), or deselect these tests with -m 'not browser'."
)

# JupyterLab settings for the test user: no "Jupyter news" question, no update check. Both
# would otherwise raise a toast over the bottom right of every screenshot.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
# Variables of the caller's environment that would point the server at the caller's files.
JUPYTER_VARIABLES = ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTERLAB_DIR", "JUPYTER_TOKEN")



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


# -- the server --------------------------------------------------------------------------------


@dataclass
class LabServer:
    """A running ``jupyter lab``: where it listens, its token, its folders and its log."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    root: Path
    home: Path
    log: Path

    def url(self, path: str, *flags: str) -> str:
        """The address of ``path`` (``/lab/tree/x.ipynb``), logged in with the token.

        ``flags`` are bare query parameters, like JupyterLab's ``reset`` (start from an
        empty workspace rather than the tabs a previous page left open).
        """
        return f"{self.base_url}{quote(path)}?{'&'.join([*flags, f'token={self.token}'])}"

    def api(self, path: str) -> Any:
        """GET a REST endpoint (``/api/sessions``) and return the decoded JSON."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def log_text(self, limit: int = 20_000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if len(text) <= limit else "...\n" + text[-limit:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(base: Path, home: Path) -> dict[str, str]:
    env = env_without_keys()
    for name in JUPYTER_VARIABLES:
        env.pop(name, None)
    config = base / "jupyter-config"
    env.update(
        GORGON_HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(base / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(base / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(config / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(config / "lab" / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
    for name, values in USER_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    ):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return env


def _wait_ready(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"jupyter lab exited with code {server.process.returncode} before answering.\n"
                f"Server log:\n{server.log_text()}",
                pytrace=False,
            )
        try:
            server.api("/api/status")
            return
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = exc
        time.sleep(0.2)
    pytest.fail(
        f"jupyter lab did not answer /api/status within {SERVER_START_TIMEOUT:.0f}s "
        f"(last error: {last_error}).\nServer log:\n{server.log_text()}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM first (the server then shuts its kernels down), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)


@contextmanager
def running_lab(base: Path, config: str | None = None, args: tuple[str, ...] = ()) -> Iterator[LabServer]:
    """``jupyter lab`` on 127.0.0.1 with its root, GORGON_HOME and Jupyter folders in ``base``.

    ``config`` goes to GORGON_HOME/config.toml before the server starts, so the first
    page load already sees it; ``args`` are more options for ``jupyter lab``.
    """
    root = base / "root"
    home = base / "gorgon-home"
    root.mkdir()
    home.mkdir()
    if config is not None:
        (home / "config.toml").write_text(config)
    env = _server_env(base, home)
    port = _free_port()
    token = secrets.token_hex(24)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # no news feed and no update check, so no requests out (USER_SETTINGS hides their toasts)
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    command.extend(args)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyter-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = LabServer(process, f"http://127.0.0.1:{port}", token, root, home, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A real ``jupyter lab`` on 127.0.0.1, with its own root, GORGON_HOME and Jupyter folders."""
    with running_lab(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture(scope="module")
def configured_lab_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LabServer]:
    """A ``jupyter lab`` of the test module's own, started with the module's ``LAB_CONFIG``
    as its GORGON_HOME/config.toml and its ``LAB_ARGS`` (a tuple) as more options."""
    config = getattr(request.module, "LAB_CONFIG", None)
    args = tuple(getattr(request.module, "LAB_ARGS", ()))
    with running_lab(tmp_path_factory.mktemp("jupyter"), config, args) as server:
        yield server


# -- the browser -------------------------------------------------------------------------------


@dataclass
class BrowserLog:
    """What the page said on its console, and the errors it raised, for failure reports."""

    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines[-200:])


BROWSER_LOG = pytest.StashKey[BrowserLog]()
SERVER = pytest.StashKey[LabServer]()
FAILED = pytest.StashKey[bool]()


# Playwright's async API, on pytest-asyncio's session loop: a test using ``page`` must be
# marked ``pytest.mark.asyncio(loop_scope="session")``. (The sync API leaves its event loop
# marked as running in the main thread for as long as it lives, and every asyncio test
# collected after this folder would fail.)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless. Each launch gets a fresh temporary profile (user-data dir)."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        pytest.fail(
            f"the playwright package is missing ({exc}); pip install -e '.[test]'", pytrace=False
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(
    browser: Any, lab_server: LabServer, artifacts: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """A new page in a new browser context (no cookies or storage from other tests).

    When the test fails, the page as it was goes to test-artifacts/<test>_failure.png.
    """
    from playwright.async_api import Error as PlaywrightError

    log = BrowserLog()
    request.node.stash[BROWSER_LOG] = log
    request.node.stash[SERVER] = lab_server
    context = await browser.new_context(viewport=VIEWPORT)
    opened = await context.new_page()
    opened.on("console", lambda message: log.lines.append(f"[{message.type}] {message.text}"))
    opened.on("pageerror", lambda error: log.lines.append(f"[pageerror] {error}"))
    failure = artifacts / f"{request.node.name}_failure.png"
    failure.unlink(missing_ok=True)
    try:
        yield opened
        if request.node.stash.get(FAILED, False):
            try:
                await opened.screenshot(path=failure)
            except PlaywrightError as exc:
                log.lines.append(f"[test] no failure screenshot: {exc}")
    finally:
        await context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root, for screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
        if (log := item.stash.get(BROWSER_LOG, None)) is not None and log.lines:
            report.sections.append(("browser console", log.text()))
        if (server := item.stash.get(SERVER, None)) is not None:
            report.sections.append(("jupyter server log", server.log_text()))
    return report

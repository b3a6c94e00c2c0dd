"""A Jupyter server in the test process with the gorgon extension, from pytest-jupyter.

pytest-jupyter's fixtures (``jp_serverapp``, ``jp_fetch``, ...) are imported here, for this
folder only. Its own way of running async tests is left out: pytest-asyncio runs them, as
everywhere else, and the server lives on the test's event loop, so a run started in a test
and the server's handlers share one loop, as a kernel's run and the server share one store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (the jp_* server fixtures)
from pytest_jupyter.jupyter_server import ServerApp

# pytest-jupyter's collection and call hooks would run async tests on a loop of their own,
# and its autouse cleanup would start that loop for every test: the server fixture below
# cleans up after itself instead.
del pytest_pycollect_makeitem, pytest_pyfunc_call, jp_server_cleanup  # noqa: F821


@pytest.fixture
async def jp_asyncio_loop() -> asyncio.AbstractEventLoop:
    """The test's own loop (pytest-asyncio's), on which the server is set up and serves."""
    return asyncio.get_running_loop()


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"gorgon_nb.server": True}}}


@pytest.fixture
def jp_serverapp(
    jp_server_config: dict[str, Any],
    jp_argv: list[str],
    jp_configurable_serverapp: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> Iterator[Any]:
    """A started ServerApp with the gorgon extension, shut down after the test."""
    app = jp_configurable_serverapp(config=jp_server_config, argv=jp_argv)
    yield app
    jp_asyncio_loop.run_until_complete(app._cleanup())
    app.kernel_manager.context.destroy()
    ServerApp.clear_instance()

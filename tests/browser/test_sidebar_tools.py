"""The Tools tab in a real JupyterLab: every tool set's tools with whether each writes or
reads, and, after Refresh, the tools of an MCP server declared since (a real one, over stdio).
Screenshots in the light and the dark theme go to test-artifacts/sidebar_tools_{light,dark}.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp_support import declare, python_server
from test_lab_widget import UI_TIMEOUT
from test_sidebar import api, open_lab, open_tab, screenshots

# the browser lives on the session loop (see conftest.py)
pytestmark = pytest.mark.asyncio(loop_scope="session")

LAB_CONFIG = ""  # a server of this module's own: the test declares an MCP server in its config
LISTING_TIMEOUT = 60_000  # ms: the MCP server is started, lists its tools and is stopped


@pytest.fixture(scope="module")
def lab_server(configured_lab_server: Any) -> Any:
    return configured_lab_server


async def test_the_tools_tab_lists_each_tool_set_and_a_declared_mcp_servers_tools(
    page: Any, lab_server: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    await open_lab(page, lab_server)
    tools = await open_tab(page, "Tools")
    files = tools.locator(".jp-gorgon-tool-group[data-ref='files']")
    await expect(files).to_have_count(1, timeout=LISTING_TIMEOUT)
    write = files.locator(".jp-gorgon-tool[data-tool='files.write_file']")
    read = files.locator(".jp-gorgon-tool[data-tool='files.read_file']")
    await expect(write.locator(".jp-gorgon-tool-access")).to_have_text("writes")
    await expect(read.locator(".jp-gorgon-tool-access")).to_have_text("reads")
    await expect(read.locator(".jp-gorgon-tool-description")).not_to_be_empty()
    mcp = tools.locator(".jp-gorgon-tool-group[data-ref='mcp']")
    await expect(mcp).to_contain_text("no MCP server is declared")

    # a server declared while JupyterLab runs is listed on Refresh, its tools under mcp:probe
    declare(lab_server.home, {"probe": python_server(tmp_path / "calls.log")})
    await tools.locator("button.jp-gorgon-tools-refresh").click()
    probe = tools.locator(".jp-gorgon-tool-group[data-ref='mcp:probe']")
    await expect(probe).to_have_count(1, timeout=LISTING_TIMEOUT)
    await expect(tools.locator("button.jp-gorgon-tools-refresh")).to_have_text("Refresh", timeout=UI_TIMEOUT)
    served = [t["name"] for g in api(lab_server, "tools?ref=mcp:probe")["groups"] for t in g["tools"]]
    assert served and all(name.startswith("mcp:probe/") for name in served)
    names = await probe.locator(".jp-gorgon-tool-name").all_inner_texts()
    assert names == served
    await expect(probe.locator(".jp-gorgon-notice")).to_have_count(0)
    await expect(mcp).to_have_count(0)
    await screenshots(page, artifacts, "tools", top=probe)


async def test_a_server_that_does_not_start_is_a_notice_in_its_group(
    page: Any, lab_server: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    declare(lab_server.home, {"broken": {"command": str(tmp_path / "no-such-program"), "startup_timeout": 20}})
    await open_lab(page, lab_server)
    tools = await open_tab(page, "Tools")
    await tools.locator("button.jp-gorgon-tools-refresh").click()  # the tab may have listed before
    broken = tools.locator(".jp-gorgon-tool-group[data-ref='mcp:broken']")
    await expect(broken.locator(".jp-gorgon-notice[data-tone='error']")).to_have_count(1, timeout=LISTING_TIMEOUT)
    await expect(broken.locator(".jp-gorgon-tool")).to_have_count(0)
    await expect(tools.locator(".jp-gorgon-tool-group[data-ref='files'] .jp-gorgon-tool").first).to_be_visible()

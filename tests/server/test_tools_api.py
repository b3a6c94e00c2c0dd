"""The tools API: every tool set's tools, and a declared MCP server's, for the sidebar's Tools tab.

A real Jupyter server in the test process (pytest-jupyter) with the extension, the config in
the test's GORGON_HOME, and a real MCP server over stdio (``gorgon_nb.testing.mcp_server``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_client import Fetch, body, call
from mcp_support import declare, python_server


def group(groups: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    found = [g for g in groups if g["ref"] == ref]
    assert len(found) == 1, [g["ref"] for g in groups]
    return found[0]


async def test_every_tool_set_is_listed_with_whether_each_tool_writes(jp_fetch: Fetch) -> None:
    response = await call(jp_fetch, "tools")
    assert response.code == 200, response.body
    files = group(body(response)["groups"], "files")
    access = {tool["name"]: tool["writes"] for tool in files["tools"]}
    assert access["files.write_file"] is True and access["files.read_file"] is False
    assert files["error"] is None and all("\n" not in tool["description"] for tool in files["tools"])
    mcp = group(body(response)["groups"], "mcp")
    assert mcp["tools"] == [] and "no MCP server is declared" in mcp["note"]


async def test_a_declared_mcp_server_is_started_and_its_tools_listed(
    jp_fetch: Fetch, home: Path, tmp_path: Path
) -> None:
    declare(home, {"probe": python_server(tmp_path / "calls.log")})
    listed = body(await call(jp_fetch, "tools"))["groups"]
    probe = group(listed, "mcp:probe")
    assert probe["error"] is None and probe["tools"], probe
    assert all(tool["name"].startswith("mcp:probe/") for tool in probe["tools"])

    alone = body(await call(jp_fetch, "tools", params={"ref": "mcp:probe"}))["groups"]
    assert [g["ref"] for g in alone] == ["mcp:probe"] and alone[0]["tools"] == probe["tools"]


async def test_a_server_that_does_not_start_is_an_error_of_its_group_only(
    jp_fetch: Fetch, home: Path, tmp_path: Path
) -> None:
    declare(home, {"broken": {"command": str(tmp_path / "no-such-program"), "startup_timeout": 20}})
    response = await call(jp_fetch, "tools")
    assert response.code == 200, response.body
    listed = body(response)["groups"]
    assert group(listed, "mcp:broken")["error"] and not group(listed, "mcp:broken")["tools"]
    assert group(listed, "files")["tools"]


async def test_a_ref_that_names_no_tool_set_is_a_clear_400(jp_fetch: Fetch) -> None:
    response = await call(jp_fetch, "tools", params={"ref": "flies"})
    assert response.code == 400
    message = body(response)["message"]
    assert "no tool set 'flies'" in message and "files" in message

    unknown = await call(jp_fetch, "tools", params={"name": "files"})
    assert unknown.code == 400 and "unknown query parameter 'name'" in body(unknown)["message"]


async def test_requests_without_the_token_are_refused(http_server_client: Any, jp_base_url: str) -> None:
    response = await http_server_client.fetch(f"{jp_base_url}gorgon/api/tools", raise_error=False)
    assert response.code == 403

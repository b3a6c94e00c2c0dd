"""A ``%%gorgon`` cell whose step calls tools, in a real IPython shell: the view's text
forms name the calls, and ``%gorgon show`` of the stored run lists them."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from tool_runs import TOOLSET

from gorgon_nb.model.tools import find_toolset
from gorgon_nb.runner import default_runner
from gorgon_nb.testing import ScriptedModel

CELL = """%%gorgon
name: Tooled
steps:
  - id: work
    llm: Look the sales table up
    tools: [uitools]
"""
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_the_cells_view_lists_the_calls(ip: InteractiveShell) -> None:
    assert find_toolset("uitools") is TOOLSET  # the cell's step names it
    default_runner().runtime.providers.register(
        ScriptedModel([("uitools.look", {"name": "sales"}), ("uitools.broken", {})]))
    with capture_output() as captured:
        done = ip.run_cell(CELL)
    assert done.error_in_exec is None, done.error_in_exec
    assert ip.user_ns["_gorgon"].ok
    bundles = [o.data for o in captured.outputs]
    assert any(WIDGET_MIME in b for b in bundles)
    final = bundles[-1]
    assert "`work` called 2 tools: uitools.look ok, uitools.broken error" in final["text/markdown"]
    assert "work called 2 tools: uitools.look ok, uitools.broken error" in final["text/plain"]

    # the stored run, shown again, has the same calls
    shown = ip.run_line_magic("gorgon", f"show {ip.user_ns['_gorgon'].run_id}")
    work = next(step for step in shown.steps if step["key"] == "work")
    assert [(c["tool"], c["status"], c["result"]) for c in work["tool_calls"]] == [
        ("uitools.look", "ok", "found sales: 3 rows"),
        ("uitools.broken", "error", "ValueError: the table is locked"),
    ]

"""The ``kernel`` tool set in a notebook: the tools on a real IPython shell's namespace and a
real DataFrame, runs whose code waits for a person's approval, code that does not end.
(Outside a notebook: test_kernel_own_kernel.py.)"""

from __future__ import annotations

import asyncio
import json
import re
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from gorgon_nb.errors import ToolError, UsageError
from gorgon_nb.model.run import RunStatus
from gorgon_nb.model.tools import Tool, find_toolset
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback, ToolCall
from gorgon_nb.providers.offline import OfflineProvider
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store

SALES = pd.DataFrame({
    "region": ["EU", "US", "EU", "APAC", None],
    "units": [10, 4, 7, 3, 5],
    "revenue": [120.0, 80.5, 99.0, None, 60.0],
})


class Scripted:
    """A model that asks for the tool calls it is given, one turn each, and then answers with
    the tool results it read (the offline provider writes the rest of the answer)."""

    name = "offline"

    def __init__(self, *turns: list[tuple[str, dict[str, Any]]]) -> None:
        self.turns = list(turns)
        self.requests: list[LLMRequest] = []
        self.offline = OfflineProvider()

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        self.requests.append(request)
        if request.tools and self.turns:
            calls = self.turns.pop(0)
            return Completion("", tool_calls=tuple(ToolCall(f"call-{len(self.requests)}-{i}", name, arguments)
                                                   for i, (name, arguments) in enumerate(calls)))
        answer = await self.offline.complete(request, on_delta=on_delta)
        read = [f"[{'error' if m.is_error else 'ok'}] {m.content}" for m in request.messages if m.role == "tool"]
        return Completion(answer.text + "\n\nFrom the tools:\n" + "\n---\n".join(read), usage=answer.usage)


@pytest.fixture
def shell(ip: InteractiveShell) -> Iterator[InteractiveShell]:
    """The real IPython shell with a notebook's worth of variables (and things that are not variables)."""
    added = {"sales": SALES.copy(), "regions": ["EU", "US", "APAC"], "prices": {"a": 1, "b": 2}, "threshold": 100,
             "title": "Q3 sales", "helper": lambda x: x, "Point": type("Point", (), {}), "json": json,
             "_scratch": 1}
    ip.user_ns.update(added)
    yield ip
    for name in [*added, "total", "doubled", "never"]:
        ip.user_ns.pop(name, None)
    ip.rl_next_input = None


async def tool(name: str) -> Tool:
    toolset = find_toolset("kernel")
    assert toolset is not None
    [found] = await toolset.tools(name.partition(".")[2], None)
    return found


async def call(ref: str, **arguments: Any) -> str:
    result = await (await tool(ref)).run(arguments, None)
    assert isinstance(result, str)
    return result


# -- the introspection tools, on the notebook's own namespace -------------------------------


async def test_list_variables_shows_the_users_variables_with_types_and_shapes(shell: InteractiveShell) -> None:
    listed = await call("kernel.list_variables")
    rows = {line.split()[0]: line for line in listed.splitlines()[2:]}
    assert "sales" in rows and "DataFrame" in rows["sales"] and "5 rows x 3 columns" in rows["sales"]
    assert "list" in rows["regions"] and "len 3" in rows["regions"]
    assert "dict" in rows["prices"] and "len 2" in rows["prices"]
    assert rows["threshold"].split()[-1] == "100" and "'Q3 sales'" in rows["title"]
    for hidden in ("helper", "Point", "json", "_scratch", "In", "Out", "exit", "quit", "get_ipython"):
        assert hidden not in rows


async def test_list_variables_is_bounded(shell: InteractiveShell) -> None:
    many = {f"v{i:03d}": i for i in range(250)}
    shell.user_ns.update(many)
    try:
        listed = await call("kernel.list_variables")
    finally:
        for name in many:
            shell.user_ns.pop(name)
    assert len(listed.splitlines()) == 2 + 200 + 1
    assert listed.splitlines()[-1].startswith("... and ") and "more, not listed" in listed


async def test_describe_dataframe_gives_columns_dtypes_nulls_and_head(shell: InteractiveShell) -> None:
    described = await call("kernel.describe_dataframe", name="sales")
    assert described.startswith("DataFrame 'sales': 5 rows x 3 columns")
    columns = {line.split()[0]: line.split()[1:] for line in described.split("\n\n")[1].splitlines()[1:]}
    assert columns["units"] == ["int64", "0"] and columns["revenue"] == ["float64", "1"]
    assert columns["region"][1] == "1"
    assert "First 5 rows:" in described and "APAC" in described and "120.0" in described
    assert "Summary of the numeric columns:" in described and "mean" in described


async def test_describe_dataframe_refuses_unknown_names_and_other_values(shell: InteractiveShell) -> None:
    with pytest.raises(ToolError, match=r"there is no variable 'sale' in the kernel; did you mean 'sales'"):
        await call("kernel.describe_dataframe", name="sale")
    with pytest.raises(ToolError, match=r"'regions' is a list, not a DataFrame; use kernel.read_value"):
        await call("kernel.describe_dataframe", name="regions")
    with pytest.raises(ToolError, match="give the variable's name as 'name'"):
        await call("kernel.describe_dataframe")


async def test_describe_dataframe_takes_anything_with_the_dataframe_api(shell: InteractiveShell) -> None:
    class Frame:  # not pandas: the API is all that is asked of it
        shape = (2, 1)
        columns = ("x",)
        dtypes = types.MappingProxyType({"x": "int"})

        def head(self, n: int) -> str:
            return "x\n1\n2"

    shell.user_ns["frame_like"] = Frame()
    try:
        described = await call("kernel.describe_dataframe", name="frame_like")
    finally:
        shell.user_ns.pop("frame_like")
    assert described.startswith("DataFrame 'frame_like': 2 rows x 1 columns")
    assert "x       int    ?" in described and "'x\\n1\\n2'" in described


async def test_read_value_is_the_repr_cut_at_max_chars(shell: InteractiveShell) -> None:
    assert await call("kernel.read_value", name="prices") == "'prices' (dict, len 2):\n{'a': 1, 'b': 2}"
    shell.user_ns["long_text"] = "x" * 5000
    try:
        default = await call("kernel.read_value", name="long_text")
        short = await call("kernel.read_value", name="long_text", max_chars=10)
    finally:
        shell.user_ns.pop("long_text")
    assert default == "'long_text' (str):\n'" + "x" * 1999 + "\n[cut: 5002 characters in all]"
    assert short.endswith("'xxxxxxxxx\n[cut: 5002 characters in all]")
    with pytest.raises(ToolError, match="max_chars must be a whole number above 0"):
        await call("kernel.read_value", name="prices", max_chars=-1)


async def test_the_model_never_reads_a_key_the_notebook_holds(shell: InteractiveShell) -> None:
    key = "sk-ant-" + "a1" * 20
    shell.user_ns["api_key"] = key
    try:
        listed = await call("kernel.list_variables")
        read = await call("kernel.read_value", name="api_key")
        ran = await call("kernel.run_code", code="print(api_key)\napi_key")
    finally:
        shell.user_ns.pop("api_key")
    assert key not in listed + read + ran
    assert "***" in read and ran == "stdout:\n***\n\nvalue:\n'***'"


# -- which references run code --------------------------------------------------------------


def test_only_run_code_and_insert_cell_run_code() -> None:
    toolset = find_toolset("kernel")
    assert toolset is not None
    assert toolset.runs_code(None) and toolset.runs_code("run_code") and toolset.runs_code("insert_cell")
    assert not any(toolset.runs_code(name) for name in ("list_variables", "describe_dataframe", "read_value"))
    assert toolset.check is not None and toolset.check("read_value", None) is None
    assert toolset.check("describe", None) == (
        "the kernel tool set has no tool 'describe'; did you mean 'describe_dataframe'?")


def test_the_read_only_tools_need_no_consent_and_run_code_does(runner: Runner) -> None:
    reading = {"id": "look", "steps": [{"id": "a", "agent": "analyst", "task": "t",
                                        "tools": ["kernel.list_variables", "kernel.describe_dataframe"]}]}
    runner.prepare(reading)
    running = {"id": "act", "steps": [{"id": "a", "agent": "analyst", "task": "t", "tools": ["kernel"]}]}
    with pytest.raises(UsageError, match=r"offers its model tools that run code \(kernel\).*does not allow code"):
        runner.prepare(running)
    with pytest.raises(UsageError, match=r"runs code on this machine \(step 'a' offers its model tools that run "
                                         r"code \(kernel\)\), so it runs only if you allow that"):
        runner.prepare({**running, "allow_code": True})
    runner.prepare({**running, "allow_code": True}, allow_code=True)


async def test_an_unknown_kernel_tool_is_a_workflow_problem(runner: Runner) -> None:
    wrong = {"id": "wrong", "steps": [{"id": "a", "agent": "analyst", "task": "t", "tools": ["kernel.run"]}]}
    with pytest.raises(UsageError, match="the kernel tool set has no tool 'run'; known: describe_dataframe, insert_cell, "
                                         "list_variables, read_value, run_code"):
        runner.prepare(wrong)


# -- in a run: approval of the code, the notebook's namespace -------------------------------

CODE = 'total = float(sales["revenue"].sum())\nprint("total is", total)\ntotal * 2'


def analyst(tools: list[str], **step: Any) -> dict[str, Any]:
    return {"id": "kernel_analysis", "allow_code": True, "steps": [
        {"id": "analyse", "agent": "analyst", "task": "Total the revenue of `sales`.", "tools": tools} | step]}


def decide_when_asked(home: Path, *, approve: bool, by: str, comment: str) -> Any:
    """Wait (in a thread of its own, on a connection of its own) for the tool call's approval, and decide it."""
    with Store(home / "test.db") as store:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [a for a in store.approvals.recent() if a.kind == "tool"]
            if pending:
                return store.approvals.decide(pending[0].id, approve=approve, by=by, comment=comment)
            time.sleep(0.05)
    raise AssertionError("no tool call waited for approval")


async def test_an_approved_run_code_runs_in_the_notebooks_namespace(
        shell: InteractiveShell, runner: Runner, store: Store, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = f"Use kernel.describe_dataframe on `sales`, then kernel.run_code:\n```python\n{CODE}\n```"
    events: list[Any] = []
    decider = asyncio.create_task(asyncio.to_thread(decide_when_asked, home, approve=True, by="dana",
                                                    comment="fine"))
    result = await runner.arun(analyst(["kernel"], task=task), allow_code=True, on_event=events.append)
    asked = await decider
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert asked.title == "kernel.run_code (analyse)" and asked.step_key == "analyse/tool-2"
    assert "notebook's kernel" in asked.preview and f"```python\n{CODE}\n```" in asked.preview
    assert shell.user_ns["total"] == 359.5  # the code ran beside the notebook's variables
    answer = result.outputs["analyse"]
    assert "- kernel_describe_dataframe: DataFrame 'sales': 5 rows x 3 columns" in answer
    assert "- kernel_run_code: stdout: total is 359.5 value: 719.0" in answer
    assert "total is" not in capsys.readouterr().out  # what the code printed went to the model alone
    finished = [e.payload for e in events if e.kind == "tool_call_finished"]
    assert [(p.tool, p.status) for p in finished] == [("kernel.describe_dataframe", "ok"), ("kernel.run_code", "ok")]
    journal = store.tools.of_run(result.run_id)
    assert [(r.tool, r.writes, r.state) for r in journal] == [
        ("kernel.describe_dataframe", False, "done"), ("kernel.run_code", True, "done")]


async def test_a_rejected_run_code_does_not_run_and_the_model_reads_why(
        shell: InteractiveShell, runner: Runner, store: Store, home: Path) -> None:
    task = "Use kernel.run_code to run:\n```python\nnever = 1\nprint('ran')\n```"
    decider = asyncio.create_task(asyncio.to_thread(decide_when_asked, home, approve=False, by="bob",
                                                    comment="not on the live data"))
    result = await runner.arun(analyst(["kernel.run_code"], task=task), allow_code=True)
    await decider
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert "never" not in shell.user_ns
    assert ("- kernel_run_code (error): this call was rejected by bob, who said: not on the live data."
            in result.outputs["analyse"])
    [record] = store.tools.of_run(result.run_id)
    assert record.is_error and "rejected by bob" in record.result


async def test_errors_of_the_code_are_the_models_to_read(shell: InteractiveShell, runner: Runner) -> None:
    failing = "def ratio(df):\n    return df['units'].sum() + undefined_name\n\nratio(sales)"
    runner.runtime.providers.register(Scripted([("kernel_run_code", {"code": failing})]))
    result = await runner.arun(analyst(["kernel.run_code"], auto_approve=True), allow_code=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    answer = result.outputs["analyse"]
    assert "[error] error: NameError: name 'undefined_name' is not defined" in answer
    assert 'File "<kernel.run_code-' in answer and "line 4, in <module>" in answer and "line 2, in ratio" in answer
    assert "_kernel_probe" not in answer  # the frames are the code's own


async def test_insert_cell_proposes_the_cells_of_a_run_below_the_running_one(
        shell: InteractiveShell, runner: Runner) -> None:
    first, second = "sales.plot.bar(x='region', y='revenue')", "sales.groupby('region')['units'].sum()"
    runner.runtime.providers.register(Scripted(
        [("kernel_insert_cell", {"code": first})], [("kernel_insert_cell", {"code": second})]))
    result = await runner.arun(analyst(["kernel.insert_cell"], auto_approve=True), allow_code=True)
    assert result.status is RunStatus.SUCCEEDED, result.error
    # A terminal shell keeps the next input here; a kernel's shell sends it with the cell's reply.
    assert shell.rl_next_input == f"{first}\n\n{second}"
    assert "after the 1 proposed before it in this run" in result.outputs["analyse"]


# -- code that does not end ------------------------------------------------------------------

ENDLESS = "import time\ntry:\n    while True:\n        time.sleep(0.01)\nfinally:\n    stopped.set()"


async def test_code_that_passes_its_timeout_is_stopped_in_the_notebook(shell: InteractiveShell) -> None:
    import threading

    from gorgon_nb.tools.kernel import NotebookNamespace

    stopped = shell.user_ns["stopped"] = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(NotebookNamespace(shell).call("run_code", {"code": ENDLESS}), 1)
        assert await asyncio.to_thread(stopped.wait, 60)  # the loop got a KeyboardInterrupt
        again = await NotebookNamespace(shell).call("run_code", {"code": "21 * 2"})
        assert again == {"ok": True, "text": "value:\n42"}  # and the next code runs
    finally:
        shell.user_ns.pop("stopped")


# -- driven by the offline model, in a notebook cell -------------------------------------------

LOOK_CELL = """
steps:
  - id: answer
    agent: analyst
    tools: [kernel.list_variables, kernel.describe_dataframe]
    task: Which region sells most? Use kernel.describe_dataframe on `sales`, and kernel.list_variables.
"""


def test_a_cell_with_the_read_only_tools_needs_no_consent_and_answers_from_the_kernel(
        shell: InteractiveShell) -> None:
    outcome = shell.run_cell("%%gorgon --out look\n" + LOOK_CELL)
    assert outcome.success, outcome.error_in_exec
    result = shell.user_ns["look"]
    assert result.ok, result.error
    answer = result.outputs["answer"]
    told = answer[answer.index("From the tools:"):]
    assert "- kernel_describe_dataframe: DataFrame 'sales': 5 rows x 3 columns" in told
    assert "- kernel_list_variables: " in told
    from gorgon_nb.runner import default_runner

    calls = default_runner().store.tools.of_run(result.run_id)
    assert [(c.tool, c.arguments, c.is_error) for c in calls] == [
        ("kernel.describe_dataframe", {"name": "sales"}, False), ("kernel.list_variables", {}, False)]
    # the whole listing (the answer shows its start): the notebook's own variables
    assert re.search(r"^sales +DataFrame +5 rows x 3 columns$", calls[1].result, re.MULTILINE)
    assert re.search(r"^threshold +int +100$", calls[1].result, re.MULTILINE)

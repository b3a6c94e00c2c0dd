"""The ``notebook`` step kind: real notebooks run by papermill on real kernels inside a workflow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from gorgon_nb.config import Config
from gorgon_nb.errors import WorkflowError
from gorgon_nb.model.run import RunResult, RunStatus, StepStatus
from gorgon_nb.runner import Runner
from gorgon_nb.testing.notebooks import write_notebook
from gorgon_nb.workflow import Workflow


def workflow(folder: Path, text: str) -> Workflow:
    """``text`` as a workflow file in ``folder``; a notebook step runs code, which it allows
    (as its last key, so the lines stay as written)."""
    (folder / "wf.yaml").write_text(text.rstrip("\n") + "\nallow_code: true\n")
    return Workflow.from_file(folder / "wf.yaml")


async def arun(runner: Runner, workflow: Workflow, inputs: dict[str, Any] | None = None) -> RunResult:
    return await runner.arun(workflow, inputs, allow_code=True)


async def test_the_output_is_the_glued_values(runner: Runner, tmp_path: Path, home: Path) -> None:
    write_notebook(tmp_path / "reports" / "weekly.ipynb",
                   "from gorgon_nb import glue\n"
                   "rows = open('rows.csv').read().splitlines()\n"
                   "glue('region', region)\nglue('count', len(rows) * weeks)\nglue('count', len(rows) * weeks + 1)",
                   parameters="region = 'none'\nweeks = 1")
    (tmp_path / "reports" / "rows.csv").write_text("a\nb\n")
    result = await arun(runner, workflow(tmp_path, """id: nb
inputs:
  region: {type: string}
  weeks: {type: integer, default: 3}
steps:
  - id: report
    notebook: reports/weekly.ipynb
    parameters: {region: "{{ inputs.region }}", weeks: "{{ inputs.weeks }}"}
    timeout: 2m
  - id: after
    python: builtins:str
    args: {object: "{{ steps.report.output.count }}"}
"""), {"region": "north"})
    assert result.ok, result.error
    assert result.steps["report"].output == {"region": "north", "count": 7}
    assert result.steps["report"].kind == "notebook"
    assert result.outputs["after"] == "7"
    kept = home / "notebooks" / result.run_id / "report.ipynb"
    assert "injected-parameters" in nbformat.read(kept, as_version=4).cells[1].metadata["tags"]


async def test_a_failing_cell_fails_the_step_naming_it(runner: Runner, tmp_path: Path, home: Path) -> None:
    write_notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('bad input')")
    result = await arun(runner, workflow(tmp_path, "id: nb\nsteps:\n  - id: check\n    notebook: bad.ipynb\n"))
    assert result.status is RunStatus.FAILED
    step = result.steps["check"]
    assert step.status is StepStatus.FAILED and step.error_type == "StepError"
    kept = home / "notebooks" / result.run_id / "check.ipynb"
    assert step.error == (f"bad.ipynb: cell 2 raised ValueError: bad input; the executed notebook is {kept}")
    assert nbformat.read(kept, as_version=4).cells[3].source == "raise ValueError('bad input')"


async def test_the_step_timeout_stops_the_kernel(runner: Runner, tmp_path: Path) -> None:
    write_notebook(tmp_path / "slow.ipynb", "import os\nopen('pid', 'w').write(str(os.getpid()))",
                   "import time\ntime.sleep(60)")
    began = time.monotonic()
    result = await arun(runner, workflow(tmp_path, "id: nb\nsteps:\n  - id: slow\n    notebook: slow.ipynb\n"
                                                  "    timeout: 3\n"))
    assert time.monotonic() - began < 15
    assert result.steps["slow"].error == "step 'slow' passed its timeout of 3s"
    pid = int((tmp_path / "pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_each_item_gets_a_notebook_of_its_own(runner: Runner, tmp_path: Path, home: Path) -> None:
    write_notebook(tmp_path / "square.ipynb", "from gorgon_nb import glue\nglue('square', n * n)", parameters="n = 0")
    result = await arun(runner, workflow(tmp_path, """id: nb
steps:
  - id: sq
    for_each: [2, 3]
    as: n
    notebook: square.ipynb
    parameters: {n: "{{ n }}"}
"""))
    assert result.ok, result.error
    assert result.steps["sq"].output == [{"square": 4}, {"square": 9}]
    assert sorted(p.name for p in (home / "notebooks" / result.run_id).iterdir()) == ["sq-0.ipynb", "sq-1.ipynb"]


def test_a_missing_notebook_is_a_validation_problem(config: Config, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    text = """id: nb
steps:
  - id: gone
    notebook: reports/nowhere.ipynb
  - id: text
    notebook: notes.txt
  - id: later
    notebook: "{{ inputs.which }}.ipynb"
inputs:
  which: {type: string}
"""
    with pytest.raises(WorkflowError) as caught:
        workflow(tmp_path, text).compile(config)
    found = [(p.field, p.line, p.message, p.hint) for p in caught.value.problems]
    assert found == [
        ("gone.notebook", 4, "no notebook at reports/nowhere.ipynb",
         f"the path is relative to the workflow file's folder ({tmp_path.resolve()})"),
        ("text.notebook", 6, "'notes.txt' is not a notebook", "give the path of a .ipynb file"),
    ]

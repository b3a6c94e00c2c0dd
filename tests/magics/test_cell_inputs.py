"""A ``%%gorgon`` cell that declares no inputs takes the names its ``-v`` options pass, in a real
IPython shell; a cell that declares its inputs keeps a clear error for a misspelt one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.parsing import implied_inputs
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import default_runner

UNDECLARED = """steps:
  - id: plan
    agent: planner
    task: "{{ inputs.feature_request }}"
  - id: build
    agent: builder
    context: "{{ steps.plan.output }}"
"""




def run_cell(ip: InteractiveShell, text: str) -> BaseException | None:
    with capture_output():
        outcome = ip.run_cell(text)
    return outcome.error_before_exec or outcome.error_in_exec


def message(error: BaseException | None) -> str:
    assert isinstance(error, MagicError), repr(error)
    return str(error)


def test_the_readme_cell_runs_with_an_input_it_does_not_declare(ip: InteractiveShell) -> None:
    error = run_cell(ip, f'%%gorgon -v feature_request="Add a CSV export" --out built\n{UNDECLARED}')
    assert error is None
    result = ip.user_ns["built"]
    assert isinstance(result, RunResult) and result.ok and result is ip.user_ns["_gorgon"]
    assert result.inputs == {"feature_request": "Add a CSV export"}
    assert "Add a CSV export" in result.outputs["plan"]


def test_a_notebook_variable_keeps_its_value(ip: InteractiveShell) -> None:
    ip.user_ns["files"] = ["a.csv", "b.csv"]
    error = run_cell(ip, "%%gorgon -v files\noutputs:\n  first: '{{ inputs.files[0] }}'\n"
                         "steps:\n  - id: plan\n    agent: planner\n    task: 'Read {{ inputs.files }}'\n")
    assert error is None
    assert ip.user_ns["_gorgon"].inputs == {"files": ["a.csv", "b.csv"]}  # a list stays a list
    assert ip.user_ns["_gorgon"].outputs == {"first": "a.csv"}


def test_a_stored_cell_run_replays_and_forks(ip: InteractiveShell) -> None:
    assert run_cell(ip, f"%%gorgon -v feature_request=first\n{UNDECLARED}") is None
    run_id = ip.user_ns["_gorgon"].run_id
    assert run_cell(ip, f"%gorgon replay {run_id}") is None
    assert ip.user_ns["_gorgon"].ok and ip.user_ns["_gorgon"].outputs == default_runner().store.runs.get(run_id).outputs
    assert run_cell(ip, f"%gorgon fork {run_id} --from build -v feature_request=second") is None
    forked = ip.user_ns["_gorgon"]
    assert forked.ok and forked.inputs == {"feature_request": "second"}


def test_a_misspelt_name_of_a_declared_input_says_which_was_meant(ip: InteractiveShell) -> None:
    cell = f"%%gorgon -v feature_reqest=x\ninputs:\n  feature_request: {{type: string}}\n{UNDECLARED}"
    text = message(run_cell(ip, cell))
    assert "unknown input 'feature_reqest' (did you mean 'feature_request'?)" in text
    assert "missing required input 'feature_request': add -v feature_request=... to the %%gorgon" in text


def test_without_v_an_undeclared_input_is_still_an_error_at_its_line(ip: InteractiveShell) -> None:
    assert "<cell>:5: plan.task: unknown input 'feature_request'" in message(run_cell(ip, f"%%gorgon\n{UNDECLARED}"))


def test_the_cells_lines_keep_their_numbers(ip: InteractiveShell) -> None:
    cell = "%%gorgon -v topic=x\nsteps:\n  - id: a\n    agent: planer\n    task: '{{ inputs.topic }}'\n"
    text = message(run_cell(ip, cell))
    assert "<cell>:4: a.agent: unknown role 'planer'" in text and "topic" not in text


def test_a_named_cell_runs_again_with_its_inputs(ip: InteractiveShell) -> None:
    assert run_cell(ip, f"%%gorgon --name plan_it -v feature_request=first\n{UNDECLARED}") is None
    assert run_cell(ip, "%gorgon run plan_it -v feature_request=again") is None
    assert ip.user_ns["_gorgon"].inputs == {"feature_request": "again"}


def test_a_workflow_file_does_not_take_undeclared_inputs(ip: InteractiveShell, tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text("id: plain\nsteps:\n  - id: a\n    agent: planner\n")
    with pytest.raises(MagicError, match=r"unknown input 'colour' \(this workflow declares no inputs\)"):
        ip.run_line_magic("gorgon", f"run {tmp_path / 'plain.yaml'} -v colour=blue")


@pytest.mark.parametrize(("data", "pairs", "expected"), [
    ({"steps": []}, [("a", "1"), ("b", None)], 'inputs: {"a": {"type": "string"}, "b": {"type": "any"}}'),
    ({"steps": []}, [("null", "x")], 'inputs: {"null": {"type": "string"}}'),  # a YAML word, quoted
    ({"steps": []}, [], ""),
    ({"inputs": {"a": "x"}, "steps": []}, [("a", "1")], ""),
    ({"inputs": None, "steps": []}, [("a", "1")], ""),  # declared empty on purpose
    ({"workflow_id": "g", "variables": {}, "steps": []}, [("a", "1")], ""),  # Gorgon JSON has its own
    (["not", "a", "mapping"], [("a", "1")], ""),
])
def test_implied_inputs(data: Any, pairs: list[tuple[str, str | None]], expected: str) -> None:
    assert implied_inputs(data, pairs) == expected

"""The python kind still finds the functions of gorgon-nb's own that older runs name by their old place."""

from __future__ import annotations

from gorgon_nb.runner import Runner
from gorgon_nb.workflow import Workflow

OLD_REFS = """id: older
steps:
  - id: picked
    python: gorgon_nb.model.gorgon_builtins:extract
    args: {value: {a: 1, b: 2}, key: b}
  - id: said
    python: gorgon_nb.model.gorgon_builtins:format_text
    args: {template: "b is {b}", values: {b: "{{ steps.picked.output }}"}}
"""


async def test_functions_named_by_their_old_place_still_run_and_stay_safe(runner: Runner) -> None:
    result = await runner.arun(Workflow.from_yaml(OLD_REFS))  # no allow_code: they compute, nothing else
    assert result.ok, result.error
    assert result.outputs == {"picked": 2, "said": "b is 2"}

"""``notebook: PATH.ipynb``: runs a Jupyter notebook with papermill on a fresh kernel.

``notebook`` is a path relative to the workflow file's folder (templates allowed);
``parameters`` are injected after the notebook's ``parameters`` cell, as papermill does.
The output is the dict of values the notebook glued (``gorgon_nb.glue``). The executed
copy is kept at ``GORGON_HOME/notebooks/<run id>/<step>.ipynb`` (``<step>-<i>`` for each
item of a ``for_each``). A cell that raises fails the step, naming the cell.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gorgon_nb.config import gorgon_home
from gorgon_nb.errors import StepError
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.workflow import StepBase

if TYPE_CHECKING:
    from gorgon_nb.engine.compile import KindChecks
    from gorgon_nb.engine.context import StepContext

__all__ = ["KIND", "NotebookStep"]


class NotebookStep(StepBase):
    """Runs a Jupyter notebook with papermill, on a fresh kernel, in the notebook's folder."""

    notebook: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["notebook"] = "notebook"


async def run(step: NotebookStep, ctx: StepContext) -> Any:
    ref = ctx.text("notebook")
    base = ctx.base_dir or Path.cwd()
    source = (base / ref).resolve()
    if source.suffix != ".ipynb" or not source.is_file():
        raise StepError(f"no notebook at {ref} (relative to {base}); give the path of a .ipynb file")
    name = re.sub(r"[^\w.-]", "_", ctx.key if ctx.item is None else f"{ctx.key}-{ctx.item}")
    output = gorgon_home() / "notebooks" / ctx.run_id / f"{name}.ipynb"
    try:  # a cancel or timeout of the step stops the kernel
        return await ctx.run_notebook(source, output, ctx.value("parameters"))
    except StepError as exc:
        raise StepError(f"{ref}: {exc}") from None


def check(step: NotebookStep, checks: KindChecks) -> None:
    """A notebook named without templates must exist (relative to the workflow's folder)."""
    ref = step.notebook
    if "{{" in ref or "{%" in ref:
        return
    if not ref.endswith(".ipynb"):
        checks.problem(("notebook",), f"'{ref}' is not a notebook", "give the path of a .ipynb file")
    elif not (checks.base_dir / ref).is_file():
        checks.problem(("notebook",), f"no notebook at {ref}",
                       f"the path is relative to the workflow file's folder ({checks.base_dir})")


KIND = StepKind(
    key="notebook", model=NotebookStep, run=run, check=check,
    templates=lambda step: {"notebook": step.notebook, "parameters": step.parameters},
    code_use=lambda step, base_dir, cell: f"runs the notebook {step.notebook}",
)

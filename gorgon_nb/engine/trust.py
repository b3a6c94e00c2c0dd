"""The trust model: what a workflow may do on its own, and what needs two consents.

A workflow file may be someone else's: a shared library of workflows, an imported Gorgon
file, a file a chat ``/run`` names, a notebook a schedule runs. On its own it may call
models (``agent``, ``llm``, ``supervisor``), ask people (``approval``), loop, act on
GitHub, Notion and Slack (every write waits for a person), call the functions of
``SAFE_FUNCTIONS``, and run sub-workflows that are bundled, installed by name, or files in
its own folder (each held to these same rules).

Code on this machine, and anything outside the workflow's folder, needs two consents:

- a ``shell`` step, a ``notebook`` step, a ``python`` step calling any other function (a
  module beside the workflow included: importing it runs it), a sub-workflow given by a
  path outside the workflow's folder;
- the file's consent: ``allow_code: true`` at its top (``allow_shell: true``, the older
  spelling, counts the same);
- the caller's consent: ``--allow-code`` (the ``gorgon`` command, ``%%gorgon`` and
  ``%gorgon run``), ``allow_code=True`` (Python). The sidebar's chat never gives it.

A ``%%gorgon`` cell is written by the person who runs it: its ``python`` steps may call
functions defined in that notebook (``python: __main__:NAME``) with no consent at all.
Workflows bundled with gorgon-nb are part of it, as trusted as the rest of it: they need
no consent (their python steps call gorgon-nb's own functions).

Both consents are checked before the first step runs (a sub-workflow's when it starts),
and a refusal names each step that needs them. Each kind says what of it needs them
(``StepKind.code_use``, see ``model.kinds``).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from gorgon_nb.errors import Advice, UsageError

__all__ = ["CELL", "SAFE_FUNCTIONS", "CodeUse", "notebook_function", "outside_folder", "refusal"]

CELL = "<cell>"  # the source path of a %%gorgon cell's workflow

_PURE_BUILTINS = ("abs", "all", "any", "bool", "dict", "float", "int", "len", "list", "max", "min", "repr",
                  "round", "set", "sorted", "str", "sum", "tuple")
SAFE_FUNCTIONS: frozenset[str] = frozenset({
    "gorgon_nb.functions:extract",  # Gorgon's transform/extract
    "gorgon_nb.functions:format_text",  # Gorgon's transform/format
    "gorgon_nb.functions:aggregate",  # Gorgon's transform/aggregate
    *(f"builtins:{name}" for name in _PURE_BUILTINS),
    "json:dumps", "json:loads", "html:escape", "html:unescape", "asyncio:sleep",
})
"""``python:`` functions any workflow may call: they compute, and touch nothing else."""


@dataclass(frozen=True)
class CodeUse:
    """A step that needs both consents, and what it would do, in a few words."""

    step: str  # the step's key: "build", or "fix_and_verify.fix" inside a loop
    does: str  # "runs the shell command 'make'"

    def __str__(self) -> str:
        return f"step '{self.step}' {self.does}"


def refusal(workflow_id: str, uses: tuple[CodeUse, ...] | list[CodeUse]) -> UsageError:
    """The error for a run started without the caller's consent to the code ``uses`` need."""
    listed = "; ".join(str(use) for use in uses[:3]) + (f"; and {len(uses) - 3} more" if len(uses) > 3 else "")
    return UsageError(
        f"workflow '{workflow_id}' runs code on this machine ({listed}), so it runs only if you allow that: ",
        Advice(python="run it with allow_code=True, if you trust it",
               notebook="add --allow-code to the %%gorgon or %gorgon run line, if you trust it",
               cli="run it with --allow-code, if you trust it",
               sidebar="the chat does not run code; run it from a notebook or a terminal with --allow-code, "
                       "if you trust it"))


def notebook_function(ref: str) -> bool:
    """Whether ``ref`` names a function of the notebook's own namespace (``__main__:NAME``)."""
    return ref.partition(":")[0] == "__main__"


def outside_folder(ref: str, base_dir: pathlib.Path | None) -> bool:
    """A sub-workflow given as a path (not a name) that leads out of the workflow's folder."""
    path = pathlib.Path(ref).expanduser()
    if not path.is_absolute() and len(path.parts) == 1 and not path.suffix:
        return False  # a bundled or installed workflow's name
    base = (base_dir or pathlib.Path.cwd()).resolve()
    return not (base / path).resolve().is_relative_to(base)

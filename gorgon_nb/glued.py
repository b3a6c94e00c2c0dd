"""Values a notebook hands back to whoever ran it: ``glue`` in the notebook, ``read_glued`` after.

    # in a notebook run as a job or a workflow's ``notebook`` step
    from gorgon_nb import glue
    glue("total", 1234)

    # later, from the executed notebook
    read_glued("out.ipynb")  # {"total": 1234}

The module is ``glued``, not ``glue``, so that ``gorgon_nb.glue`` stays the function once
this module is imported.

A glued value is display data with the mimetype ``application/vnd.gorgon.glue+json``
(``{"name": ..., "value": ...}``) and a short ``text/plain``, so it is kept in the
executed notebook like any output. A ``notebook`` step's output is the glued values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from gorgon_nb.errors import UsageError

__all__ = ["GLUE_MIMETYPE", "glue", "read_glued"]

GLUE_MIMETYPE = "application/vnd.gorgon.glue+json"
_PREVIEW = 80


def _plain(value: Any) -> Any:
    # numpy scalars and arrays (and anything else with tolist) become plain lists and numbers
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(type(value).__name__)


def glue(name: str, value: Any) -> None:
    """Record ``value`` (anything JSON can hold) under ``name`` in this notebook's output.

    Glue the same name again and the last value counts. Outside IPython (a plain script)
    there is no output to record it in, so nothing happens once the value is checked.
    """
    if not isinstance(name, str) or not name:
        raise UsageError("glue(name, value): the name must be a non-empty string")
    try:
        plain = json.loads(json.dumps(value, default=_plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"glue('{name}', ...) needs a value JSON can hold (str, number, bool, None, list, dict), not "
            f"{type(value).__name__} ({exc}); convert it first, e.g. df.to_dict('records') or str(value)"
        ) from None
    from IPython.core.interactiveshell import InteractiveShell

    if not InteractiveShell.initialized():
        return
    from IPython.display import display

    shown = json.dumps(plain, ensure_ascii=False)
    if len(shown) > _PREVIEW:
        shown = shown[: _PREVIEW - 1] + "…"
    display({GLUE_MIMETYPE: {"name": name, "value": plain}, "text/plain": f"glued {name}: {shown}"}, raw=True)


def read_glued(notebook: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The values glued in an executed notebook (a path, or the notebook's JSON), by name;
    the last one wins for a name."""
    if isinstance(notebook, Mapping):
        content: Mapping[str, Any] = notebook
    else:
        with open(notebook, encoding="utf-8") as file:
            content = json.load(file)
    found: dict[str, Any] = {}
    for cell in content.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, Mapping) else []:
            record = output.get("data", {}).get(GLUE_MIMETYPE) if isinstance(output, Mapping) else None
            if isinstance(record, str):  # some writers keep JSON mimetypes as text
                try:
                    record = json.loads(record)
                except ValueError:
                    continue
            if isinstance(record, Mapping) and isinstance(record.get("name"), str):
                found[record["name"]] = record.get("value")
    return found

"""Notebooks for tests: ``write_notebook(path, "x = 1", "raise ValueError()", parameters="n = 3")``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_notebook"]


def write_notebook(path: str | os.PathLike[str], *cells: str, parameters: str | None = None) -> Path:
    """A Python notebook of code ``cells``, after a cell tagged ``parameters`` when given; its path."""
    import nbformat

    path = Path(path)
    code = [nbformat.v4.new_code_cell(source) for source in cells]
    if parameters is not None:
        code.insert(0, nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    notebook = nbformat.v4.new_notebook(cells=code)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path

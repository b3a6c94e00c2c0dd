"""``write_notebook``: a notebook on a ``str`` or ``Path`` path, with its ``parameters`` cell."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from gorgon_nb.testing.notebooks import write_notebook


@pytest.mark.parametrize("as_given", [str, Path], ids=["str", "Path"])
def test_a_notebook_is_written_where_the_path_says(tmp_path: Path, as_given: type[os.PathLike[str]] | type[str]) -> None:
    target = tmp_path / "reports" / "weekly.ipynb"  # its folder does not exist yet
    written = write_notebook(as_given(target), "total = days * 2", "print(total)", parameters="days = 3")
    assert isinstance(written, Path) and written == target
    notebook = nbformat.read(target, as_version=4)
    nbformat.validate(notebook)
    assert [cell.source for cell in notebook.cells] == ["days = 3", "total = days * 2", "print(total)"]
    assert notebook.cells[0].metadata["tags"] == ["parameters"]
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_without_parameters_there_is_no_parameters_cell(tmp_path: Path) -> None:
    notebook = nbformat.read(write_notebook(str(tmp_path / "plain.ipynb"), "x = 1"), as_version=4)
    assert [cell.source for cell in notebook.cells] == ["x = 1"]
    assert "tags" not in notebook.cells[0].metadata

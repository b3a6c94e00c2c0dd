"""Run the example notebooks (nbval) as a new user would: offline, with a GORGON_HOME of their own.

nbval starts one kernel per notebook, in the notebook's folder, when the notebook's first
cell is set up; the kernel inherits this process's environment. So the environment is
prepared here: no API keys or provider settings from the machine running the tests (the
notebooks must use the offline provider), and a fresh, empty GORGON_HOME for every notebook
(never the user's Jupyter data directory), so runs and config never leak between notebooks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SCRUBBED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GORGON_MODEL",
             "GORGON_CONFIG", "OLLAMA_HOST")

_homes: Path | None = None
_current: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _homes
    _homes = Path(tempfile.mkdtemp(prefix="gorgon-examples-"))
    os.environ["GORGON_HOME"] = str(_homes / "session")
    for name in _SCRUBBED:
        os.environ.pop(name, None)
    config.add_cleanup(lambda: shutil.rmtree(_homes, ignore_errors=True))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts (with its first cell), give it a GORGON_HOME of its own."""
    global _current
    notebook = item.path
    if notebook.suffix != ".ipynb" or notebook == _current or _homes is None:
        return
    _current = notebook
    os.environ["GORGON_HOME"] = str(_homes / notebook.stem)

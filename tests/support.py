"""What tests in every folder share (import it as ``support``: pytest puts tests/ on the path).

Fixtures live in conftest.py; plain values and helpers live here, so a test module can
import them without naming a conftest, whose bare name each folder has one of.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"

# Keys of the real services must never leak into tests: every test runs as a fresh user.
SCRUBBED = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GORGON_MODEL",
            "GORGON_CONFIG", "OLLAMA_HOST", "GITHUB_TOKEN", "NOTION_TOKEN", "SLACK_BOT_TOKEN")


# The README's "Validation" example: four problems, on lines 6, 7, 10 and 13.
BROKEN_WORKFLOW = """\
id: broken
inputs:
  topic: {type: string}
steps:
  - id: plan
    agent: planer
    task: "{{ inputs.topik }}"
  - id: build
    agent: builder
    contxt: "{{ steps.plan.output }}"
  - id: test
    agent: tester
    context: "{{ steps.biuld.output }}"
"""


def env_without_keys() -> dict[str, str]:
    """The environment for a subprocess, with the same scrubbing as the ``home`` fixture."""
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED}


def ipython() -> InteractiveShell:
    """The process's real IPython shell, with ``%load_ext gorgon_nb`` done."""
    shell = InteractiveShell.instance()
    if "gorgon" not in shell.magics_manager.magics["cell"]:
        shell.run_line_magic("load_ext", "gorgon_nb")
    return shell


def until(check: Callable[[], Any], timeout: float = 60) -> Any:
    """``check()``'s first true value, asked again and again for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")

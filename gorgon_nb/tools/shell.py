"""``shell``: run a command in the step's workspace.

``shell.run`` runs code on this machine, so a step that offers it needs both consents
of ``engine.trust`` (the workflow's ``allow_code: true`` and the caller's
``--allow-code``; checked before the run starts, for a role's tools when its step
starts; a workflow bundled with gorgon-nb needs neither), and every call waits for a
person's approval, the command shown, unless ``auto_approve`` says otherwise. The
command runs with ``sh`` in the workspace, in a process group of its own that is killed
whole when it runs past its timeout or the call is cancelled, with the environment
minus the variables that hold keys and tokens (``secrets.without_secrets``). The model
reads its exit code and its output (the start and the end of each stream when it is
long), with any secret scrubbed.
"""

from __future__ import annotations

import os
from typing import Any

from gorgon_nb.errors import ToolError
from gorgon_nb.integrations.text import fenced
from gorgon_nb.model.tools import Tool, ToolSet
from gorgon_nb.secrets import redact, without_secrets
from gorgon_nb.tools._process import OUTPUT_LIMIT, run_command

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "TOOLSET"]

DEFAULT_TIMEOUT = 120.0  # seconds a command may run unless the call asks for more
MAX_TIMEOUT = 1800.0  # the most a call may ask for


def _command(arguments: dict[str, Any]) -> str:
    command = arguments.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolError("'command' must be the shell command to run, as a string")
    return command


def _timeout(arguments: dict[str, Any]) -> float:
    value = arguments.get("timeout")
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ToolError(f"'timeout' must be a number of seconds above 0, not {value!r}")
    return min(float(value), MAX_TIMEOUT)


async def _run(arguments: dict[str, Any], ctx: Any) -> dict[str, Any]:
    command, timeout = _command(arguments), _timeout(arguments)
    if not ctx.workspace.is_dir():
        raise ToolError(f"the workspace {ctx.workspace} is not a folder; create it, or give the step another "
                        "'workspace'", fatal=True)
    done = await run_command(command, ctx.workspace, timeout, without_secrets(os.environ))
    result: dict[str, Any] = {"exit_code": done.exit_code, "stdout": redact(done.stdout),
                              "stderr": redact(done.stderr)}
    if done.timed_out:
        raise ToolError(f"the command did not finish within {timeout:g}s and was stopped (its whole process "
                        f"group killed). Its output so far:\n{result['stdout']}\n{result['stderr']}".rstrip())
    return result


async def _preview(arguments: dict[str, Any], ctx: Any) -> str:
    timeout = _timeout(arguments)
    return (f"This command will run in `{ctx.workspace}` (stopped after {timeout:g}s):\n\n"
            f"{fenced(_command(arguments), 'sh')}")


RUN = Tool(
    "shell.run",
    f"Run a shell command (sh) in the workspace and get its exit code, stdout and stderr (each cut to about "
    f"{OUTPUT_LIMIT // 1000} kB: its start and its end). Stdin is empty; the command is stopped after 'timeout' "
    f"seconds (default {DEFAULT_TIMEOUT:g}).",
    {"type": "object", "additionalProperties": False, "required": ["command"], "properties": {
        "command": {"type": "string", "description": "the command, as you would type it in a shell"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT,
                    "description": f"seconds it may run (default {DEFAULT_TIMEOUT:g})"}}},
    _run, writes=True, runs_code=True, preview=_preview,
    timeout=MAX_TIMEOUT + 30,  # the command's own timeout stops it first, with its output
)


async def _tools(selector: str | None, ctx: Any) -> list[Tool]:
    if selector not in (None, "run"):
        raise ToolError(f"the shell tools have no '{selector}'; the one there is: shell.run", fatal=True)
    return [RUN]


def _check(selector: str | None, config: Any) -> str | None:
    if selector in (None, "run"):
        return None
    return f"the shell tools have no '{selector}'; did you mean 'run'?"


TOOLSET = ToolSet("shell", "Shell commands in the step's workspace (run code: both consents, approved).",
                  _tools, _check, runs_code=lambda selector: True)

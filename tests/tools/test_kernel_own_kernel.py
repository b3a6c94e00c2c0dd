"""The ``kernel`` tool set outside a notebook: a run in plain Python or ``gorgon run`` starts
a kernel of its own, in the step's workspace, uses it for every kernel call, and stops it when
the run ends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import env_without_keys

from gorgon_nb.store import Store

# -- a run in plain Python --------------------------------------------------------------------

PLAIN_PYTHON_RUN = '''
import json, os, sys
from gorgon_nb.providers.base import Completion, ToolCall
from gorgon_nb.runner import Runner

CODE = "import os, pandas as pd\\nsales = pd.DataFrame({'units': [1, 2, None]})\\nprint(os.getcwd())\\nos.getpid()"


class Model:
    """Asks for the kernel tools, then answers with what they said."""

    name = "offline"
    turns = [[("kernel_run_code", {"code": CODE})],
             [("kernel_list_variables", {}), ("kernel_describe_dataframe", {"name": "sales"}),
              ("kernel_insert_cell", {"code": "sales.plot()"})]]

    async def complete(self, request, *, on_delta=None):
        if request.tools and self.turns:
            calls = self.turns.pop(0)
            return Completion("", tool_calls=tuple(ToolCall(f"c{i}", n, a) for i, (n, a) in enumerate(calls)))
        return Completion(json.dumps([[m.is_error, m.content] for m in request.messages if m.role == "tool"]))


runner = Runner()
runner.runtime.providers.register(Model())
workflow = {"id": "own_kernel", "allow_code": True, "steps": [
    {"id": "look", "agent": "analyst", "task": "look", "tools": ["kernel"], "auto_approve": True, "workspace": "work"}]}
result = runner.run(workflow, allow_code=True)
said = json.loads(result.outputs["look"]) if result.ok else []
pid = int(said[0][1].rsplit("value:\\n", 1)[1]) if said else None
try:
    os.kill(pid, 0)
    alive = True
except (ProcessLookupError, TypeError):
    alive = False
shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
print(json.dumps({"ok": result.ok, "error": result.error, "said": said, "pid": pid, "alive_after_run": alive,
                  "me": os.getpid(), "shell": repr(shell)}))
'''


def test_outside_a_notebook_the_run_starts_its_own_kernel_and_stops_it(home: Path, tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, "-c", PLAIN_PYTHON_RUN], cwd=tmp_path, capture_output=True, text=True,
                         env={**env_without_keys(), "GORGON_HOME": str(home)}, timeout=180)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["ok"], out["error"]
    assert out["shell"] == "None"  # a plain Python process: no notebook to work in
    (ran_error, ran_code), (listed_error, listed), (described_error, described), (inserted_error, inserted) = \
        out["said"]
    assert not ran_error and ran_code.startswith(f"stdout:\n{(tmp_path / 'work').resolve()}\n\nvalue:\n")
    assert out["pid"] not in (None, out["me"])  # the code ran in a kernel process of its own
    assert not listed_error and "sales" in listed and "3 rows x 1 columns" in listed and "os" not in listed.split()
    assert not described_error and "units   float64  1" in described
    assert inserted_error and inserted.startswith("kernel.insert_cell works only in a notebook")
    assert not out["alive_after_run"]  # stopped when the run ended
    with pytest.raises(ProcessLookupError):
        os.kill(out["pid"], 0)



ENDLESS = "import time\ntry:\n    while True:\n        time.sleep(0.01)\nfinally:\n    stopped.set()"


async def test_code_that_passes_its_timeout_is_interrupted_in_the_runs_own_kernel(tmp_path: Path) -> None:
    from gorgon_nb.tools.kernel import _start_kernel

    kernel, stop = await _start_kernel(tmp_path)
    pid = kernel.pid
    assert pid is not None and pid != os.getpid()
    try:
        await kernel.call("run_code", {"code": "import threading\nstopped = threading.Event()"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(kernel.call("run_code", {"code": ENDLESS}), 2)
        # The kernel was interrupted, so it answers again (it would still be looping otherwise).
        answer = await asyncio.wait_for(kernel.call("run_code", {"code": "stopped.is_set()"}), 60)
        assert answer == {"ok": True, "text": "value:\nTrue"}
    finally:
        await stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- `gorgon run`, driven by the offline model ---------------------------------------------------

CLI_WORKFLOW = """\
id: pid_in_own_kernel
allow_code: true
steps:
  - id: look
    agent: analyst
    tools: [kernel]
    auto_approve: [kernel.run_code]
    workspace: work
    task: |
      Use kernel.run_code to see which process runs the code, then kernel.list_variables:
      ```python
      import os
      print(os.getcwd())
      os.getpid()
      ```
"""


def test_gorgon_run_gives_the_kernel_tools_a_kernel_of_the_runs_own(home: Path, tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(CLI_WORKFLOW)
    gorgon = Path(sys.executable).parent / "gorgon"
    env = {**env_without_keys(), "GORGON_HOME": str(home)}
    refused = subprocess.run([str(gorgon), "run", "wf.yaml"], cwd=tmp_path, capture_output=True, text=True,
                             env=env, timeout=120)
    assert refused.returncode != 0 and "offers its model tools that run code (kernel)" in refused.stderr
    ran = subprocess.run([str(gorgon), "run", "wf.yaml", "--allow-code", "-q"], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with Store(home / "gorgon.db") as store:
        [run] = store.runs.recent(1)
        calls = {c.tool: c for c in store.tools.of_run(run.run_id)}
    assert set(calls) == {"kernel.run_code", "kernel.list_variables"}
    assert not any(c.is_error for c in calls.values())
    printed, _, value = calls["kernel.run_code"].result.partition("\n\nvalue:\n")
    assert printed == f"stdout:\n{(tmp_path / 'work').resolve()}"  # in the step's workspace
    pid = int(value)
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):  # the kernel ended with the run
        os.kill(pid, 0)

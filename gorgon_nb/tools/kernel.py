"""The ``kernel`` tool set: an agent looks at the notebook's variables and runs code beside them.

Tools (``kernel`` is all of them; ``kernel.NAME`` one):

- ``kernel.list_variables``: the user's variables (no modules, functions, classes, ``_names``
  or IPython's own), with type, shape or length, and the value of short scalars;
- ``kernel.describe_dataframe {name}``: a DataFrame's shape, columns with dtypes and null
  counts, its first rows and a summary of its numeric columns (anything with the
  DataFrame API will do: pandas is never imported here);
- ``kernel.read_value {name, max_chars?}``: a value's repr, cut at ``max_chars`` (2000);
- ``kernel.run_code {code}``: runs Python (IPython's ``%magics`` too) in the kernel and
  answers with what it printed and the value of its last expression, or its error and a
  short traceback. It writes and runs code: it waits for approval (the code is the
  preview) and the step needs both consents of ``engine.trust``;
- ``kernel.insert_cell {code}``: proposes a new cell below the one that runs the workflow
  (in a notebook only). It waits for approval too.

What the tools answer is redacted (``secrets.redact``): a key a notebook variable holds
never reaches the model.

Which kernel. A run started in a notebook runs inside its kernel (``IPython.get_ipython()``
is the notebook's shell), and the tools work on the notebook's own namespace. Anywhere else
(``gorgon run``, the scheduler's loop, the Jupyter server, a plain Python process) the run
starts a kernel of its own on first use, in the step's workspace, holds it as a run
resource (``ToolContext.resource("kernel", ...)``) and shuts it down when the run ends;
each tool then is a short snippet sent to that kernel. Both ways run the same code
(``_kernel_probe``), so the tools answer alike.

Threads. In a notebook a run never executes on the kernel's main thread: it runs on the
kernel's background run loop (``magics.session``) while the cell that started it waits.
The tools do not schedule anything on the kernel's own loop or go through its display
machinery (the main thread is busy waiting for the run, so that would dead-lock); they
run the probe in a worker thread on ``shell.user_ns`` directly. ``run_code`` executes
with ``exec``, and captures stdout and stderr by routing what *its* thread writes into a
buffer (``sys.stdout`` is shared by every thread: a plain redirect would swallow what
other threads print, and leak what the code prints into the cell). Runs of ``run_code``
take turns (a lock). Each gets a thread of its own, so that code that outlives its
timeout (or a cancelled run) can be stopped: ``KeyboardInterrupt`` is raised in that thread
(``PyThreadState_SetAsyncExc``), which stops Python code at its next bytecode but not a C
call that never returns. A run's own kernel is interrupted (SIGINT) instead.
With ``%%gorgon --background`` the notebook's next cells run while the agent's code does,
as with any thread: that is what a background run asks for.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import queue
import threading
from pathlib import Path
from typing import Any

from gorgon_nb.errors import ToolError, did_you_mean
from gorgon_nb.model.tools import Tool, ToolSet
from gorgon_nb.secrets import redact
from gorgon_nb.tools import _kernel_probe as probe

__all__ = ["TOOLSET", "notebook_shell"]

READY_TIMEOUT = 60.0  # seconds for the run's own kernel to start and answer
POLL_SECONDS = 1.0  # how often a wait on the run's own kernel checks that it is still alive
CODE_TIMEOUT = 300.0  # seconds run_code may take
CODE_TOOLS = frozenset({"run_code", "insert_cell"})


def notebook_shell() -> Any:
    """The IPython shell this process runs in (a notebook's kernel), or None.

    IPython is only looked up if something imported it: a process without it is not a notebook."""
    import sys

    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class NotebookNamespace:
    """The namespace of the notebook whose kernel runs the workflow."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if tool != "run_code":
            result: dict[str, Any] = await asyncio.to_thread(probe.call, self.shell.user_ns, tool, arguments)
            return result
        # The code gets a thread of its own, so that stopping it (below) can hit nothing else.
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        context = contextvars.copy_context()

        def work() -> None:
            try:
                outcome = context.run(probe.call, self.shell.user_ns, tool, arguments)
            except BaseException as exc:  # the probe answers its code's errors itself: this is an interrupt
                stopped = ToolError(f"the code was stopped ({type(exc).__name__})")
                loop.call_soon_threadsafe(_settle, answer, None, stopped)
            else:
                loop.call_soon_threadsafe(_settle, answer, outcome, None)

        thread = threading.Thread(target=work, name="gorgon-kernel-code", daemon=True)
        thread.start()
        try:
            return await answer
        except asyncio.CancelledError:  # the call timed out or the run stopped: stop the code too
            if thread.is_alive() and thread.ident is not None:
                _interrupt(thread.ident)
            raise


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _interrupt(thread: int) -> None:
    """Raise ``KeyboardInterrupt`` in ``thread`` (at its next bytecode: a C call that never
    returns is not stopped). The only way to stop code running in a thread of this process."""
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(KeyboardInterrupt))


class OwnKernel:
    """A kernel the run started for its ``kernel`` tools; each call is a snippet run in it."""

    def __init__(self, manager: Any, client: Any) -> None:
        self.manager = manager
        self.client = client
        self.lock = asyncio.Lock()  # one request at a time: a reply is read by the one who asked

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            msg_id = self.client.execute(_snippet(tool, arguments), silent=False, store_history=False,
                                         allow_stdin=False)
            try:
                printed, failure = await self._collect(msg_id)
            except asyncio.CancelledError:  # the call timed out or the run stopped: stop the code too
                await asyncio.shield(self.manager.interrupt_kernel())
                raise
        for line in reversed(printed.split("\n")):
            if line.startswith(probe.SENTINEL):
                answer: dict[str, Any] = json.loads(line[len(probe.SENTINEL):])
                return answer
        raise ToolError(f"the run's kernel gave no answer{': ' + failure if failure else ''}")

    async def _collect(self, msg_id: str) -> tuple[str, str]:
        """What the request printed, and its error, once the kernel is idle again."""
        printed: list[str] = []
        failure = ""
        while True:
            try:
                message = await self.client.get_iopub_msg(timeout=POLL_SECONDS)
            except queue.Empty:
                if not await self.manager.is_alive():
                    raise ToolError("the run's kernel died (did the code exit it, or run out of memory?), "
                                    "and its variables with it") from None
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content.get("name") == "stdout":
                printed.append(content.get("text", ""))
            elif kind == "error":
                failure = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return "".join(printed), failure


def _snippet(tool: str, arguments: dict[str, Any]) -> str:
    """One expression that installs the probe in the kernel if it is not there yet (as a
    module, so the user's namespace gains no name) and runs the tool."""
    name = probe.NAME
    install = (f"__import__('sys').modules.__setitem__({name!r}, __import__('types').ModuleType({name!r})) or "
               f"exec(compile({_probe_source()!r}, '<gorgon kernel probe>', 'exec'), "
               f"__import__('sys').modules[{name!r}].__dict__)")
    module = f"(__import__('sys').modules.get({name!r}) or {install} or __import__('sys').modules[{name!r}])"
    return f"{module}.emit({tool!r}, {json.dumps(arguments, default=str)!r})"


_source: str | None = None


def _probe_source() -> str:
    global _source
    if _source is None:
        _source = Path(probe.__file__).read_text(encoding="utf-8")
    return _source


async def _start_kernel(workspace: Path) -> tuple[OwnKernel, Any]:
    from gorgon_nb.scheduler.pool import kernel_problem, shutdown_kernel, start_kernel

    problem = kernel_problem("python3")
    if problem is not None:
        raise ToolError(f"the kernel tools need a Python kernel, and {problem}", fatal=True)
    workspace.mkdir(parents=True, exist_ok=True)
    manager = await start_kernel("python3", cwd=str(workspace), wait_ready=False)
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=READY_TIMEOUT)
    except BaseException as exc:
        client.stop_channels()
        await asyncio.shield(shutdown_kernel(manager, now=True))
        if isinstance(exc, Exception):
            raise ToolError(f"the run's kernel did not start within {READY_TIMEOUT:g}s: {exc}", fatal=True) from None
        raise

    async def stop() -> None:
        client.stop_channels()
        await shutdown_kernel(manager)

    return OwnKernel(manager, client), stop


async def kernel_for(ctx: Any) -> NotebookNamespace | OwnKernel:
    """The notebook's namespace when the run lives in a notebook, else the run's own kernel."""
    shell = notebook_shell()
    if shell is not None:
        return NotebookNamespace(shell)
    kernel: OwnKernel = await ctx.resource("kernel", lambda: _start_kernel(Path(ctx.workspace)))
    return kernel


def _runner(tool: str) -> Any:
    async def run(arguments: dict[str, Any], ctx: Any) -> str:
        answer = await (await kernel_for(ctx)).call(tool, arguments)
        # A notebook often holds a key (``api_key = os.environ[...]``): the model never reads one.
        text = redact(str(answer.get("text")))
        if not answer.get("ok"):
            raise ToolError(text)
        return text

    return run


async def _insert_cell(arguments: dict[str, Any], ctx: Any) -> str:
    code = _code_of(arguments)
    shell = notebook_shell()
    if shell is None:
        raise ToolError("kernel.insert_cell works only in a notebook, and this run is not in one; give the code "
                        "in your answer instead (or run it with kernel.run_code, if you have that tool)")
    # A cell's reply carries one proposed cell: the cells proposed in one run go in it together.
    proposed: list[str] = await ctx.resource("kernel-cells", _new_cell_list)
    proposed.append(code.rstrip())
    shell.set_next_input("\n\n".join(proposed), replace=False)
    return ("the cell is proposed below the one running the workflow" if len(proposed) == 1 else
            f"the cell is proposed below the one running the workflow, after the {len(proposed) - 1} proposed "
            "before it in this run")


async def _new_cell_list() -> tuple[list[str], Any]:
    async def nothing() -> None:
        return None

    return [], nothing


def _code_of(arguments: dict[str, Any]) -> str:
    code = arguments.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ToolError("give the code as 'code', a string of Python")
    return code


async def _code_preview(arguments: dict[str, Any], ctx: Any) -> str:
    where = "the notebook's kernel" if notebook_shell() is not None else f"the run's own kernel (in {ctx.workspace})"
    return f"The agent wants to run this code in {where}:\n\n```python\n{arguments.get('code', '')}\n```"


async def _cell_preview(arguments: dict[str, Any], ctx: Any) -> str:
    return ("The agent wants to add this cell to the notebook, below the cell running the workflow:\n\n"
            f"```python\n{arguments.get('code', '')}\n```")


_NAME = {"type": "string", "description": "the variable's name, as kernel.list_variables lists it"}
TOOLS: tuple[Tool, ...] = (
    Tool("kernel.list_variables", "List the variables of the Python kernel (the notebook's, in a notebook): "
         "name, type, shape or length, and short values.",
         {"type": "object", "properties": {}}, _runner("list_variables"), idempotent=True, timeout=60),
    Tool("kernel.describe_dataframe", "Describe a DataFrame variable of the kernel: its shape, columns with "
         "dtypes and null counts, its first 5 rows and a summary of its numeric columns.",
         {"type": "object", "properties": {"name": _NAME}, "required": ["name"]},
         _runner("describe_dataframe"), idempotent=True, timeout=60),
    Tool("kernel.read_value", "Read the repr of a variable of the kernel, cut at max_chars characters.",
         {"type": "object", "properties": {"name": _NAME, "max_chars": {
             "type": "integer", "minimum": 1, "maximum": probe.READ_CEILING, "default": probe.READ_LIMIT,
             "description": "how much of the repr to read"}}, "required": ["name"]},
         _runner("read_value"), idempotent=True, timeout=60),
    Tool("kernel.run_code", "Run Python code in the kernel (the notebook's, in a notebook), beside its "
         "variables. Answers with what it printed and the value of its last expression, or its error. "
         "A person approves each run first.",
         {"type": "object", "properties": {"code": {"type": "string", "description": "the Python code to run"}},
          "required": ["code"]},
         _runner("run_code"), writes=True, runs_code=True, preview=_code_preview,
         timeout=CODE_TIMEOUT),
    Tool("kernel.insert_cell", "Propose a new code cell in the notebook, below the cell running the workflow "
         "(in a notebook only). A person approves it first.",
         {"type": "object", "properties": {"code": {"type": "string", "description": "the cell's code"}},
          "required": ["code"]},
         _insert_cell, writes=True, runs_code=True, preview=_cell_preview),
)
_BY_NAME = {tool.name.partition(".")[2]: tool for tool in TOOLS}


async def _tools(selector: str | None, ctx: Any) -> list[Tool]:
    if selector is None:
        return list(TOOLS)
    tool = _BY_NAME.get(selector)
    if tool is None:
        raise ToolError(_unknown(selector), fatal=True)
    return [tool]


def _unknown(selector: str) -> str:
    return f"the kernel tool set has no tool '{selector}'; {did_you_mean(selector, _BY_NAME)}"


def _check(selector: str | None, config: Any) -> str | None:
    return None if selector is None or selector in _BY_NAME else _unknown(selector)


def _runs_code(selector: str | None) -> bool:
    return selector is None or selector in CODE_TOOLS


TOOLSET = ToolSet("kernel", "The Python kernel's variables: list them, describe DataFrames, read values, run "
                  "code and propose cells (in a notebook, its own kernel; elsewhere, a kernel the run starts).",
                  _tools, check=_check, runs_code=_runs_code)

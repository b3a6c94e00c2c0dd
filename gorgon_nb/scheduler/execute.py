"""Running one job: its notebook executed by papermill on a fresh kernel.

``execute_job`` is what a scheduler calls for each job it claimed. It never raises for the
notebook's own failures; it returns an ``Outcome``: the final state, the executed notebook
(kept in every case, partial when the job failed or was stopped), and for a failure the
cell and exception. papermill runs in a thread of the job's own, so the event loop (the
Jupyter server's, the scheduler's) stays free; the job's timeout and cancellation are
watched from the loop, and both end the same way: the kernel's process group is killed.

Each kernel serves one job. With a ``KernelPool`` the kernel was started ahead of time
(and moves to the notebook's folder before the first cell); without one it starts in
that folder. Either way the notebook runs with its folder as the working directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.pool import KernelPool, kernel_problem, shutdown_kernel, start_kernel

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

__all__ = ["Outcome", "execute_job", "notebook_kernel", "output_folder_problem", "output_path_for", "resolve_notebook",
           "run_notebook", "watch"]

POLL_SECONDS = 0.3  # how often ``cancelled()`` and the timeout are checked
KILL_GRACE_SECONDS = 10.0  # how long a killed kernel's thread gets to notice and return
JOBS_DIR = Path("gorgon-jobs")  # visible, so JupyterLab opens what is kept there


@dataclass
class Outcome:
    """How a job ended. ``failed_cell`` is the position of the failing cell (or, for a job
    stopped by its timeout or a cancel, the cell that was running) in the notebook as
    written, counted from 1; ``error`` names the same cell ("cell 3 raised ...")."""

    state: JobState  # SUCCEEDED, FAILED, CANCELLED or TIMED_OUT
    output_path: str | None  # the executed notebook, relative to root
    error: str | None = None  # one sentence for a person: "cell 3 raised ValueError: bad input"
    failed_cell: int | None = None
    exception: str | None = None  # "ValueError: bad input"
    kernel_host: str | None = None  # socket.gethostname() of the kernel's machine
    kernel_pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    run_ids: list[str] | None = None  # a workflow job's run; a notebook's runs are found by its kernel


def resolve_notebook(root: Path, notebook: str) -> Path:
    """The notebook's absolute path; ``UsageError`` when it is outside ``root`` (``..``, an
    absolute path elsewhere, a symlink out), missing, or not a .ipynb."""
    base = Path(root).resolve()
    if not notebook or not notebook.strip():
        raise UsageError("no notebook given; name a .ipynb file relative to the scheduler's root")
    given = Path(notebook).expanduser()
    path = (given if given.is_absolute() else base / given).resolve()
    if not path.is_relative_to(base):
        raise UsageError(f"'{notebook}' is outside the scheduler's root {base}; only notebooks under it can be "
                         "scheduled. Move or copy the notebook into that folder and give its path relative to it.")
    if path.suffix != ".ipynb":
        raise UsageError(f"'{notebook}' is not a notebook; give the path of a .ipynb file")
    if not path.is_file():
        raise NotFoundError(f"no notebook at '{notebook}' under {base}; check the path (it is relative to that "
                            "folder) and that the file still exists")
    return path


def output_path_for(root: Path, job: Job) -> Path:
    """Where the executed notebook goes:
    ``root/gorgon-jobs/<schedule id or "once">/<YYYYmmdd-HHMMSS>-<job id>-<notebook stem>.ipynb``
    (the time is when the job started, or was due, in local time)."""
    when = job.started_at or job.scheduled_for or time.time()
    stamp = datetime.fromtimestamp(when).strftime("%Y%m%d-%H%M%S")
    return Path(root) / JOBS_DIR / (job.schedule_id or "once") / f"{stamp}-{job.id}-{Path(job.notebook).stem}.ipynb"


def output_folder_problem(root: str | Path, job: Job | None = None) -> str | None:
    """Why executed notebooks cannot be written under ``root``, or None: its ``gorgon-jobs``
    folder (or a folder or file in it, for ``job``) is a link that leads out of ``root``."""
    base = Path(root).resolve()
    folder = base / JOBS_DIR
    path = output_path_for(base, job) if job is not None else folder
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of links
        return f"the folder for executed notebooks, {folder}, cannot be followed ({exc}); make it a plain folder"
    if resolved.is_relative_to(base):
        return None
    return (f"the folder for executed notebooks, {folder}, leads outside the root {base} (through a link, to "
            f"{resolved.parent if job is not None else resolved}); executed notebooks are written only under the "
            f"root. Make {JOBS_DIR} a plain folder of the root (remove the link), then run the job again")


def _never() -> bool:
    return False


async def execute_job(job: Job, root: Path, *, pool: KernelPool | None = None,
                      cancelled: Callable[[], bool] = _never) -> Outcome:
    """Run ``job.notebook`` (relative to ``root``) with ``job.parameters`` on a fresh kernel,
    writing the executed notebook to ``output_path_for(root, job)``.

    ``job.timeout`` bounds the whole notebook (the kernel is killed: TIMED_OUT);
    ``cancelled()`` is checked about every 0.3 s (true: the kernel is killed: CANCELLED).
    A notebook that cannot be run (outside ``root``, missing), or whose executed copy would
be written outside ``root`` (a ``gorgon-jobs`` link out of it), is FAILED with the reason.
    """
    started = time.time()
    try:
        source = resolve_notebook(root, job.notebook)
    except UsageError as exc:
        return Outcome(JobState.FAILED, None, error=str(exc), started_at=started, ended_at=time.time())
    if problem := output_folder_problem(root, job):  # a gorgon-jobs link out of the root: nothing is written
        return Outcome(JobState.FAILED, None, error=problem, started_at=started, ended_at=time.time())
    output = output_path_for(root, job)
    outcome = await run_notebook(source, output, job.parameters, timeout=job.timeout, pool=pool,
                                 cancelled=cancelled)
    outcome.started_at = started
    if outcome.output_path is not None:
        outcome.output_path = output.relative_to(root).as_posix()
    return outcome


async def run_notebook(source: Path, output: Path, parameters: dict[str, Any] | None = None, *,
                       timeout: float | None = None, pool: KernelPool | None = None,
                       cancelled: Callable[[], bool] = _never) -> Outcome:
    """Execute the notebook at ``source`` into ``output`` (absolute paths); see ``execute_job``.

    Cancelling the task that awaits this kills the kernel too (then the cancel goes on).
    ``Outcome.output_path`` is ``str(output)``, or None when nothing was written.
    """
    started = time.time()
    deadline = started + timeout if timeout else None
    host = socket.gethostname()

    def ended(state: JobState, error: str | None = None, **more: Any) -> Outcome:
        written = str(output) if output.is_file() else None
        return Outcome(state, written, error, kernel_host=host, started_at=started, ended_at=time.time(), **more)

    try:
        kernel_name, language = notebook_kernel(source)
        output.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        return ended(JobState.FAILED, f"cannot read the notebook {source.name}: {exc}",
                     exception=f"{type(exc).__name__}: {exc}")
    if cancelled():
        return ended(JobState.CANCELLED, "cancelled before it started")
    pooled = pool is not None and pool.kernel_name == kernel_name
    taking = asyncio.ensure_future(pool.take() if pool is not None and pooled
                                   else start_kernel(kernel_name, str(source.parent), wait_ready=False))
    try:
        stop = await watch(taking, cancelled, deadline)
    except asyncio.CancelledError:
        await _abandon(taking)
        raise
    if stop is not None:
        await _abandon(taking)
        return ended(stop, _stopped(stop, timeout, None))
    try:
        km = taking.result()
    except Exception as exc:
        problem = kernel_problem(kernel_name) or f"the kernel '{kernel_name}' could not start: {exc}"
        return ended(JobState.FAILED, problem, exception=f"{type(exc).__name__}: {exc}")
    pid = getattr(km.provisioner, "pid", None)
    stopping = threading.Event()  # set before the kernel is killed: its death is expected then
    running = _in_thread(_papermill, source, output, parameters or {}, km, kernel_name, language,
                         str(source.parent) if pooled else None, stopping)
    stop = None
    try:
        stop = await watch(running, cancelled, deadline)
        if stop is not None:
            stopping.set()
            _kill(km)
            await asyncio.wait({running}, timeout=KILL_GRACE_SECONDS)
    except asyncio.CancelledError:
        stop = JobState.CANCELLED
        stopping.set()
        _kill(km)
        await asyncio.shield(asyncio.wait({running}, timeout=KILL_GRACE_SECONDS))
        raise
    finally:
        await asyncio.shield(shutdown_kernel(km, now=stop is not None))
    ran = _ran(running)
    if stop is not None:
        return ended(stop, _stopped(stop, timeout, ran.cell), failed_cell=ran.cell, kernel_pid=pid)
    if ran.ename is None and not ran.dead:
        return ended(JobState.SUCCEEDED, kernel_pid=pid)
    if ran.dead:
        where = f" while cell {ran.cell} was running" if ran.cell is not None else ""
        return ended(JobState.FAILED, f"the kernel died{where} (out of memory, or the process was killed)",
                     failed_cell=ran.cell, exception="DeadKernelError: kernel died", kernel_pid=pid)
    exception = f"{ran.ename}: {ran.evalue}" if ran.evalue else str(ran.ename)
    if ran.cell is None:
        return ended(JobState.FAILED, f"the notebook could not run: {_one_line(exception)}", exception=exception,
                     kernel_pid=pid)
    return ended(JobState.FAILED, f"cell {ran.cell} raised {_one_line(exception)}", failed_cell=ran.cell,
                 exception=exception, kernel_pid=pid)


# -- watching from the event loop -------------------------------------------------------------

async def watch(task: asyncio.Future[Any], cancelled: Callable[[], bool], deadline: float | None) -> JobState | None:
    """Wait for ``task``; CANCELLED or TIMED_OUT when that came first, else None."""
    while True:
        wait = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.time()))
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            return None
        if cancelled():
            return JobState.CANCELLED
        if deadline is not None and time.time() >= deadline:
            return JobState.TIMED_OUT


async def _abandon(taking: asyncio.Future[AsyncKernelManager]) -> None:
    """Stop waiting for a kernel; one that arrived meanwhile is shut down unused."""
    taking.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.shield(asyncio.wait({taking}))
    if taking.done() and not taking.cancelled() and taking.exception() is None:
        await asyncio.shield(shutdown_kernel(taking.result(), now=True))


def _stopped(state: JobState, timeout: float | None, cell: int | None) -> str:
    where = f" while cell {cell} was running" if cell is not None else " before its first cell"
    if state is JobState.TIMED_OUT:
        return f"timed out after {timeout:g}s{where}; the kernel was stopped"
    return f"cancelled{where}; the kernel was stopped"


def _kill(km: AsyncKernelManager) -> None:
    """SIGKILL the kernel's process group at once (a plain system call: safe from any thread,
    while the job's thread is still talking to the kernel)."""
    provisioner = km.provisioner
    pid, pgid = getattr(provisioner, "pid", None), getattr(provisioner, "pgid", None)
    sig = getattr(signal, "SIGKILL", signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid and hasattr(os, "killpg") and pgid != os.getpgrp():
            os.killpg(pgid, sig)
        elif pid:
            os.kill(pid, sig)


def _in_thread(function: Callable[..., _Ran], *args: Any) -> asyncio.Future[_Ran]:
    """Run ``function`` in a daemon thread of its own (a long notebook must not hold one of
    the loop's shared executor threads); the future resolves on the loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_Ran] = loop.create_future()

    def settle(result: _Ran | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = function(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="gorgon-notebook", daemon=True).start()
    return future


def _ran(running: asyncio.Future[_Ran]) -> _Ran:
    if not running.done() or running.cancelled():
        return _Ran(dead=True)  # still in papermill after its kernel was killed
    error = running.exception()
    if error is not None:
        return _Ran(type(error).__name__, _one_line(str(error)))
    return running.result()


# -- in the job's thread ------------------------------------------------------------------------

@dataclass
class _Ran:
    ename: str | None = None
    evalue: str = ""
    cell: int | None = None  # the failing (or the last started) cell, in the written notebook
    dead: bool = False


def _papermill(source: Path, output: Path, parameters: dict[str, Any], km: AsyncKernelManager,
               kernel_name: str, language: str | None, workdir: str | None, stopping: threading.Event) -> _Ran:
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from gorgon_nb.scheduler.papermill_engine import ENGINE_NAME

    try:
        papermill.execute_notebook(str(source), str(output), parameters=parameters, engine_name=ENGINE_NAME,
                                   kernel_name=kernel_name, language=language, progress_bar=False, km=km,
                                   workdir=workdir, stopping=stopping)
    except PapermillExecutionError as exc:
        return _Ran(str(exc.ename), _one_line(str(exc.evalue)), _failed_cell(output))
    except DeadKernelError:
        return _Ran(dead=True, cell=_last_started_cell(output))
    except Exception as exc:
        return _Ran(type(exc).__name__, _one_line(str(exc)), None)
    finally:
        _close_thread_loop()
    return _Ran()


def _close_thread_loop() -> None:
    """Close the event loop nbclient made for this thread (it would keep its file
    descriptors until collected)."""
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_event_loop_policy().get_event_loop()  # this thread's; never makes one here
        if not loop.is_running() and not loop.is_closed():
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _read(output: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(output.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


_INSERTED = {"injected-parameters", "papermill-error-cell-tag"}  # cells papermill adds to the copy


def _cells_as_written(output: Path) -> list[tuple[int, dict[str, Any]]]:
    """The executed copy's cells that the notebook has, with their positions in it counted
    from 1, as a person counts them (papermill's banner, anchor and parameters cells left out)."""
    cells = [c for c in _read(output).get("cells", []) if not _INSERTED & set(c.get("metadata", {}).get("tags", []))]
    return list(enumerate(cells, start=1))


def _failed_cell(output: Path) -> int | None:
    """The failing cell's position in the notebook as written, counted from 1."""
    for position, cell in _cells_as_written(output):
        if cell.get("metadata", {}).get("papermill", {}).get("exception") is True:
            return position
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return position
    return None


def _last_started_cell(output: Path) -> int | None:
    found = None
    for position, cell in _cells_as_written(output):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            found = position
    return found


def notebook_kernel(source: Path) -> tuple[str, str | None]:
    """The notebook's kernel name and language; a notebook that names neither (one written
    by a program, say) is Python."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(notebook, dict) or "cells" not in notebook:
        raise ValueError("the file is not a Jupyter notebook (no 'cells')")
    metadata = notebook.get("metadata") or {}
    spec, info = metadata.get("kernelspec") or {}, metadata.get("language_info") or {}
    language = info.get("name") or spec.get("language")
    if not spec.get("name"):
        return "python3", language or "python"
    return str(spec["name"]), language


def _one_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"

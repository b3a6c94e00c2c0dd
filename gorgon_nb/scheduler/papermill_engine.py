"""A papermill engine for kernels started before their notebook was known (a pool's).

papermill hands its engine keyword arguments on to nbclient, which runs a notebook on a
kernel manager given as ``km`` without owning it: it neither starts nor stops that kernel.
This engine adds what such a kernel needs and papermill's ``cwd`` cannot give: before the
first cell, the kernel moves to the notebook's folder (``workdir``). IPython keeps ``''``
on ``sys.path``, so modules beside the notebook import as with papermill's ``cwd``. And the
client's channels are closed when the notebook ends, since nbclient leaves them open on a
kernel it does not own. Once ``stopping`` is set (the job is about to kill the kernel for a
cancel or a timeout) the kernel's death is expected, and no longer logged as an error.

Importing this module registers the engine with papermill as ``"gorgon"``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

__all__ = ["ENGINE_NAME", "PooledKernelEngine"]

ENGINE_NAME = "gorgon"


class _ExpectedDeath(logging.LoggerAdapter[logging.Logger]):
    """papermill's logger, quiet about a kernel the job stopped on purpose."""

    def __init__(self, logger: logging.Logger, stopping: threading.Event) -> None:
        super().__init__(logger, {})
        self.stopping = stopping

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.stopping.is_set() and level >= logging.WARNING:
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


class _Client(PapermillNotebookClient):
    workdir: str | None = None

    def execute(self, **kwargs: Any) -> Any:
        self.reset_execution_trackers()
        with self.setup_kernel(**kwargs):
            client: Any = self.kc  # type: ignore[has-type]
            try:
                if self.workdir:
                    self._change_directory(client, self.workdir)
                self.papermill_execute_cells()
                info = self.wait_for_reply(client.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                self.set_widgets_metadata()
            finally:
                if not self.owns_km:
                    client.stop_channels()
                    self.kc = None
        return self.nb

    def _change_directory(self, client: Any, workdir: str) -> None:
        # silent: no output, no history, no execution count; and no name left behind
        code = f"__import__('os').chdir({workdir!r})"
        reply = self.wait_for_reply(client.execute(code, silent=True, store_history=False, allow_stdin=False))
        content = (reply or {}).get("content", {})
        if content.get("status") != "ok":
            detail = f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"
            raise RuntimeError(f"the kernel could not change to the notebook's folder {workdir} ({detail})")


class PooledKernelEngine(NBClientEngine):
    """nbclient's engine, with ``workdir`` (the folder the kernel moves to before the first
    cell) and ``stopping`` (a ``threading.Event`` set before the kernel is killed on purpose)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                 execution_timeout: float | None = None, **kwargs: Any) -> Any:
        workdir = kwargs.pop("workdir", None)
        stopping = kwargs.pop("stopping", None)
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=_ExpectedDeath(logger, stopping) if stopping is not None else logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = _Client(nb_man, **final_kwargs)
        client.workdir = workdir
        return client.execute()


papermill_engines.register(ENGINE_NAME, PooledKernelEngine)

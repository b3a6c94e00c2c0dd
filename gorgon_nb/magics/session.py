"""Runs started from a notebook: one background event loop per kernel, live views, interrupts.

A run never executes on the kernel's main thread: it runs on a long-lived event loop in a
daemon thread, so a cell can either wait for it (the default, as papermill and nbval
need) or return at once (``--background``) while the view keeps updating. All writes to
a run's view happen on that thread: events update the view's state as they come, and a
flusher pushes the changes to the frontend every ``FLUSH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from gorgon_nb.engine.executor import Execution
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult

__all__ = ["BackgroundLoop", "LiveView", "NotebookRun", "active_runs", "background_loop"]

FLUSH_SECONDS = 0.1
CANCEL_WAIT_SECONDS = 30.0


class LiveView(Protocol):
    def apply(self, event: Event) -> None: ...

    def flush(self) -> bool: ...


class BackgroundLoop:
    """An event loop in a daemon thread, shared by every run the kernel starts."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="gorgon-runs", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_loop: BackgroundLoop | None = None
_loop_lock = threading.Lock()
active_runs: dict[str, NotebookRun] = {}


def background_loop() -> BackgroundLoop:
    global _loop
    with _loop_lock:
        if _loop is None or not _loop.thread.is_alive():
            _loop = BackgroundLoop()
        return _loop


class NotebookRun:
    """A run started from a cell: its execution, its live view, and its result to come."""

    def __init__(self, execution: Execution, view: LiveView, on_finish: Callable[[], None] | None = None) -> None:
        self.execution = execution
        self.view = view
        self.on_finish = on_finish
        self.finished = threading.Event()
        # The cell's context: messages sent from the loop's thread belong to this cell.
        self.context = contextvars.copy_context()
        self.future: concurrent.futures.Future[RunResult] | None = None
        execution.subscribers.append(view.apply)

    @property
    def run_id(self) -> str:
        return self.execution.result.run_id

    @property
    def result(self) -> RunResult:
        """The live result: filled in as the run goes, final once ``finished`` is set."""
        return self.execution.result

    def start(self) -> NotebookRun:
        active_runs[self.run_id] = self
        self.future = background_loop().submit(self._drive())
        return self

    async def _drive(self) -> RunResult:
        flusher = asyncio.create_task(self._flush_periodically())
        try:
            return await self.execution.execute()
        finally:
            flusher.cancel()
            self.context.run(self._final_flush)
            active_runs.pop(self.run_id, None)
            self.finished.set()

    def _final_flush(self) -> None:
        self.view.flush()
        if self.on_finish is not None:
            self.on_finish()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.context.run(self.view.flush)

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel()

    def wait(self) -> RunResult:
        """Block until the run ends; an interrupt cancels it and records it as cancelled."""
        assert self.future is not None, "start() first"
        try:
            return self.future.result()
        except KeyboardInterrupt:
            self.cancel()
            self.finished.wait(CANCEL_WAIT_SECONDS)
            raise MagicError(f"run {self.run_id} was interrupted and is recorded as cancelled; what finished "
                             f"is kept: %gorgon show {self.run_id}") from None
        except concurrent.futures.CancelledError:
            self.finished.wait(CANCEL_WAIT_SECONDS)
            raise MagicError(f"run {self.run_id} was cancelled") from None

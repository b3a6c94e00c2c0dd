"""The scheduler in the Jupyter server: with ``[scheduler] enabled = true`` schedules fire
and jobs run while JupyterLab runs, without a ``gorgon scheduler`` in a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from gorgon_nb.errors import GorgonError

if TYPE_CHECKING:
    from gorgon_nb.config import SchedulerSettings
    from gorgon_nb.server.base import Services

__all__ = ["STOP_TIMEOUT", "ServerScheduler"]

STOP_TIMEOUT = 10.0  # seconds the scheduler gets to put its running jobs back in the queue


class ServerScheduler:
    """The scheduler loop as a task on the Jupyter server's event loop.

    ``start`` must run on that loop (the extension schedules it with ``io_loop.add_callback``:
    extensions load before the loop serves); ``stop`` puts the jobs it runs back in the queue,
    so the next scheduler (this server restarted, or ``gorgon scheduler``) runs them.
    """

    def __init__(self, backend: Services, settings: SchedulerSettings, log: logging.Logger) -> None:
        self.backend, self.settings, self.log = backend, settings, log
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        where = f"on the Dask cluster {self.settings.dask}" if self.settings.dask else \
            f"in local kernels, {self.settings.pool} started ahead"
        return f"{self.settings.concurrency} jobs at once, {where}"

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._stop))

    async def _run(self, stop: asyncio.Event) -> None:
        from gorgon_nb.scheduler.loop import Scheduler, backend_for

        try:
            backend = backend_for(self.settings.dask, self.settings.pool)
            store = await asyncio.to_thread(self.backend.get)
            scheduler = Scheduler(store, backend=backend, concurrency=self.settings.concurrency)
            self.log.info("gorgon_nb.server: scheduler %s started", scheduler.owner)
            await scheduler.run(stop)
        except asyncio.CancelledError:
            raise
        except (GorgonError, ImportError, OSError) as exc:
            self.log.error("gorgon_nb.server: the scheduler stopped: %s. Fix it and restart JupyterLab, or run "
                           "`gorgon scheduler` in a terminal.", exc)
        except Exception:
            self.log.exception("gorgon_nb.server: the scheduler failed; scheduled notebooks do not run until "
                               "JupyterLab restarts (or `gorgon scheduler` runs in a terminal)")

    async def stop(self) -> None:
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        except TimeoutError:
            self.log.warning("gorgon_nb.server: the scheduler did not stop in %gs; cancelled", STOP_TIMEOUT)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

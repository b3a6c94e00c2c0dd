"""Kernels started ahead of time, each handed out once.

Starting a Python kernel takes about half a second; a job that finds one ready skips
that wait. A kernel is never given to a second job: the job that takes it shuts it down
when it ends, so no job sees another's variables. Taking one starts its replacement in
the background, so the pool stays ``size`` kernels ready (or starting).

The kernels are IPython kernels started in a neutral folder; the job moves its kernel to
the notebook's folder before the first cell (see ``papermill_engine``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import tempfile
from typing import TYPE_CHECKING

from gorgon_nb.errors import UsageError

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

__all__ = ["KernelPool", "kernel_problem", "shutdown_kernel", "start_kernel"]

logger = logging.getLogger("gorgon_nb")
READY_TIMEOUT = 60.0  # seconds for a new kernel to answer


def kernel_problem(kernel_name: str) -> str | None:
    """Why a kernel named ``kernel_name`` cannot start in this environment, with the command
    that fixes it; None when it is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        pass
    else:
        return None
    if kernel_name in ("python3", "python"):
        return (f"the notebook's kernel '{kernel_name}' is not installed in this environment: install one with "
                "'pip install ipykernel' (gorgon-nb brings it; is this the environment gorgon-nb is installed in?)")
    installed = ", ".join(sorted(manager.find_kernel_specs())) or "none"
    return (f"the notebook's kernel '{kernel_name}' is not installed (installed kernels: {installed}): install "
            "it, or open the notebook and pick an installed kernel")


async def start_kernel(kernel_name: str = "python3", cwd: str | None = None, *,
                       wait_ready: bool = True) -> AsyncKernelManager:
    """A new kernel, started in ``cwd`` and (with ``wait_ready``) answering requests."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=kernel_name, **_local_transport())
    try:
        await km.start_kernel(cwd=cwd or tempfile.gettempdir())
        if wait_ready:
            client = km.client()
            client.start_channels()
            try:
                await client.wait_for_ready(timeout=READY_TIMEOUT)
            finally:
                client.stop_channels()
    except BaseException:
        await asyncio.shield(shutdown_kernel(km, now=True))
        raise
    return km


def _local_transport() -> dict[str, str]:
    """Unix sockets where there are any: a job's kernel and its client share a machine, and
    nothing then goes over TCP in plain text (ipykernel warns of that once per kernel). The
    sockets get a short path of their own, as a socket path may not pass about 100 bytes."""
    if os.name != "posix":
        return {}
    return {"transport": "ipc", "ip": os.path.join(tempfile.gettempdir(), f"gorgon-kernel-{secrets.token_hex(6)}")}


async def shutdown_kernel(km: AsyncKernelManager, *, now: bool = False) -> None:
    """Stop the kernel (asking it first unless ``now``) and free its ports and files."""
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=now)
        else:
            await km.cleanup_resources()
    except Exception:  # a kernel that will not stop cleanly is killed; nothing more to do
        logger.debug("kernel shutdown failed", exc_info=True)
        with contextlib.suppress(Exception):
            await km.shutdown_kernel(now=True)


class KernelPool:
    """Pre-started kernels (default python3), each handed out once; a replacement starts in
    the background when one is taken. ``size=0`` means start on demand.

        pool = KernelPool(size=2)
        await pool.start()
        outcome = await execute_job(job, root, pool=pool)
        await pool.close()
    """

    def __init__(self, size: int = 2, kernel_name: str = "python3") -> None:
        if size < 0:
            raise UsageError(f"a kernel pool's size must be 0 or more, not {size}")
        self.size = size
        self.kernel_name = kernel_name
        self._ready: asyncio.Queue[AsyncKernelManager | BaseException] | None = None
        self._starting: set[asyncio.Task[None]] = set()
        self._waiting = 0  # takers waiting for a kernel
        self._closed = False

    def __repr__(self) -> str:
        ready = self._ready.qsize() if self._ready is not None else 0
        return f"<KernelPool {self.kernel_name}: {ready} ready, {len(self._starting)} starting>"

    async def __aenter__(self) -> KernelPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Begin starting ``size`` kernels (it does not wait for them)."""
        if self._ready is None:
            self._ready = asyncio.Queue()
            for _ in range(self.size):
                self._spawn()

    async def take(self) -> AsyncKernelManager:
        """A started kernel that no job has used; its replacement starts meanwhile."""
        if self._closed:
            raise UsageError("this kernel pool is closed; create a new KernelPool")
        await self.start()
        assert self._ready is not None
        while True:
            self._spawn()  # the replacement of the one taken now (or, for size 0, ours)
            self._waiting += 1
            try:
                got = await self._ready.get()
            finally:
                self._waiting -= 1
            if isinstance(got, BaseException):
                raise got
            if await got.is_alive():
                return got
            await shutdown_kernel(got, now=True)  # died while it waited: try the next

    async def close(self) -> None:
        """Shut every kernel down, those still starting included."""
        self._closed = True
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        idle: list[AsyncKernelManager] = []
        while self._ready is not None and not self._ready.empty():
            got = self._ready.get_nowait()
            if not isinstance(got, BaseException):
                idle.append(got)
        await asyncio.gather(*(shutdown_kernel(km, now=True) for km in idle))
        for _ in range(self._waiting):  # nothing more will come for them
            assert self._ready is not None
            self._ready.put_nowait(UsageError("the kernel pool was closed while this job waited for a kernel"))

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._start_one())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        assert self._ready is not None
        try:
            km = await start_kernel(self.kernel_name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._ready.put_nowait(exc)
            return
        if self._closed:
            await shutdown_kernel(km, now=True)
            return
        self._ready.put_nowait(km)

"""A shell command run for a tool: in its own process group, its output bounded, stopped
for good (the whole group) when it runs too long or the call is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OUTPUT_LIMIT", "Finished", "run_command"]

OUTPUT_LIMIT = 20_000  # bytes kept of each stream: the first and the last half of it


class _Bounded:
    """The start and the end of a stream, and how much of its middle was dropped (the end
    of a build's or a test run's output is where it says what failed)."""

    def __init__(self, limit: int) -> None:
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            self.dropped += len(self.tail) - self.half
            del self.tail[:len(self.tail) - self.half]

    def text(self) -> str:
        head = self.head.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        if self.dropped:
            return f"{head}\n[… {self.dropped:,} bytes not shown …]\n{tail}"
        return head + tail


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit code (None when it was stopped) and its bounded output."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


async def _drain(stream: asyncio.StreamReader | None, into: _Bounded) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        into.add(chunk)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the command's whole process group: a shell's children (a test runner, a
    server it started) must not outlive it."""
    sig = getattr(signal, "SIGKILL", signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, sig)  # the group's id is the shell's pid (start_new_session)
        else:  # pragma: no cover - Windows has no process groups
            process.kill()


async def run_command(command: str, cwd: Path, timeout: float, env: dict[str, str],
                      limit: int = OUTPUT_LIMIT) -> Finished:
    """Run ``command`` with ``sh`` in ``cwd``; stdin is empty."""
    process = await asyncio.create_subprocess_shell(
        command, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    out, err = _Bounded(limit), _Bounded(limit)
    reading = asyncio.gather(_drain(process.stdout, out), _drain(process.stderr, err), process.wait())
    try:
        async with asyncio.timeout(timeout):
            await asyncio.shield(reading)
    except TimeoutError:
        _kill_group(process)
        await _settle(reading)
        return Finished(None, out.text(), err.text(), timed_out=True)
    except asyncio.CancelledError:
        _kill_group(process)
        await _settle(reading)
        raise
    return Finished(process.returncode, out.text(), err.text())


async def _settle(reading: asyncio.Future[Any]) -> None:
    """Wait for the killed command's pipes to close; a grandchild that left the group and
    holds them open is not waited for long."""
    with contextlib.suppress(BaseException):
        async with asyncio.timeout(5):
            await asyncio.shield(reading)
    if not reading.done():
        reading.cancel()

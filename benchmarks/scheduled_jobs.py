"""Scheduled jobs: per-job time through ``execute_job`` with a kernel pool, next to the
``papermill`` command run the usual way.

Both run a trivial parameterized notebook N times, one job after another, each on a
fresh kernel (the same isolation: no job sees another's variables):

- gorgon: ``execute_job`` with a ``KernelPool(size=2)`` (kernels started ahead, each used
  once, a replacement starting in the background while a job runs);
- papermill: ``python -m papermill in.ipynb out.ipynb -p x <n>``, a process per job.

    python benchmarks/scheduled_jobs.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from gorgon_nb.glued import read_glued
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.execute import execute_job
from gorgon_nb.scheduler.pool import KernelPool

TARGET = 3.0  # gorgon's per-job time should be at most a third of papermill's


def write_notebook(path: Path) -> None:
    parameters = nbformat.v4.new_code_cell("x = 0")
    parameters.metadata["tags"] = ["parameters"]
    work = nbformat.v4.new_code_cell("import os\nfrom gorgon_nb import glue\nglue('x', x)\nglue('pid', os.getpid())")
    notebook = nbformat.v4.new_notebook(cells=[parameters, work])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


async def gorgon_jobs(root: Path, count: int) -> tuple[list[float], list[int]]:
    times: list[float] = []
    pids: list[int] = []
    async with KernelPool(size=2) as pool:
        # what a scheduler does once when it starts: papermill imported, the pool filled
        await execute_job(Job(id="warm", root=str(root), notebook="job.ipynb"), root, pool=pool)
        for n in range(count):
            began = time.perf_counter()
            outcome = await execute_job(Job(id=f"g{n}", root=str(root), notebook="job.ipynb", parameters={"x": n}),
                                        root, pool=pool)
            times.append(time.perf_counter() - began)
            assert outcome.state is JobState.SUCCEEDED, outcome.error
            glued = read_glued(root / str(outcome.output_path))
            assert glued["x"] == n
            pids.append(glued["pid"])
    return times, pids


def papermill_jobs(root: Path, count: int) -> tuple[list[float], list[int]]:
    times: list[float] = []
    pids: list[int] = []
    for n in range(count):
        out = root / f"papermill-{n}.ipynb"
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", str(root / "job.ipynb"), str(out), "-p", "x", str(n)],
                       check=True, capture_output=True, cwd=root)
        times.append(time.perf_counter() - began)
        glued = read_glued(out)
        assert glued["x"] == n
        pids.append(glued["pid"])
    return times, pids


def line(name: str, times: list[float]) -> str:
    per_job = statistics.median(times)
    return (f"{name:<28} {per_job * 1000:7.0f} ms per job (median; mean {statistics.mean(times) * 1000:.0f} ms)  "
            f"{60 / statistics.mean(times):6.1f} jobs/min")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="jobs per side (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gorgon-bench-") as folder:
        root = Path(folder)
        write_notebook(root / "job.ipynb")
        pooled, pooled_pids = asyncio.run(gorgon_jobs(root, args.jobs))
        plain, plain_pids = papermill_jobs(root, args.jobs)
    assert len(set(pooled_pids)) == args.jobs and len(set(plain_pids)) == args.jobs  # a fresh kernel per job
    ratio = statistics.median(plain) / statistics.median(pooled)
    print(f"{args.jobs} jobs one after another, a trivial parameterized notebook, a fresh kernel per job")
    print(line("execute_job + KernelPool(2)", pooled))
    print(line("python -m papermill", plain))
    print(f"gorgon is {ratio:.1f}x faster per job; target at least {TARGET:g}x: {'met' if ratio >= TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

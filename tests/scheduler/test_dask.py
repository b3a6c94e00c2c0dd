"""The Dask backend on a real ``LocalCluster`` (one worker process): a job runs in the
worker on a kernel of its own, and a cancel reaches the running task through its event."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio
from distributed import LocalCluster

from gorgon_nb import read_glued
from gorgon_nb.errors import UsageError
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.dask_backend import DaskBackend
from gorgon_nb.testing.notebooks import write_notebook

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the module's client lives in



@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0") as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def backend(cluster: LocalCluster) -> AsyncIterator[DaskBackend]:
    started = DaskBackend(cluster.scheduler_address)
    await started.start()
    yield started
    await started.close()


@in_module_loop
async def test_a_job_runs_in_the_worker(backend: DaskBackend, cluster: LocalCluster, tmp_path: Path) -> None:
    write_notebook(tmp_path / "job.ipynb",
                   "import os\nfrom gorgon_nb import glue\nglue('twice', n * 2)\nglue('parent', os.getppid())",
                   parameters="n = 0")
    outcome = await backend.execute(Job(id="dask1", root=str(tmp_path), notebook="job.ipynb", parameters={"n": 21}))
    assert outcome.state is JobState.SUCCEEDED, outcome.error
    glued = read_glued(tmp_path / str(outcome.output_path))
    assert glued["twice"] == 42
    worker_pids = {nanny.process.pid for nanny in cluster.workers.values()}
    assert glued["parent"] in worker_pids  # the kernel is the worker's child, not this process's
    assert outcome.kernel_host == socket.gethostname()
    assert outcome.kernel_pid is not None and not psutil.pid_exists(outcome.kernel_pid)


@in_module_loop
async def test_a_cancel_stops_the_kernel_in_the_worker(backend: DaskBackend, tmp_path: Path) -> None:
    write_notebook(tmp_path / "long.ipynb", "open('started', 'w').close()", "import time\ntime.sleep(60)")
    began = time.monotonic()
    outcome = await backend.execute(Job(id="dask2", root=str(tmp_path), notebook="long.ipynb"),
                                    lambda: (tmp_path / "started").exists())
    assert outcome.state is JobState.CANCELLED
    assert time.monotonic() - began < 15
    assert outcome.error == "cancelled while cell 2 was running; the kernel was stopped"
    assert outcome.kernel_pid is not None and not psutil.pid_exists(outcome.kernel_pid)


@in_module_loop
async def test_a_timeout_is_kept_in_the_worker(backend: DaskBackend, tmp_path: Path) -> None:
    write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    outcome = await backend.execute(Job(id="dask3", root=str(tmp_path), notebook="slow.ipynb", timeout=1.0))
    assert outcome.state is JobState.TIMED_OUT


def test_without_dask_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    with pytest.raises(UsageError, match=r"pip install 'gorgon-nb\[dask\]'"):
        DaskBackend("tcp://127.0.0.1:8786")


@in_module_loop
async def test_a_workflow_job_runs_in_the_worker(backend: DaskBackend, cluster: LocalCluster, tmp_path: Path,
                                                 home: Path) -> None:
    from gorgon_nb.model.run import RunStatus
    from gorgon_nb.store import Store

    (tmp_path / "flow.yaml").write_text("id: flow\nallow_code: true\ninputs:\n  topic: {type: string}\nsteps:\n"
                                        "  - id: plan\n    agent: planner\n    task: Plan {{ inputs.topic }}\n"
                                        "  - id: parent\n    python: os:getppid\n")
    store = Store(home / "dask.db")
    backend.store_path = store.path
    try:
        outcome = await backend.execute(Job(id="dask-flow", root=str(tmp_path), notebook="flow.yaml",
                                            parameters={"topic": "the worker"}, run_ids=["daskrun001"],
                                            allow_code=True))
    finally:
        backend.store_path = None
    assert outcome.state is JobState.SUCCEEDED, outcome.error
    assert outcome.run_ids == ["daskrun001"]
    run = store.runs.get("daskrun001")
    assert run.status is RunStatus.SUCCEEDED and "the worker" in str(run.steps["plan"].output)
    worker_pids = {nanny.process.pid for nanny in cluster.workers.values()}
    assert run.steps["parent"].output in worker_pids  # the run's process is the worker's child

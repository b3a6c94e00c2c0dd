"""Jobs executed for real: notebooks written with nbformat, run by papermill on real kernels.

One kernel pool serves the module (each kernel still runs one job only); the tests that
need an on-demand kernel say so.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
import pytest_asyncio

from gorgon_nb import glue, read_glued
from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.execute import Outcome, execute_job, output_path_for, resolve_notebook
from gorgon_nb.scheduler.pool import KernelPool
from gorgon_nb.testing.notebooks import write_notebook

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the module's kernel pool lives in



def job(notebook: str, root: Path, **fields: Any) -> Job:
    fields.setdefault("id", "j" + re.sub(r"\W", "", notebook)[:8] + str(time.monotonic_ns())[-6:])
    return Job(root=str(root), notebook=notebook, **fields)


def executed(root: Path, outcome: Outcome) -> Any:
    assert outcome.output_path is not None
    return nbformat.read(root / outcome.output_path, as_version=4)


def gone(pid: int | None) -> bool:
    assert pid is not None
    if not psutil.pid_exists(pid):
        return True
    return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[KernelPool]:
    async with KernelPool(size=2) as started:
        yield started


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@in_module_loop
async def test_parameters_reach_the_notebook_with_their_types(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "reports" / "typed.ipynb",
                   "from gorgon_nb import glue\n"
                   "glue('seen', {'n': n, 's': s, 'xs': xs, 'types': [type(v).__name__ for v in (n, s, xs)]})",
                   parameters="n = 0\ns = ''\nxs = []")
    the_job = job("reports/typed.ipynb", root, parameters={"n": 7, "s": "north", "xs": [1, "two"]},
                  schedule_id="weekly", scheduled_for=time.time())
    outcome = await execute_job(the_job, root, pool=pool)
    assert outcome.state is JobState.SUCCEEDED, outcome.error
    assert read_glued(root / str(outcome.output_path)) == {
        "seen": {"n": 7, "s": "north", "xs": [1, "two"], "types": ["int", "str", "list"]}}
    assert re.fullmatch(rf"gorgon-jobs/weekly/\d{{8}}-\d{{6}}-{the_job.id}-typed\.ipynb", str(outcome.output_path))
    assert root / str(outcome.output_path) == output_path_for(root, the_job)
    cells = executed(root, outcome)["cells"]
    assert "injected-parameters" in cells[1]["metadata"]["tags"]  # after the parameters cell, as papermill does
    assert outcome.error is None and outcome.failed_cell is None
    assert outcome.kernel_host and outcome.kernel_pid and gone(outcome.kernel_pid)
    assert outcome.started_at is not None and outcome.ended_at is not None and outcome.ended_at >= outcome.started_at


@in_module_loop
async def test_a_failing_cell_is_recorded_with_its_index_and_exception(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "fails.ipynb", "a = 1", "raise ValueError('bad input')", "after = True",
                   parameters="x = 1")
    outcome = await execute_job(job("fails.ipynb", root), root, pool=pool)
    assert outcome.state is JobState.FAILED
    assert outcome.exception == "ValueError: bad input"
    assert outcome.error == f"cell {outcome.failed_cell} raised ValueError: bad input"
    assert outcome.failed_cell == 3  # counted from 1 in the notebook as written: parameters, a = 1, raise
    cells = executed(root, outcome)["cells"]
    [failing] = [c for c in cells if c["source"] == "raise ValueError('bad input')"]
    assert failing["outputs"][0]["ename"] == "ValueError"
    assert cells[-1]["source"] == "after = True" and cells[-1]["execution_count"] is None  # never ran
    assert gone(outcome.kernel_pid)


@in_module_loop
async def test_the_timeout_stops_the_kernel(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "slow.ipynb", "print('begun', flush=True)", "import time\ntime.sleep(60)")
    began = time.monotonic()
    outcome = await execute_job(job("slow.ipynb", root, timeout=1.5), root, pool=pool)
    assert outcome.state is JobState.TIMED_OUT
    assert time.monotonic() - began < 10
    assert outcome.failed_cell == 2
    assert outcome.error == "timed out after 1.5s while cell 2 was running; the kernel was stopped"
    assert gone(outcome.kernel_pid)
    cells = executed(root, outcome)["cells"]  # the partial notebook is kept
    assert cells[0]["outputs"][0]["text"] == "begun\n"


@in_module_loop
async def test_a_cancel_mid_run_stops_the_kernel(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "long.ipynb", "open('started', 'w').close()", "import time\ntime.sleep(60)")
    began = time.monotonic()
    outcome = await execute_job(job("long.ipynb", root), root, pool=pool,
                                cancelled=lambda: (root / "started").exists())
    assert outcome.state is JobState.CANCELLED
    assert time.monotonic() - began < 10
    assert outcome.error is not None and outcome.error.startswith("cancelled while cell")
    assert gone(outcome.kernel_pid)
    assert (root / str(outcome.output_path)).is_file()


@in_module_loop
async def test_a_job_cancelled_before_it_starts_starts_no_kernel(root: Path) -> None:
    write_notebook(root / "any.ipynb", "x = 1")
    outcome = await execute_job(job("any.ipynb", root), root, cancelled=lambda: True)
    assert outcome.state is JobState.CANCELLED
    assert outcome.error == "cancelled before it started"
    assert outcome.kernel_pid is None and outcome.output_path is None


@in_module_loop
async def test_no_job_sees_another_jobs_variables(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "a.ipynb", "secret = 42\nimport os\nos.environ['GORGON_TEST_SECRET'] = '42'")
    write_notebook(root / "b.ipynb",
                   "import os\nfrom gorgon_nb import glue\n"
                   "glue('defined', 'secret' in globals())\nglue('env', os.environ.get('GORGON_TEST_SECRET'))")
    first = await execute_job(job("a.ipynb", root), root, pool=pool)
    second = await execute_job(job("b.ipynb", root), root, pool=pool)
    assert first.state is second.state is JobState.SUCCEEDED
    assert first.kernel_pid != second.kernel_pid
    assert read_glued(root / str(second.output_path)) == {"defined": False, "env": None}


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "on-demand"])
@in_module_loop
async def test_the_notebook_runs_in_its_own_folder(root: Path, pool: KernelPool, pooled: bool) -> None:
    folder = root / "analysis"
    write_notebook(folder / "read.ipynb",
                   "import os, helper\nfrom gorgon_nb import glue\n"
                   "glue('text', open('data.txt').read())\nglue('cwd', os.getcwd())\nglue('helper', helper.NAME)")
    (folder / "data.txt").write_text("rows: 3")
    (folder / "helper.py").write_text("NAME = 'beside the notebook'\n")
    outcome = await execute_job(job("analysis/read.ipynb", root), root, pool=pool if pooled else None)
    assert outcome.state is JobState.SUCCEEDED, outcome.error
    assert read_glued(root / str(outcome.output_path)) == {
        "text": "rows: 3", "cwd": str(folder.resolve()), "helper": "beside the notebook"}


def test_paths_outside_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    outside = write_notebook(tmp_path / "elsewhere" / "x.ipynb", "x = 1")
    (root / "link.ipynb").symlink_to(outside)
    (root / "inside").symlink_to(outside.parent, target_is_directory=True)
    for ref in ("../elsewhere/x.ipynb", str(outside), "link.ipynb", "inside/x.ipynb"):
        with pytest.raises(UsageError, match="outside the scheduler's root"):
            resolve_notebook(root, ref)
    with pytest.raises(NotFoundError, match=r"no notebook at 'missing\.ipynb'"):
        resolve_notebook(root, "missing.ipynb")
    (root / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="not a notebook"):
        resolve_notebook(root, "notes.txt")
    write_notebook(root / "ok.ipynb", "x = 1")
    (root / "good_link.ipynb").symlink_to(root / "ok.ipynb")
    assert resolve_notebook(root, "good_link.ipynb") == (root / "ok.ipynb").resolve()


@in_module_loop
async def test_a_refused_path_fails_the_job_without_running_it(root: Path) -> None:
    outcome = await execute_job(job("../x.ipynb", root), root)
    assert outcome.state is JobState.FAILED and outcome.output_path is None
    assert outcome.error is not None and "outside the scheduler's root" in outcome.error
    assert outcome.kernel_pid is None


@in_module_loop
async def test_a_dead_kernel_fails_the_job(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "exits.ipynb", "x = 1", "import os\nos._exit(3)")
    outcome = await execute_job(job("exits.ipynb", root), root, pool=pool)
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("the kernel died while cell 2 was running")
    assert outcome.failed_cell == 2


@in_module_loop
async def test_a_file_that_is_not_a_notebook_fails_the_job(root: Path) -> None:
    (root / "broken.ipynb").write_text("{not json")
    outcome = await execute_job(job("broken.ipynb", root), root)
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("cannot read the notebook broken.ipynb")


@in_module_loop
async def test_a_gorgon_jobs_link_out_of_the_root_fails_the_job_and_nothing_is_written(
        root: Path, pool: KernelPool, tmp_path: Path) -> None:
    write_notebook(root / "r.ipynb", "x = 1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "gorgon-jobs").symlink_to(elsewhere, target_is_directory=True)
    outcome = await execute_job(job("r.ipynb", root), root, pool=pool)
    assert outcome.state is JobState.FAILED and outcome.output_path is None
    assert outcome.error is not None and "leads outside the root" in outcome.error
    assert list(elsewhere.rglob("*")) == []


@in_module_loop
async def test_an_unknown_kernel_fails_the_job(root: Path, pool: KernelPool) -> None:
    path = write_notebook(root / "r.ipynb", "x <- 1")
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"]["name"] = "no-such-kernel"
    nbformat.write(notebook, path)
    outcome = await execute_job(job("r.ipynb", root), root, pool=pool)
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith(
        "the notebook's kernel 'no-such-kernel' is not installed (installed kernels: ")
    assert "pick an installed kernel" in outcome.error


@in_module_loop
async def test_a_pool_hands_each_kernel_out_once_and_shuts_all_down() -> None:
    async with KernelPool(size=1) as pool:
        first, second = await pool.take(), await pool.take()
        assert first is not second
        pids = [km.provisioner.pid for km in (first, second)]
        assert pids[0] != pids[1]
        for km in (first, second):
            await km.shutdown_kernel(now=True)
        await asyncio.sleep(0.1)
        spare = pool._ready.qsize() + len(pool._starting)  # the replacement of the last one taken
        assert spare == 1
    assert all(gone(pid) for pid in pids)
    with pytest.raises(UsageError, match="closed"):
        await pool.take()


@in_module_loop
async def test_closing_the_pool_wakes_a_job_waiting_for_a_kernel() -> None:
    pool = KernelPool(size=0)
    await pool.start()
    waiting = asyncio.ensure_future(pool.take())
    await asyncio.sleep(0.05)
    await pool.close()
    with pytest.raises(UsageError, match="closed while this job waited"):
        await waiting


def test_glue_checks_its_value_and_read_glued_keeps_the_last() -> None:
    with pytest.raises(UsageError, match="needs a value JSON can hold"):
        glue("x", object())
    glue("fine", {"a": [1, 2]})  # outside IPython: checked, nothing shown
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": {"application/vnd.gorgon.glue+json": {"name": "a", "value": 1}}},
            {"output_type": "stream", "name": "stdout", "text": "hi"}]},
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": {"application/vnd.gorgon.glue+json": {"name": "a", "value": 2}}},
            {"output_type": "display_data", "data": {"application/vnd.gorgon.glue+json": {"name": "b", "value": None}}}]},
    ]}
    assert read_glued(notebook) == {"a": 2, "b": None}


@in_module_loop
async def test_many_jobs_at_once_each_get_their_own_kernel(root: Path, pool: KernelPool) -> None:
    write_notebook(root / "who.ipynb", "import os\nfrom gorgon_nb import glue\nglue('pid', os.getpid())",
                   parameters="label = ''")
    outcomes = await asyncio.gather(*(execute_job(job("who.ipynb", root, id=f"many{i}", parameters={"label": str(i)}),
                                                  root, pool=pool) for i in range(4)))
    assert all(o.state is JobState.SUCCEEDED for o in outcomes), [o.error for o in outcomes]
    pids = [read_glued(root / str(o.output_path))["pid"] for o in outcomes]
    assert len(set(pids)) == 4 and pids == [o.kernel_pid for o in outcomes]
    assert os.getpid() not in pids


@in_module_loop
async def test_a_notebook_that_names_no_kernel_runs_as_python(root: Path, pool: KernelPool) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, root / "bare.ipynb")
    outcome = await execute_job(job("bare.ipynb", root, parameters={"x": 2}), root, pool=pool)
    assert outcome.state is JobState.SUCCEEDED, outcome.error

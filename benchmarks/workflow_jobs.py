"""Scheduled workflows: per-job time of a workflow job (``execute_workflow_job``: a child
process that loads the workflow, records a durable run in the store and returns), next to
the ``gorgon run`` command run the usual way on the same workflow.

Both run the same two-step workflow on the offline provider N times, one after another,
each in a process of its own (the same isolation: a job's code never shares a process):

- gorgon job: ``execute_workflow_job``, what ``gorgon scheduler`` calls for each job;
- gorgon run: ``gorgon run flow.yaml -v topic=<n> --json -q``, a process per run.

The first of each is reported apart (cold: files and imports not yet in the OS cache).

    python benchmarks/workflow_jobs.py [--jobs 10]
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

from gorgon_nb.model.jobs import Job, JobState
from gorgon_nb.scheduler.workflow_run import execute_workflow_job
from gorgon_nb.store import Store

FLOW = """id: flow
inputs:
  topic: {type: string}
steps:
  - {id: plan, agent: planner, task: "Plan {{ inputs.topic }}"}
  - {id: review, agent: reviewer, task: "Review the plan", context: "{{ steps.plan.output }}"}
"""
GORGON = Path(sys.executable).with_name("gorgon")


async def job_times(root: Path, db: Path, count: int) -> list[float]:
    times = []
    for n in range(count + 1):
        job = Job(id=f"j{n}", root=str(root), notebook="flow.yaml", parameters={"topic": f"t{n}"})
        began = time.perf_counter()
        outcome = await execute_workflow_job(job, root, db_path=db)
        times.append(time.perf_counter() - began)
        assert outcome.state is JobState.SUCCEEDED, outcome.error
    return times


def run_times(root: Path, env: dict[str, str], count: int) -> list[float]:
    times = []
    for n in range(count + 1):
        began = time.perf_counter()
        subprocess.run([str(GORGON), "run", "flow.yaml", "-v", f"topic=t{n}", "--json", "-q"], check=True,
                       capture_output=True, cwd=root, env=env)
        times.append(time.perf_counter() - began)
    return times


def line(name: str, times: list[float]) -> str:
    warm = times[1:]
    return (f"{name:<12} cold {times[0] * 1000:6.0f} ms   warm {statistics.median(warm) * 1000:6.0f} ms per job "
            f"(median of {len(warm)}; mean {statistics.mean(warm) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "flow.yaml").write_text(FLOW)
        env = {**os.environ, "GORGON_HOME": str(root / "home")}
        os.environ["GORGON_HOME"] = env["GORGON_HOME"]
        db = root / "home" / "gorgon.db"
        (root / "home").mkdir()
        Store(db).close()  # the store made and migrated once, as a scheduler's is
        jobs = asyncio.run(job_times(root, db, args.jobs))
        runs = run_times(root, env, args.jobs)
        with Store(db) as store:
            recorded = len(store.runs.recent(1000))
    print(f"a two-step workflow on the offline provider, {args.jobs} times after a first (cold) one")
    print(line("gorgon job", jobs))
    print(line("gorgon run", runs))
    print(f"ratio (gorgon run / gorgon job, warm medians): {statistics.median(runs[1:]) / statistics.median(jobs[1:]):.2f}x"
          f"; runs recorded: {recorded} (want {2 * (args.jobs + 1)})")


if __name__ == "__main__":
    main()

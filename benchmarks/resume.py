"""Resume latency after a kill: from the resume call to the next step starting.

For chains of N finished agent steps (offline provider) followed by a step that never
ends, a `gorgon run` process is killed with SIGKILL while that last step runs; then this
process resumes the run and times how long until the unfinished step starts again. The
time includes loading the run and its exact workflow text, compiling it, claiming the
run, and restoring the N finished steps.

    python benchmarks/resume.py [--sizes 10 100 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GORGON = str(Path(sys.executable).with_name("gorgon"))


def workflow(n: int) -> str:
    lines = ["id: long_chain", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    agent: planner", f"    task: step {i}"]
        if i:
            lines.append(f"    context: '{{{{ steps.s{i - 1}.output[:80] }}}}'")
    lines += ["  - id: stuck", "    python: asyncio:sleep", "    args: {delay: 3600}",
              f"    depends_on: s{n - 1}"]
    return "\n".join(lines) + "\n"


def killed_run(home: Path, n: int) -> str:
    """A run of ``n`` finished steps whose process was killed in the step after them."""
    from gorgon_nb.store import Store

    file = home / f"chain{n}.yaml"
    file.write_text(workflow(n))
    env = {**os.environ, "GORGON_HOME": str(home)}
    process = subprocess.Popen([GORGON, "run", str(file), "-q"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    with Store(home / "gorgon.db") as store:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = store.runs.recent(1, workflow_id="long_chain")
            if runs and "stuck" in store.runs.get(runs[0].run_id).steps:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        return runs[0].run_id


async def resume_latency(run_id: str) -> float:
    from gorgon_nb.config import load_config
    from gorgon_nb.runner import Runner

    started = asyncio.Event()
    runner = Runner(load_config())
    t0 = time.perf_counter()
    execution = runner.resume_execution(
        run_id, on_event=lambda e: started.set() if e.kind == "step_started" and e.step == "stuck" else None)
    task = asyncio.create_task(execution.execute())
    await started.wait()
    latency = time.perf_counter() - t0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return latency


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 200])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("resume after kill -9: time from the resume call to the next step starting (offline provider)")
    for n in args.sizes:
        latencies = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                os.environ["GORGON_HOME"] = tmp
                run_id = killed_run(Path(tmp), n)
                latencies.append(asyncio.run(resume_latency(run_id)))
        print(f"{n:4d} finished steps   resume latency {statistics.median(latencies) * 1000:7.1f} ms "
              f"(median of {args.repeat}; min {min(latencies) * 1000:.1f}, max {max(latencies) * 1000:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

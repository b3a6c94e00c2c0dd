"""How long the ``gorgon`` command takes to answer, as whole processes, in milliseconds.

Times ``gorgon --help``, ``gorgon --version`` and ``gorgon runs`` (against an empty
GORGON_HOME and one with a few finished runs), beside two anchors measured in the same
run: ``python -c pass`` (the interpreter alone) and ``python -m pip --version`` (another
command-line tool of this environment). Samples go round-robin over the commands, so a
busy machine slows them all alike; each figure is the median.

warm: modules load from bytecode cached beforehand (the usual case after the first run).
cold: every module is compiled from source (an empty bytecode cache for each process, as
the first time after an install or an upgrade). Target: ``gorgon --help`` and ``gorgon runs`` under
150 ms warm.

    python benchmarks/cli_startup.py [--samples 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
GORGON = str(Path(PYTHON).with_name("gorgon"))
TARGET_MS = 150.0
ANCHOR, BASELINE = "python -c pass", "python -m pip --version"


def commands(empty: Path, used: Path) -> dict[str, tuple[list[str], Path]]:
    return {
        ANCHOR: ([PYTHON, "-c", "pass"], empty),
        BASELINE: ([PYTHON, "-m", "pip", "--version"], empty),
        "gorgon --help": ([GORGON, "--help"], empty),
        "gorgon --version": ([GORGON, "--version"], empty),
        "gorgon runs (no runs)": ([GORGON, "runs"], empty),
        "gorgon runs (5 runs)": ([GORGON, "runs"], used),
    }


def with_runs(home: Path, count: int) -> None:
    env = {**os.environ, "GORGON_HOME": str(home)}
    for _ in range(count):
        subprocess.run([GORGON, "run", "dev_plan_build_test_review", "-q", "--model", "offline",
                        "-v", "feature_request=Add a CSV export"], env=env, check=True, capture_output=True)


def elapsed(args: list[str], home: Path, cache: Path) -> float:
    env = {**os.environ, "GORGON_HOME": str(home), "PYTHONPYCACHEPREFIX": str(cache), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=15, help="processes per command and mode (15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gorgon-startup-") as folder:
        root = Path(folder)
        empty, used, warm_cache = root / "empty", root / "used", root / "bytecode"
        empty.mkdir()
        with_runs(used, 5)
        timed = commands(empty, used)
        for command, home in timed.values():  # fill the warm bytecode cache
            elapsed(command, home, warm_cache)
        warm: dict[str, list[float]] = {name: [] for name in timed}
        cold: dict[str, list[float]] = {name: [] for name in timed}
        for _ in range(args.samples):
            for name, (command, home) in timed.items():
                warm[name].append(elapsed(command, home, warm_cache))
                cold[name].append(elapsed(command, home, Path(tempfile.mkdtemp(dir=root))))
    median = {name: (statistics.median(warm[name]), statistics.median(cold[name])) for name in timed}
    anchor, baseline = median[ANCHOR], median[BASELINE]
    print(f"whole processes, median of {args.samples}; warm: bytecode cached, cold: compiled from source\n")
    print(f"{'':24}{'warm':>9}{'cold':>10}   warm, against the anchors")
    for name, (w, c) in median.items():
        if name == ANCHOR:
            note = "the anchor: the interpreter alone"
        elif name == BASELINE:
            note = f"{w - anchor[0]:+.1f} ms over {ANCHOR}"
        else:
            note = (f"{w - anchor[0]:+.1f} ms over {ANCHOR}, {w - baseline[0]:+.1f} ms against "
                    f"{BASELINE.removeprefix('python -m ')}")
        print(f"{name:24}{w:7.1f} ms{c:8.1f} ms   {note}")
    checked = [name for name in median if name.startswith(("gorgon --help", "gorgon runs"))]
    slow = [name for name in checked if median[name][0] >= TARGET_MS]
    print(f"\ntarget: {', '.join(checked)} under {TARGET_MS:g} ms warm: "
          + ("met" if not slow else f"NOT met by {', '.join(slow)}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

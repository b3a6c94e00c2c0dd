"""What ``%load_ext gorgon_nb`` adds to a fresh IPython shell, in milliseconds.

Each sample is a new Python process (imports are cached after the first time in a
process): it starts an IPython shell, then times ``%load_ext gorgon_nb`` alone, and also
the first ``%gorgon help`` (when the magics' own modules load). Target: under 150 ms.

    python benchmarks/load_ext.py [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
ip.run_line_magic("load_ext", "gorgon_nb")
t2 = time.perf_counter()
ip.run_line_magic("gorgon", "help")
t3 = time.perf_counter()
print(json.dumps({"ipython": t1 - t0, "load_ext": t2 - t1, "first_help": t3 - t2}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    samples = []
    for _ in range(args.samples):
        done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {key: statistics.median(s[key] for s in samples) * 1000 for key in samples[0]}
    print(f"IPython shell start       {median['ipython']:7.1f} ms (median of {args.samples} fresh processes)")
    print(f"%load_ext gorgon_nb       {median['load_ext']:7.1f} ms  -> {median['load_ext'] / median['ipython']:.2f}x "
          f"the shell's own start; target under 150 ms: {'met' if median['load_ext'] < 150 else 'NOT met'}")
    print(f"first %gorgon help        {median['first_help']:7.1f} ms (the magics' modules load on first use)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

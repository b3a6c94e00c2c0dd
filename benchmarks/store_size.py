"""Store size per step: the database grows with what the steps output, not with the run's length squared.

Runs chains of N agent steps on the offline provider (each step's output about the same
size) into fresh stores and prints the database size per step next to the size of the
outputs themselves. Checkpoints are the step results (plus one recorded answer per model
call, kept for resume and replay), so bytes per step stay flat as N grows; a store that
snapshotted the whole state after every step would grow with N squared.

    python benchmarks/store_size.py [--sizes 50 100 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from gorgon_nb.config import load_config
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow


def chain(n: int) -> dict[str, object]:
    steps: list[dict[str, object]] = [{"id": "s0", "agent": "builder", "task": "Add a CSV export"}]
    for i in range(1, n):
        steps.append({"id": f"s{i}", "agent": "builder", "task": f"Improve step {i}",
                      "context": f"{{{{ steps.s{i - 1}.output[:200] }}}}"})
    return {"id": "size_chain", "steps": steps}


def measure(n: int) -> tuple[int, int]:
    """Database bytes after the run (WAL checkpointed), and the bytes of the outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gorgon.db"
        store = Store(path)
        result = Runner(load_config(), store).run(Workflow.from_dict(chain(n)), model="offline")
        assert result.ok, result.error
        outputs = sum(len(json.dumps(step.output)) for step in result.steps.values())
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        size = sum(f.stat().st_size for f in Path(tmp).glob("gorgon.db*"))
        return size, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    args = parser.parse_args()
    print(f"{'steps':>6} {'database':>12} {'per step':>10} {'outputs/step':>13} {'db / outputs':>13}")
    per_step = []
    for n in args.sizes:
        size, outputs = measure(n)
        per_step.append(size / n)
        print(f"{n:6d} {size:10,d} B {size / n:8,.0f} B {outputs / n:11,.0f} B {size / outputs:12.2f}x")
    print(f"bytes per step from {args.sizes[0]} to {args.sizes[-1]} steps: x{per_step[-1] / per_step[0]:.2f} "
          f"(flat means linear growth; quadratic would be x{args.sizes[-1] / args.sizes[0]:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

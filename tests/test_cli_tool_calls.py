"""Tool calls in the terminal: ``gorgon run``'s progress lines and ``gorgon show``'s list.

The runs are real (engine, store, a tool set in the registry) with a scripted model in this
process; ``gorgon show`` is the real command, run as a subprocess on the same store.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import textwrap
import threading
from pathlib import Path

from rich.console import Console
from test_cli import gorgon
from tool_runs import tool_workflow

from gorgon_nb.cli.progress import Progress
from gorgon_nb.config import Config
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ScriptedModel

TURNS = (
    [("uitools.look", {"name": "sales"}), ("uitools.broken", {})],
    [("uitools.save", {"path": "sum.txt", "text": "three rows"})],
    [("uitools.save", {"path": "/etc/passwd", "text": "no"})],
)


def run_deciding(config: Config, store: Store, on_event: object) -> RunResult:
    """Run the tooled workflow; a thread approves the first write and rejects the second."""
    runner = Runner(config, store)
    runner.runtime.providers.register(ScriptedModel(*TURNS))
    decided: list[str] = []
    done = threading.Event()

    def decide() -> None:
        while not done.wait(0.05):
            for pending in store.approvals.recent():
                if pending.id in decided or pending.status != "pending":
                    continue
                approve = "sum.txt" in pending.preview
                store.approvals.decide(pending.id, approve=approve, by="ann",
                                       comment=None if approve else "not that file")
                decided.append(pending.id)

    thread = threading.Thread(target=decide, daemon=True)
    thread.start()
    try:
        return asyncio.run(runner.arun(tool_workflow(), on_event=on_event))
    finally:
        done.set()
        thread.join(10)


def test_progress_prints_a_line_per_call_started_and_finished(config: Config, store: Store) -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, width=160, color_system=None), live=False)
    events: list[Event] = []
    with progress:
        result = run_deciding(config, store, [progress.on_event, events.append])
    assert result.ok, result.error
    lines = out.getvalue().splitlines()
    calls = [line.strip() for line in lines if re.match(r"^\s+(→|✓|✗|⊘)", line)]
    # parallel calls of one turn may start and end in any order; each ends after it started
    expected = [
        ('→ work calls uitools.look {"name": "sales"}', "✓ work uitools.look ok: found sales: 3 rows"),
        ("→ work calls uitools.broken {}", "✗ work uitools.broken error: ValueError: the table is locked"),
        ('→ work calls uitools.save {"path": "sum.txt", "text": "three rows"}  (writes)',
         "✓ work uitools.save ok: saved 10 characters to sum.txt"),
        ('→ work calls uitools.save {"path": "/etc/passwd", "text": "no"}  (writes)',
         "⊘ work uitools.save rejected: this call was rejected by ann, who said: not that file. Do not repeat…"),
    ]
    assert sorted(calls) == sorted(line for pair in expected for line in pair)
    assert all(calls.index(start) < calls.index(end) for start, end in expected)
    assert calls.index(expected[1][1]) < calls.index(expected[2][0])  # the next turn comes after
    # the approvals are announced between the call and its end, as any approval is
    asked = next(i for i, line in enumerate(lines) if "⏸ uitools.save (work)" in line)
    assert "sum.txt" in lines[asked - 1]
    assert next(line for line in lines[asked + 1:] if "uitools.save" in line).strip().startswith("✓ work uitools.save ok")
    assert any(line.strip() == "rejected by ann: not that file" for line in lines)


def test_show_lists_each_steps_calls(home: Path, config: Config) -> None:
    with Store(home / "gorgon.db") as store:
        result = run_deciding(config, store, [])
    assert result.ok, result.error
    done = gorgon(home, "show", result.run_id)
    assert done.code == 0 and done.err == "", done
    listed = done.out[done.out.index("tool calls of work (4)"):].splitlines()
    assert [line.strip() for line in listed[:9]] == [
        "tool calls of work (4)",
        '1. ✓ ok uitools.look {"name": "sales"}',
        "→ found sales: 3 rows",
        "2. ✗ error uitools.broken {}",
        "→ ValueError: the table is locked",
        '3. ✓ ok uitools.save {"path": "sum.txt", "text": "three rows"}',
        "→ saved 10 characters to sum.txt",
        '4. ⊘ rejected uitools.save {"path": "/etc/passwd", "text": "no"}',
        "→ this call was rejected by ann, who said: not that file. Do not repeat it as it was.",
    ]

    as_json = json.loads(gorgon(home, "show", result.run_id, "--json").out)
    assert [(c["step"], c["number"], c["tool"], c["status"], c["writes"]) for c in as_json["tool_calls"]] == [
        ("work", 1, "uitools.look", "ok", False), ("work", 2, "uitools.broken", "error", False),
        ("work", 3, "uitools.save", "ok", True), ("work", 4, "uitools.save", "rejected", True)]
    assert as_json["tool_calls"][0]["arguments"] == '{"name": "sales"}'


def test_show_of_a_run_without_tool_calls_says_nothing_of_them(home: Path) -> None:
    run = gorgon(home, "run", "dev_plan_build_test_review", "-v", "feature_request=x", "--json")
    run_id = json.loads(run.out)["run_id"]
    done = gorgon(home, "show", run_id, "--brief")
    assert done.code == 0 and "tool calls" not in done.out
    assert json.loads(gorgon(home, "show", run_id, "--json").out)["tool_calls"] == []


def test_gorgon_run_prints_the_calls_of_the_offline_model(home: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("Say hello in Python.\n")
    (tmp_path / "hello.yaml").write_text(textwrap.dedent("""\
        id: hello
        steps:
          - id: build
            agent: builder
            task: 'Read files.read_file {"path": "notes.md"} and write files.write_file {"path": "hello.py", "content": "print(1)"}'
            tools: [files]
            auto_approve: [files.write_file]
        """))
    done = gorgon(home, "run", "hello.yaml", cwd=tmp_path)
    assert done.code == 0, done
    calls = [line.strip() for line in done.out.splitlines() if re.match(r"^\s+(→|✓|✗)", line)]
    assert sorted(calls) == sorted([
        '→ build calls files.read_file {"path": "notes.md"}',
        '→ build calls files.write_file {"path": "hello.py", "content": "print(1)"}  (writes)',
        "✓ build files.read_file ok: Say hello in Python.",
        "✓ build files.write_file ok: created 'hello.py' (1 lines)",
    ])
    assert (tmp_path / "hello.py").read_text() == "print(1)"
    run_id = json.loads(gorgon(home, "runs", "--json").out)[0]["run_id"]
    shown = gorgon(home, "show", run_id, "--brief").out
    assert "tool calls of build (2)" in shown
    assert re.search(r'^\s+2\. ✓ ok files\.write_file \{"path": "hello\.py", "content": "print\(1\)"\}$', shown, re.M)

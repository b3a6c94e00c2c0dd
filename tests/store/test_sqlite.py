"""The SQLite store: schema migrations, round trips, run id lookup, and sharing a file between processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from gorgon_nb.errors import NotFoundError, StoreError, UsageError
from gorgon_nb.model.events import Event, Notice, RunFinished, RunStarted, StepFinished
from gorgon_nb.model.run import RunResult, RunStatus, StepResult, StepStatus
from gorgon_nb.model.usage import Usage
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.store.migrations import migrations
from gorgon_nb.workflow import Workflow


def rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return store.conn.execute(sql, params).fetchall()


def new_run(
    run_id: str, workflow_id: str = "wf", status: RunStatus = RunStatus.RUNNING, **fields: Any
) -> RunResult:
    return RunResult(
        run_id=run_id, workflow_id=workflow_id, status=status, started_at=time.time(), **fields
    )


def add(store: Store, run: RunResult) -> RunResult:
    store.runs.create(run, source="id: wf", source_format="yaml")
    if run.status is not RunStatus.RUNNING:
        run.ended_at = time.time()
        store.runs.finish(run)
    return run


# -- schema ---------------------------------------------------------------------------------


def test_migrations_are_recorded_and_never_applied_twice(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        first = rows(
            store, "SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id"
        )
        assert [(s, n) for s, n, _ in first] == [
            ("gorgon_nb", "m0001_runs_steps_events_usage"),
            ("gorgon_nb", "m0002_approvals_ownership_recorded_calls"),
            ("gorgon_nb", "m0003_steps_as_a_rowid_table"),
            ("gorgon_nb", "m0004_chat"),
            ("gorgon_nb", "m0005_schedules_jobs_leases"),
            ("gorgon_nb", "m0006_writes"),
            ("gorgon_nb", "m0007_tool_calls"),
            ("gorgon_nb", "m0008_webhooks"),
            ("gorgon_nb", "m0009_notifications"),
            ("gorgon_nb", "m0010_workflow_schedules"),
        ]
        tables = {r[0] for r in rows(store, "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "steps", "events", "usage", "approvals", "_sqlite_migrations"} <= tables
        add(store, new_run("keepme0001"))
    for _ in range(2):
        with Store(path) as store:
            assert (
                rows(
                    store,
                    "SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id",
                )
                == first
            )
            assert migrations.pending(store.db) == []
            assert [r.run_id for r in store.runs.recent()] == ["keepme0001"]


def test_a_file_store_uses_wal_and_waits_when_busy(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        assert rows(store, "PRAGMA journal_mode") == [("wal",)]
        assert rows(store, "PRAGMA foreign_keys") == [(1,)]
        assert rows(store, "PRAGMA busy_timeout")[0][0] >= 1000
    assert (tmp_path / "g.db").is_file()


def test_memory_store_works() -> None:
    with Store(":memory:") as store:
        assert store.path is None
        add(store, new_run("mem0000001", status=RunStatus.SUCCEEDED))
        assert store.runs.get("mem").status is RunStatus.SUCCEEDED
    with Store() as other:  # every in-memory store is its own database
        assert other.runs.recent() == []


def test_a_store_on_an_open_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "c.db"), isolation_level=None, check_same_thread=False)
    with Store(conn) as store:
        assert store.path is None
        add(store, new_run("conn000001"))
    assert sqlite3.connect(str(tmp_path / "c.db")).execute("SELECT id FROM runs").fetchall() == [
        ("conn000001",)
    ]


def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there" / "yet" / "gorgon.db"
    with Store(path) as store:
        add(store, new_run("deep000001"))
    assert path.is_file()


def test_a_path_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        Store(blocker / "sub" / "gorgon.db")
    message = str(caught.value)
    assert message.startswith(f"cannot open the store at {blocker / 'sub' / 'gorgon.db'}: ")
    assert "Check the path and its permissions, or set GORGON_HOME to another folder." in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite, just some text long enough to be read as a header" * 20)
    with pytest.raises(StoreError, match=r"cannot open the store at .*junk\.db"):
        Store(junk)


# -- round trips ----------------------------------------------------------------------------


def test_run_step_and_event_round_trip(store: Store) -> None:
    started = time.time() - 5
    run = RunResult(
        run_id="rt00000001",
        workflow_id="round_trip",
        workflow_name="Round trip",
        inputs={"topic": "rivers", "n": 3, "tags": ["a", "é"]},
        started_at=started,
        workflow_hash="abc123",
        source_path="/work/wf.yaml",
    )
    store.runs.create(
        run, source="id: round_trip\n", source_format="yaml", options={"model": "offline"}
    )
    assert store.runs.get("rt00000001").status is RunStatus.RUNNING

    plan = StepResult(
        key="plan",
        step_id="plan",
        kind="agent",
        status=StepStatus.SUCCEEDED,
        output="the plan",
        usage=Usage(10, 20, 1, 2, 1, 0.5, 0),
        model="offline",
        role="planner",
        attempts=2,
        started_at=started,
        ended_at=started + 1,
    )
    data = StepResult(
        key="loop[1].data",
        step_id="data",
        kind="python",
        status=StepStatus.FAILED,
        output={"rows": [1, 2], "ok": False},
        error="it broke",
        error_type="StepError",
        attempts=1,
        started_at=started + 1,
        ended_at=started + 2,
    )
    store.runs.save_step(run.run_id, data, position=1)
    store.runs.save_step(run.run_id, plan, position=0)

    events = [
        Event(
            RunStarted(workflow_id="round_trip", name="Round trip", inputs=run.inputs, graph=[]),
            run.run_id,
            None,
            1,
            started,
        ),
        Event(
            StepFinished(status="succeeded", output="the plan", usage=Usage(calls=1), model=None),
            run.run_id,
            "plan",
            2,
            started + 1,
        ),
        Event(
            RunFinished(status="failed", error=None, error_type=None, usage=Usage(), outputs=None),
            run.run_id,
            None,
            3,
            started + 3,
        ),
    ]
    for event in events:
        store.runs.append_event(event)

    run.status, run.error, run.error_type = (
        RunStatus.FAILED,
        "step 'data' failed: it broke",
        "StepError",
    )
    run.outputs, run.notices, run.ended_at = {"plan": "the plan"}, ["a notice"], started + 3
    run.usage = Usage(10, 20, 1, 2, 3, 0.5, 2)
    store.runs.finish(run)

    stored = store.runs.get("rt00000001")
    assert list(stored.steps) == ["plan", "loop[1].data"]  # by position
    assert stored.steps == {"plan": plan, "loop[1].data": data}
    stored.steps = run.steps = {}
    assert stored == run
    assert stored.cost == 0.5 and stored.duration == pytest.approx(3)
    assert store.runs.events(run.run_id) == events
    assert store.runs.events(run.run_id, after=2) == events[2:]
    assert store.runs.source("rt0000") == ("id: round_trip\n", "yaml", {"model": "offline"})


def test_saving_a_step_again_replaces_it(store: Store) -> None:
    add(store, new_run("re00000001"))
    step = StepResult(key="a", step_id="a", kind="llm", status=StepStatus.RUNNING)
    store.runs.save_step("re00000001", step)
    step.status, step.output = StepStatus.SUCCEEDED, "done"
    store.runs.save_step("re00000001", step)
    assert store.runs.get("re00000001").steps == {"a": step}


def test_usage_gets_one_row_per_model_call(runner: Runner, store: Store) -> None:
    workflow = Workflow.from_yaml("""id: calls
steps:
  - id: plan
    agent: planner
    task: plan a picnic
  - id: each
    llm: "Say something about {{ item }}"
    for_each: [ants, rain, sandwiches]
  - id: local
    python: json:dumps
    args: {obj: [1, 2]}
""")
    result = runner.run(workflow)
    assert result.ok, result.error
    calls = rows(
        store,
        "SELECT step_key, provider, model, input_tokens, output_tokens, cost_usd, ts "
        "FROM usage WHERE run_id = ? ORDER BY id",
        result.run_id,
    )
    assert len(calls) == result.usage.calls == 4
    assert sorted(c[0] for c in calls) == ["each", "each", "each", "plan"]
    assert {(c[1], c[2]) for c in calls} == {("offline", "offline")}
    assert sum(c[3] for c in calls) == result.usage.input_tokens
    assert sum(c[4] for c in calls) == result.usage.output_tokens
    assert all(
        c[5] == 0.0 for c in calls
    )  # the offline provider is free: priced at zero, not unknown
    assert all(c[6] >= result.started_at for c in calls)
    assert store.runs.get(result.run_id).usage == result.usage


# -- finding runs ---------------------------------------------------------------------------


@pytest.fixture
def three_runs(store: Store) -> Store:
    for run_id in ("abc1111111", "abc2222222", "xyz3333333"):
        add(store, new_run(run_id))
    return store


def test_resolve_run_id(three_runs: Store) -> None:
    assert three_runs.runs.resolve_id("abc1111111") == "abc1111111"
    assert three_runs.runs.resolve_id("abc2") == "abc2222222"
    assert three_runs.runs.resolve_id("x") == "xyz3333333"
    assert three_runs.runs.get("xyz").run_id == "xyz3333333"


def test_an_ambiguous_prefix_lists_the_candidates(three_runs: Store) -> None:
    with pytest.raises(UsageError) as caught:
        three_runs.runs.resolve_id("abc")
    assert type(caught.value) is UsageError
    message = str(caught.value)
    assert "'abc' matches several runs" in message and "give more of the id" in message
    assert "abc1111111" in message and "abc2222222" in message and "xyz3333333" not in message


@pytest.mark.parametrize("wanted", ["nope", "abc1111111x", "ABC1111111x", "_bc"])
def test_an_unknown_run_id_is_not_found(three_runs: Store, wanted: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        three_runs.runs.get(wanted)
    assert str(caught.value).startswith(f"no run '{wanted}'")
    assert "Run 'gorgon runs'" in caught.value.for_surface("cli")
    assert "%gorgon runs" in caught.value.for_surface("notebook")


def test_a_prefix_with_an_underscore_finds_the_run(store: Store) -> None:
    add(store, new_run("nightly_2024_01"))
    assert store.runs.resolve_id("nightly_2024") == "nightly_2024_01"


def test_list_runs_filters_and_orders_newest_first(store: Store) -> None:
    made = [
        add(store, new_run(f"run{i:07d}", workflow_id=wf, status=status))
        for i, (wf, status) in enumerate(
            [
                ("alpha", RunStatus.SUCCEEDED),
                ("beta", RunStatus.FAILED),
                ("alpha", RunStatus.FAILED),
                ("alpha", RunStatus.SUCCEEDED),
                ("beta", RunStatus.RUNNING),
            ]
        )
    ]
    newest_first = [r.run_id for r in reversed(made)]
    assert [r.run_id for r in store.runs.recent()] == newest_first
    assert [r.run_id for r in store.runs.recent(2)] == newest_first[:2]
    assert [r.run_id for r in store.runs.recent(status="failed")] == ["run0000002", "run0000001"]
    assert [r.run_id for r in store.runs.recent(workflow_id="alpha")] == [
        "run0000003",
        "run0000002",
        "run0000000",
    ]
    assert [r.run_id for r in store.runs.recent(status="succeeded", workflow_id="alpha")] == [
        "run0000003",
        "run0000000",
    ]
    assert store.runs.recent(workflow_id="gamma") == []
    assert store.runs.recent(status="running")[0].steps == {}


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        add(store, new_run("gone000001"))
        raise RuntimeError("boom")
    assert store.runs.recent() == []
    with store.transaction(), store.transaction():  # nested: joins the outer one
        add(store, new_run("kept000001"))
    assert [r.run_id for r in store.runs.recent()] == ["kept000001"]


# -- two processes, one file ----------------------------------------------------------------

RUNS_PER_PROCESS = 150
EVENTS_PER_RUN = 4


def _writer(path: str, name: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(30)  # start writing at the same moment as the other process
        with Store(path) as store:
            for i in range(RUNS_PER_PROCESS):
                run = new_run(f"{name}{i:06d}", workflow_id=name)
                store.runs.create(run, source=None, source_format=None)
                for seq in range(1, EVENTS_PER_RUN + 1):
                    store.runs.append_event(Event(Notice(message=f"{i}.{seq}", level="info"), run.run_id, None, seq))
                store.runs.save_step(
                    run.run_id,
                    StepResult(
                        key="s", step_id="s", kind="python", status=StepStatus.SUCCEEDED, output=i
                    ),
                )
                run.status, run.ended_at = RunStatus.SUCCEEDED, time.time()
                store.runs.finish(run)
        results.put((name, "ok"))
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put((name, f"{type(exc).__name__}: {exc}"))


def test_two_processes_share_one_database(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    Store(path).close()  # created first: opening a fresh file at once is its own test below
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_writer, args=(path, name, barrier, results))
        for name in ("left", "right")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    outcomes = dict(results.get(timeout=5) for _ in workers)
    assert outcomes == {"left": "ok", "right": "ok"}
    assert [w.exitcode for w in workers] == [0, 0]
    with Store(path) as store:
        for name in ("left", "right"):
            runs = store.runs.recent(1000, workflow_id=name, status="succeeded")
            assert len(runs) == RUNS_PER_PROCESS
        assert rows(store, "SELECT COUNT(*) FROM events") == [
            (2 * RUNS_PER_PROCESS * EVENTS_PER_RUN,)
        ]
        assert rows(store, "SELECT COUNT(*) FROM steps") == [(2 * RUNS_PER_PROCESS,)]
        every_migration = len(migrations.pending(Database(memory=True)))  # all of them, for an empty database
        assert rows(store, "SELECT COUNT(*) FROM _sqlite_migrations") == [(every_migration,)]
        assert [e.payload for e in store.runs.events("right000042")] == [
            Notice(message=f"42.{seq}", level="info") for seq in range(1, EVENTS_PER_RUN + 1)
        ]


def test_opening_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE notes (text)")
    other.execute("BEGIN IMMEDIATE")  # another process is writing, before the file is in WAL mode
    other.execute("INSERT INTO notes VALUES ('busy')")
    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with Store(path) as store:
            assert rows(store, "PRAGMA journal_mode") == [("wal",)]
    finally:
        release.join()
        other.close()

"""Widgets fed with the events of real runs (offline provider, real SQLite store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from widget_runs import BUG, FEATURE, MIXED, WaitingRun, Watched, start_waiting, watch

from gorgon_nb.runner import Runner
from gorgon_nb.workflow import Workflow


@pytest.fixture
async def dev_run(runner: Runner) -> Watched:
    watched = await watch(runner, "dev_plan_build_test_review", FEATURE)
    assert watched.result.ok, watched.result.error
    assert watched.view.flush()
    return watched


@pytest.fixture
async def loop_run(runner: Runner) -> Watched:
    watched = await watch(runner, "bug_fix_loop", BUG)
    assert watched.result.ok, watched.result.error
    watched.view.flush()
    return watched


@pytest.fixture
async def mixed_run(runner: Runner) -> Watched:
    watched = await watch(runner, Workflow.from_yaml(MIXED))
    watched.view.flush()
    return watched


@pytest.fixture
async def waiting_run(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WaitingRun]:
    """A run on the default store (GORGON_HOME/gorgon.db, where a view's fallback decides),
    waiting for ada's approval of its plan; stopped after the test if still going."""
    monkeypatch.setenv("GORGON_USER", "ada")
    waiting = await start_waiting(Runner())
    yield waiting
    waiting.task.cancel()
    await asyncio.gather(waiting.task, return_exceptions=True)

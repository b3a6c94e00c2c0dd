"""Widgets fed with the events of real runs (offline provider, real SQLite store)."""

from __future__ import annotations

import pytest
from widget_runs import BUG, FEATURE, MIXED, Watched, watch

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

"""RunView driven by the events of real runs: traits, flushing, text forms, stored runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from widget_runs import FEATURE, Watched, watch

from gorgon_nb.model.events import (
    Event,
    Notice,
    RunStarted,
    StepRetry,
    StepStarted,
    TextDelta,
)
from gorgon_nb.model.usage import format_cost, format_tokens
from gorgon_nb.runner import Runner
from gorgon_nb.widgets import HistoryView, RunView
from gorgon_nb.widgets.run_state import TEXT_TAIL, layer_levels
from gorgon_nb.widgets.run_view import STATIC
from gorgon_nb.workflow import Workflow

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
TOKENS = re.compile(r"^[\d,]+ in / [\d,]+ out$")
STEP_KEYS = {
    "key",
    "id",
    "label",
    "kind",
    "level",
    "deps",
    "status",
    "started",
    "ended",
    "tokens",
    "cost",
    "text",
    "output_html",
    "error",
    "approval",
    "tool_calls",
    "tool_calls_dropped",
}


def test_the_package_exports_the_two_widgets() -> None:
    import gorgon_nb.widgets as widgets

    assert sorted(widgets.__all__) == ["HistoryView", "RunView"]


@pytest.mark.parametrize("widget", [RunView, HistoryView])
def test_frontend_files_are_found_and_sent(widget: type) -> None:
    view = widget()
    assert "export default" in view._esm and "render" in view._esm
    assert ".gorgon-" in view._css and "var(--jp-" in view._css


@pytest.mark.parametrize("script", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_frontend_scripts_parse(script: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    checked = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_levels_are_the_longest_dependency_path() -> None:
    graph = [
        {"key": "a", "deps": []},
        {"key": "b", "deps": ["a"]},
        {"key": "c", "deps": ["a", "b"]},
        {"key": "d", "deps": []},
        {"key": "e", "deps": ["d", "c"]},
    ]
    assert layer_levels(graph) == {"a": 0, "b": 1, "c": 2, "d": 0, "e": 3}


async def test_a_finished_run_fills_every_trait(dev_run: Watched) -> None:
    view, result = dev_run.view, dev_run.result
    assert (view.run_id, view.status, view.error) == (result.run_id, "succeeded", "")
    assert view.workflow_name == "Plan, build, test, review"
    assert [s["key"] for s in view.steps] == ["plan", "build", "test", "review"]
    assert all(set(step) == STEP_KEYS for step in view.steps)
    assert [s["level"] for s in view.steps] == [0, 1, 2, 3]
    assert dev_run.step("review")["deps"] == ["build", "test"]
    assert [s["label"] for s in view.steps] == ["planner", "builder", "tester", "reviewer"]
    assert {s["status"] for s in view.steps} == {"succeeded"}
    assert {s["approval"] for s in view.steps} == {None}
    for step in view.steps:
        saved = result.steps[step["key"]]
        assert step["tokens"] == format_tokens(saved.usage) and TOKENS.match(step["tokens"])
        assert step["cost"] == format_cost(saved.usage) == "$0"
        assert step["started"] == pytest.approx(saved.started_at, abs=1)
        assert step["ended"] >= step["started"]
        assert step["text"] == ""
    assert view.total_tokens == format_tokens(result.usage)
    assert view.total_cost == "$0"
    assert 0 < view.started_at <= view.ended_at
    assert any("offline" in notice for notice in view.notices)


async def test_outputs_are_rendered_markdown(dev_run: Watched) -> None:
    markdown = MarkdownIt("commonmark", {"html": False})
    for key in ("plan", "build"):
        assert dev_run.step(key)["output_html"] == markdown.render(dev_run.result.steps[key].output)
    assert "<li>" in dev_run.step("plan")["output_html"]
    assert "<code" in dev_run.step("build")["output_html"]


async def test_flush_sends_only_changes(dev_run: Watched) -> None:
    view = dev_run.view
    assert view.flush() is False
    sent: list[str] = []
    view.observe(lambda change: sent.append(change["name"]), names=["notices", "steps", "status"])
    view.apply(
        Event(Notice(message="budget nearly spent", level="warning"), view.run_id)
    )
    assert view.flush() is True
    assert sent == ["notices"]
    assert view.notices[-1] == "warning: budget nearly spent"
    assert view.flush() is False


def test_a_new_view_has_nothing_to_send() -> None:
    view = RunView("demo", "r1")
    assert (view.workflow_name, view.run_id, view.status, view.steps) == (
        "demo",
        "r1",
        "pending",
        [],
    )
    assert view.flush() is False


async def test_apply_alone_does_not_touch_the_traits(runner: Runner) -> None:
    watched = await watch(runner, "dev_plan_build_test_review", FEATURE)
    assert watched.view.steps == [] and watched.view.status == "pending"
    assert watched.view.flush() is True
    assert len(watched.view.steps) == 4


async def test_streamed_text_keeps_the_tail_while_running(dev_run: Watched) -> None:
    view = RunView()
    run_id = dev_run.result.run_id
    view.apply(dev_run.events[0])  # the real run_started, with its graph
    view.apply(Event(StepStarted(), run_id, "plan"))
    view.apply(Event(TextDelta(text="a" * 1000), run_id, "plan"))
    view.apply(Event(TextDelta(text="b" * 1000), run_id, "plan"))
    assert view.flush()
    plan = next(s for s in view.steps if s["key"] == "plan")
    assert plan["status"] == "running" and view.status == "running"
    assert plan["text"] == ("a" * 1000 + "b" * 1000)[-TEXT_TAIL:]
    assert [s["status"] for s in view.steps[1:]] == ["pending"] * 3

    view.apply(Event(TextDelta(text="\nlast line"), run_id, "plan"))
    assert view.flush()
    assert view.steps[0]["text"].endswith("b\nlast line")
    view.apply(Event(StepRetry(attempt=2, delay=0.0, error="overloaded", error_type="ProviderUnavailable"),
                     run_id, "plan"))
    view.apply(Event(TextDelta(text="fresh"), run_id, "plan"))
    view.flush()
    assert view.steps[0]["text"] == "retrying (attempt 2) after: overloaded\nfresh"

    finished = next(e for e in dev_run.events if e.kind == "step_finished" and e.step == "plan")
    view.apply(finished)
    view.flush()
    assert view.steps[0]["status"] == "succeeded"
    assert view.steps[0]["text"] == "" and "<li>" in view.steps[0]["output_html"]


def test_items_streaming_into_one_step_are_marked() -> None:
    view = RunView()
    graph = [{"key": "assess", "id": "assess", "kind": "agent", "role": "analyst", "deps": []}]
    view.apply(Event(RunStarted(workflow_id="each", name="each", inputs={}, graph=graph), "r"))
    for item, text in [(0, "first"), (1, "second"), (0, " more")]:
        view.apply(Event(TextDelta(text=text, item=item), "r", "assess"))
    view.flush()
    assert view.steps[0]["text"] == "[item 0] first\n[item 1] second\n[item 0]  more"


async def test_a_supervisors_delegates_are_marked_in_its_stream(runner: Runner) -> None:
    workflow = Workflow.from_dict({"id": "sup", "steps": [
        {"id": "lead", "supervisor": "Plan and build a CSV loader, then review it"}]})
    watched = await watch(runner, workflow)
    assert watched.result.ok
    view = RunView()  # the run again, as it looked just before the answer was done
    for event in watched.events:
        if event.kind == "step_finished":
            break
        view.apply(event)
    view.flush()
    text = view.steps[0]["text"]
    # the tail of the stream: the last delegates, then the supervisor's own answer, each marked
    assert "[reviewer] " in text and "\n[supervisor] " in text
    assert text.rindex("[reviewer] ") < text.rindex("[supervisor] ")


async def test_loop_rounds_sit_on_their_loops_level(loop_run: Watched) -> None:
    view = loop_run.view
    keys = [s["key"] for s in view.steps]
    assert keys == [
        "diagnose",
        "fix_and_verify",
        "fix_and_verify[1].fix",
        "fix_and_verify[1].verify",
        "change_note",
    ]
    levels = {s["key"]: s["level"] for s in view.steps}
    assert levels == {
        "diagnose": 0,
        "fix_and_verify": 1,
        "fix_and_verify[1].fix": 1,
        "fix_and_verify[1].verify": 1,
        "change_note": 2,
    }
    verify = loop_run.step("fix_and_verify[1].verify")
    assert (verify["id"], verify["label"], verify["kind"]) == ("verify", "tester", "agent")
    assert verify["deps"] == ["fix_and_verify[1].fix"]
    assert verify["output_html"].startswith('<pre class="gorgon-json">')
    assert "&quot;verdict&quot;: &quot;pass&quot;" in verify["output_html"]

    # a second round is placed after the first, not at the end of the list
    run_id = loop_run.result.run_id
    view.apply(Event(StepStarted(), run_id, "fix_and_verify[2].fix"))
    view.flush()
    keys = [s["key"] for s in view.steps]
    assert keys.index("fix_and_verify[2].fix") == keys.index("fix_and_verify[1].verify") + 1
    fix2 = loop_run.step("fix_and_verify[2].fix")
    assert (fix2["label"], fix2["level"], fix2["status"]) == ("builder", 1, "running")


async def test_skipped_failed_and_escaped(mixed_run: Watched) -> None:
    view = mixed_run.view
    assert view.status == "failed"
    assert "broken" in view.error
    statuses = {s["key"]: s["status"] for s in view.steps}
    assert statuses == {
        "intro": "succeeded",
        "optional": "skipped",
        "broken": "failed",
        "after": "skipped",  # never started: the run failed first
    }
    assert {s["key"]: s["level"] for s in view.steps} == {
        "intro": 0,
        "optional": 0,
        "broken": 1,
        "after": 2,
    }
    assert "when: false" in mixed_run.step("optional")["output_html"]
    assert "not run: the run failed first" in mixed_run.step("after")["output_html"]
    assert "json:loads raised JSONDecodeError" in mixed_run.step("broken")["error"]
    intro = mixed_run.step("intro")["output_html"]
    assert "<h2>Title</h2>" in intro and "<li>item <code>code</code></li>" in intro
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in intro and "<script>" not in intro
    assert mixed_run.step("intro")["tokens"] == "-" and mixed_run.step("intro")["cost"] == "-"


async def test_the_mimebundle_reads_well_without_a_frontend(dev_run: Watched) -> None:
    view = dev_run.view
    data, _ = view._repr_mimebundle_()
    assert data[WIDGET_MIME]["model_id"] == view.model_id
    plain, markdown = data["text/plain"], data["text/markdown"]
    assert plain == view.to_text() and markdown == view.to_markdown()
    for key in ("plan", "build", "test", "review"):
        assert key in plain and f"`{key}`" in markdown
    assert "succeeded" in plain.splitlines()[0] and "**succeeded**" in markdown
    assert "| step | label | status | elapsed | tokens | cost |" in markdown
    review = dev_run.result.steps["review"].output
    assert review.splitlines()[0] in plain and review.splitlines()[0] in markdown
    assert len(repr(view)) < 120 and view.run_id in repr(view)


async def test_a_failed_run_says_so_in_text(mixed_run: Watched) -> None:
    plain, markdown = mixed_run.view.to_text(), mixed_run.view.to_markdown()
    for key in ("intro", "optional", "broken", "after"):
        assert key in plain and key in markdown
    assert "failed" in plain.splitlines()[0] and "no model calls" in plain.splitlines()[0]
    assert "**Error:** step 'broken' failed" in markdown
    assert "Output of" not in markdown  # the final step never ran


async def test_from_a_stored_run(dev_run: Watched, runner: Runner) -> None:
    assert runner.store is not None
    stored = runner.store.runs.get(dev_run.result.run_id)
    view = RunView.from_result(stored)
    assert (view.run_id, view.status) == (stored.run_id, "succeeded")
    assert [s["key"] for s in view.steps] == ["plan", "build", "test", "review"]
    # without the graph, a step that started after another ended sits below it
    assert [s["level"] for s in view.steps] == [0, 1, 2, 3]
    assert [s["output_html"] for s in view.steps] == [s["output_html"] for s in dev_run.view.steps]
    assert view.total_tokens == dev_run.view.total_tokens
    assert view.flush() is False
    assert "review" in view._repr_mimebundle_()[0]["text/markdown"]

    replayed = RunView.from_result(stored, runner.store.runs.events(stored.run_id))
    assert [(s["key"], s["deps"], s["level"], s["status"]) for s in replayed.steps] == [
        (s["key"], s["deps"], s["level"], s["status"]) for s in dev_run.view.steps
    ]


async def test_from_a_stored_loop_run(loop_run: Watched, runner: Runner) -> None:
    assert runner.store is not None
    view = RunView.from_result(runner.store.runs.get(loop_run.result.run_id))
    levels = {s["key"]: s["level"] for s in view.steps}
    assert levels["fix_and_verify[1].verify"] == levels["fix_and_verify"]
    assert next(s for s in view.steps if s["key"] == "fix_and_verify[1].fix")["label"] == "builder"

"""The magics in a real IPython shell, running real workflows on the offline provider."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.session import active_runs
from gorgon_nb.model.run import RunResult, RunStatus, StepStatus
from gorgon_nb.runner import default_runner

DEV = """
inputs:
  feature_request: {type: string}
steps:
  - id: plan
    agent: planner
    task: "{{ inputs.feature_request }}"
  - id: build
    agent: builder
    context: "{{ steps.plan.output }}"
"""




def cell(ip: InteractiveShell, line: str, body: str) -> tuple[Any, Any]:
    """Run ``%%gorgon line`` with ``body`` as a real cell; return (captured output, error or None)."""
    with capture_output() as captured:
        result = ip.run_cell(f"%%gorgon {line}\n{body}")
    return captured, result.error_in_exec


def error_text(error: BaseException) -> str:
    assert isinstance(error, MagicError), repr(error)
    lines = "\n".join(error._render_traceback_())
    assert "Traceback" not in lines and 'File "' not in lines  # a message, not a stack
    return str(error)


def test_a_workflow_cell_runs_and_leaves_its_result(ip: InteractiveShell) -> None:
    captured, error = cell(ip, "-v feature_request='Add a CSV export' --out built", DEV)
    assert error is None
    result = ip.user_ns["_gorgon"]
    assert isinstance(result, RunResult) and result is ip.user_ns["built"]
    assert result.status is RunStatus.SUCCEEDED
    assert list(result.outputs) == ["plan", "build"] and result.outputs["build"].startswith("[offline]")
    assert result.usage.calls == 2 and result.cost == 0
    bundles = [o.data for o in captured.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in b for b in bundles)
    final = bundles[-1]["text/markdown"]
    assert "plan" in final and "build" in final and "succeeded" in final
    assert "Plan" not in (result.error or "")


def test_inputs_can_come_from_notebook_variables(ip: InteractiveShell) -> None:
    ip.user_ns["feature_request"] = "Export the report as PDF"
    _, error = cell(ip, "-v feature_request", DEV)
    assert error is None
    assert ip.user_ns["_gorgon"].inputs == {"feature_request": "Export the report as PDF"}
    _, error = cell(ip, "-v nothing_here", DEV)
    assert "there is no notebook variable 'nothing_here'" in error_text(error)


def test_named_cells_can_be_run_again(ip: InteractiveShell) -> None:
    _, error = cell(ip, "--name plan_it --define", DEV)
    assert error is None and "_gorgon" not in ip.user_ns  # defined, not run
    with capture_output():
        ip.run_line_magic("gorgon", "run plan_it -v feature_request=X")
    assert ip.user_ns["_gorgon"].workflow_id == "plan_it" and ip.user_ns["_gorgon"].ok
    listed = ip.run_line_magic("gorgon", "workflows")
    assert "`plan_it`" in listed._repr_markdown_() and "this notebook" in listed._repr_markdown_()


def test_broken_yaml_points_at_the_line_of_the_cell(ip: InteractiveShell) -> None:
    _, error = cell(ip, "", "steps:\n  - id: a\n    agent: planner\n   task: [\n")
    message = error_text(error)
    assert "<cell>:5" in message and "invalid YAML" in message  # the %%gorgon line is line 1


def test_workflow_problems_are_listed_with_cell_lines(ip: InteractiveShell) -> None:
    _, error = cell(ip, "", "steps:\n  - id: a\n    agent: planer\n    task: '{{ inputs.x }}'\n")
    message = error_text(error)
    assert "<cell>:4: a.agent: unknown role 'planer'" in message
    assert "<cell>:5: a.task: unknown input 'x'" in message


def test_a_structural_error_does_not_hide_the_other_problems(ip: InteractiveShell) -> None:
    body = ("steps:\n  - id: plan\n    agent: planer\n  - id: build\n    agent: builder\n"
            "    contxt: x\n  - id: test\n    agent: tester\n    context: '{{ steps.biuld.output }}'\n")
    _, error = cell(ip, "--define", body)
    message = error_text(error)
    for expected in ("<cell>:4: plan.agent: unknown role 'planer'", "<cell>:7: build.contxt: unknown key 'contxt'",
                     "<cell>:10: test.context: unknown step 'biuld'"):
        assert expected in message


@pytest.mark.parametrize(("line", "expected"), [
    ("--colour red", "unrecognized arguments: --colour red"),
    ("-v 'not ok=1'", "not KEY=VALUE"),
    ("--out 'bad name'", "not a valid variable name"),
    ("--model nowhere:x", "unknown provider 'nowhere'"),
])
def test_bad_options_are_short_errors(ip: InteractiveShell, line: str, expected: str) -> None:
    _, error = cell(ip, line + " -v feature_request=x", DEV)
    assert expected in error_text(error)


def test_a_missing_input_says_how_to_pass_it(ip: InteractiveShell) -> None:
    _, error = cell(ip, "", DEV)
    assert "missing required input 'feature_request'" in error_text(error)


def test_unknown_workflow_and_command(ip: InteractiveShell) -> None:
    with pytest.raises(MagicError, match="no workflow named 'dev_plan_bild_test_review'"):
        ip.run_line_magic("gorgon", "run dev_plan_bild_test_review")
    with pytest.raises(MagicError, match=r"unknown command 'wrokflows'.*did you mean 'workflows'"):
        ip.run_line_magic("gorgon", "wrokflows")


def test_a_failed_run_fails_the_cell_and_keeps_what_finished(ip: InteractiveShell) -> None:
    body = "allow_code: true\nsteps:\n  - id: ok\n    agent: planner\n  - id: boom\n    python: no_such_module_here:f\n" \
           "    depends_on: ok\n"
    _, error = cell(ip, "--allow-code", body)
    assert "failed: step 'boom' failed: cannot import module 'no_such_module_here'" in error_text(error)
    result = ip.user_ns["_gorgon"]
    assert result.steps["ok"].status is StepStatus.SUCCEEDED and result.outputs["ok"]


def test_background_returns_at_once_and_the_result_fills_in(ip: InteractiveShell, home: Path) -> None:
    (home / "config.toml").write_text("[offline]\ndelay = 0.01\n")
    _, error = cell(ip, "--background -v feature_request=x", DEV)
    assert error is None
    result = ip.user_ns["_gorgon"]
    assert result.status is RunStatus.RUNNING  # the cell returned before the run ended
    deadline = time.monotonic() + 30
    while result.status is RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.status is RunStatus.SUCCEEDED and set(result.outputs) == {"plan", "build"}
    assert result.run_id not in active_runs


@pytest.fixture
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the main thread, as in a kernel, whatever else this
    process (another test, a library) made of it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interruptible")
def test_interrupting_a_cell_cancels_and_records_the_run(ip: InteractiveShell) -> None:
    body = ("steps:\n  - id: first\n    agent: planner\n"
            "  - id: nap\n    python: asyncio:sleep\n    args: {delay: 20}\n    depends_on: first\n")
    started = threading.Event()

    def interrupt_when_napping() -> None:
        while not started.is_set():
            run = next(iter(active_runs.values()), None)
            if run is not None and "nap" in run.result.steps:
                started.set()
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)  # what "interrupt the kernel" does

    threading.Thread(target=interrupt_when_napping, daemon=True).start()
    _, error = cell(ip, "", body)
    message = error_text(error)
    assert "interrupted and is recorded as cancelled" in message
    stored = default_runner().store.runs.get(ip.user_ns["_gorgon"].run_id)
    assert stored.status is RunStatus.CANCELLED
    assert stored.steps["first"].status is StepStatus.SUCCEEDED
    assert stored.steps["nap"].status is StepStatus.CANCELLED


def test_line_commands_return_readable_objects(ip: InteractiveShell) -> None:
    cell(ip, "-v feature_request=x", DEV)
    run_id = ip.user_ns["_gorgon"].run_id
    runs = ip.run_line_magic("gorgon", "runs -n 5")
    assert run_id in runs._repr_markdown_() and run_id in repr(runs)
    shown = ip.run_line_magic("gorgon", "show " + run_id[:6])
    bundle = shown._repr_mimebundle_()[0] if isinstance(shown._repr_mimebundle_(), tuple) else shown._repr_mimebundle_()
    assert run_id in bundle["text/markdown"] and "build" in bundle["text/plain"]
    providers = ip.run_line_magic("gorgon", "providers")._repr_markdown_()
    assert "ANTHROPIC_API_KEY" in providers and "offline" in providers
    assert "%%gorgon agent ROLE" in ip.run_line_magic("gorgon", "help")._repr_markdown_()
    history = ip.run_line_magic("gorgon", "runs --widget")
    assert any(r["run_id"] == run_id for r in history.runs)
    with pytest.raises(MagicError, match="no run 'zzzz'"):
        ip.run_line_magic("gorgon", "show zzzz")


# -- %%gorgon agent ---------------------------------------------------------------------------

def test_agent_fills_notebook_variables_and_leaves_other_braces(ip: InteractiveShell) -> None:
    ip.user_ns["df_summary"] = "rows: 120, mean revenue 43.2"
    captured, error = cell(ip, "agent reviewer", 'Review this summary: {{ df_summary }}. Keep {"a": 1} as is.')
    assert error is None
    result = ip.user_ns["_gorgon"]
    assert result.inputs["prompt"] == 'Review this summary: rows: 120, mean revenue 43.2. Keep {"a": 1} as is.'
    final = captured.outputs[-1].data["text/markdown"]
    assert "**reviewer**" in final and result.outputs["reviewer"] in final


def test_agent_with_an_undefined_variable(ip: InteractiveShell) -> None:
    ip.user_ns["df_summary"] = "x"
    _, error = cell(ip, "agent reviewer", "Look at {{ df_sumary }}")
    message = error_text(error)
    assert "no notebook variable 'df_sumary'" in message and "did you mean 'df_summary'" in message


def test_agent_code_format_can_insert_a_cell(ip: InteractiveShell) -> None:
    captured, error = cell(ip, "agent builder --format code --insert --out answer", "Add a CSV export")
    assert error is None
    code = captured.outputs[-1].data["text/markdown"]
    assert "```python" in code and "def " in code
    # A terminal shell keeps the next input here; the kernel's shell sends it as a payload.
    inserted = ip.rl_next_input
    assert "def " in inserted and "```" not in inserted
    assert ip.user_ns["answer"] is ip.user_ns["_gorgon"]


def test_agent_json_format(ip: InteractiveShell) -> None:
    captured, error = cell(ip, "agent analyst --format json", "Score the idea of a four-day week")
    assert error is None
    answer = ip.user_ns["_gorgon"].outputs["analyst"]
    assert isinstance(answer, dict) and answer
    shown = captured.outputs[-1].data
    assert shown["application/json"] == answer
    assert json.loads(shown["text/plain"].rsplit("\n\n[", 1)[0]) == answer  # readable without a frontend
    assert ip.user_ns["_gorgon"].run_id in shown["text/plain"]


def test_agent_with_tools_calls_them_and_answers_from_them(ip: InteractiveShell) -> None:
    ip.user_ns["regions"] = ["north", "south", "east"]
    captured, error = cell(ip, "agent analyst --tools kernel.list_variables,kernel.read_value",
                           "Use kernel.read_value on `regions` and say how many there are.")
    assert error is None, error_text(error)
    result = ip.user_ns["_gorgon"]
    (call,) = default_runner().store.tools.of_run(result.run_id)
    assert call.tool == "kernel.read_value" and call.arguments == {"name": "regions"}
    assert "'north', 'south', 'east'" in call.result
    assert "From the tools:" in result.outputs["analyst"]
    shown = "".join(str(output.data.get("text/markdown", "")) for output in captured.outputs)
    assert "🔧 `kernel.read_value`" in shown


def test_agent_tools_that_run_code_need_allow_code(ip: InteractiveShell) -> None:
    _, error = cell(ip, "agent analyst --tools kernel.run_code", "Use kernel.run_code")
    assert "--allow-code" in error_text(error)


def test_agent_bad_role_and_flags(ip: InteractiveShell) -> None:
    _, error = cell(ip, "agent reviewr", "hello")
    assert "unknown role 'reviewr' (did you mean 'reviewer'?)" in error_text(error)
    _, error = cell(ip, "agent reviewer --insert", "hello")
    assert "--insert goes with --format code" in error_text(error)
    _, error = cell(ip, "agent reviewer", "   ")
    assert "the cell is empty" in error_text(error)


# -- approvals, resume, cancel, replay, fork ---------------------------------------------------

GATED = """
steps:
  - id: draft
    agent: documenter
    task: write the release note
  - id: publish
    approval: Publish the note?
    preview: "{{ steps.draft.output }}"
"""


def test_a_background_run_waits_and_the_approve_magic_lets_it_go_on(ip: InteractiveShell) -> None:
    _, error = cell(ip, "--background --out gated", GATED)
    assert error is None
    result = ip.user_ns["gated"]
    pending = []
    deadline = time.monotonic() + 30
    while not pending and time.monotonic() < deadline:
        pending = ip.run_line_magic("gorgon", "approvals").rows
        time.sleep(0.05)
    assert pending and "Publish the note?" in pending[0][3] and result.status is RunStatus.WAITING
    said = ip.run_line_magic("gorgon", f"approve {result.run_id} -m 'ship it' --by dana")
    assert "Approved **Publish the note?**" in said._repr_markdown_() and "dana: ship it" in said.markdown
    deadline = time.monotonic() + 30
    while not result.status.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.ok and result.outputs["publish"]["by"] == "dana"
    with pytest.raises(MagicError, match="has nothing waiting for approval"):
        ip.run_line_magic("gorgon", f"approve {result.run_id}")


def test_a_run_killed_elsewhere_is_approved_and_resumed_in_the_notebook(ip: InteractiveShell, home: Path,
                                                                         tmp_path: Path) -> None:
    import subprocess
    import sys

    workflow = tmp_path / "gated.yaml"
    workflow.write_text("id: gated\n" + GATED)
    env = {**os.environ, "GORGON_HOME": str(home)}
    process = subprocess.Popen([str(Path(sys.executable).with_name("gorgon")), "run", str(workflow), "-q"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = default_runner().store
    deadline = time.monotonic() + 30
    while not store.approvals.recent() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    run_id = store.approvals.recent()[0].run_id
    listed = ip.run_line_magic("gorgon", "approvals")._repr_markdown_()
    assert "pending (run stopped)" in listed
    ip.run_line_magic("gorgon", f"approve {run_id}")
    with capture_output() as captured:
        ip.run_line_magic("gorgon", f"resume {run_id} --out resumed")
    resumed = ip.user_ns["resumed"]
    assert resumed.run_id == run_id and resumed.ok
    assert resumed.steps["draft"].status is StepStatus.SUCCEEDED
    assert "publish" in captured.outputs[-1].data["text/markdown"]


def test_replay_and_fork_from_the_notebook(ip: InteractiveShell) -> None:
    cell(ip, "-v feature_request=x --out first", DEV)
    first = ip.user_ns["first"]
    with capture_output():
        ip.run_line_magic("gorgon", f"replay {first.run_id} --out again")
        ip.run_line_magic("gorgon", f"fork {first.run_id} --from build --out forked")
    again, forked = ip.user_ns["again"], ip.user_ns["forked"]
    assert again.outputs == first.outputs and again.cost == 0 and again.run_id != first.run_id
    assert forked.ok and forked.outputs["plan"] == first.outputs["plan"]
    with pytest.raises(MagicError, match="has no top-level step 'nowhere'"):
        ip.run_line_magic("gorgon", f"fork {first.run_id} --from nowhere")


def test_cancel_a_background_run_of_this_kernel(ip: InteractiveShell) -> None:
    _, error = cell(ip, "--background --out gated", GATED)
    assert error is None
    result = ip.user_ns["gated"]
    deadline = time.monotonic() + 30
    while result.status is not RunStatus.WAITING and time.monotonic() < deadline:
        time.sleep(0.05)
    said = ip.run_line_magic("gorgon", f"cancel {result.run_id}")
    assert "cancelled" in said.markdown
    assert result.status is RunStatus.CANCELLED
    stored = default_runner().store.runs.get(result.run_id)
    assert stored.status is RunStatus.CANCELLED and stored.steps["draft"].status is StepStatus.SUCCEEDED


def test_schedule_a_notebook_from_the_notebook(ip: InteractiveShell, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "daily.ipynb")
    monkeypatch.chdir(tmp_path)  # the kernel's folder, as a notebook's kernel has its own
    made = ip.run_line_magic("gorgon", 'schedule daily.ipynb --cron "0 8 * * MON" --tz Europe/Paris -p region=EU')
    assert "Scheduled `daily.ipynb` (cron 0 8 * * MON (Europe/Paris))" in made._repr_markdown_()
    listed = ip.run_line_magic("gorgon", "schedules")
    [row] = listed.rows
    schedule_id = row[0].strip("`")
    assert ip.run_line_magic("gorgon", f"schedules run {schedule_id}")._repr_markdown_().startswith("Queued job")
    [job] = ip.run_line_magic("gorgon", "jobs").rows
    assert "queued" in job and "`daily.ipynb`" in job
    with pytest.raises(MagicError) as refused:
        ip.run_line_magic("gorgon", "schedule ../elsewhere.ipynb --every 1h")
    assert "outside" in error_text(refused.value)


def test_schedule_from_the_notebook_names_its_notification_targets(ip: InteractiveShell, home: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    (home / "config.toml").write_text('[notifications.targets.ops]\nwebhook = "http://127.0.0.1:9/hook"\n')
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "daily.ipynb")
    monkeypatch.chdir(tmp_path)
    ip.run_line_magic("gorgon", "schedule daily.ipynb --every 1h --notify ops:failed --name daily")
    assert default_runner().store.jobs.get_schedule("daily").notify == ["ops:failed"]
    with pytest.raises(MagicError) as refused:
        ip.run_line_magic("gorgon", "schedule daily.ipynb --every 1h --notify pager")
    assert "pager" in error_text(refused.value) and "[notifications.targets" in error_text(refused.value)

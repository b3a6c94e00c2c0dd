"""Gorgon's YAML workflows, byte for byte as Gorgon ships them, run end to end offline."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_support import declare, npm_server

from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunResult, RunStatus, StepStatus
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback
from gorgon_nb.providers.offline import OfflineProvider
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver
from gorgon_nb.workflow import Workflow

FIXTURES = Path(__file__).resolve().parent.parent / "model" / "gorgon_fixtures" / "yaml"
FILES = sorted(FIXTURES.rglob("*.yaml"))
MCP_FILES = {"mcp_filesystem.yaml", "mcp_github_pr.yaml", "mcp_multi_server.yaml"}
FAKE_MCP = Path(__file__).resolve().parent / "gorgon_yaml_mcp.py"


class Recorder:
    """The offline provider, keeping every request it answers."""

    name = "offline"

    def __init__(self) -> None:
        self.offline = OfflineProvider()
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        self.requests.append(request)
        return await self.offline.complete(request, on_delta=on_delta)

    def prompts(self, step_id: str) -> list[str]:
        return ["\n".join(m.content for m in r.messages) for r in self.requests if r.step_id == step_id]

    def order(self) -> list[str]:
        return list(dict.fromkeys(r.step_id for r in self.requests))


def codebase(tmp_path: Path, tests_say: str = "3 passed") -> Path:
    """A codebase folder whose test script prints ``tests_say`` (and fails unless it says passed)."""
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    (folder / "app.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    script = folder / "run-tests"
    status = 0 if "passed" in tests_say else 1
    script.write_text(f"#!/bin/sh\necho '{tests_say}'\nexit {status}\n", encoding="utf-8")
    script.chmod(0o755)
    return folder


def inputs_for(workflow: Workflow, tmp_path: Path) -> dict[str, Any]:
    """A value for every required input: folders and paths point into a real codebase folder."""
    code = codebase(tmp_path)
    values: dict[str, Any] = {}
    for name, spec in workflow.spec.inputs.items():
        if not spec.is_required:
            continue
        if spec.type == "list":
            values[name] = [str(code / "app.py"), str(code / "run-tests")]
        elif spec.type == "object":
            values[name] = {"path": str(code), "language": "python"}
        elif name.endswith("_path") or name in ("target", "source", "report_path"):
            values[name] = str(code)
        else:
            values[name] = f"the {name.replace('_', ' ')}"
    if "test_command" in workflow.spec.inputs:
        values["test_command"] = "./run-tests"
    return values


def run(runner: Runner, store: Store, workflow: Workflow, inputs: dict[str, Any]) -> RunResult:
    assert store.path is not None
    with Approver(store.path):  # tool writes (agents' files, MCP writes) wait for a person
        return runner.run(workflow, inputs, allow_code=True, model="offline")


def fake_mcp(log: Path) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(FAKE_MCP), str(log)]}


@pytest.mark.parametrize("path", [p for p in FILES if p.name not in MCP_FILES], ids=lambda p: p.name)
def test_gorgon_yaml_workflow_runs_end_to_end(path: Path, runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    workflow = Workflow.from_file(path)
    workflow.validate()
    result = run(runner, store, workflow, inputs_for(workflow, tmp_path))
    assert result.status is RunStatus.SUCCEEDED, result.error
    ran = [s for s in result.steps.values() if s.status is StepStatus.SUCCEEDED]
    assert ran and recorder.requests
    # Gorgon ran the steps in list order: every model call follows the one before
    listed = [s.get("id") for s in _raw_steps(path)]
    called = [step for step in recorder.order() if step in listed]
    assert called == sorted(called, key=listed.index) or _parallel(path)
    for prompt in (p for r in recorder.requests for p in [r.messages[-1].content]):
        assert "{{" not in prompt.replace("${{", "")  # no native template left unrendered
    assert all(str(v).startswith("[offline]") for v in result.outputs.values() if isinstance(v, str) and v
               and not v.startswith(("3 passed", "{")))


def _raw_steps(path: Path) -> list[dict[str, Any]]:
    import yaml

    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["steps"])


def _parallel(path: Path) -> bool:
    return path.name in ("auto_parallel_pipeline.yaml", "parallel-analysis.yaml")


def test_feature_build_substitutes_runs_the_tests_and_reviews(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    code = codebase(tmp_path)
    workflow = Workflow.from_file(FIXTURES / "feature-build.yaml")
    result = run(runner, store, workflow, {"feature_request": "Add a CSV export", "codebase_path": str(code),
                                           "test_command": "./run-tests"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert recorder.order() == ["plan", "build", "test", "review"]
    [plan] = recorder.prompts("plan")
    assert "Feature: Add a CSV export" in plan and f"Codebase: {code}" in plan
    [build] = recorder.prompts("build")
    assert result.steps["plan"].output in build  # ${plan}: the first output of plan
    [test] = recorder.prompts("test")
    assert "Files: ${files_modified}" in test  # a second output Gorgon never set stays as written
    assert result.steps["run_tests"].output == {"stdout": "3 passed\n", "stderr": "", "returncode": 0}
    [review] = recorder.prompts("review")
    assert "Test Results: 3 passed" in review  # the condition (contains "passed") held
    assert result.outputs["test_results"] == "3 passed\n"
    assert result.outputs["plan"] == result.steps["plan"].output


def test_a_false_condition_skips_only_its_step(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    code = codebase(tmp_path, tests_say="all good")  # no "passed": exits 1
    (code / "run-tests").write_text("#!/bin/sh\necho 'all good'\n", encoding="utf-8")
    result = run(runner, store, Workflow.from_file(FIXTURES / "feature-build.yaml"),
                 {"feature_request": "x", "codebase_path": str(code), "test_command": "./run-tests"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.steps["review"].status is StepStatus.SKIPPED
    assert "review" not in recorder.order()


def test_a_failing_shell_step_with_abort_fails_the_run(runner: Runner, store: Store, tmp_path: Path) -> None:
    workflow = Workflow.from_file(FIXTURES / "bug-fix.yaml")
    inputs = inputs_for(workflow, tmp_path)
    code = codebase(tmp_path, tests_say="2 failed")
    inputs.update(codebase_path=str(code), test_command="./run-tests")
    result = run(runner, store, workflow, inputs)
    assert result.status is RunStatus.FAILED
    assert result.steps["run_tests"].status is StepStatus.FAILED
    assert "exited with status 1" in (result.steps["run_tests"].error or "")
    assert result.steps["run_tests"].attempts == 4  # Gorgon's default: 3 retries
    assert "verify" not in result.steps or result.steps["verify"].status is not StepStatus.SUCCEEDED


def test_a_failing_shell_step_with_skip_lets_the_run_go_on(runner: Runner, store: Store, tmp_path: Path) -> None:
    # blender-addon's validate_syntax: on_failure skip, allow_failure true
    workflow = Workflow.from_file(FIXTURES / "blender-addon.yaml")
    result = run(runner, store, workflow, inputs_for(workflow, tmp_path))
    assert result.status is RunStatus.SUCCEEDED, result.error
    check = result.steps["validate_syntax"]
    assert check.status is StepStatus.SUCCEEDED and isinstance(check.output, dict)
    assert result.steps["review"].status is StepStatus.SUCCEEDED


def test_shell_values_are_quoted_as_gorgon_quoted_them(runner: Runner, store: Store, tmp_path: Path) -> None:
    code = codebase(tmp_path)
    odd = tmp_path / "it's $(here)"
    shutil.copytree(code, odd)
    workflow = Workflow.from_file(FIXTURES / "feature-build.yaml")
    result = run(runner, store, workflow, {"feature_request": "x", "codebase_path": str(odd),
                                           "test_command": "./run-tests"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.steps["run_tests"].output["stdout"] == "3 passed\n"


def test_fan_out_reviews_each_file_in_order_and_fan_in_gathers(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    files = ["src/a.py", "src/b.py", "src/c.py"]
    result = run(runner, store, Workflow.from_file(FIXTURES / "examples" / "fan_out_code_review.yaml"),
                 {"files": files})
    assert result.status is RunStatus.SUCCEEDED, result.error
    reviews = result.steps["review_files"].output
    assert isinstance(reviews, list) and len(reviews) == 3
    prompts = recorder.prompts("review_files")
    assert sorted(f for p in prompts for f in files if f"File: {f}" in p) == files
    assert all("security, performance, maintainability" in p for p in prompts)
    [summary] = recorder.prompts("summarize_reviews")
    assert "\n---\n".join(reviews) in summary
    assert result.outputs["file_reviews"] == reviews
    assert result.outputs["review_summary"] == result.steps["summarize_reviews"].output


def test_map_reduce_maps_then_reduces(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    logs = ["app.log", "db.log"]
    result = run(runner, store, Workflow.from_file(FIXTURES / "examples" / "map_reduce_analysis.yaml"),
                 {"log_files": logs})
    assert result.status is RunStatus.SUCCEEDED, result.error
    mapped = result.steps["analyze_logs_map"].output
    assert len(mapped) == 2
    [reduce] = recorder.prompts("analyze_logs")
    assert "\n---\n".join(mapped) in reduce
    [alerts] = recorder.prompts("generate_alerts")
    assert result.steps["analyze_logs"].output in alerts
    assert recorder.order() == ["analyze_logs_map", "analyze_logs", "generate_alerts"]


def test_parallel_sub_steps_share_their_outputs(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    result = run(runner, store, Workflow.from_file(FIXTURES / "parallel-analysis.yaml"), {"codebase_path": "src"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    order = recorder.order()
    assert order[0] == "gather_context" and order[-1] == "summary"
    assert set(order[1:4]) == {"security", "performance", "maintainability"}
    [summary] = recorder.prompts("summary")
    assert result.steps["security"].output in summary and result.steps["performance"].output in summary
    # health_score is a third output Gorgon never set: the condition reads nothing, so it is false
    assert result.steps["generate_tickets"].status is StepStatus.SKIPPED


def test_auto_parallel_runs_by_dependencies(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    workflow = Workflow.from_file(FIXTURES / "examples" / "auto_parallel_pipeline.yaml")
    compiled = workflow.compile()
    deps = {node.id: set(node.deps) for node in compiled.graph}
    assert deps["security_scan"] == deps["code_quality"] == deps["dependency_audit"] == set()
    assert deps["risk_assessment"] == {"security_scan", "dependency_audit"}
    result = run(runner, store, workflow, {"codebase_path": str(codebase(tmp_path))})
    assert result.status is RunStatus.SUCCEEDED, result.error
    [risk] = recorder.prompts("risk_assessment")
    assert '{"vulnerabilities": []}' in risk or result.steps["dependency_audit"].output["stdout"] in risk


def test_mcp_filesystem_reads_through_the_official_server(runner: Runner, store: Store, home: Path,
                                                          tmp_path: Path) -> None:
    project = codebase(tmp_path)
    (project / "README.md").write_text("# The demo project\n", encoding="utf-8")
    declare(home, {"filesystem": {"command": npm_server("filesystem"), "args": [str(project)]}})
    runner = Runner(load_config(), store)
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    result = run(runner, store, Workflow.from_file(FIXTURES / "examples" / "mcp_filesystem.yaml"),
                 {"project_path": str(project)})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert "# The demo project" in str(result.steps["read_readme"].output)
    [analyze] = recorder.prompts("analyze")
    assert "# The demo project" in analyze and "app.py" in analyze
    assert result.outputs["analysis_report"] == result.steps["analyze"].output


def test_mcp_github_and_slack_servers_named_like_gorgons(runner: Runner, store: Store, home: Path,
                                                          tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    report = tmp_path / "report.txt"
    report.write_text("Sales rose 4%.\n", encoding="utf-8")
    declare(home, {"github": fake_mcp(log), "slack": fake_mcp(log),
                   "filesystem": {"command": npm_server("filesystem"), "args": [str(tmp_path)]}})
    runner = Runner(load_config(), store)
    pr = run(runner, store, Workflow.from_file(FIXTURES / "examples" / "mcp_github_pr.yaml"),
             {"repo": "octo/demo", "pr_number": "7"})
    assert pr.status is RunStatus.SUCCEEDED, pr.error
    multi = run(runner, store, Workflow.from_file(FIXTURES / "examples" / "mcp_multi_server.yaml"),
                {"report_path": str(report)})
    assert multi.status is RunStatus.SUCCEEDED, multi.error
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["tool"] for c in calls] == ["get_pull_request", "get_pull_request_diff", "send_message"]
    assert calls[0]["arguments"] == {"owner": "octo", "repo": "demo", "pull_number": "7"}
    assert calls[2]["arguments"]["channel"] == "#reports"
    assert calls[2]["arguments"]["text"] == multi.steps["summarize"].output


def test_conditions_pick_the_reviews_and_the_summary_still_runs(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    code = codebase(tmp_path)
    result = run(runner, store, Workflow.from_file(FIXTURES / "code-review.yaml"),
                 {"code_path": str(code / "app.py"), "review_focus": "security"})
    assert result.status is RunStatus.SUCCEEDED, result.error
    status = {key: step.status for key, step in result.steps.items()}
    assert status["security_review"] is StepStatus.SUCCEEDED
    assert status["performance_review"] is status["quality_review"] is StepStatus.SKIPPED
    assert status["summarize"] is StepStatus.SUCCEEDED  # a skipped step before it does not skip it
    [security] = recorder.prompts("security_review")
    assert "return a + b" in security  # ${code_content}: the shell step's stdout


FLAKY = """\
name: Flaky Checks
steps:
  - id: lint
    type: shell
    params: {command: "echo 'E501 line too long' >&2; exit 3"}
    outputs: [lint_report]
    on_failure: skip
    max_retries: 1
  - id: tolerated
    type: shell
    params: {command: "echo partial; exit 4", allow_failure: true}
    outputs: [partial, returncode]
    max_retries: 0
  - id: probe
    type: shell
    params: {command: "exit 9"}
    outputs: [probe_out]
    on_failure: continue_with_default
    default_output: {stdout: "no probe"}
    max_retries: 0
  - id: summary
    type: claude_code
    params: {role: reporter, prompt: "Lint: ${lint_report}. Partial: ${partial} (exit ${returncode}). ${probe_out}"}
    outputs: [summary]
outputs: [summary, returncode]
"""


def test_on_failure_skip_and_allow_failure(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    path = tmp_path / "flaky.yaml"
    path.write_text(FLAKY, encoding="utf-8")
    result = run(runner, store, Workflow.from_file(path), {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    lint = result.steps["lint"]
    assert lint.status is StepStatus.SKIPPED and lint.attempts == 2  # max_retries: 1
    assert "exited with status 3: E501 line too long" in (lint.error or "")
    assert result.steps["tolerated"].output == {"stdout": "partial\n", "stderr": "", "returncode": 4}
    [summary] = recorder.prompts("summary")
    assert "Lint: . Partial: partial\n (exit 4). no probe" in summary  # a skipped step's output is empty
    assert result.steps["probe"].status is StepStatus.FAILED and result.steps["probe"].output == {"stdout": "no probe"}
    assert result.outputs["returncode"] == 4


INDEXED = """\
name: Indexed
steps:
  - id: each
    type: fan_out
    params:
      items: ["alpha", "beta", "gamma"]
      max_concurrent: 1
      step_template:
        type: openai
        params: {prompt: "Item ${index}: ${item}"}
    outputs: [results]
outputs: [results]
"""


def test_fan_out_gives_each_item_its_index(runner: Runner, store: Store, tmp_path: Path) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    path = tmp_path / "indexed.yaml"
    path.write_text(INDEXED, encoding="utf-8")
    result = run(runner, store, Workflow.from_file(path), {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert recorder.prompts("each") == ["Item 0: alpha", "Item 1: beta", "Item 2: gamma"]  # one at a time, in order
    assert len(result.outputs["results"]) == 3


WRITER = """\
name: Writer
inputs:
  - name: feature
    type: string
steps:
  - id: build
    type: claude_code
    params:
      role: builder
      prompt: 'Implement ${feature} with files_write_file {"path": "feature.py", "content": "x = 1\\n"}'
    outputs: [code]
  - id: review
    type: claude_code
    params: {role: reviewer, prompt: "Review ${code}"}
"""


def test_a_gorgon_builder_writes_files_in_the_workflows_folder_once_approved(runner: Runner, store: Store,
                                                                             tmp_path: Path) -> None:
    path = tmp_path / "writer.yaml"
    path.write_text(WRITER, encoding="utf-8")
    workflow = Workflow.from_file(path)
    build, review = workflow.spec.steps
    assert getattr(build, "tools", None) == ["files"] and getattr(review, "tools", None) is None
    assert store.path is not None
    with Approver(store.path) as approver:
        result = runner.run(workflow, {"feature": "a flag"}, model="offline")  # no shell: no consent needed
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert (tmp_path / "feature.py").read_text(encoding="utf-8") == "x = 1\n"
    [asked] = approver.seen
    assert "feature.py" in asked.preview
    assert [(r.tool, r.state) for r in store.tools.of_run(result.run_id)] == [("files.write_file", "done")]

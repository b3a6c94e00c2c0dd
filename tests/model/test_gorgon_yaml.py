"""Gorgon's YAML workflows (the 24 files its repository ships) converted to the native format."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import env_without_keys

from gorgon_nb.cli.convert import native_yaml
from gorgon_nb.config import Config
from gorgon_nb.engine.templating import compile_expression, compile_template
from gorgon_nb.errors import Problem, WorkflowError
from gorgon_nb.model import gorgon_yaml
from gorgon_nb.model.gorgon_text import Scope, condition, substitute
from gorgon_nb.steps.agent import AgentStep
from gorgon_nb.steps.approval import ApprovalStep
from gorgon_nb.steps.llm import LLMStep
from gorgon_nb.steps.mcp import MCPStep
from gorgon_nb.steps.python import PythonStep
from gorgon_nb.steps.shell import ShellStep
from gorgon_nb.workflow import Workflow

FIXTURES = Path(__file__).parent / "gorgon_fixtures" / "yaml"
GORGON = Path(sys.executable).with_name("gorgon")
# sha256 of each file as Gorgon's repository has it: the copies may not drift
SHA256 = {
    "3d-asset-build.yaml": "ba86e93763788f2094d0f80f16fa9fcb4fa357fc6680dfabf6d6ff38ec1d98a4",
    "blender-addon.yaml": "ed4afac878d7f7893f3abeaeb634ee4cb4016c3e450861085d9678f9d7f31886",
    "bug-fix.yaml": "74400062dc5f3216f66122ffdadbdc33755a0e40f155656cc06fdb143e158627",
    "code-migration.yaml": "158351d406333d5983cc4ade4970950be894fe47026e006ef20956602dc10011",
    "code-review.yaml": "025cadf01257b66733b1f46cf0fd407ddba9c88bc0d744cccc30cb840aeecf7e",
    "data-analysis.yaml": "f567c8df795dd71b968e1d3aba4afda7630c11e576530380bd70ee0af56ece5c",
    "decision-support.yaml": "c097a3c0bc5ea3af3629f07f2aca053fd49f13430c85605244dcf19a4ab72b14",
    "documentation-gen.yaml": "c8366165328c43d2407e985761c5af23e455f24ebbd98755fe33ae25ea1ba71e",
    "feature-build.yaml": "a7445afba96648f98dd812306f8eb4da24229989e0c19ecd16b5c11116257463",
    "game-character-setup.yaml": "54501316ddd233b0fe64b46694d55c29ad92822327e1616b9ce6bb6c3f71702d",
    "infrastructure-setup.yaml": "4664c78a4da1c7da2950d7e4b32ac8b2a6ae319f608743840c08cb77875b63b6",
    "parallel-analysis.yaml": "ab4474f9121b3823fcec992683f6ca0c9cfefda0f73ea1849eec359c050b2d1a",
    "refactor.yaml": "fb8a20b7dc9fd84f7150f0dcd9b09c928a235d9804e64b0d4d73a7747f315653",
    "security-audit.yaml": "3ecd0eb473fb03e4a9471680678f4d72ac55a75c804f22a11e10a0c7d79b46b8",
    "test-generator.yaml": "0416274288ee6df46a4e1423025ba675262b1f0db2253b269139b377849d87c2",
    "threejs-scene.yaml": "9c14911c30f3d368faaa0206ff195989577d3e5beb9cd0476b8b5b1ee75cc3d8",
    "unity-shader-pipeline.yaml": "c9e10adad1e5b76b7038bd6a11fd350cf6d4fe463fba0bf614d3778fffcd4abc",
    "vfx-particle-system.yaml": "c5733c2c681868012978571d4af444abcaedccc36bbdcc66f18be61fde01bf33",
    "examples/auto_parallel_pipeline.yaml": "4d2e33a3c7cab8f8f3fbf7c9d32d9e125445c4ceccb7f82fc21e44b1eb09f742",
    "examples/fan_out_code_review.yaml": "cb465c8b8e4a93910a9b3b85205bfd74b9e40a8b1554da8a39d4b6995e5a34a6",
    "examples/map_reduce_analysis.yaml": "34d6ebb05cf7cc6675011598556aad75da55048804d74ccb50e6984dd96ee366",
    "examples/mcp_filesystem.yaml": "878890d586fd0db2d4c92feef5816e37d309ad4b3f12d5d8f25910ce728a53ad",
    "examples/mcp_github_pr.yaml": "f2429c0d2276f3692d3e9a3c1c16721f9d61e629c528ee23f69c51f36af0a433",
    "examples/mcp_multi_server.yaml": "827bec63f6e3fc12af8d9b29ab9e3c905032ff10237432c9fd631da228791e5c",
}
FILES = sorted(FIXTURES.rglob("*.yaml"))
MCP = {"mcp_filesystem.yaml": ["filesystem"], "mcp_github_pr.yaml": ["github"],
       "mcp_multi_server.yaml": ["filesystem", "slack"]}


def gorgon(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**env_without_keys(), "GORGON_HOME": str(home), "COLUMNS": "400"}  # one problem a line
    return subprocess.run([str(GORGON), *args], capture_output=True, text=True, env=env, timeout=120)


def with_servers(home: Path, names: list[str]) -> Config:
    from gorgon_nb.config import load_config

    lines = [f'[mcp.servers.{name}]\ncommand = "{sys.executable}"\nargs = ["-c", "pass"]' for name in names]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config()


def problems_of(text: str, config: Config | None = None) -> list[Problem]:
    try:
        return Workflow.from_yaml(text, path="flow.yaml").problems(config)
    except WorkflowError as exc:
        return exc.problems


def test_the_fixtures_are_gorgons_files_byte_for_byte() -> None:
    found = {str(p.relative_to(FIXTURES)): hashlib.sha256(p.read_bytes()).hexdigest() for p in FILES}
    assert found == SHA256


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_is_detected_converted_and_valid(path: Path, home: Path) -> None:
    data = yaml.safe_load(path.read_bytes())
    assert gorgon_yaml.is_gorgon_yaml(data)
    config = with_servers(home, MCP.get(path.name, []))
    workflow = Workflow.from_file(path)
    assert workflow.problems(config) == []
    assert workflow.name == data["name"] and workflow.description == data["description"]
    assert workflow.id == gorgon_yaml.slug(data["name"])
    declared = data["inputs"] if isinstance(data["inputs"], dict) else {i["name"]: i for i in data["inputs"]}
    assert list(workflow.spec.inputs) == list(declared)
    names = [o["name"] if isinstance(o, dict) else o for o in data["outputs"]]
    assert list(workflow.spec.outputs or {}) == names
    if "token_budget" in data:
        assert workflow.spec.budget is not None and workflow.spec.budget.max_tokens == data["token_budget"]
        assert workflow.spec.timeout == data["timeout_seconds"]
    assert workflow.spec.allow_code == ("type: shell" in path.read_text(encoding="utf-8"))


def test_names_and_types_of_the_top_level() -> None:
    assert gorgon_yaml.slug("Feature Build") == "feature_build"
    assert gorgon_yaml.slug("Three.js Scene Builder") == "three_js_scene_builder"
    assert gorgon_yaml.slug("3D Asset Build") == "_3d_asset_build"
    workflow = Workflow.from_file(FIXTURES / "feature-build.yaml")
    spec = workflow.spec
    assert spec.inputs["feature_request"].is_required and spec.inputs["codebase_path"].is_required
    assert not spec.inputs["test_command"].is_required and spec.inputs["test_command"].default == "pytest"
    listed = Workflow.from_file(FIXTURES / "examples" / "fan_out_code_review.yaml").spec.inputs
    assert listed["files"].type == "list" and listed["files"].is_required
    assert listed["review_criteria"].default == "security, performance, maintainability"


def test_steps_follow_the_list_and_a_skipped_step_skips_only_itself() -> None:
    spec = Workflow.from_file(FIXTURES / "feature-build.yaml").spec
    ids = [s.id for s in spec.steps]
    assert ids == ["plan", "build", "checkpoint_after_build", "test", "run_tests", "review"]
    for before, step in zip(spec.steps, spec.steps[1:], strict=False):
        assert step.depends_on == [before.id]
    assert [s.when for s in spec.steps[:5]] == [True] * 5
    review = spec.steps[5]
    assert review.when == ('{{ (steps.run_tests.output or {}).get("stdout") is sequence and '
                           '(steps.run_tests.output or {}).get("stdout") is not mapping and '
                           '"passed" in (steps.run_tests.output or {}).get("stdout") }}')
    assert review.on_failure == "skip"
    build = spec.steps[1]
    assert isinstance(build, AgentStep) and build.agent == "builder" and build.tools == ["files", "shell"]
    assert build.retry is not None and build.retry.attempts == 3  # max_retries: 2
    assert spec.steps[0].retry is not None and spec.steps[0].retry.attempts == 4  # Gorgon's default 3 retries
    shell = spec.steps[4]
    assert isinstance(shell, ShellStep) and shell.capture == "all" and shell.timeout == 300
    assert shell.shell == "cd {{ (inputs.codebase_path) | shell_quote }} && {{ (inputs.test_command) | shell_quote }}"


def test_roles_gorgon_names_differently_are_mapped() -> None:
    spec = Workflow.from_file(FIXTURES / "examples" / "auto_parallel_pipeline.yaml").spec
    by_id = {s.id: s for s in spec.steps}
    assert isinstance(by_id["security_scan"], AgentStep) and by_id["security_scan"].agent == "security_auditor"
    llm = by_id["architecture_review"]
    assert isinstance(llm, LLMStep) and llm.model == "openai:gpt-4"
    assert by_id["security_scan"].depends_on == [] and by_id["risk_assessment"].depends_on == [
        "security_scan", "dependency_audit"]


def test_mcp_steps_take_the_server_tool_and_arguments() -> None:
    spec = Workflow.from_file(FIXTURES / "examples" / "mcp_github_pr.yaml").spec
    get_pr = spec.steps[0]
    assert isinstance(get_pr, MCPStep) and get_pr.mcp == "github/get_pull_request"
    assert get_pr.with_ == {"owner": "{{ (inputs.repo | string).split(\"/\")[0] }}",
                            "repo": "{{ (inputs.repo | string).split(\"/\")[1] }}",
                            "pull_number": "{{ inputs.pr_number }}"}


@pytest.mark.parametrize(("text", "expected"), [
    ("Feature: ${topic}", "Feature: {{ inputs.topic }}"),
    ("${topic}", "{{ inputs.topic }}"),
    ("unknown ${nothing} stays", "unknown ${nothing} stays"),
    ("GitHub's ${{ secrets.TOKEN }} and {% raw %} {# x #}",
     "GitHub's ${{ '{{' }} secrets.TOKEN }} and {{ '{%' }} raw %} {{ '{#' }} x #}"),
    ("owner ${topic.split('/')[0]}", "owner {{ (inputs.topic | string).split(\"/\")[0] }}"),
])
def test_dollar_names_become_native_expressions(text: str, expected: str) -> None:
    scope = Scope({"topic": "inputs.topic"})
    assert substitute(text, scope) == expected
    rendered = compile_template(expected).render({"inputs": {"topic": "CSV/x"}})
    gorgon_would = text.replace("${topic.split('/')[0]}", "CSV").replace("${topic}", "CSV/x")
    assert rendered == gorgon_would  # what Gorgon made of it, Jinja openers included


@pytest.mark.parametrize(("op", "value", "actual", "holds"), [
    ("equals", "a", "a", True), ("equals", "a", "b", False), ("not_equals", "", "x", True),
    ("contains", "passed", "3 passed", True), ("contains", "passed", 3, False), ("contains", "x", ["x"], True),
    ("greater_than", 5, 6, True), ("greater_than", 5, "6", False), ("less_than", 80, 70, True),
    ("in", ["all", "api"], "api", True), ("in", ["all", "api"], "cli", False), ("in", 3, 3, False),
    ("not_empty", None, ["soc2"], True), ("not_empty", None, [], False), ("equals", True, None, False),
])
def test_conditions_keep_gorgons_operators(op: str, value: Any, actual: Any, holds: bool) -> None:
    when = condition("field", op, value, Scope({"field": "inputs.field"}))
    if when is False:
        assert not holds
        return
    assert isinstance(when, str)
    assert bool(compile_expression(when).evaluate({"inputs": {"field": actual}})) is holds


def test_a_condition_on_a_name_nothing_sets_is_false() -> None:
    assert condition("approved", "equals", True, Scope({})) is False


BROKEN = """\
name: Broken
inputs:
  topic: {type: string, required: true}
steps:
  - id: first
    type: claude_code
    params: {role: planner, prompt: "${topic}"}
  - id: second
    type: telepathy
    params: {}
  - id: third
    type: claude_code
    depends_on: [frist]
    condition: {field: topic, operator: resembles, value: x}
    params: {role: reviewer, prompt: "x"}
  - id: fourth
    type: branch
    params: {}
"""


def test_every_problem_names_its_line_and_what_to_do() -> None:
    problems = {p.message: p for p in problems_of(BROKEN)}
    unknown = problems["unknown step type 'telepathy'"]
    assert unknown.line == 9 and "claude_code, fan_in" in unknown.hint
    depends = problems["depends_on names no step 'frist'"]
    assert depends.line == 13 and "did you mean 'first'" in depends.hint
    operator = problems["unknown condition operator 'resembles'"]
    assert operator.line == 14 and "equals" in operator.hint and "not_empty" in operator.hint
    branch = problems["Gorgon's 'branch' steps are not supported"]
    assert branch.line == 17 and "'when' condition" in branch.hint


def test_an_unconfigured_mcp_server_says_what_to_put_in_config(config: Config) -> None:
    [problem] = [p for p in problems_of((FIXTURES / "examples" / "mcp_github_pr.yaml").read_text(), config)
                 if p.field == "get_pr.mcp"]
    assert problem.line == 24  # server: "github"
    assert "Add [mcp.servers.github] with command (and args) or url to" in problem.message


def test_gorgon_validate_takes_the_files_as_they_are(home: Path) -> None:
    files = [str(FIXTURES / name) for name in ("feature-build.yaml", "parallel-analysis.yaml")]
    done = gorgon(home, "validate", *files, str(FIXTURES / "examples" / "fan_out_code_review.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "feature_build, 6 steps" in done.stdout and "fan_out_code_review, 2 steps" in done.stdout
    mcp = gorgon(home, "validate", str(FIXTURES / "examples" / "mcp_multi_server.yaml"))
    assert mcp.returncode == 2
    assert "mcp_multi_server.yaml:23: read_report.mcp: no MCP server 'filesystem' is declared" in mcp.stdout
    assert "Add [mcp.servers.slack] with command (and args) or url to" in mcp.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_convert_prints_native_yaml_that_validates(path: Path, home: Path) -> None:
    data = yaml.safe_load(path.read_bytes())
    native, _ = gorgon_yaml.convert(data, None)
    text = native_yaml(native, path.name)
    assert not gorgon_yaml.is_gorgon_yaml(yaml.safe_load(text))
    config = with_servers(home, MCP.get(path.name, []))
    assert Workflow.from_yaml(text, path=str(home / "converted.yaml")).problems(config) == []


def test_gorgon_convert_writes_the_file_and_notes_what_needs_attention(home: Path) -> None:
    out = home / "pr.yaml"
    done = gorgon(home, "convert", str(FIXTURES / "examples" / "mcp_github_pr.yaml"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert "# MCP servers to declare in config.toml: [mcp.servers.github]" in text
    assert yaml.safe_load(text)["steps"][0]["mcp"] == "github/get_pull_request"
    printed = gorgon(home, "convert", str(FIXTURES / "feature-build.yaml"))
    assert printed.returncode == 0 and "allow_code: true" in printed.stdout
    assert "# allow_code: the file runs shell commands; a run also needs --allow-code" in printed.stdout


GATED = """\
name: Gated Release
inputs:
  - name: notes
    type: string
steps:
  - id: draft
    type: openai
    params: {model: gpt-4o-mini, prompt: "Release notes from ${notes}", system_prompt: "Be brief."}
    outputs: [draft_text]
  - id: sign_off
    type: approval
    params: {prompt: "Publish these notes?", preview_from: [draft]}
  - id: gather
    type: fan_in
    params: {input: "${notes_list}", aggregation: concat}
    on_failure: continue_with_default
    default_output: {response: "nothing"}
    max_retries: 0
"""


def test_approval_openai_and_fan_in_steps() -> None:
    spec = Workflow.from_yaml(GATED, path="gated.yaml").spec
    draft, sign_off, gather = spec.steps
    assert isinstance(draft, LLMStep) and draft.model == "openai:gpt-4o-mini" and draft.system == "Be brief."
    assert draft.llm == "Release notes from {{ inputs.notes }}"
    assert isinstance(sign_off, ApprovalStep) and sign_off.retry is None
    assert sign_off.approval == "Publish these notes?" and sign_off.preview == "{{ steps.draft.output }}"
    assert isinstance(gather, PythonStep) and gather.on_failure == "continue" and gather.default == "nothing"
    assert gather.retry is None  # max_retries: 0
    assert gather.args == {"object": "{{ [] | join(\"\\n\") }}"}  # ${notes_list} names nothing


@pytest.mark.parametrize(("text", "message", "line"), [
    ("name: x\nsteps: {a: 1}\ntoken_budget: 5\n", "'steps' must be a list of steps", 2),
    ("name: x\ninputs:\n  - type: string\nsteps:\n  - {id: a, type: shell, params: {command: ls}}\n",
     "an input in the list form needs a 'name'", 3),
    ("name: x\nsteps:\n  - type: shell\n    params: {command: ls}\n", "the step needs an 'id' (a name for it)", 3),
    ("name: x\nsteps:\n  - id: a\n    type: shell\n    params: {}\n", "a shell step needs 'command' in its params", 5),
    ("name: x\nsteps:\n  - id: a\n    type: shell\n    params: {command: ls}\n    on_failure: explode\n",
     "unknown on_failure 'explode'", 6),
    ("name: x\nsteps:\n  - id: a\n    type: fan_out\n    params: {items: [1], step_template: {type: poll}}\n",
     "fan_out needs a 'step_template' with a type and params", 5),
    ("name: x\nsteps:\n  - id: a\n    type: fan_out\n    params: {items: [1], step_template: {type: parallel}}\n",
     "fan_out needs a 'step_template' with a type and params", 5),
    ("name: x\nsteps:\n  - id: a\n    type: fan_out\n    params: {items: 3, step_template: {type: shell}}\n",
     "items must be a list or '${name}' of a list, not 3", 5),
])
def test_bad_gorgon_files_get_a_clear_error(text: str, message: str, line: int) -> None:
    found = {p.message: p.line for p in problems_of(text)}
    assert found.get(message) == line, found


def test_a_gorgon_workflow_written_as_json_converts_too() -> None:
    text = '{"name": "Json Shaped", "steps": [{"id": "a", "type": "claude_code", "params": {"prompt": "hi"}}]}'
    workflow = Workflow.from_json(text, path="flow.json")
    assert workflow.id == "json_shaped"
    [step] = workflow.spec.steps
    assert isinstance(step, AgentStep) and step.agent == "builder" and step.task == "hi"  # Gorgon's default role


def test_native_workflows_are_not_taken_for_gorgons() -> None:
    assert not gorgon_yaml.is_gorgon_yaml({"id": "x", "steps": [{"id": "a", "agent": "planner"}]})
    assert not gorgon_yaml.is_gorgon_yaml({"name": "x", "steps": [{"id": "a", "agent": "planner"}]})
    assert gorgon_yaml.is_gorgon_yaml({"id": "x", "token_budget": 5, "steps": [{"id": "a", "type": "shell"}]})


def test_gorgon_run_needs_your_consent_for_shell_steps(home: Path, tmp_path: Path) -> None:
    path = str(FIXTURES / "code-review.yaml")
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    refused = gorgon(home, "run", path, "-v", f"code_path={tmp_path / 'app.py'}", "--model", "offline", "-q")
    assert refused.returncode == 2
    assert "runs code on this machine" in refused.stderr and "--allow-code" in refused.stderr
    done = gorgon(home, "run", path, "-v", f"code_path={tmp_path / 'app.py'}", "--model", "offline",
                  "--allow-code", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    steps = {step["key"]: step for step in result["steps"]}
    assert steps["read_code"]["output"]["stdout"] == "print('hi')\n"
    assert [key for key, step in steps.items() if step["status"] == "succeeded"] == [
        "read_code", "security_review", "performance_review", "quality_review", "summarize"]


def test_gorgon_convert_takes_gorgons_json_and_refuses_a_native_file(home: Path) -> None:
    json_file = FIXTURES.parent / "dev_workflow_plan_build_test_review.json"
    done = gorgon(home, "convert", str(json_file))
    assert done.returncode == 0, done.stderr
    converted = Workflow.from_yaml(done.stdout, path=str(home / "converted.yaml"))
    assert converted.problems() == [] and converted.id == "dev_workflow_plan_build_test_review"
    native = home / "native.yaml"
    native.write_text(done.stdout, encoding="utf-8")
    refused = gorgon(home, "convert", str(native))
    assert refused.returncode == 2 and done.stdout not in refused.stdout
    assert "it is native already" in refused.stderr and "native.yaml" in refused.stderr

"""Validation before anything runs: every problem, with its file, line, field and hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from gorgon_nb.config import Config
from gorgon_nb.errors import Problem, WorkflowError
from gorgon_nb.workflow import Workflow, check_text


def problems(text: str, config: Config, tmp_path: Path) -> list[Problem]:
    file = tmp_path / "wf.yaml"
    file.write_text(text)
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_file(file).compile(config)
    found = check_text(text, path=file, config=config)
    assert all(p.file is not None and Path(p.file).parent == tmp_path for p in found)
    assert set(found) >= set(caught.value.problems)
    return found


def only(text: str, config: Config, tmp_path: Path) -> Problem:
    found = problems(text, config, tmp_path)
    assert len(found) == 1, found
    return found[0]


def test_malformed_yaml_points_at_the_line(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: a\n    agent: planner\n   task: [\n", config, tmp_path)
    assert problem.message.startswith("invalid YAML")
    assert problem.line == 5
    assert "indentation" in problem.hint


def test_unknown_key_suggests_the_right_one(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: plan\n    agent: planner\n    tsak: do it\n", config, tmp_path)
    assert (problem.field, problem.line) == ("plan.tsak", 5)
    assert problem.message == "unknown key 'tsak'"
    assert problem.hint == "did you mean 'task'?"


def test_unknown_top_level_key(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nstepz: []\nsteps:\n  - id: a\n    llm: hi\n", config, tmp_path)
    assert (problem.field, problem.line, problem.hint) == ("stepz", 2, "did you mean 'steps'?")


def test_step_without_a_kind_and_with_two(config: Config, tmp_path: Path) -> None:
    found = problems("id: x\nsteps:\n  - id: a\n    task: t\n  - id: b\n    agent: planner\n    llm: hi\n",
                     config, tmp_path)
    assert [p.line for p in found] == [3, 5]
    assert found[0].message == "this step has no kind" and "agent: planner" in found[0].hint
    assert "agent and llm" in found[1].message


def test_cycle_is_reported_with_its_path(config: Config, tmp_path: Path) -> None:
    text = """id: x
steps:
  - id: a
    llm: "{{ steps.c.output }}"
  - id: b
    llm: "{{ steps.a.output }}"
  - id: c
    llm: "{{ steps.b.output }}"
"""
    problem = only(text, config, tmp_path)
    assert problem.message.startswith("dependency cycle: ")
    cycle = problem.message.removeprefix("dependency cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert "loop step" in problem.hint


def test_reference_to_a_missing_step_and_input(config: Config, tmp_path: Path) -> None:
    text = """id: x
inputs:
  topic: {type: string}
steps:
  - id: plan
    agent: planner
    task: "{{ inputs.topik }}"
  - id: build
    agent: builder
    context: "{{ steps.plann.output }}"
    depends_on: [nowhere]
"""
    found = {p.message: p for p in problems(text, config, tmp_path)}
    assert found["unknown input 'topik'"].hint == "did you mean 'topic'?"
    assert found["unknown input 'topik'"].line == 7
    assert found["unknown step 'plann'"].hint == "did you mean 'plan'?"
    assert found["unknown step 'plann'"].line == 10
    assert found["unknown step 'nowhere'"].field == "build.depends_on"


def test_bare_input_name_gets_a_hint(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\ninputs: {topic: t}\nsteps:\n  - id: a\n    llm: '{{ topic }}'\n", config, tmp_path)
    assert problem.message == "unknown name 'topic' in template"
    assert problem.hint == "inputs are written inputs.topic"


def test_unknown_role_lists_known_ones(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: a\n    agent: planer\n", config, tmp_path)
    assert problem.message == "unknown role 'planer'"
    assert problem.hint.startswith("did you mean 'planner'?")
    problem = only("id: x\nsteps:\n  - id: a\n    agent: wizard\n", config, tmp_path)
    for role in ("analyst", "builder", "planner", "reviewer"):
        assert role in problem.hint


def test_unknown_model_provider(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: a\n    llm: hi\n    model: antropic:claude-x\n", config, tmp_path)
    assert (problem.field, problem.line) == ("a.model", 5)
    assert "unknown provider 'antropic'" in problem.message and "anthropic" in problem.message


def test_duplicate_ids_and_self_reference(config: Config, tmp_path: Path) -> None:
    found = problems("id: x\nsteps:\n  - id: a\n    llm: hi\n  - id: a\n    llm: '{{ steps.a.output }}'\n",
                     config, tmp_path)
    assert "duplicate step id 'a'" in [p.message for p in found]


def test_shell_steps_need_the_workflow_to_allow_code(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: a\n    shell: echo hi\n", config, tmp_path)
    assert problem.field == "a.shell" and problem.line == 4
    assert problem.message == ("this step runs the shell command 'echo hi', which runs code on this machine, and "
                               "the workflow does not allow code")
    assert "allow_code: true" in problem.hint and "--allow-code" in problem.hint
    for consent in ("allow_code", "allow_shell"):  # allow_shell: the older spelling
        compiled = Workflow.from_yaml(f"id: x\n{consent}: true\nsteps:\n  - id: a\n    shell: echo hi\n").compile(config)
        assert [str(use) for use in compiled.code_uses] == ["step 'a' runs the shell command 'echo hi'"]


def test_template_syntax_error(config: Config, tmp_path: Path) -> None:
    problem = only("id: x\nsteps:\n  - id: a\n    llm: '{{ inputs.x '\n", config, tmp_path)
    assert "template syntax error" in problem.message and problem.line == 4


def test_loop_body_steps_are_reached_through_the_loop(config: Config, tmp_path: Path) -> None:
    text = """id: x
steps:
  - id: rounds
    loop:
      - id: fix
        agent: builder
      - id: verify
        agent: tester
        context: "{{ steps.fix.output }} round {{ loop.round }}"
    until: "steps.verify.output != ''"
  - id: note
    agent: documenter
    context: "{{ steps.verify.output }}"
"""
    problem = only(text, config, tmp_path)
    assert problem.message == "step 'verify' is inside loop 'rounds'"
    assert problem.hint == "read its last round as steps.rounds.output.verify"


def test_every_problem_is_reported_at_once(config: Config, tmp_path: Path) -> None:
    text = """id: x
steps:
  - id: a
    agent: nobody
  - id: b
    llm: "{{ steps.zzz.output }}"
    colour: red
  - id: c
    llm: "{{ steps.b.output }} {{ steps.a.output }} {{ inputs.nope }}"
"""
    found = problems(text, config, tmp_path)
    assert [(p.line, p.message) for p in found] == [
        (4, "unknown role 'nobody'"),
        (6, "unknown step 'zzz'"),
        (7, "unknown key 'colour'"),
        (9, "unknown input 'nope'"),
    ]


def test_dependencies_come_from_templates_and_depends_on(config: Config) -> None:
    text = """id: x
steps:
  - id: a
    llm: one
  - id: b
    llm: two
  - id: c
    llm: "{{ steps.a.output }} and {{ steps['b'].output }}"
  - id: d
    llm: four
    depends_on: c
"""
    graph = Workflow.from_yaml(text).compile(config).graph
    assert graph.nodes["a"].deps == () and graph.nodes["b"].deps == ()
    assert graph.nodes["c"].deps == ("a", "b")
    assert graph.nodes["d"].deps == ("c",)
    assert graph.dependants["a"] == ("c",)


def test_loop_depends_on_outer_steps_its_body_reads(config: Config) -> None:
    text = """id: x
steps:
  - id: spec
    llm: s
  - id: rounds
    loop:
      - id: fix
        llm: "{{ steps.spec.output }}"
    until: true
"""
    graph = Workflow.from_yaml(text).compile(config).graph
    assert graph.nodes["rounds"].deps == ("spec",)


def test_literal_braces_are_fine(config: Config) -> None:
    compiled = Workflow.from_yaml("id: x\nsteps:\n  - id: a\n    llm: 'Return {\"a\": 1} as JSON'\n").compile(config)
    assert compiled.graph.nodes["a"].templates["llm"].render({}) == 'Return {"a": 1} as JSON'


def test_content_hash_follows_the_text(config: Config) -> None:
    one = Workflow.from_yaml("id: x\nsteps:\n  - id: a\n    llm: one\n").compile(config)
    two = Workflow.from_yaml("id: x\nsteps:\n  - id: a\n    llm: two\n").compile(config)
    again = Workflow.from_yaml("id: x\nsteps:\n  - id: a\n    llm: one\n").compile(config)
    assert one.content_hash == again.content_hash != two.content_hash


def test_user_roles_from_the_config_file(home: Path) -> None:
    (home / "config.toml").write_text(
        '[roles.security_reviewer]\ndescription = "Reviews security"\nsystem_prompt = "You review security."\n')
    from gorgon_nb.config import load_config

    config = load_config()
    compiled = Workflow.from_yaml("id: x\nsteps:\n  - id: a\n    agent: security_reviewer\n").compile(config)
    assert compiled.graph.nodes["a"].step.agent == "security_reviewer"
    assert config.roles["security_reviewer"].system_prompt == "You review security."


def test_not_a_mapping(config: Config) -> None:
    with pytest.raises(WorkflowError, match="must be a mapping"):
        Workflow.from_yaml("- just\n- a list\n")


def test_sub_workflows_are_checked_too(config: Config, tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text("id: child\nsteps:\n  - id: a\n    agent: plnner\n")
    (tmp_path / "self.yaml").write_text("id: me\nsteps:\n  - id: again\n    workflow: self.yaml\n")
    text = "id: parent\nsteps:\n  - id: gone\n    workflow: nowhere.yaml\n  - id: sub\n    workflow: child.yaml\n"
    found = problems(text, config, tmp_path)
    assert [(Path(p.file or "").name, p.line, p.message) for p in found] == [
        ("wf.yaml", 4, "no workflow file at nowhere.yaml; check the path"),
        ("child.yaml", 4, "unknown role 'plnner'"),
    ]
    loop = check_text((tmp_path / "self.yaml").read_text(), path=tmp_path / "self.yaml", config=config)
    assert [p.message for p in loop] == ["'self.yaml' includes the workflow that runs it, so it would never end"]


def test_a_loop_step_cannot_take_for_each(config: Config, tmp_path: Path) -> None:
    text = "id: x\nsteps:\n  - id: l\n    for_each: '[1, 2]'\n    loop:\n      - id: a\n        llm: hi\n    until: true\n"
    problem = only(text, config, tmp_path)
    assert (problem.field, problem.message) == ("l.for_each", "a loop step cannot take for_each")


def test_an_invalid_json_schema_is_reported(config: Config, tmp_path: Path) -> None:
    text = "id: x\nsteps:\n  - id: a\n    llm: hi\n    output: json\n    schema: {type: objekt}\n"
    problem = only(text, config, tmp_path)
    assert (problem.field, problem.line) == ("a.schema", 6)
    assert problem.message.startswith("not a valid JSON schema at type:")

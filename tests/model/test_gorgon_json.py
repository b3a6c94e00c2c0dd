"""Gorgon's JSON workflows (the files its repositories shipped) converted to the native format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.engine.compile import compile_workflow
from gorgon_nb.engine.templating import compile_template
from gorgon_nb.errors import WorkflowError
from gorgon_nb.functions import extract, format_text
from gorgon_nb.model import gorgon_json
from gorgon_nb.model.gorgon_params import Names, rewrite
from gorgon_nb.model.source import SourceText, parse_source
from gorgon_nb.steps.agent import AgentStep
from gorgon_nb.steps.llm import LLMStep
from gorgon_nb.steps.python import PythonStep
from gorgon_nb.workflow import Workflow, bundled_workflows_dir

FIXTURES = Path(__file__).parent / "gorgon_fixtures"
ROOT = Path(__file__).resolve().parents[2]
ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))
LOADABLE = [
    "dev_workflow_plan_build_test_review",
    "analytics_pipeline",
    "simple_ai_completion",
    "multi_step_ai",
    "content_pipeline",
]
FUNCTIONS = "gorgon_nb.functions"


def load(name: str) -> tuple[dict[str, Any], SourceText]:
    path = FIXTURES / f"{name}.json"
    data, source = parse_source(path.read_text(encoding="utf-8"), path=str(path))
    return data, source


def convert(name: str) -> dict[str, Any]:
    data, source = load(name)
    native, _ = gorgon_json.convert(data, source)
    return native


def convert_text(text: str) -> tuple[dict[str, Any], SourceText]:
    data, source = parse_source(text, path="wf.json")
    native, new_source = gorgon_json.convert(data, source)
    assert new_source is not None
    return native, new_source


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth]


def by_id(native: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in native["steps"]}


def chain(native: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(step["id"], step.get("depends_on", [])) for step in native["steps"]]


def workflow(steps: list[dict[str, Any]], **top: Any) -> str:
    return json.dumps(
        {"id": "wf", "name": "WF", "description": "", **top, "steps": steps}, indent=2
    )


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_gorgon_file_is_detected(name: str) -> None:
    data, _ = load(name)
    assert gorgon_json.is_gorgon_json(data)


@pytest.mark.parametrize(
    "data",
    [
        {"id": "native", "steps": [{"id": "a", "agent": "planner", "task": "t"}]},
        {"id": "native", "inputs": {"x": "1"}, "steps": [{"id": "a", "llm": "hi"}]},
        {"id": "empty"},
        ["not", "a", "mapping"],
    ],
)
def test_native_shapes_are_not_gorgon(data: Any) -> None:
    assert not gorgon_json.is_gorgon_json(data)


@pytest.mark.parametrize(
    "data",
    [
        {"workflow_id": "w", "steps": []},
        {"id": "w", "variables": {}, "steps": []},
        {
            "id": "w",
            "steps": [{"step_id": "a", "step_type": "openai", "action": "generate_completion"}],
        },
    ],
)
def test_gorgon_markers(data: dict[str, Any]) -> None:
    assert gorgon_json.is_gorgon_json(data)


# -- the bundled agent workflows ---------------------------------------------------------------


def test_dev_workflow_becomes_a_chain_of_agents() -> None:
    native = convert("dev_workflow_plan_build_test_review")
    steps = by_id(native)
    assert native["id"] == "dev_workflow_plan_build_test_review"
    assert native["name"] == "Development Workflow: Plan → Build → Test → Review"
    assert [s["agent"] for s in native["steps"]] == ["planner", "builder", "tester", "reviewer"]
    assert chain(native) == [
        ("plan", []),
        ("build", ["plan"]),
        ("test", ["build"]),
        ("review", ["test"]),
    ]
    assert steps["plan"]["task"] == "{{ inputs.feature_request }}"
    assert steps["build"]["context"] == "{{ steps.plan.output }}"
    assert steps["test"]["task"] == "Write tests for: {{ inputs.feature_request }}"
    assert steps["review"]["context"] == "{{ steps.build.output }}"
    assert native["inputs"] == {
        "feature_request": {
            "type": "string",
            "required": False,
            "default": "Describe the feature to build",
        }
    }
    assert not any("when" in s for s in native["steps"])


def test_analytics_pipeline_keeps_embedded_references() -> None:
    steps = by_id(convert("analytics_pipeline"))
    assert [s["agent"] for s in steps.values()] == [
        "data_engineer",
        "analyst",
        "visualizer",
        "reporter",
    ]
    assert steps["report"]["context"] == (
        "Analysis:\n{{ steps.analyze.output }}\n\nVisualizations:\n{{ steps.visualize.output }}"
    )
    assert (
        steps["analyze"]["task"] == "Analyze the data and find insights for: {{ inputs.data_task }}"
    )
    assert steps["report"]["depends_on"] == ["visualize"]


@pytest.mark.parametrize("name", ["dev_workflow_plan_build_test_review", "analytics_pipeline"])
def test_bundled_files_are_gorgons_own(name: str) -> None:
    bundled = ROOT / "workflows" / f"{name}.json"
    assert bundled.read_text(encoding="utf-8") == (FIXTURES / f"{name}.json").read_text(
        encoding="utf-8"
    )
    assert (bundled_workflows_dir() / f"{name}.json").is_file()


@pytest.mark.parametrize("name", LOADABLE)
def test_loads_as_a_valid_native_workflow(name: str) -> None:
    wf = Workflow.from_file(FIXTURES / f"{name}.json")
    data, _ = load(name)
    assert wf.id == data.get("id", data.get("workflow_id"))
    assert [step.id for step in wf.spec.steps] == [
        s.get("id", s.get("step_id")) for s in data["steps"]
    ]
    assert all(isinstance(step, AgentStep | LLMStep) for step in wf.spec.steps)
    # Each step after the first waits for the one before it.
    assert [step.depends_on for step in wf.spec.steps[1:]] == [[s.id] for s in wf.spec.steps[:-1]]


@pytest.mark.parametrize("name", ["dev_workflow_plan_build_test_review", "analytics_pipeline"])
def test_bundled_workflows_load_by_name(name: str) -> None:
    wf = Workflow.load(name, search=[ROOT / "workflows"])
    assert wf.id == name
    assert all(isinstance(step, AgentStep) for step in wf.spec.steps)
    assert wf.spec.inputs[next(iter(wf.spec.inputs))].is_required is False


def test_loaded_agents_compile_against_the_gorgon_roles() -> None:
    wf = Workflow.from_file(FIXTURES / "analytics_pipeline.json")
    roles = {"data_engineer", "analyst", "visualizer", "reporter"}
    compiled = compile_workflow(wf.spec, source=wf.source, roles=roles)
    assert list(compiled.graph.nodes) == ["ingest", "analyze", "visualize", "report"]


# -- openai steps ------------------------------------------------------------------------------


def test_simple_completion_keeps_a_sole_reference_and_prefixes_the_model() -> None:
    (step,) = convert("simple_ai_completion")["steps"]
    assert step == {
        "id": "generate",
        "llm": "{{ inputs.prompt }}",
        "temperature": 0.7,
        "model": "openai:gpt-4o-mini",
    }
    wf = Workflow.from_file(FIXTURES / "simple_ai_completion.json")
    assert isinstance(wf.spec.steps[0], LLMStep)
    assert wf.spec.steps[0].model == "openai:gpt-4o-mini"
    assert compile_template(step["llm"]).sole_expression is not None


def test_second_dialect_runs_in_list_order() -> None:
    native = convert("multi_step_ai")
    assert native["id"] == "multi_step_ai"
    assert chain(native) == [
        ("brainstorm", []),
        ("evaluate", ["brainstorm"]),
        ("refine", ["evaluate"]),
    ]
    steps = by_id(native)
    assert steps["evaluate"]["llm"].startswith(
        "Evaluate these ideas and rank them by feasibility:\n\n{{ steps.brainstorm.output }}\n\n"
    )
    assert [s["max_tokens"] for s in native["steps"]] == [1000, 1500, 2000]
    assert {s["model"] for s in native["steps"]} == {"openai:gpt-4o-mini"}


def test_second_dialect_agent_prompt_is_its_task() -> None:
    steps = by_id(convert("content_pipeline"))
    assert steps["review"]["agent"] == "reviewer"
    assert steps["review"]["task"].startswith("Review this draft for:\n1. Clarity and flow")
    assert "{{ steps.draft.output }}" in steps["review"]["task"]
    assert steps["polish"]["llm"].count("{{ steps.draft.output }}") == 1
    assert "{{ steps.review.output }}" in steps["polish"]["llm"]
    assert steps["draft"]["llm"].endswith("Format: {{ inputs.format }}")


def test_generate_sop_uses_gorgons_prompt_and_github_becomes_an_integration() -> None:
    native = convert("generate_sop_to_github")
    sop, commit = native["steps"]
    assert sop == {
        "id": "generate_sop",
        "llm": "Create a detailed Standard Operating Procedure (SOP) for: {{ inputs.task_description }}",
        "system": "You are an expert at creating clear, detailed Standard Operating Procedures.",
    }
    assert commit == {
        "id": "commit_to_github",
        "github": "commit_file",
        "with": {
            "repo": "{{ inputs.repo_name }}",
            "path": "{{ inputs.file_path }}",
            "content": "{{ steps.generate_sop.output }}",
            "message": "Add SOP: {{ inputs.task_description }}",
            "branch": "main",
        },
        "depends_on": ["generate_sop"],
    }


@pytest.mark.parametrize("name", ["email_to_notion", "email_to_notion_example"])
def test_gmail_steps_map_onto_the_gmail_actions(name: str) -> None:
    data, source = load(name)
    native, located = gorgon_json.convert(data, source)
    steps = by_id(native)
    assert steps["fetch_email"] == {"id": "fetch_email", "gmail": "list_messages",
                                    "with": {"limit": 1, "query": "is:unread"}}
    assert steps["summarize"]["llm"].endswith("{{ steps.fetch_email.output }}")
    assert located is not None
    assert located.locations.line_of(("steps", 0, "with", "limit")) == line_of(source.text, '"max_results"')


def test_gmail_get_message_takes_gorgons_message_id() -> None:
    text = workflow([{"id": "read", "type": "gmail", "action": "get_message",
                      "params": {"message_id": "{{mail_id}}"}}], variables={"mail_id": "18c1"})
    native, _ = convert_text(text)
    assert by_id(native)["read"] == {"id": "read", "gmail": "get_message", "with": {"id": "{{ inputs.mail_id }}"}}


def test_summarize_uses_gorgons_prompt() -> None:
    text = workflow([{"id": "summarize", "type": "openai", "action": "summarize",
                      "params": {"text": "{{mail}}"}}], variables={"mail": "hello"})
    native, _ = convert_text(text)
    steps = by_id(native)
    assert steps["summarize"]["llm"] == (
        "Please provide a concise summary (max 500 words) of the following text:\n\n{{ inputs.mail }}"
    )
    assert steps["summarize"]["system"] == "You are a helpful assistant that creates clear, concise summaries."


def test_gorgon_integration_actions_become_native_ones() -> None:
    text = workflow([
        {"id": "post", "type": "slack", "action": "send_message",
         "params": {"channel": "ops", "text": "{{note}}", "message_type": "warning"}},
        {"id": "notify", "type": "slack", "action": "send_notification",
         "params": {"channel": "ops", "workflow_name": "Nightly", "status": "failed", "details": "disk full"}},
        {"id": "append", "type": "notion", "action": "append_to_page", "params": {"page_id": "p1", "content": "x"}},
        {"id": "issue", "type": "github", "action": "create_issue",
         "params": {"repo_name": "o/r", "title": "T", "body": "B"}},
    ], variables={"note": "careful"})
    native, _ = convert_text(text)
    steps = by_id(native)
    assert steps["post"]["slack"] == "post_message"
    assert steps["post"]["with"] == {"channel": "ops", "text": ":warning: {{ inputs.note }}"}
    assert steps["notify"]["with"] == {"channel": "ops", "text": ":x: **Nightly**: failed\n\ndisk full"}
    assert (steps["append"]["notion"], steps["append"]["with"]) == ("append_blocks", {"page_id": "p1", "content": "x"})
    assert steps["issue"]["with"] == {"repo": "o/r", "title": "T", "body": "B"}
    Workflow.from_json(text).compile()  # the native actions take exactly these parameters


# -- notion workflows: nested params, dotted paths, templated defaults --------------------------


def test_github_repos_to_notion() -> None:
    native = convert("github_repos_to_notion")
    steps = by_id(native)
    assert native["inputs"]["date"] == {
        "type": "string",
        "required": False,
        "default": "{{ today() }}",
    }
    assert steps["list_repos"] == {"id": "list_repos", "github": "list_repositories", "with": {"limit": 20}}
    props = steps["save_to_notion"]["with"]["properties"]
    assert props["Name"]["title"][0]["text"]["content"] == "GitHub Repos Status - {{ inputs.date }}"
    assert props["Status"] == {"select": {"name": "Active"}}
    assert steps["append_content"]["with"] == {
        "page_id": "{{ steps.save_to_notion.output.id }}",
        "content": "{{ steps.summarize_repos.output }}",
    }
    assert steps["summarize_repos"]["llm"].endswith(":\n\n{{ steps.list_repos.output }}")
    assert "model" not in steps["summarize_repos"]


def test_daily_standup() -> None:
    native = convert("daily_standup")
    steps = by_id(native)
    assert steps["get_in_progress"]["with"]["limit"] == 20  # Gorgon's page_size: the rows it returned
    assert [s.get("notion") or "llm" for s in native["steps"]] == [
        "query_database",
        "query_database",
        "llm",
        "create_page",
    ]
    assert steps["get_completed_yesterday"]["with"]["filter"] == {
        "property": "Status",
        "select": {"equals": "Done"},
    }
    assert steps["get_completed_yesterday"]["with"]["sorts"][0]["direction"] == "descending"
    assert steps["save_standup"]["with"]["title"] == "Standup - {{ inputs.date }}"
    assert "{{ steps.get_in_progress.output }}" in steps["generate_standup"]["llm"]
    assert native["inputs"]["date"]["default"] == "{{ today() }}"
    assert chain(native)[-1] == ("save_standup", ["generate_standup"])


def test_knowledge_capture() -> None:
    native = convert("knowledge_capture")
    steps = by_id(native)
    props = steps["create_notion_entry"]["with"]["properties"]
    assert props["Tags"] == {"multi_select": [{"name": "{{ inputs.category }}"}]}
    assert props["Name"]["title"][0]["text"]["content"] == "{{ steps.generate_title.output }}"
    assert steps["add_content"]["with"]["page_id"] == "{{ steps.create_notion_entry.output.id }}"
    assert native["inputs"]["topic"] == {"type": "string", "required": False, "default": ""}


def test_integration_lines_follow_the_params() -> None:
    text = (FIXTURES / "knowledge_capture.json").read_text(encoding="utf-8")
    data, source = parse_source(text, path="kc.json")
    _, converted = gorgon_json.convert(data, source)
    assert converted is not None
    lines = converted.locations
    assert lines.line_of(("steps", 3, "with", "page_id")) == line_of(text, '"page_id"')
    assert lines.line_of(("steps", 2, "with", "properties", "Tags")) == line_of(text, '"Tags"')
    assert lines.line_of(("steps", 2, "notion")) == line_of(text, '"create_database_entry"')


# -- unsupported steps -------------------------------------------------------------------------


def test_vdc_metrics_is_not_supported() -> None:
    text = (FIXTURES / "vdc_operations_analysis.json").read_text(encoding="utf-8")
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_json(text, path="vdc.json")
    (problem,) = caught.value.problems
    assert problem.file == "vdc.json"
    assert problem.line == line_of(text, '"vdc_metrics"')
    assert problem.field == "collect_metrics.action"
    assert "vdc_metrics" in problem.message
    assert problem.hint == "supported transform actions: extract, format, aggregate"


def test_unknown_types_and_actions_are_all_reported() -> None:
    text = workflow([
        {"id": "a", "type": "transform", "action": "pivot", "params": {}},
        {"id": "b", "type": "fax", "action": "send", "params": {}},
    ])
    data, source = parse_source(text, path="wf.json")
    with pytest.raises(WorkflowError) as caught:
        gorgon_json.convert(data, source)
    first, second = caught.value.problems
    assert (first.field, first.line) == ("a.action", line_of(text, '"pivot"'))
    assert (second.field, second.line) == ("b.type", line_of(text, '"fax"'))
    assert second.hint == "supported types: claude_code, github, gmail, notification, notion, openai, slack, transform"


def test_aggregate_reads_each_github_source_in_a_step_before_it() -> None:
    data, source = load("automated_reporting")
    data["steps"] = data["steps"][:2]  # the aggregate and the step reading it
    native, converted = gorgon_json.convert(data, source)
    assert converted is not None
    steps = by_id(native)
    read = steps["collect_metrics_1_github"]
    assert read == {"id": "collect_metrics_1_github", "github": "repository_activity",
                    "with": {"repo": "{{ inputs.github_repo }}", "metrics": ["commits", "prs", "issues"]}}
    aggregate = steps["collect_metrics"]
    assert aggregate["python"] == f"{FUNCTIONS}:aggregate"
    github, jira = aggregate["args"]["sources"]
    assert github["data"] == "{{ steps.collect_metrics_1_github.output }}"
    assert jira == {"type": "jira", "project": "{{ inputs.jira_project }}",
                    "metrics": ["completed", "in_progress", "blocked"]}  # no integration: nothing reads it
    # Gorgon's steps keep their places (and lines); the read goes after them
    assert [step["id"] for step in native["steps"]] == ["collect_metrics", "analyze_trends", "collect_metrics_1_github"]
    assert converted.locations.line_of(("steps", 2)) == line_of(source.text, '"type": "github"')
    Workflow.from_dict(native)  # a valid native workflow


def test_aggregate_keeps_what_it_could_not_read_and_says_why() -> None:
    from gorgon_nb.functions import aggregate

    out = aggregate([{"type": "github", "repo": "o/r", "data": {"commits": 3}},
                     {"type": "jira", "project": "P"}, {"type": "github", "repo": "o/s", "data": {"commits": 1}}])
    assert out["github"] == {"repo": "o/r", "data": {"commits": 3}}
    assert out["github_2"] == {"repo": "o/s", "data": {"commits": 1}}
    assert out["jira"]["project"] == "P"
    assert out["jira"]["unavailable"] == "gorgon-nb has no jira integration, so this source was not read"


# -- ordering ----------------------------------------------------------------------------------


def test_unreachable_steps_never_run() -> None:
    text = workflow(
        [
            {
                "id": "a",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "A"},
                "next_step": "c",
            },
            {
                "id": "b",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "B"},
                "next_step": "c",
            },
            {
                "id": "c",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "C"},
                "next_step": None,
            },
        ]
    )
    native, _ = convert_text(text)
    steps = by_id(native)
    assert steps["b"]["when"] is False
    assert "depends_on" not in steps["b"]
    assert steps["c"]["depends_on"] == ["a"]
    assert "when" not in steps["a"] and "when" not in steps["c"]
    wf = Workflow.from_json(text)
    assert wf.spec.steps[1].when is False


def test_the_chain_can_run_backwards_through_the_list() -> None:
    native, _ = convert_text(
        workflow(
            [
                {
                    "id": "first",
                    "type": "openai",
                    "action": "summarize",
                    "params": {"text": "x"},
                    "next_step": "third",
                },
                {
                    "id": "second",
                    "type": "openai",
                    "action": "summarize",
                    "params": {"text": "{{third_output}}"},
                },
                {
                    "id": "third",
                    "type": "openai",
                    "action": "summarize",
                    "params": {"text": "y"},
                    "next_step": "second",
                },
            ]
        )
    )
    assert chain(native) == [("first", []), ("second", ["third"]), ("third", ["first"])]


def test_a_missing_next_step_ends_the_run() -> None:
    native, _ = convert_text(
        workflow(
            [
                {"id": "a", "type": "openai", "action": "summarize", "params": {"text": "x"}},
                {
                    "id": "b",
                    "type": "openai",
                    "action": "summarize",
                    "params": {"text": "y"},
                    "next_step": None,
                },
            ]
        )
    )
    assert "when" not in by_id(native)["a"]
    assert by_id(native)["b"]["when"] is False


def test_unknown_next_step_is_an_error_on_its_line() -> None:
    text = workflow(
        [
            {
                "id": "plan",
                "type": "openai",
                "action": "summarize",
                "params": {"text": "x"},
                "next_step": "bild",
            },
            {"id": "build", "type": "openai", "action": "summarize", "params": {"text": "y"}},
        ]
    )
    with pytest.raises(WorkflowError) as caught:
        convert_text(text)
    (problem,) = caught.value.problems
    assert problem.file == "wf.json"
    assert problem.field == "plan.next_step"
    assert problem.line == line_of(text, '"next_step": "bild"')
    assert "'bild'" in problem.message
    assert problem.hint == "did you mean 'build'?"


def test_a_chain_that_comes_back_is_an_error() -> None:
    text = workflow(
        [
            {
                "id": "a",
                "type": "openai",
                "action": "summarize",
                "params": {"text": "x"},
                "next_step": "b",
            },
            {
                "id": "b",
                "type": "openai",
                "action": "summarize",
                "params": {"text": "y"},
                "next_step": "a",
            },
        ]
    )
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_json(text, path="loop.json")
    (problem,) = caught.value.problems
    assert problem.field == "b.next_step"
    assert problem.line == line_of(text, '"next_step": "a"')
    assert "a -> b -> a" in problem.message
    assert "forever" in problem.hint


# -- references --------------------------------------------------------------------------------

NAMES = Names(
    variables=frozenset({"topic", "items"}),
    steps=frozenset({"fetch_email", "plan", "save"}),
    text_outputs=frozenset({"plan"}),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{topic}}", "{{ inputs.topic }}"),
        ("{{ topic }}", "{{ inputs.topic }}"),
        ("About {{topic}}, {single} braces stay", "About {{ inputs.topic }}, {single} braces stay"),
        ("{{save_output.id}}", "{{ steps.save.output.id }}"),
        ("{{save_output.rows.0.name}}", "{{ steps.save.output.rows[0].name }}"),
        ("{{save_output.items}}", '{{ steps.save.output["items"] }}'),
        ("{{fetch_email.body}}", "{{ steps.fetch_email.output.body }}"),
        ("{{fetch_email}}", "{{ steps.fetch_email.output }}"),
        ("{{plan_output}}", "{{ steps.plan.output }}"),
        ("{{plan_output.output}}", "{{ steps.plan.output }}"),
        ("{{current_date}}", "{{ today() }}"),
        ("{{items}}", '{{ inputs["items"] }}'),
        ("{{nope}}", "{{ inputs.nope }}"),
        ("no placeholders at all", "no placeholders at all"),
    ],
)
def test_rewrite(text: str, expected: str) -> None:
    assert rewrite(text, NAMES) == expected


def test_literal_jinja_syntax_renders_as_itself() -> None:
    text = "keep {% this %}, {# that #} and {{ not a placeholder }} for {{topic}}"
    rewritten = rewrite(text, NAMES)
    rendered = compile_template(rewritten).render({"inputs": {"topic": "T"}})
    assert rendered == "keep {% this %}, {# that #} and {{ not a placeholder }} for T"


def test_unknown_names_are_reported_by_the_native_checker() -> None:
    text = workflow(
        [
            {
                "id": "a",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "Say {{greting}}"},
            }
        ],
        variables={"greeting": "hi"},
    )
    wf = Workflow.from_json(text, path="wf.json")
    with pytest.raises(WorkflowError) as caught:
        compile_workflow(wf.spec, source=wf.source, roles=[])
    (problem,) = caught.value.problems
    assert problem.message == "unknown input 'greting'"
    assert problem.hint == "did you mean 'greeting'?"
    assert problem.line == line_of(text, '"prompt"')


def test_sole_references_keep_their_type() -> None:
    native, _ = convert_text(
        workflow(
            [
                {
                    "id": "a",
                    "type": "notion",
                    "action": "query_database",
                    "params": {"database_id": "{{db}}", "filter": "{{filter}}", "page_size": 5},
                }
            ],
            variables={"db": "abc", "filter": {"property": "Status"}},
        )
    )
    params = native["steps"][0]["with"]
    template = compile_template(params["filter"])
    assert template.value({"inputs": {"filter": {"property": "Status"}}}) == {"property": "Status"}
    assert params["limit"] == 5
    assert native["inputs"]["filter"] == {
        "type": "object",
        "required": False,
        "default": {"property": "Status"},
    }


def test_variable_types_are_inferred() -> None:
    native, _ = convert_text(
        workflow(
            [],
            variables={"s": "x", "n": 3, "f": 0.5, "b": True, "l": [1], "o": {"k": 1}, "z": None},
        )
    )
    assert {name: spec["type"] for name, spec in native["inputs"].items()} == {
        "s": "string",
        "n": "integer",
        "f": "number",
        "b": "boolean",
        "l": "list",
        "o": "object",
        "z": "any",
    }


# -- transform steps ---------------------------------------------------------------------------


def test_transform_steps_call_the_builtins() -> None:
    text = workflow(
        [
            {
                "id": "fetch",
                "type": "github",
                "action": "list_repositories",
                "params": {},
                "next_step": "pick",
            },
            {
                "id": "pick",
                "type": "transform",
                "action": "extract",
                "params": {"source": "fetch_output", "key": "name"},
                "next_step": "say",
            },
            {
                "id": "say",
                "type": "transform",
                "action": "format",
                "params": {
                    "template": "{greeting}, {{greeting}} {{pick_output}} on {{current_date}}"
                },
            },
        ],
        variables={"greeting": "hi"},
    )
    native, _ = convert_text(text)
    steps = by_id(native)
    assert steps["pick"] == {
        "id": "pick",
        "python": f"{FUNCTIONS}:extract",
        "args": {"value": "{{ steps.fetch.output }}", "key": "name"},
        "depends_on": ["fetch"],
    }
    assert steps["say"]["python"] == f"{FUNCTIONS}:format_text"
    assert steps["say"]["args"] == {
        "template": "{greeting}, {greeting} {pick_output} on {current_date}",
        "values": {
            "greeting": "{{ inputs.greeting }}",
            "fetch_output": "{{ steps.fetch.output }}",
            "pick_output": "{{ steps.pick.output }}",
            "current_date": "{{ today() }}",
        },
    }


def test_format_values_are_formatted_once() -> None:
    native, _ = convert_text(
        workflow(
            [
                {
                    "id": "step_1",
                    "type": "transform",
                    "action": "format",
                    "params": {"template": "Processing: {{input}} {{ not a name }}"},
                }
            ],
            variables={"input": "default value"},
        )
    )
    args = native["steps"][0]["args"]
    context = {"inputs": {"input": "a {brace} inside"}, "steps": {}}
    template = compile_template(args["template"]).render(context)
    values = {key: compile_template(value).value(context) for key, value in args["values"].items()}
    # Text that is no placeholder keeps str.format's meaning: "{{" is a literal brace.
    assert format_text(template, values) == "Processing: a {brace} inside { not a name }"
    wf = Workflow.from_json(
        json.dumps({"id": "f", "inputs": native["inputs"], "steps": native["steps"]})
    )
    assert isinstance(wf.spec.steps[0], PythonStep)


def test_extract_and_format_text_behave_like_gorgon() -> None:
    assert extract({"id": 7}, "id") == 7
    assert extract({"id": 7}, "url") == ""
    assert extract(None, "id") == ""
    assert extract([10, 20], 1) == 20
    with pytest.raises(TypeError):
        extract("text", "id")
    assert format_text("{a} and {b[k]}", {"a": 1, "b": {"k": "v"}}) == "1 and v"
    assert format_text("{{a}}", {"a": 1}) == "{a}"
    with pytest.raises(KeyError):
        format_text("{missing}", {})


# -- model steps -------------------------------------------------------------------------------


def test_claude_steps() -> None:
    native, _ = convert_text(
        workflow(
            [
                {
                    "id": "agent",
                    "type": "claude_code",
                    "action": "execute_agent",
                    "params": {
                        "role": "planner",
                        "task": "t",
                        "context": "c",
                        "model": "claude-sonnet-4-20250514",
                        "max_tokens": 2000,
                    },
                    "next_step": "complete",
                },
                {
                    "id": "complete",
                    "type": "claude_code",
                    "action": "generate_completion",
                    "params": {
                        "prompt": "Use {{agent_output.output}}",
                        "model": "claude-3-5-haiku-latest",
                    },
                },
            ]
        )
    )
    agent, complete = native["steps"]
    assert agent == {
        "id": "agent",
        "agent": "planner",
        "task": "t",
        "context": "c",
        "model": "anthropic:claude-sonnet-4-20250514",
        "max_tokens": 2000,
    }
    assert complete == {
        "id": "complete",
        "llm": "Use {{ steps.agent.output }}",
        "system": "You are a helpful assistant.",
        "model": "anthropic:claude-3-5-haiku-latest",
        "depends_on": ["agent"],
    }


def test_openai_completion_options() -> None:
    (step,) = convert_text(
        workflow(
            [
                {
                    "id": "a",
                    "type": "openai",
                    "action": "generate_completion",
                    "params": {
                        "prompt": "p",
                        "system_prompt": "Be {{tone}}",
                        "temperature": 0.2,
                        "max_tokens": 9,
                        "model": "openai:gpt-4o",
                    },
                }
            ],
            variables={"tone": "brief"},
        )
    )[0]["steps"]
    assert step == {
        "id": "a",
        "llm": "p",
        "system": "Be {{ inputs.tone }}",
        "temperature": 0.2,
        "max_tokens": 9,
        "model": "openai:gpt-4o",
    }


def test_bad_params_are_reported_with_lines() -> None:
    text = workflow(
        [
            {
                "id": "a",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "p", "max_token": 5, "model": "{{model}}"},
            },
            {
                "id": "b",
                "type": "claude_code",
                "action": "execute_agent",
                "params": {"role": "planner"},
            },
            {"id": "c", "type": "gemini", "action": "review_code", "params": {}},
        ]
    )
    with pytest.raises(WorkflowError) as caught:
        convert_text(text)
    found = {(p.field, p.line): p for p in caught.value.problems}
    assert set(found) == {
        ("a.max_token", line_of(text, '"max_token"')),
        ("a.model", line_of(text, '"model"')),
        ("b.params", line_of(text, '"params"', 1)),
        ("c.type", line_of(text, '"gemini"')),
    }
    assert found["a.max_token", line_of(text, '"max_token"')].hint == "did you mean 'max_tokens'?"
    assert "missing param 'task'" in found["b.params", line_of(text, '"params"', 1)].message


def test_validation_errors_point_at_the_json_lines() -> None:
    text = workflow(
        [
            {
                "id": "a",
                "type": "openai",
                "action": "generate_completion",
                "params": {"prompt": "p", "temperature": 5},
            }
        ]
    )
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_json(text, path="wf.json")
    (problem,) = caught.value.problems
    assert problem.field == "a.temperature"
    assert problem.line == line_of(text, '"temperature"')


def test_native_paths_map_to_gorgon_lines() -> None:
    text = (FIXTURES / "dev_workflow_plan_build_test_review.json").read_text(encoding="utf-8")
    _, source = convert_text(text)
    lines = source.locations
    assert source.text == text and source.format == "json" and source.path == "wf.json"
    assert lines.line_of(("steps", 1, "task")) == line_of(text, '"task"', 1)
    assert lines.line_of(("steps", 1, "context")) == line_of(text, '"context"', 0)
    assert lines.line_of(("steps", 1, "agent")) == line_of(text, '"role": "builder"')
    assert lines.line_of(("steps", 1, "depends_on")) == line_of(text, '"next_step": "build"')
    assert lines.line_of(("inputs", "feature_request", "default")) == line_of(
        text, '"feature_request": "Describe'
    )
    assert lines.line_of(("id",)) == line_of(text, '"id": "dev_workflow')


def test_second_dialect_keys_map_to_lines() -> None:
    data, source = load("multi_step_ai")
    _, converted = gorgon_json.convert(data, source)
    assert converted is not None
    text = source.text
    assert converted.locations.line_of(("id",)) == line_of(text, '"workflow_id"')
    assert converted.locations.line_of(("steps", 2, "id")) == line_of(text, '"step_id": "refine"')
    assert converted.locations.line_of(("steps", 2, "max_tokens")) == line_of(
        text, '"max_tokens": 2000'
    )


def test_convert_is_pure() -> None:
    data, source = load("github_repos_to_notion")
    before_data, before_lines = copy.deepcopy(data), dict(source.locations.lines)
    native, converted = gorgon_json.convert(data, source)
    assert data == before_data
    assert source.locations.lines == before_lines
    assert converted is not source
    assert gorgon_json.convert(data, None) == (native, None)

"""The offline provider: deterministic, role-shaped, clearly marked answers."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from gorgon_nb.errors import ConfigError
from gorgon_nb.providers.base import Completion, LLMRequest, Message, Provider
from gorgon_nb.providers.offline import OfflineProvider, json_from_schema, stream_pieces

ROLES = [
    "planner",
    "builder",
    "tester",
    "reviewer",
    "architect",
    "documenter",
    "data_engineer",
    "analyst",
    "visualizer",
    "reporter",
    "supervisor",
]
TASKS = [
    "Add a CSV export",
    "Task: Analyse monthly revenue by region\n\nContext:\n- Jan: 120.5\n- Feb: 135\n- Mar: 98",
    "Why did sales drop in March?",
    "## Goal\nBuild a REST API for the inventory service that lets warehouse staff "
    "look up stock levels, reserve items and cancel reservations.",
    "",
]


def request(text: str = "Add a CSV export", role: str | None = None, **kwargs: Any) -> LLMRequest:
    return LLMRequest(model="offline", messages=[Message("user", text)], role=role, **kwargs)


async def ask(text: str = "Add a CSV export", role: str | None = None, **kwargs: Any) -> str:
    return (await OfflineProvider().complete(request(text, role, **kwargs))).text


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_is_a_provider() -> None:
    provider = OfflineProvider()
    assert isinstance(provider, Provider)
    assert provider.name == "offline"


def test_negative_delay_is_rejected() -> None:
    with pytest.raises(ConfigError, match="delay"):
        OfflineProvider(delay=-1)


@pytest.mark.parametrize("role", [*ROLES, None, "poet"])
async def test_same_request_same_answer(role: str | None) -> None:
    first = await OfflineProvider().complete(request(TASKS[1], role))
    second = await OfflineProvider().complete(request(TASKS[1], role))
    assert first == second


def test_same_answer_in_other_processes() -> None:
    script = (
        "import asyncio\n"
        "from gorgon_nb.providers.base import LLMRequest, Message\n"
        "from gorgon_nb.providers.offline import OfflineProvider\n"
        "req = LLMRequest(model='offline', messages=[Message('user', 'Add a CSV export')],"
        " role='reviewer')\n"
        "print(asyncio.run(OfflineProvider().complete(req)).text, end='')\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().startswith("[offline] ")


async def test_answer_depends_on_the_task() -> None:
    assert await ask("Add a CSV export", "planner") != await ask("Fix the login bug", "planner")


@pytest.mark.parametrize("role", [*ROLES, None, "poet"])
@pytest.mark.parametrize("task", TASKS)
async def test_every_text_answer_is_marked_and_sized(role: str | None, task: str) -> None:
    text = await ask(task, role)
    first_line = text.splitlines()[0]
    assert first_line.startswith("[offline] ")
    assert len(first_line) > len("[offline] ")
    assert 80 <= len(text.split()) <= 300, f"{role}: {len(text.split())} words"


@pytest.mark.parametrize("role", ROLES)
async def test_role_answers_differ_from_each_other(role: str) -> None:
    others = {r: await ask(role=r) for r in ROLES if r != role}
    mine = await ask(role=role)
    assert all(mine != other for other in others.values())


async def test_planner_gives_numbered_steps_about_the_task() -> None:
    text = await ask("Add a CSV export", "planner")
    steps = re.findall(r"^(\d+)\. ", text, re.M)
    assert steps[:5] == ["1", "2", "3", "4", "5"]
    assert "CSV export" in text
    assert "Risks" in text


async def test_builder_writes_valid_python_named_after_the_task() -> None:
    text = await ask("Add a CSV export", "builder")
    blocks = code_blocks(text)
    assert len(blocks) == 1
    tree = ast.parse(blocks[0])
    names = [node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    assert names == ["add_csv_export"]
    assert "import csv" in blocks[0]


@pytest.mark.parametrize("task", TASKS)
async def test_builder_code_always_parses(task: str) -> None:
    blocks = code_blocks(await ask(task, "builder"))
    assert blocks
    for block in blocks:
        assert any(isinstance(node, ast.FunctionDef) for node in ast.walk(ast.parse(block)))


async def test_builder_code_runs(tmp_path: Any) -> None:
    namespace: dict[str, Any] = {}
    exec(code_blocks(await ask("Add a CSV export", "builder"))[0], namespace)
    out = tmp_path / "out.csv"
    assert namespace["add_csv_export"]([{"a": 1, "b": 2}], out) == 1
    assert out.read_text(encoding="utf-8").splitlines() == ["a,b", "1,2"]


async def test_tester_has_cases_tests_and_a_pass_verdict() -> None:
    text = await ask("Add a CSV export", "tester")
    assert re.search(r"^1\. ", text, re.M)
    assert "def test_add_csv_export" in text
    assert text.splitlines()[-1] == "VERDICT: PASS"


async def test_reviewer_has_findings_by_severity_and_approves() -> None:
    text = await ask("Add a CSV export", "reviewer")
    for severity in ("Blocker", "Major", "Minor"):
        assert re.search(rf"^{severity}$", text, re.M)
    assert text.splitlines()[-1] == "VERDICT: APPROVE"


@pytest.mark.parametrize(
    ("role", "markers"),
    [
        ("architect", ["Components", "Data flow", "ADR-1", "CsvExportService"]),
        ("documenter", ["# CSV export", "## Quick start", "| `add_csv_export` |"]),
        ("data_engineer", ["Ingestion", "Cleaning", "Schema", "| id | integer | no |"]),
        ("analyst", ["Findings", "Caveats", "Recommendations"]),
        ("visualizer", ["Chart", "```python", "matplotlib", "ax.bar("]),
        ("reporter", ["## Executive summary", "## Key findings", "## Recommendations"]),
        ("supervisor", ["Delegation", "planner -", "builder -", "Decision: CONTINUE"]),
    ],
)
async def test_role_shapes(role: str, markers: list[str]) -> None:
    text = await ask("Add a CSV export", role)
    for marker in markers:
        assert marker in text, f"{role} answer lacks {marker!r}"


async def test_analyst_backs_findings_with_numbers_from_the_request() -> None:
    text = await ask(TASKS[1], "analyst")
    assert "3 numeric values ranging from 98 to 135" in text
    assert "mean is 117.83" in text
    assert "-18.7%" in text


async def test_visualizer_uses_the_request_numbers_and_a_line_for_time() -> None:
    text = await ask(TASKS[1], "visualizer")
    assert "values = [120.50, 135, 98]" in text
    assert "ax.plot(" in text
    ast.parse(code_blocks(text)[0])


async def test_supervisor_synthesises_verdicts() -> None:
    approved = await ask("Builder said X.\nVERDICT: PASS\nVERDICT: APPROVE", "supervisor")
    assert approved.splitlines()[-1] == "Decision: DONE"
    rejected = await ask("VERDICT: PASS\nVERDICT: REQUEST_CHANGES", "supervisor")
    assert rejected.splitlines()[-1].startswith("Decision: CONTINUE")


async def test_generic_answer_summarises_the_prompt() -> None:
    text = await ask("Summarise the quarterly churn numbers for the board", None)
    assert 'Request: "Summarise the quarterly churn numbers for the board"' in text
    assert "churn" in text
    assert "no offline template" not in text
    assert "role 'poet' has no offline template" in await ask("Write a haiku", "poet")


async def test_task_label_is_preferred_over_the_first_line() -> None:
    text = await ask("You are helping a team.\nTask: Add a JSON export\n", "builder")
    assert "def add_json_export(" in text


async def test_keywords_become_valid_identifiers() -> None:
    text = await ask("Import", "builder")
    assert "def import_task(" in text
    ast.parse(code_blocks(text)[0])


@pytest.mark.parametrize("role", ["planner", "builder", None])
async def test_streaming_pieces_join_to_the_text(role: str | None) -> None:
    pieces: list[str] = []
    completion = await OfflineProvider().complete(request(role=role), on_delta=pieces.append)
    assert len(pieces) > 5
    assert "".join(pieces) == completion.text
    assert all(len(piece.split()) <= 4 for piece in pieces)
    assert completion.text == await ask(role=role)


async def test_streaming_with_a_delay_still_joins() -> None:
    pieces: list[str] = []
    provider = OfflineProvider(delay=0.0001)
    completion = await provider.complete(request(role="tester"), on_delta=pieces.append)
    assert "".join(pieces) == completion.text


@pytest.mark.parametrize("text", ["", "  ", "one", "  lead and trail  \n", "a\n\n\nb  c\td"])
def test_stream_pieces_are_lossless(text: str) -> None:
    assert "".join(stream_pieces(text)) == text


async def test_usage_counts_are_deterministic() -> None:
    req = request("Add a CSV export", "builder", system="You are the builder.")
    completion = await OfflineProvider().complete(req)
    assert isinstance(completion, Completion)
    assert completion.model == "offline"
    assert completion.usage.calls == 1
    assert completion.usage.input_tokens == math.ceil(
        len("You are the builder." + "Add a CSV export") / 4
    )
    assert completion.usage.output_tokens == math.ceil(len(completion.text) / 4)
    assert completion.usage.cost == 0.0


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
    {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 20},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "rank": {"type": "integer", "exclusiveMinimum": 3, "multipleOf": 5},
            "status": {"enum": ["ok", "failed"]},
            "kind": {"const": "report"},
            "ready": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"},
            "note": {"type": ["null", "string"], "minLength": 40},
        },
        "required": ["title", "score", "rank", "status", "kind"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 3,
                "uniqueItems": True,
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "owner": {"enum": ["planner", "builder", "tester"]},
                        "subtasks": {"type": "array", "items": {"$ref": "#/$defs/subtask"}},
                    },
                    "required": ["title", "owner"],
                },
            }
        },
        "required": ["steps"],
        "$defs": {
            "subtask": {
                "type": "object",
                "properties": {"id": {"type": "integer", "minimum": 1}},
                "required": ["id"],
            }
        },
    },
    {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 3}, "minItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": False},
    {"anyOf": [{"type": "null"}, {"type": "string", "pattern": "^[A-Z]+$"}]},
    {"oneOf": [{"type": "integer", "maximum": -2}, {"type": "string"}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    {"type": "object", "properties": {"child": {"$ref": "#"}, "name": {"type": "string"}}},
    {"type": "object", "additionalProperties": {"type": "integer"}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_json_answers_validate_against_their_schema(schema: dict[str, Any]) -> None:
    text = await ask("Add a CSV export", "planner", json_schema=schema)
    assert not text.startswith("[offline]")
    jsonschema.Draft202012Validator(schema).validate(json.loads(text))


async def test_json_answer_details() -> None:
    value = json.loads(await ask("Add a CSV export", "analyst", json_schema=SCHEMAS[1]))
    assert value["status"] == "ok"
    assert value["kind"] == "report"
    assert value["rank"] == 5
    assert 0 <= value["score"] <= 1
    assert value["title"].startswith("offline")
    assert len(value["title"]) <= 20
    steps = json.loads(await ask(json_schema=SCHEMAS[2]))["steps"]
    assert len(steps) == 3
    assert [step["owner"] for step in steps] == ["planner", "builder", "tester"]


async def test_free_strings_mention_offline_and_the_task() -> None:
    value = json.loads(await ask("Add a CSV export", json_schema=SCHEMAS[0]))
    assert "offline" in value["summary"]
    assert "Add a CSV export" in value["summary"]


async def test_empty_schema_means_any_json() -> None:
    value = json.loads(await ask("Add a CSV export", json_schema={}))
    assert value["offline"] is True
    assert "CSV export" in value["summary"]


def test_json_from_schema_supports_draft4_boolean_exclusive_bounds() -> None:
    schema = {"type": "integer", "minimum": 0, "maximum": 2, "exclusiveMinimum": True}
    value = json_from_schema(schema)
    jsonschema.Draft4Validator(schema).validate(value)
    assert value in (1, 2)


async def test_json_answers_stream_too() -> None:
    pieces: list[str] = []
    req = request(json_schema=SCHEMAS[2])
    completion = await OfflineProvider().complete(req, on_delta=pieces.append)
    assert "".join(pieces) == completion.text
    json.loads(completion.text)

"""Every bundled workflow validates and runs end to end on the offline provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.config import Config
from gorgon_nb.model.run import RunResult, RunStatus, StepStatus
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback
from gorgon_nb.providers.offline import OfflineProvider
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import Approver
from gorgon_nb.workflow import Workflow, list_workflows

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
FILES = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yaml", ".json"))

# The required inputs of each workflow (and a few optional ones, to see them bound).
INPUTS: dict[str, dict[str, Any]] = {
    "analytics_ingest_analyze_visualize_report": {"question": "Which region grew fastest?"},
    "analytics_pipeline": {"data_task": "Monthly revenue by region"},
    "bug_fix_loop": {
        "bug_report": "export crashes on an empty table",
        "code": "def export(rows): ...",
    },
    "decision_support": {"question": "Which database should we use?"},
    "dev_build_in_workspace": {"feature_request": "Add a CSV export"},
    "dev_plan_build_test_review": {"feature_request": "Add a CSV export"},
    "dev_workflow_plan_build_test_review": {"feature_request": "Add a CSV export"},
    "documentation": {"subject": "the gorgon CLI"},
    "parallel_code_review": {"code": "def add(a, b):\n    return a - b\n"},
}

SALES = "region,month,revenue\nnorth,1,120.5\nsouth,1,98\nnorth,2,135\nsouth,2,\neast,2,77.25\n"


class Recorder:
    """The offline provider, keeping every request it answers."""

    name = "offline"

    def __init__(self) -> None:
        self.offline = OfflineProvider()
        self.requests: list[LLMRequest] = []

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        self.requests.append(request)
        return await self.offline.complete(request, on_delta=on_delta)

    def prompts(self, step_id: str) -> list[str]:
        return [
            request.system + "\n" + "\n".join(m.content for m in request.messages)
            for request in self.requests
            if request.step_id == step_id
        ]


def sales_csv(folder: Path) -> Path:
    path = folder / "sales.csv"
    path.write_text(SALES, encoding="utf-8")
    return path


def assert_complete(result: RunResult) -> None:
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.error is None
    ran = [s for s in result.steps.values() if s.status is not StepStatus.SKIPPED]
    assert ran, "no step ran"
    for step in ran:
        assert step.status is StepStatus.SUCCEEDED, (step.key, step.error)
        assert step.output not in (None, "", [], {}), step.key
        assert step.ended_at is not None and step.started_at is not None
    skipped = {s.step_id for s in result.steps.values() if s.status is StepStatus.SKIPPED}
    assert result.outputs and all(
        v not in (None, "", [], {}) for k, v in result.outputs.items() if k not in skipped
    )


def test_every_bundled_workflow_is_listed_and_has_inputs_here() -> None:
    assert {p.stem for p in FILES} == set(INPUTS)
    assert set(list_workflows()) >= set(INPUTS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
async def test_bundled_workflow_validates_and_runs(
    path: Path, config: Config, runner: Runner, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a bundled workflow's tools work in the current folder
    workflow = Workflow.from_file(path)
    compiled = workflow.compile(config)
    assert compiled.spec.id == path.stem
    assert workflow.name and workflow.description
    inputs = dict(INPUTS[path.stem])
    if "data_path" in compiled.spec.inputs:
        inputs["data_path"] = str(sales_csv(tmp_path))
    assert store.path is not None
    with Approver(store.path):  # a tool call that writes waits for a person
        result = await runner.arun(workflow, inputs)
    assert_complete(result)
    assert result.usage.calls > 0 and result.cost == 0
    assert all(
        str(o).startswith("[offline]") for o in result.outputs.values() if isinstance(o, str)
    )
    stored = store.runs.get(result.run_id)
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.outputs == json.loads(
        json.dumps(result.outputs)
    )  # stored as JSON: tuples come back as lists
    assert set(stored.steps) == set(result.steps)


async def test_analytics_profiles_the_csv_and_hands_the_numbers_on(
    runner: Runner, tmp_path: Path
) -> None:
    data = sales_csv(tmp_path)
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    inputs = {**INPUTS["analytics_ingest_analyze_visualize_report"], "data_path": str(data)}
    result = await runner.arun("analytics_ingest_analyze_visualize_report", inputs)
    assert_complete(result)
    profile = result.outputs["profile"]
    assert profile["rows"] == 5 and profile["file"] == "sales.csv"
    revenue = profile["columns"]["revenue"]
    assert (revenue["count"], revenue["missing"], revenue["max"]) == (4, 1, 135.0)
    assert revenue["mean"] == 107.6875
    [ingest] = recorder.prompts("ingest")
    [analyze] = recorder.prompts("analyze")
    assert f"Profile of {data}" in ingest and "107.6875" in ingest
    assert "Column statistics" in analyze and "107.6875" in analyze and '"max": 135.0' in analyze


async def test_analytics_without_a_file_skips_only_the_profile(runner: Runner) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    result = await runner.arun(
        "analytics_ingest_analyze_visualize_report",
        INPUTS["analytics_ingest_analyze_visualize_report"],
    )
    assert_complete(result)
    assert result.steps["profile"].status is StepStatus.SKIPPED
    assert [s.key for s in result.steps.values() if s.status is StepStatus.SUCCEEDED] == [
        "ingest",
        "analyze",
        "visualize",
        "report",
    ]
    [analyze] = recorder.prompts("analyze")
    assert "Column statistics" not in analyze


async def test_analytics_with_a_missing_file_fails_clearly(runner: Runner, tmp_path: Path) -> None:
    inputs = {
        **INPUTS["analytics_ingest_analyze_visualize_report"],
        "data_path": str(tmp_path / "gone.csv"),
    }
    result = await runner.arun("analytics_ingest_analyze_visualize_report", inputs)
    assert result.status is RunStatus.FAILED
    assert result.error == (
        f"step 'profile' failed: no CSV file at {tmp_path / 'gone.csv'}; "
        "pass the path of an existing file as data_path"
    )


async def test_bug_fix_loop_stops_when_verify_passes(runner: Runner) -> None:
    result = await runner.arun("bug_fix_loop", INPUTS["bug_fix_loop"])
    assert_complete(result)
    rounds = result.steps["fix_and_verify"].attempts
    assert 1 <= rounds <= 3
    verdicts = [
        result.steps[f"fix_and_verify[{r}].verify"].output["verdict"] for r in range(1, rounds + 1)
    ]
    assert verdicts[-1] == "pass" and all(v == "fail" for v in verdicts[:-1])
    assert f"fix_and_verify[{rounds + 1}].fix" not in result.steps
    assert result.outputs["fix_and_verify"]["verify"]["verdict"] == "pass"
    assert result.outputs["change_note"]


class FailsVerificationOnce(Recorder):
    """The tester rejects the first fix, then the offline answers go on."""

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        if request.step_id == "verify" and not self.prompts("verify"):
            self.requests.append(request)
            answer = json.dumps({"verdict": "fail", "issues": ["off-by-one in the row count"]})
            return Completion(answer, (await self.offline.complete(request)).usage, request.model)
        return await super().complete(request, on_delta=on_delta)


async def test_bug_fix_loop_feeds_the_testers_issues_into_the_next_fix(runner: Runner) -> None:
    provider = FailsVerificationOnce()
    runner.runtime.providers.register(provider)
    result = await runner.arun("bug_fix_loop", INPUTS["bug_fix_loop"])
    assert_complete(result)
    assert result.steps["fix_and_verify"].attempts == 2
    assert result.steps["fix_and_verify[1].verify"].output["verdict"] == "fail"
    assert result.steps["fix_and_verify[2].verify"].output["verdict"] == "pass"
    first_fix, second_fix = provider.prompts("fix")
    assert "off-by-one in the row count" not in first_fix
    assert "did not pass verification" in second_fix and "off-by-one in the row count" in second_fix


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, ["build it in-house", "buy a product", "do nothing for now"]),
        (
            "Postgres, SQLite,DuckDB,MongoDB,Redis",
            ["Postgres", "SQLite", "DuckDB", "MongoDB", "Redis"],
        ),
    ],
)
async def test_decision_support_assesses_every_option_in_order(
    runner: Runner, options: str | None, expected: list[str]
) -> None:
    recorder = Recorder()
    runner.runtime.providers.register(recorder)
    inputs = dict(INPUTS["decision_support"])
    if options is not None:
        inputs["options"] = options
    result = await runner.arun("decision_support", inputs)
    assert_complete(result)
    assessments = result.outputs["assess"]
    assert isinstance(assessments, list) and len(assessments) == len(expected)
    for option, assessment in zip(expected, assessments, strict=True):
        assert isinstance(assessment, dict)
        assert set(assessment) >= {"option", "score", "pros", "cons"}
        assert isinstance(assessment["score"], int) and 1 <= assessment["score"] <= 10
        assert f"'{option}'" in assessment["option"]
    [recommend] = recorder.prompts("recommend")
    assert recommend.count('"score"') == len(expected)
    assert all(f"'{option}'" in recommend for option in expected)


async def test_the_builder_writes_into_a_workspace_and_the_tester_runs_its_tests_there(
    runner: Runner, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert store.path is not None
    with Approver(store.path) as person:
        result = await runner.arun("dev_build_in_workspace", INPUTS["dev_build_in_workspace"])
    approved = [request.step_key for request in person.seen]
    assert_complete(result)
    # every write and the command waited for a person; the reads did not
    assert approved == ["build/tool-2", "write_tests/tool-2", "run_tests/tool-1"]
    workspace = tmp_path / "workspace"
    code = (workspace / "feature.py").read_text()
    compile(code, "feature.py", "exec")  # the code of the builder's answer, not its prose
    assert "def test_" in (workspace / "test_feature.py").read_text()
    records = store.tools.of_run(result.run_id)
    calls = {(r.key.step_key, r.tool): r for r in records}
    # in the order the model asked, though the write started later (once approved)
    asked = [r.key.index for r in records if r.key.step_key == "write_tests"]
    assert asked == sorted(asked) and len(asked) >= 2
    ran = json.loads(calls[("run_tests", "shell.run")].result)
    assert calls[("run_tests", "shell.run")].arguments == {"command": "python -m pytest -q"}
    assert isinstance(ran["exit_code"], int) and "test_feature.py" in ran["stdout"] + ran["stderr"]
    assert calls[("write_tests", "files.read_file")].arguments == {"path": "feature.py"}
    assert code.splitlines()[0] in calls[("write_tests", "files.read_file")].result

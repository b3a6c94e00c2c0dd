"""The real ``gorgon`` command, run as a subprocess with a fresh GORGON_HOME and no API keys."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, WORKFLOWS, env_without_keys

GORGON = Path(sys.executable).with_name("gorgon")
FEATURE = "feature_request=Add a CSV export"
ROLES = [
    "analyst",
    "architect",
    "builder",
    "data_engineer",
    "devops",
    "documenter",
    "migrator",
    "model_builder",
    "planner",
    "reporter",
    "reviewer",
    "security_auditor",
    "supervisor",
    "tester",
    "visualizer",
]


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    @property
    def flat(self) -> str:
        """Both streams with line breaks and runs of spaces folded, for messages a console may wrap."""
        return " ".join((self.out + "\n" + self.err).split())


def gorgon(home: Path, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> Done:
    environment = {**env_without_keys(), "GORGON_HOME": str(home), "COLUMNS": "200", **(env or {})}
    environment.pop("GORGON_DEBUG", None)
    done = subprocess.run(
        [str(GORGON), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    result = Done(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in result.out + result.err, result
    return result


@dataclass(frozen=True)
class History:
    """A GORGON_HOME with two finished runs of the same workflow: one by path, one by name."""

    home: Path
    by_path: Done
    by_name: Done
    path_run: str
    name_run: str


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    home = tmp_path_factory.mktemp("cli-home")
    by_path = gorgon(home, "run", "workflows/dev_plan_build_test_review.yaml", "-v", FEATURE)
    by_name = gorgon(home, "run", "dev_plan_build_test_review", "--json", "-v", FEATURE)
    header = re.search(r"^Plan, build, test, review · run (\w+)$", by_path.out, re.M)
    path_run = header.group(1) if header else ""
    name_run = json.loads(by_name.out)["run_id"] if by_name.code == 0 else ""
    return History(home, by_path, by_name, path_run, name_run)


@pytest.fixture(scope="module")
def usage_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-usage-home")


_cache: dict[tuple[str, ...], Done] = {}


def cached(home: Path, *args: str) -> Done:
    """One call for commands whose output several tests read."""
    key = (str(home), *args)
    if key not in _cache:
        _cache[key] = gorgon(home, *args)
    return _cache[key]


# -- gorgon run -----------------------------------------------------------------------------


def test_run_by_path_shows_progress_summary_and_the_offline_notice(history: History) -> None:
    done = history.by_path
    assert done.code == 0, done
    assert done.err == ""
    run_id = history.path_run
    assert re.fullmatch(r"[0-9a-z]{10}", run_id)
    for step, role in [
        ("plan", "planner"),
        ("build", "builder"),
        ("test", "tester"),
        ("review", "reviewer"),
    ]:
        assert re.search(
            rf"^✓ {step}\s+{role}\s+\S+\s+[\d,]+ in / [\d,]+ out\s+\$0\s*$", done.out, re.M
        ), step
    assert re.search(
        rf"^✓ succeeded run {run_id} · \S+ · [\d,]+ in / [\d,]+ out tokens · \$0$", done.out, re.M
    )
    assert (
        "note: No LLM provider is configured, so the offline provider answers (canned, marked [offline])"
        in done.flat
    )
    assert re.search(r"─ output of 'review' ─+\n\[offline\] ", done.out)
    assert done.out.rstrip().endswith(f"details: gorgon show {run_id}")


def test_run_by_bundled_name_as_json(history: History) -> None:
    done = history.by_name
    assert done.code == 0, done
    assert done.err == ""
    result = json.loads(done.out)
    assert result["status"] == "succeeded" and result["error"] is None
    assert result["workflow_id"] == "dev_plan_build_test_review"
    assert result["inputs"] == {"feature_request": "Add a CSV export"}
    assert [s["key"] for s in result["steps"]] == ["plan", "build", "test", "review"]
    assert [s["status"] for s in result["steps"]] == ["succeeded"] * 4
    assert all(
        s["model"] == "offline" and s["output"].startswith("[offline]") for s in result["steps"]
    )
    assert result["outputs"]["review"] == result["steps"][-1]["output"]
    assert result["usage"]["calls"] == 4 and result["cost_usd"] == 0
    assert any("offline provider" in notice for notice in result["notices"])
    assert history.name_run != history.path_run


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["run", "dev_plan_build_test_review"],
            [
                "error: missing required input 'feature_request' (the feature to build, in a sentence or two): "
                "pass -v feature_request=..."
            ],
        ),
        (
            ["run", "dev_plan_build_tst_review", "-v", FEATURE],
            [
                "error: no workflow named 'dev_plan_build_tst_review'",
                "did you mean 'dev_plan_build_test_review'?",
                "Run 'gorgon workflows' to list them, or pass a file path.",
            ],
        ),
        (
            ["run", "workflows/no_such_file.yaml"],
            ["error: no workflow file at workflows/no_such_file.yaml"],
        ),
        (
            ["run", "dev_plan_build_test_review", "-v", "novalue"],
            [
                "usage: gorgon run",
                "argument -v/--var: 'novalue' is not key=value",
                '(for example -v feature_request="Add a CSV export")',
            ],
        ),
        (
            ["run", "dev_plan_build_test_review", "-v", "=x"],
            ["argument -v/--var: '=x' is not key=value"],
        ),
        (
            ["run", "dev_plan_build_test_review", "-v", FEATURE, "-v", "colour=blue"],
            ["error: unknown input 'colour' (known: feature_request)"],
        ),
        (
            ["run", "dev_plan_build_test_review", "-v", FEATURE, "--model", "antropic:claude-x"],
            [
                "error: unknown provider 'antropic' in model 'antropic:claude-x'; did you mean 'anthropic'?"
            ],
        ),
    ],
)
def test_bad_usage_exits_2_with_a_hint(
    usage_home: Path, args: list[str], expected: list[str]
) -> None:
    done = cached(usage_home, *args)
    assert done.code == 2, done
    assert done.out == ""
    for fragment in expected:
        assert fragment in done.flat


def test_the_unknown_workflow_hint_reads_well(usage_home: Path) -> None:
    done = cached(usage_home, "run", "dev_plan_build_tst_review", "-v", FEATURE)
    assert "?." not in done.flat


def test_a_model_without_its_key_fails_before_any_step(home: Path) -> None:
    done = gorgon(
        home,
        "run",
        "dev_plan_build_test_review",
        "-v",
        FEATURE,
        "--model",
        "anthropic:claude-sonnet-5-5",
    )
    assert done.code == 2, done
    assert (
        "error: model anthropic:claude-sonnet-5-5 needs an API key: set ANTHROPIC_API_KEY"
        in done.flat
    )
    assert "--model offline" in done.flat
    assert done.out == ""  # no header, no step
    runs = gorgon(home, "runs", "--json")
    assert runs.code == 0 and json.loads(runs.out) == []


def test_a_failing_step_fails_the_run(tmp_path: Path, home: Path) -> None:
    (tmp_path / "boom.py").write_text("def explode(message):\n    raise RuntimeError(message)\n")
    (tmp_path / "failing.yaml").write_text("""id: failing
allow_code: true
steps:
  - id: first
    llm: say hi
  - id: boom
    python: boom:explode
    args: {message: the disk is full}
    depends_on: first
  - id: after
    llm: "{{ steps.boom.output }}"
""")
    done = gorgon(home, "run", "failing.yaml", "--allow-code", cwd=tmp_path)
    assert done.code == 1, done
    assert re.search(r"^✓ first\s+llm", done.out, re.M)
    assert re.search(r"^✗ boom\s+python", done.out, re.M)
    assert "after" not in done.out
    summary = re.search(r"^✗ failed run (\w{10}) · ", done.out, re.M)
    assert summary is not None
    assert "step 'boom' failed: boom:explode raised RuntimeError: the disk is full" in done.flat
    assert "output of" not in done.out
    assert f"go on from where it ended (finished steps are kept): gorgon resume {summary.group(1)}" in done.flat


# -- gorgon validate ------------------------------------------------------------------------

BROKEN = """id: broken
inputs:
  topic: {type: string}
steps:
  - id: plan
    agent: planner
    tsak: "{{ inputs.topic }}"
  - id: build
    agent: builder
    context: "{{ steps.plann.output }}"
  - id: check
    agent: wizard
    task: "{{ inputs.topik }}"
"""


def test_validate_reports_every_problem_with_its_place_and_hint(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    good = WORKFLOWS / "dev_plan_build_test_review.yaml"
    done = gorgon(home, "validate", str(broken), str(good), env={"COLUMNS": "300"})  # the role list on one line
    assert done.code == 2, done
    lines = [line.strip() for line in done.out.splitlines()]
    assert lines[0] == f"✗ {broken}: 4 problems"
    assert lines[1:9] == [
        f"{broken}:7: plan.tsak: unknown key 'tsak'",
        "hint: did you mean 'task'?",
        f"{broken}:10: build.context: unknown step 'plann'",
        "hint: did you mean 'plan'?",
        f"{broken}:12: check.agent: unknown role 'wizard'",
        "hint: known: "
        + ", ".join(ROLES)
        + " (roles of your own go under [roles] in the config file)",
        f"{broken}:13: check.task: unknown input 'topik'",
        "hint: did you mean 'topic'?",
    ]
    assert lines[9] == f"✓ {good}: dev_plan_build_test_review, 4 steps"
    ok = gorgon(home, "validate", str(good), str(WORKFLOWS / "analytics_pipeline.json"))
    assert ok.code == 0, ok
    assert ok.out.splitlines() == [
        f"✓ {good}: dev_plan_build_test_review, 4 steps",
        f"✓ {WORKFLOWS / 'analytics_pipeline.json'}: analytics_pipeline, 4 steps",
    ]


def test_validate_reports_the_other_problems_of_a_step_with_an_unknown_key(
    home: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: x\ninputs: {topic: t}\nsteps:\n  - id: plan\n    agent: planer\n    tsak: hi\n"
        "    context: '{{ inputs.topik }}'\n"
    )
    done = gorgon(home, "validate", str(broken))
    assert done.code == 2
    assert "unknown key 'tsak'" in done.out
    assert "unknown role 'planer'" in done.out and "unknown input 'topik'" in done.out


# -- gorgon runs / show ---------------------------------------------------------------------


def test_runs_lists_earlier_runs(history: History) -> None:
    done = cached(history.home, "runs")
    assert done.code == 0 and done.err == ""
    header, *rows = done.out.splitlines()
    assert header.split() == ["run", "workflow", "status", "started", "duration", "tokens", "cost"]
    assert [row.split()[0] for row in rows] == [history.name_run, history.path_run]  # newest first
    assert all(
        "dev_plan_build_test_review" in row and "✓ succeeded" in row and "$0" in row for row in rows
    )
    listed = json.loads(cached(history.home, "runs", "--json").out)
    assert [r["run_id"] for r in listed] == [history.name_run, history.path_run]
    assert {r["status"] for r in listed} == {"succeeded"} and all("steps" not in r for r in listed)
    assert (
        json.loads(cached(history.home, "runs", "--json", "-n", "1").out)[0]["run_id"]
        == history.name_run
    )


def test_runs_with_a_filter_that_matches_nothing(history: History) -> None:
    done = cached(history.home, "runs", "--status", "failed")
    assert done.code == 0
    assert "no runs yet" not in done.out


def test_show_a_run_by_prefix(history: History) -> None:
    done = gorgon(history.home, "show", history.path_run[:5])
    assert done.code == 0 and done.err == "", done
    assert done.out.startswith(f"Plan, build, test, review · run {history.path_run} · ✓ succeeded")
    assert "inputs: feature_request=Add a CSV export" in done.out
    for step, role in [
        ("plan", "planner"),
        ("build", "builder"),
        ("test", "tester"),
        ("review", "reviewer"),
    ]:
        assert re.search(rf"^{step}\s+{role}\s+✓ succeeded\s+offline\s", done.out, re.M), step
        assert re.search(rf"^─+ {step} ─+$", done.out, re.M), step
    assert (
        len(re.findall(r"^\[offline\] .* - no model was called", done.out, re.M)) == 4
    )  # every output
    data = json.loads(gorgon(history.home, "show", history.name_run[:6], "--json").out)
    assert data["run_id"] == history.name_run and data["status"] == "succeeded"
    assert data["steps"] == json.loads(history.by_name.out)["steps"]


def test_show_an_unknown_run(history: History) -> None:
    done = gorgon(history.home, "show", "zzzzzz")
    assert done.code == 2
    assert done.out == ""
    assert done.err.strip() == "error: no run 'zzzzzz'. Run 'gorgon runs' to list recent runs."


def test_show_prints_the_error_of_a_failed_step(tmp_path: Path, home: Path) -> None:
    message = "the disk is full: /var/lib/data has 0 bytes left of 500 GB; delete old runs first"
    (tmp_path / "boom.py").write_text("def explode(message):\n    raise RuntimeError(message)\n")
    (tmp_path / "tolerant.yaml").write_text(f"""id: tolerant
allow_code: true
steps:
  - id: boom
    python: boom:explode
    args: {{message: "{message}"}}
    on_failure: continue
""")
    run = gorgon(home, "run", "tolerant.yaml", "--json", "--allow-code", cwd=tmp_path)
    assert run.code == 0, run  # the failure is tolerated: the run succeeds
    done = gorgon(home, "show", json.loads(run.out)["run_id"])
    assert message in done.flat


def test_a_missing_key_in_a_step_output_fails_the_run_cleanly(tmp_path: Path, home: Path) -> None:
    (tmp_path / "funcs.py").write_text(
        "def give():\n    return {'a': 1}\n\ndef echo(value):\n    return value\n"
    )
    (tmp_path / "undefined.yaml").write_text("""id: undefined
allow_code: true
steps:
  - id: give
    python: funcs:give
  - id: use
    python: funcs:echo
    args: {value: "{{ steps.give.output.missing }}"}
""")
    done = gorgon(home, "run", "undefined.yaml", "--allow-code", cwd=tmp_path)
    assert "internal error" not in done.flat
    assert done.code == 1 and "'missing'" in done.flat
    assert [r["status"] for r in json.loads(gorgon(home, "runs", "--json").out)] == ["failed"]


# -- gorgon workflows / roles / providers ---------------------------------------------------


def test_workflows_lists_every_bundled_file(home: Path) -> None:
    done = gorgon(home, "workflows")
    assert done.code == 0 and done.err == ""
    names = [
        line.split()[0]
        for line in done.out.splitlines()[1:]
        if line and not line.startswith(("bundled:", "yours:"))
    ]
    files = sorted(p.stem for p in WORKFLOWS.iterdir() if p.suffix in (".yaml", ".json"))
    assert names == files
    assert re.search(r"^dev_plan_build_test_review\s+4\s+A planner, a builder", done.out, re.M)
    assert f"bundled: {WORKFLOWS}" in done.out and f"yours:   {home / 'workflows'}" in done.out


def test_roles_lists_the_fifteen_roles(home: Path) -> None:
    done = gorgon(home, "roles")
    assert done.code == 0 and done.err == ""
    listed = [line.split()[1] for line in done.out.splitlines()[1:] if line.strip()]
    assert listed == ROLES
    assert "Breaks a goal into a short, ordered plan" in done.out


def test_providers_without_keys(home: Path) -> None:
    done = gorgon(home, "providers")
    assert done.code == 0 and done.err == ""
    assert re.search(
        r"^anthropic\s+anthropic\s+claude-sonnet-5-5\s+not configured: set ANTHROPIC_API_KEY\s*$",
        done.out,
        re.M,
    )
    assert re.search(
        r"^openai\s+openai\s+gpt-5.5\s+not configured: set OPENAI_API_KEY\s*$", done.out, re.M
    )
    assert re.search(
        r"^ollama\s+openai-compatible\s+llama3.1\s+endpoint http://localhost:11434/v1",
        done.out,
        re.M,
    )
    assert re.search(r"^offline\s+offline\s+offline\s+ready", done.out, re.M)
    assert "model 'auto' uses: offline" in done.out
    assert "No LLM provider is configured" in done.flat
    assert f"config file: {home / 'config.toml'} (not created)" in done.out


def test_providers_with_an_anthropic_key(home: Path) -> None:
    key = "sk-ant-test-do-not-print-0123456789"
    done = gorgon(home, "providers", env={"ANTHROPIC_API_KEY": key})
    assert done.code == 0 and done.err == ""
    assert re.search(
        r"^anthropic\s+anthropic\s+claude-sonnet-5-5\s+ready \(ANTHROPIC_API_KEY is set\)",
        done.out,
        re.M,
    )
    assert "model 'auto' uses: anthropic:claude-sonnet-5-5" in done.out
    assert "No LLM provider is configured" not in done.flat
    assert key not in done.out + done.err

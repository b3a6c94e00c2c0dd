"""Gorgon's own integration workflows, as Gorgon shipped them, end to end on the offline provider."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from loopback import TOKENS

from gorgon_nb.config import load_config
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.testing import Approver, ServiceServer
from gorgon_nb.workflow import Workflow

GORGON = Path(__file__).resolve().parent.parent / "model" / "gorgon_fixtures"
# Gorgon's own JSON workflows (its examples/ and src/test_ai/workflows/), byte for byte
GORGON_SHA256 = {
    "analytics_pipeline": "762c95b44492330ca880827caf259f411f033c5c46e341792f7e7c890461c5ab",
    "automated_reporting": "4b9883a6c89766be24a2602510e80a4469f1a3aa6c2b86f55ee189c4602df918",
    "content_pipeline": "04005410bd8b665efc54d5fb0fc6c5197769970135ad51f07e4f5f35038738da",
    "daily_standup": "a955e43ea9a34e0b816d7a4f6bc6c1423b54bffc9db8e0ec5ad753592926effd",
    "dev_workflow_plan_build_test_review": "569f776262176273b87d28862c95011e0190b42f829569856368224178620d7a",
    "email_to_notion": "e0cf8dd9c69459b7211cafaa88344dd37098e5fdc13980f0df7b0abefd1df02b",
    "generate_sop_to_github": "7c6b45811ffff5fcf06b7c073d29de43d157f81d9a4862e5fbeb8682413c6a32",
    "github_repos_to_notion": "70c9351079956f5d4bcd160f5aa3d375f9a68fdc33a00339492445c46f59d2ef",
    "knowledge_capture": "905c48dc41904e2dac6b2b61021edc8890aeba602cfb229bfcdaedb9ffe8c652",
    "multi_step_ai": "f2a8686c70691595c0cd6fcd89b364b55491b2dd5f43d14ca62d8eb8624094d0",
    "simple_ai_completion": "4251286cce6ff370cf92f8e8508a3b26799dbd318c623328d43cc19e37dac8d7",
}


def gorgon(runner: Runner, name: str, model: str | None = None, **inputs: Any) -> tuple[RunResult, list[str]]:
    assert runner.store is not None and runner.store.path is not None
    with Approver(runner.store.path) as person:
        result = runner.run(Workflow.from_file(GORGON / f"{name}.json"), inputs, model=model)
    assert result.ok, result.error
    assert all("[offline]" in str(s.output) for s in result.steps.values() if s.kind == "llm")
    return result, [a.title for a in person.seen]


def test_generate_sop_to_github(wired: Runner, svc: ServiceServer) -> None:
    result, approved = gorgon(wired, "generate_sop_to_github", repo_name="octo/site",
                              file_path="docs/sops/deployment.md")
    assert approved == ["Commit docs/sops/deployment.md to octo/site (main)"]
    (put,) = svc.writes()
    assert (put.method, put.path) == ("PUT", "/repos/octo/site/contents/docs/sops/deployment.md")
    assert base64.b64decode(put.body["content"]).decode() == result.steps["generate_sop"].output
    assert put.body["message"] == "Add SOP: How to deploy a web application"
    assert result.steps["commit_to_github"].output["commit_sha"]


def test_github_repos_to_notion(wired: Runner, svc: ServiceServer) -> None:
    svc.notion.add_database("db-reports", title="Reports", properties={"Name": "title", "Status": "select",
                                                                       "Type": "select"})
    result, approved = gorgon(wired, "github_repos_to_notion", notion_database_id="db-reports")
    assert len(approved) == 2 and approved[0].startswith("Create Notion page: GitHub Repos Status - ")
    assert "octo/site" in str(result.steps["list_repos"].output)
    create, append = svc.writes()
    assert create.body["properties"]["Type"] == {"select": {"name": "Report"}}
    page_id = result.steps["save_to_notion"].output["id"]
    assert append.path == f"/v1/blocks/{page_id}/children"
    text = "".join(i["text"]["content"] for b in append.body["children"] for i in b[b["type"]]["rich_text"])
    assert "[offline]" in text  # the summary the model wrote


def test_daily_standup(wired: Runner, svc: ServiceServer) -> None:
    svc.notion.add_database("db-work", title="Work", properties={"Name": "title", "Status": "select",
                                                                 "Last edited time": "last_edited_time"})
    svc.notion.add_page(parent_database="db-work", properties={"Name": "Review PR 12", "Status": "In Progress"})
    svc.notion.add_page(parent_database="db-work", properties={"Name": "Release notes", "Status": "Done"})
    svc.notion.add_database("db-standups", title="Standups", properties={"Name": "title"})
    result, approved = gorgon(wired, "daily_standup", tasks_database_id="db-work", standups_database_id="db-standups")
    assert [p["title"] for p in result.steps["get_in_progress"].output] == ["Review PR 12"]
    assert [p["title"] for p in result.steps["get_completed_yesterday"].output] == ["Release notes"]
    (create,) = svc.writes()
    assert approved == [f"Create Notion page: Standup - {result.inputs['date']}"]
    assert create.body["parent"] == {"type": "data_source_id", "data_source_id": "ds-db-standups"}
    assert create.body["children"], "the standup's text is the page's content"


def test_knowledge_capture(wired: Runner, svc: ServiceServer) -> None:
    svc.notion.add_database("db-notes", title="Notes", properties={"Name": "title", "Type": "select",
                                                                   "Tags": "multi_select", "Status": "select"})
    result, approved = gorgon(wired, "knowledge_capture", notion_database_id="db-notes", topic="Vector clocks",
                              category="Distributed systems")
    create, append = svc.writes()
    assert create.body["properties"]["Tags"] == {"multi_select": [{"name": "Distributed systems"}]}
    title = create.body["properties"]["Name"]["title"][0]["text"]["content"]
    assert title == result.steps["generate_title"].output[:2000]
    assert append.path == f"/v1/blocks/{result.steps['create_notion_entry'].output['id']}/children"
    assert len(approved) == 2


def test_tokens_never_reach_the_store_or_the_outputs(wired: Runner, svc: ServiceServer, home: Path) -> None:
    svc.fault("github", "PUT", "/repos/*", status=401, body={"message": f"Bad credentials {TOKENS['github']}"})
    with Approver(home / "gorgon.db"):
        failed = wired.run(Workflow.from_file(GORGON / "generate_sop_to_github.json"),
                           {"repo_name": "octo/site", "file_path": "x.md"})
    assert not failed.ok and "***" in (failed.steps["commit_to_github"].error or "")
    raw = b"".join(path.read_bytes() for path in home.glob("gorgon.db*"))
    for token in TOKENS.values():
        assert token.encode() not in raw


@pytest.mark.parametrize("name", ["email_to_notion", "email_to_notion_example"])
def test_email_to_notion(wired: Runner, svc: ServiceServer, name: str) -> None:
    svc.gmail.add_message("ann@example.com", "Old news", "Read already.", labels=("INBOX",))
    svc.gmail.add_message("Ann Lee <ann@example.com>", "Quarterly numbers", "Revenue is up 12% on last quarter.")
    svc.notion.add_database("db-mail", title="Mail", properties={"Name": "title"})
    result, approved = gorgon(wired, name, notion_database_id="db-mail")
    (fetched,) = result.steps["fetch_email"].output  # max_results 1, the unread one
    assert fetched["subject"] == "Quarterly numbers" and fetched["snippet"] == "Revenue is up 12% on last quarter."
    assert approved == ["Create Notion page: Email Summary"]
    (create,) = svc.writes()
    assert create.body["parent"] == {"type": "data_source_id", "data_source_id": "ds-db-mail"}
    assert create.body["properties"]["Name"]["title"][0]["text"]["content"] == "Email Summary"
    text = "".join(i["text"]["content"] for b in create.body["children"] for i in b[b["type"]]["rich_text"])
    assert text.startswith("[offline]")  # the summary the model wrote
    assert svc.writes("gmail") == []  # reading mail changes nothing


def test_automated_reporting_reads_github_and_sends_the_report_to_the_slack_target(
        home: Path, wired: Runner, svc: ServiceServer) -> None:
    svc.github.add_repo("org/repo", description="The product", default_branch="main")
    svc.github.add_file("org/repo", "README.md", "# Product\n")
    svc.github.add_issue("org/repo", "Crash on start")
    with (home / "config.toml").open("a", encoding="utf-8") as config:
        config.write('\n[notifications.targets.reports]\nslack = "#general"\n')
    wired = Runner(load_config(), wired.store)
    result, approved = gorgon(wired, "automated_reporting", model="offline")  # its steps name gpt-4o-mini
    metrics = result.steps["collect_metrics"].output
    assert metrics["github"]["repo"] == "org/repo"
    assert metrics["github"]["data"]["repo"] == "org/repo"
    assert metrics["github"]["data"]["issues"]["open"] == 1
    assert metrics["jira"]["project"] == "PROJ" and "no jira integration" in metrics["jira"]["unavailable"]
    # the model read the metrics, and the report it wrote went to Slack once approved
    report = result.steps["generate_report"].output
    assert approved == [f"Send 'Weekly Report - {result.inputs['report_date']}' to slack"]
    (post,) = svc.writes("slack")
    assert post.body["channel"] in ("#general", "C100")
    assert f"Weekly Report - {result.inputs['report_date']}" in post.body["text"]
    assert report.split("\n")[0] in post.body["text"]


@pytest.mark.parametrize("name", sorted(GORGON_SHA256))
def test_the_gorgon_files_are_gorgons_own(name: str) -> None:
    assert hashlib.sha256((GORGON / f"{name}.json").read_bytes()).hexdigest() == GORGON_SHA256[name]


@pytest.mark.parametrize("name", ["simple_ai_completion", "multi_step_ai", "content_pipeline", "analytics_pipeline",
                                  "dev_workflow_plan_build_test_review"])
def test_gorgons_model_only_workflows_run_in_order_offline(wired: Runner, name: str) -> None:
    gorgon_steps = [s.get("id") or s["step_id"] for s in json.loads((GORGON / f"{name}.json").read_text())["steps"]]
    result, approved = gorgon(wired, name, model="offline")  # their steps name OpenAI's and Anthropic's models
    assert approved == []
    assert list(result.steps) == gorgon_steps
    assert all(step.status == "succeeded" and str(step.output).startswith("[offline]")
               for step in result.steps.values())
    assert wired.store is not None
    calls = wired.store.runs.recorded_calls(result.run_id)
    assert sorted(step for step, _, _ in calls) == sorted(gorgon_steps)  # one model call recorded per step

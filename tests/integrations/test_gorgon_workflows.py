"""Gorgon's own integration workflows, as Gorgon shipped them, end to end on the offline provider."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from loopback import TOKENS

from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.testing import Approver, ServiceServer
from gorgon_nb.workflow import Workflow

GORGON = Path(__file__).resolve().parent.parent / "model" / "gorgon_fixtures"


def gorgon(runner: Runner, name: str, **inputs: Any) -> tuple[RunResult, list[str]]:
    assert runner.store is not None and runner.store.path is not None
    with Approver(runner.store.path) as person:
        result = runner.run(Workflow.from_file(GORGON / f"{name}.json"), inputs)
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

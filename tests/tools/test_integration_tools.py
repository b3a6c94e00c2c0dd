"""The GitHub, Notion and Slack actions as tools, through the real SDKs against the
loopback services: typed schemas, reads that run freely, writes approved with the
action's own preview, and a missing token said before the model is asked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolbench import act

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError, WorkflowError
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing import ServiceServer
from gorgon_nb.workflow import Workflow

TOKENS = {"github": "ghp_loopback_token_1", "notion": "ntn_loopback_token_2", "slack": "xoxb-loopback-token-3"}
ENV = {"github": "GITHUB_TOKEN", "notion": "NOTION_TOKEN", "slack": "SLACK_BOT_TOKEN"}


@pytest.fixture
def svc() -> Iterator[ServiceServer]:
    with ServiceServer(tokens=TOKENS) as server:
        server.github.login = "octo"
        server.github.add_repo("octo/site", description="The web site", default_branch="main")
        server.github.add_file("octo/site", "docs/guide.md", "# Guide\n\nold line\n")
        server.notion.add_database("db-tasks", title="Tasks", properties={"Name": "title", "Status": "select"})
        server.notion.add_page(parent_database="db-tasks", properties={"Name": "Write docs", "Status": "Done"})
        server.slack.add_channel("C100", "general")
        yield server


def _configure(home: Path, svc: ServiceServer) -> None:
    (home / "config.toml").write_text(
        f'[integrations.github]\nbase_url = "{svc.github_url}"\n\n'
        f'[integrations.notion]\nbase_url = "{svc.notion_url}"\n\n'
        f'[integrations.slack]\nbase_url = "{svc.slack_url}"\n', encoding="utf-8")


@pytest.fixture
def wired(home: Path, svc: ServiceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """A runner whose services are the loopback ones, with every token set."""
    _configure(home, svc)
    for service, name in ENV.items():
        monkeypatch.setenv(name, TOKENS[service])
    (tmp_path / "ws").mkdir()
    with Store(home / "gorgon.db") as store:
        yield Runner(load_config(), store)


async def test_reads_run_freely_with_typed_arguments(wired: Runner, svc: ServiceServer, tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["github"], [
        ("github.read_file", {"repo": "octo/site", "path": "docs/guide.md"}),
        ("github.get_repository", {"repo": "octo/site"}),
    ])
    assert acted.result.ok, acted.result.error
    guide, info = acted.read
    assert guide == "# Guide\n\nold line\n"
    assert json.loads(info)["description"] == "The web site"
    assert acted.approvals == []
    specs = {spec.name: spec for spec in acted.model.requests[0].tools}
    assert "github_create_issue" in specs and "github_commit_file" in specs
    issue = specs["github_get_issue"]
    assert issue.description.startswith("An issue (or pull request) by number")
    assert issue.schema["properties"]["number"]["type"] == "integer"
    assert issue.schema["required"] == ["repo", "number"]
    labels = specs["github_create_issue"].schema["properties"]["labels"]
    assert {"type": "array", "items": {"type": "string"}} in labels["anyOf"]


async def test_a_write_is_approved_with_the_actions_preview(wired: Runner, svc: ServiceServer,
                                                            tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["github.create_issue"], [
        ("github.create_issue", {"repo": "octo/site", "title": "Broken link", "body": "The *About* link 404s.",
                                 "labels": ["bug"]})])
    assert acted.result.ok, acted.result.error
    (approval,) = acted.approvals
    assert approval.preview.startswith("**Create an issue in octo/site: Broken link**\n\n")
    assert "The *About* link 404s." in approval.preview and "**Labels:** bug" in approval.preview
    (post,) = [r for r in svc.requests_to("github") if r.method == "POST"]
    assert post.body == {"title": "Broken link", "body": "The *About* link 404s.", "labels": ["bug"]}
    assert json.loads(acted.read[0]) == {"number": 1, "url": "https://github.com/octo/site/issues/1",
                                         "title": "Broken link"}


async def test_a_commit_refuses_to_overwrite_a_file_changed_after_its_diff_was_shown(
        wired: Runner, svc: ServiceServer, tmp_path: Path) -> None:
    def someone_else_commits() -> None:
        svc.github.add_file("octo/site", "docs/guide.md", "# Guide\n\ntheir line\n")

    acted = await act(wired, tmp_path, ["github.commit_file"], [
        ("github.commit_file", {"repo": "octo/site", "path": "docs/guide.md", "content": "# Guide\n\nmy line\n"})],
        meanwhile=someone_else_commits)
    (approval,) = acted.approvals
    assert "-old line\n+my line" in approval.preview
    assert "docs/guide.md changed in octo/site (main) after its diff was shown for approval" in acted.read[0]
    assert svc.github.file_text("octo/site", "docs/guide.md") == "# Guide\n\ntheir line\n"
    assert not [r for r in svc.requests_to("github") if r.method == "PUT"]


async def test_an_approved_commit_is_sent_over_the_version_shown(wired: Runner, svc: ServiceServer,
                                                                 tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["github.commit_file"], [
        ("github.commit_file", {"repo": "octo/site", "path": "docs/guide.md", "content": "# Guide\n\nmy line\n"})])
    assert json.loads(acted.read[0])["changed"] is True
    assert svc.github.file_text("octo/site", "docs/guide.md") == "# Guide\n\nmy line\n"


async def test_a_write_that_may_have_happened_says_so(wired: Runner, svc: ServiceServer, tmp_path: Path) -> None:
    svc.fault("github", "POST", "/repos/octo/site/issues", status=502)
    acted = await act(wired, tmp_path, ["github.create_issue"], [
        ("github.create_issue", {"repo": "octo/site", "title": "Broken link"})], auto_approve=True)
    assert acted.result.ok, acted.result.error
    assert acted.read[0].endswith("It may have been written anyway: check GitHub before calling it again")
    assert acted.errors == [True]


async def test_a_rejected_write_sends_nothing(wired: Runner, svc: ServiceServer, tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["slack.post_message"], [
        ("slack.post_message", {"channel": "C100", "text": "Deploying now"})], approve=False, comment="not today")
    assert acted.result.ok, acted.result.error
    (approval,) = acted.approvals
    assert "Deploying now" in approval.preview
    assert acted.read == ["this call was rejected by alice, who said: not today. Do not repeat it as it was."]
    assert svc.writes() == [] and svc.slack.messages == []


async def test_an_approved_slack_message_is_posted(wired: Runner, svc: ServiceServer, tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["slack"], [("slack.post_message", {"channel": "C100", "text": "Hi **all**"})])
    assert acted.result.ok, acted.result.error
    assert len(acted.approvals) == 1
    (message,) = svc.slack.messages
    assert message["channel"] == "C100" and "all" in message["text"]


async def test_wrong_arguments_and_service_errors_are_the_models_to_read(wired: Runner, svc: ServiceServer,
                                                                         tmp_path: Path) -> None:
    acted = await act(wired, tmp_path, ["github.get_issue", "github.read_file", "notion.search"], [
        ("github.get_issue", {"repo": "octo/site", "number": "first"}),
        ("github.read_file", {"repo": "octo/site", "path": "missing.md"}),
        ("notion.search", {"query": "Write"}),
    ])
    assert acted.result.ok, acted.result.error
    wrong, missing, found = acted.read
    assert wrong.startswith("the arguments do not fit github.get_issue: number: Input should be a valid integer")
    assert "no file missing.md in octo/site" in missing
    assert "Write docs" in found
    assert acted.errors == [True, True, False]
    assert svc.requests_to("github")  # the SDK really went out to the loopback server
    assert not any("/issues/" in r.path for r in svc.requests_to("github"))  # refused before it was sent


async def test_a_missing_token_is_said_before_the_model_is_asked(home: Path, svc: ServiceServer, tmp_path: Path,
                                                                 store: Store) -> None:
    _configure(home, svc)
    (tmp_path / "ws").mkdir()
    runner = Runner(load_config(), store)
    with pytest.raises(ConfigError) as caught:
        await act(runner, tmp_path, ["github.create_issue"], [
            ("github.create_issue", {"repo": "octo/site", "title": "x"})])
    assert str(caught.value).startswith("GitHub steps need a token: set GITHUB_TOKEN, or put token = \"...\" under "
                                        "[integrations.github] in the config file")
    assert svc.requests_to("github") == []


def test_an_unknown_action_is_refused_with_the_closest_name(config: object) -> None:
    workflow = Workflow.from_yaml("id: t\nsteps:\n  - {id: a, llm: hi, tools: [github.create_isue]}\n")
    with pytest.raises(WorkflowError) as caught:
        workflow.compile()
    assert "unknown github action 'create_isue'; did you mean 'create_issue'?" in str(caught.value)

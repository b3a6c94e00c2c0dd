"""The loopback GitHub, Notion and Slack server, driven by the real SDKs (PyGithub,
notion-client, slack_sdk): what each SDK makes of the answers, what the server logged,
the state it kept, injected faults and refused credentials.

Every client is built without retries, so a fault answers at once and nothing sleeps.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import notion_client
import pytest
from github import Auth, Github, GithubException
from github.GithubException import (
    BadCredentialsException,
    RateLimitExceededException,
    UnknownObjectException,
)
from notion_client import APIErrorCode, APIResponseError
from notion_client.helpers import collect_paginated_api
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from gorgon_nb.testing import ServiceRequest, ServiceServer

TOKENS = {"github": "ghp_test", "notion": "ntn_test", "slack": "xoxb-test"}


@pytest.fixture
def svc() -> Iterator[ServiceServer]:
    with ServiceServer(tokens=TOKENS) as server:
        yield server


def github(svc: ServiceServer, token: str = "ghp_test", **options: Any) -> Github:
    return Github(
        base_url=svc.github_url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **options,
    )


@pytest.fixture
def gh(svc: ServiceServer) -> Iterator[Github]:
    client = github(svc)
    yield client
    client.close()


@pytest.fixture
def lazy(svc: ServiceServer) -> Iterator[Github]:
    """A client whose objects fetch nothing until an attribute is read."""
    client = github(svc, lazy=True)
    yield client
    client.close()


@pytest.fixture
def notion(svc: ServiceServer) -> Iterator[notion_client.Client]:
    client = notion_client.Client(auth="ntn_test", base_url=svc.notion_url, retry=False)
    yield client
    client.close()


@pytest.fixture
def slack(svc: ServiceServer) -> WebClient:
    return WebClient(token="xoxb-test", base_url=svc.slack_url, retry_handlers=[])


def call(request: ServiceRequest) -> tuple[str, str, Any]:
    return request.method, request.path, request.body


# --------------------------------------------------------------------------------------
# GitHub


def test_github_repositories_are_paginated_with_absolute_links(svc: ServiceServer) -> None:
    for name in ("o/a", "o/b", "o/c"):
        svc.github.add_repo(name, description=f"repo {name}", private=name == "o/b")
    client = github(svc, per_page=2)
    repos = list(client.get_user().get_repos())
    client.close()
    assert [r.full_name for r in repos] == ["o/a", "o/b", "o/c"]
    assert [r.private for r in repos] == [False, True, False]
    assert repos[0].description == "repo o/a" and repos[0].html_url == "https://github.com/o/a"
    assert repos[0].default_branch == "main"
    first, second = svc.requests
    assert (first.method, first.path, first.query) == ("GET", "/user/repos", {"per_page": "2"})
    assert second.query == {"per_page": "2", "page": "2"}
    assert first.headers["authorization"] == "token ghp_test"
    assert svc.writes() == []


def test_github_link_header_names_the_next_page(svc: ServiceServer) -> None:
    for name in ("o/a", "o/b", "o/c"):
        svc.github.add_repo(name)
    request = urllib.request.Request(
        f"{svc.github_url}/user/repos?per_page=2", headers={"Authorization": "Bearer ghp_test"}
    )
    with urllib.request.urlopen(request) as response:
        link = response.headers["Link"]
        assert len(json.load(response)) == 2
    assert f'<{svc.github_url}/user/repos?per_page=2&page=2>; rel="next"' in link


def test_github_repository_and_unknown_one(svc: ServiceServer, gh: Github) -> None:
    svc.github.add_repo("o/r", description="The docs", default_branch="trunk")
    repo = gh.get_repo("o/r")
    assert (repo.full_name, repo.description, repo.default_branch) == ("o/r", "The docs", "trunk")
    assert repo.url == f"{svc.github_url}/repos/o/r"
    with pytest.raises(UnknownObjectException) as caught:
        gh.get_repo("o/missing")
    assert caught.value.status == 404
    assert caught.value.data["message"] == "Not Found"
    assert [(r.path, r.status) for r in svc.requests] == [
        ("/repos/o/r", 200),
        ("/repos/o/missing", 404),
    ]


def test_github_issue_and_comment(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    repo = lazy.get_repo("o/r")
    issue = repo.create_issue(title="Broken link", body="See docs/a.md", labels=["bug"])
    assert (issue.number, issue.title, issue.state) == (1, "Broken link", "open")
    assert issue.html_url == "https://github.com/o/r/issues/1"
    assert [label.name for label in issue.labels] == ["bug"]
    assert issue.user.login == "octo"
    comment = issue.create_comment("Fixed in #2")
    assert comment.body == "Fixed in #2"
    assert comment.html_url == f"https://github.com/o/r/issues/1#issuecomment-{comment.id}"
    again = repo.get_issue(1)
    assert (again.title, again.comments, again.pull_request) == ("Broken link", 1, None)
    assert [call(r) for r in svc.writes()] == [
        (
            "POST",
            "/repos/o/r/issues",
            {"title": "Broken link", "body": "See docs/a.md", "labels": ["bug"]},
        ),
        ("POST", "/repos/o/r/issues/1/comments", {"body": "Fixed in #2"}),
    ]
    assert svc.github.issues[("o/r", 1)]["labels"] == ["bug"]
    assert [c["body"] for c in svc.github.comments[("o/r", 1)]] == ["Fixed in #2"]
    with pytest.raises(UnknownObjectException):
        _ = repo.get_issue(7).title  # a lazy object is fetched when read


def test_github_contents_by_ref_and_a_path_with_a_space(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    svc.github.add_file("o/r", "docs/a b.md", "# Hello\n")
    svc.github.add_file("o/r", "docs/a b.md", "# Draft\n", branch="draft")
    svc.github.add_file("o/r", "docs/sub/c.md", "c")
    repo = lazy.get_repo("o/r")
    main = repo.get_contents("docs/a b.md")
    draft = repo.get_contents("docs/a b.md", ref="draft")
    assert not isinstance(main, list) and not isinstance(draft, list)
    assert (main.decoded_content, draft.decoded_content) == (b"# Hello\n", b"# Draft\n")
    assert (main.path, main.name, main.size) == ("docs/a b.md", "a b.md", 8)
    listing = repo.get_contents("docs")
    assert isinstance(listing, list)
    assert [(c.type, c.path) for c in listing] == [("file", "docs/a b.md"), ("dir", "docs/sub")]
    assert [(r.path, r.query) for r in svc.requests[:2]] == [
        ("/repos/o/r/contents/docs/a b.md", {}),
        ("/repos/o/r/contents/docs/a b.md", {"ref": "draft"}),
    ]
    with pytest.raises(UnknownObjectException):
        repo.get_contents("docs/missing.md")
    # PyGithub keeps UnknownObjectException for messages saying "not found".
    with pytest.raises(GithubException) as caught:
        repo.get_contents("docs/a b.md", ref="nope")
    assert (caught.value.status, caught.value.data["message"]) == (
        404,
        "No commit found for the ref nope",
    )


def test_github_create_and_update_file(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    head = svc.github.repos["o/r"]["branches"]["main"]
    repo = lazy.get_repo("o/r")
    created = repo.create_file("docs/new.md", "Add a page", "one", branch="main")
    assert created["commit"].sha != head
    assert svc.github.repos["o/r"]["branches"]["main"] == created["commit"].sha
    assert svc.github.file_text("o/r", "docs/new.md") == "one"
    put = svc.writes()[0]
    assert (put.method, put.path) == ("PUT", "/repos/o/r/contents/docs/new.md")
    assert put.body == {
        "message": "Add a page",
        "content": base64.b64encode(b"one").decode(),
        "branch": "main",
    }
    assert put.status == 201
    sha = created["content"].sha
    updated = repo.update_file("docs/new.md", "Edit the page", "two", sha, branch="main")
    assert updated["content"].sha != sha
    assert svc.github.repos["o/r"]["files"][("main", "docs/new.md")] == "two"
    with pytest.raises(GithubException) as caught:
        repo.update_file("docs/new.md", "Stale edit", "three", sha)
    assert caught.value.status == 409
    assert caught.value.data["message"] == f"docs/new.md does not match {sha}"
    with pytest.raises(GithubException) as caught:
        repo.create_file("docs/x.md", "On a ghost branch", "x", branch="ghost")
    assert (caught.value.status, caught.value.data["message"]) == (404, "Branch ghost not found")
    assert svc.github.commits == [
        {
            "repo": "o/r",
            "branch": "main",
            "path": "docs/new.md",
            "message": "Add a page",
            "content": "one",
        },
        {
            "repo": "o/r",
            "branch": "main",
            "path": "docs/new.md",
            "message": "Edit the page",
            "content": "two",
        },
    ]


def test_github_update_without_sha_is_refused(svc: ServiceServer) -> None:
    svc.github.add_repo("o/r")
    svc.github.add_file("o/r", "a.md", "x")
    content = base64.b64encode(b"y").decode()
    request = urllib.request.Request(
        f"{svc.github_url}/repos/o/r/contents/a.md",
        data=json.dumps({"message": "m", "content": content}).encode(),
        headers={"Authorization": "token ghp_test", "Content-Type": "application/json"},
        method="PUT",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 422
    assert json.load(caught.value)["message"] == "sha wasn't supplied."
    assert svc.github.file_text("o/r", "a.md") == "x"


def test_github_branch_and_new_ref(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    svc.github.add_file("o/r", "docs/a.md", "A")
    repo = lazy.get_repo("o/r")
    branch = repo.get_branch("main")
    assert (branch.name, branch.protected) == ("main", False)
    assert branch.commit.sha == svc.github.repos["o/r"]["branches"]["main"]
    ref = repo.create_git_ref("refs/heads/feat", branch.commit.sha)
    assert (ref.ref, ref.object.sha, ref.object.type) == (
        "refs/heads/feat",
        branch.commit.sha,
        "commit",
    )
    assert svc.github.file_text("o/r", "docs/a.md", branch="feat") == "A"
    with pytest.raises(GithubException) as caught:
        repo.create_git_ref("refs/heads/feat", branch.commit.sha)
    assert (caught.value.status, caught.value.data["message"]) == (422, "Reference already exists")
    with pytest.raises(UnknownObjectException) as caught:
        repo.get_branch("nope")
    assert caught.value.data["message"] == "Branch not found"
    assert call(svc.writes()[0]) == (
        "POST",
        "/repos/o/r/git/refs",
        {"ref": "refs/heads/feat", "sha": branch.commit.sha},
    )


def test_github_pull_requests(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    svc.github.add_file("o/r", "docs/a.md", "changed", branch="feat")
    repo = lazy.get_repo("o/r")
    repo.create_issue(title="First")
    pull = repo.create_pull(title="Update docs", body="Please", head="feat", base="main")
    assert (pull.number, pull.state, pull.merged) == (2, "open", False)
    assert pull.html_url == "https://github.com/o/r/pull/2"
    assert (pull.head.ref, pull.base.ref, pull.head.label) == ("feat", "main", "o:feat")
    assert pull.head.sha == svc.github.repos["o/r"]["branches"]["feat"]
    with pytest.raises(GithubException) as caught:
        repo.create_pull(title="Again", body="", head="feat", base="main")
    assert caught.value.status == 422
    assert caught.value.data["errors"][0]["message"] == "A pull request already exists for o:feat."
    with pytest.raises(GithubException) as caught:
        repo.create_pull(title="Ghost", body="", head="ghost", base="main")
    assert caught.value.data["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]
    assert repo.get_pull(2).title == "Update docs"
    assert repo.get_issue(2).pull_request is not None
    found = repo.get_pulls(state="open", head="o:feat", base="main")
    assert [p.number for p in found] == [2]
    assert list(repo.get_pulls(state="open", head="o:other", base="main")) == []
    listing = svc.requests[-2]
    assert (listing.path, listing.query) == (
        "/repos/o/r/pulls",
        {"state": "open", "head": "o:feat", "base": "main"},
    )
    assert svc.github.pulls[("o/r", 2)]["head"] == "feat"
    assert svc.github.issues[("o/r", 2)]["title"] == "Update docs"


def test_github_rate_limit_fault_carries_its_headers(svc: ServiceServer, lazy: Github) -> None:
    svc.github.add_repo("o/r")
    headers = {
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1700000000",
        "Retry-After": "1",
        "X-Accepted-GitHub-Permissions": "issues=write",
    }
    svc.fault("github", "POST", "/repos/*/issues", status=403, headers=headers)
    repo = lazy.get_repo("o/r")
    with pytest.raises(RateLimitExceededException) as caught:
        repo.create_issue(title="Hi")
    assert caught.value.status == 403
    assert caught.value.headers is not None
    assert caught.value.headers["x-ratelimit-remaining"] == "0"
    assert caught.value.headers["x-accepted-github-permissions"] == "issues=write"
    assert caught.value.data["message"] == "API rate limit exceeded for user ID 1."
    assert svc.github.issues == {}
    assert repo.create_issue(title="Hi").number == 1  # the fault was used once
    first, second = svc.requests
    assert (first.fault, first.status, second.fault, second.status) == (True, 403, False, 201)
    assert svc.pending_faults == []


def test_github_server_error_fault_and_times(svc: ServiceServer, gh: Github) -> None:
    svc.github.add_repo("o/r")
    svc.fault("github", "get", "/repos/o/r", status=502, times=2)
    for _ in range(2):
        with pytest.raises(GithubException) as caught:
            gh.get_repo("o/r")
        assert (caught.value.status, caught.value.data) == (502, {"message": "Server Error"})
    assert gh.get_repo("o/r").name == "r"


def test_github_bad_credentials(svc: ServiceServer) -> None:
    svc.github.add_repo("o/r")
    client = github(svc, token="ghp_wrong")
    with pytest.raises(BadCredentialsException) as caught:
        client.get_repo("o/r")
    client.close()
    assert caught.value.status == 401
    [request] = svc.requests
    assert (request.status, request.headers["authorization"]) == (401, "token ghp_wrong")


# --------------------------------------------------------------------------------------
# Notion


def seed_tasks(svc: ServiceServer) -> dict[str, str]:
    svc.notion.add_database(
        "db-tasks",
        title="Tasks",
        properties={"Name": "title", "Status": "select", "Tags": "multi_select", "Type": "select"},
    )
    rows = [
        ("Write docs", "In Progress", ["docs"], "Task"),
        ("Fix bug", "Done", ["code"], "Bug"),
        ("Review docs", "In Progress", ["docs", "review"], "Task"),
    ]
    return {
        name: svc.notion.add_page(
            parent_database="db-tasks",
            properties={"Name": name, "Status": status, "Tags": tags, "Type": kind},
        )
        for name, status, tags, kind in rows
    }


def test_notion_database_and_data_source(svc: ServiceServer, notion: notion_client.Client) -> None:
    seed_tasks(svc)
    database: Any = notion.databases.retrieve(database_id="db-tasks")
    assert database["object"] == "database"
    assert database["title"][0]["plain_text"] == "Tasks"
    assert database["data_sources"] == [{"id": "ds-db-tasks", "name": "Tasks"}]
    source: Any = notion.data_sources.retrieve(data_source_id="ds-db-tasks")
    assert source["parent"] == {"type": "database_id", "database_id": "db-tasks"}
    assert {name: prop["type"] for name, prop in source["properties"].items()} == {
        "Name": "title",
        "Status": "select",
        "Tags": "multi_select",
        "Type": "select",
    }
    options = source["properties"]["Status"]["select"]["options"]
    assert [option["name"] for option in options] == ["In Progress", "Done"]
    with pytest.raises(APIResponseError) as caught:
        notion.databases.retrieve(database_id="db-missing")
    assert (caught.value.code, caught.value.status) == (APIErrorCode.ObjectNotFound, 404)
    assert "Could not find database with ID: db-missing" in str(caught.value)
    request = svc.requests[0]
    assert (request.method, request.path) == ("GET", "/v1/databases/db-tasks")
    assert request.headers["notion-version"] == "2025-09-03"
    assert request.headers["authorization"] == "Bearer ntn_test"


def test_notion_query_filters_sorts_and_pages(
    svc: ServiceServer, notion: notion_client.Client
) -> None:
    pages = seed_tasks(svc)
    flt = {
        "and": [
            {"property": "Type", "select": {"equals": "Task"}},
            {
                "or": [
                    {"property": "Name", "title": {"contains": "DOCS"}},
                    {"property": "Status", "select": {"equals": "Done"}},
                ]
            },
        ]
    }
    sorts = [{"property": "Name", "direction": "descending"}]
    results = collect_paginated_api(
        notion.data_sources.query,
        data_source_id="ds-db-tasks",
        filter=flt,
        sorts=sorts,
        page_size=1,
    )
    names = [r["properties"]["Name"]["title"][0]["plain_text"] for r in results]
    assert names == ["Write docs", "Review docs"]
    assert results[0]["id"] == pages["Write docs"]
    assert results[0]["parent"] == {
        "type": "data_source_id",
        "data_source_id": "ds-db-tasks",
        "database_id": "db-tasks",
    }
    first, second = svc.requests
    assert (first.method, first.path) == ("POST", "/v1/data_sources/ds-db-tasks/query")
    assert first.body == {"filter": flt, "sorts": sorts, "page_size": 1}
    assert second.body["start_cursor"] == "1"
    assert svc.writes() == []
    newest: Any = notion.data_sources.query(
        data_source_id="ds-db-tasks",
        sorts=[{"timestamp": "created_time", "direction": "descending"}],
    )
    assert newest["results"][0]["id"] == pages["Review docs"]
    assert newest["has_more"] is False and newest["next_cursor"] is None
    with pytest.raises(APIResponseError) as caught:
        notion.data_sources.query(data_source_id="ds-db-tasks", sorts=[{"property": "Due"}])
    assert caught.value.code == APIErrorCode.ValidationError
    assert str(caught.value) == "Could not find sort property with name or id: Due"


def test_notion_search(svc: ServiceServer, notion: notion_client.Client) -> None:
    pages = seed_tasks(svc)
    found: Any = notion.search(query="docs", filter={"property": "object", "value": "page"})
    assert [r["id"] for r in found["results"]] == [pages["Write docs"], pages["Review docs"]]
    sources: Any = notion.search(filter={"property": "object", "value": "data_source"})
    assert [(r["object"], r["id"]) for r in sources["results"]] == [("data_source", "ds-db-tasks")]
    assert svc.requests[0].path == "/v1/search" and svc.writes() == []


def test_notion_create_retrieve_update_pages(
    svc: ServiceServer, notion: notion_client.Client
) -> None:
    seed_tasks(svc)
    children = [
        {
            "object": "block",
            "type": "paragraph",
            "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Hello"}}]},
        }
    ]
    created: Any = notion.pages.create(
        parent={"database_id": "db-tasks"},
        properties={
            "Name": {"title": [{"text": {"content": "Ship it"}}]},
            "Status": {"select": {"name": "Todo"}},
        },
        children=children,
    )
    page_id = created["id"]
    assert created["object"] == "page" and created["in_trash"] is False
    assert created["url"] == f"https://www.notion.so/{page_id.replace('-', '')}"
    assert created["parent"]["data_source_id"] == "ds-db-tasks"
    assert created["properties"]["Name"]["title"][0]["plain_text"] == "Ship it"
    assert created["properties"]["Tags"] == {
        "id": created["properties"]["Tags"]["id"],
        "type": "multi_select",
        "multi_select": [],
    }
    assert svc.notion.blocks[page_id][0]["paragraph"]["rich_text"][0]["plain_text"] == "Hello"
    sub: Any = notion.pages.create(
        parent={"page_id": page_id}, properties={"title": [{"text": {"content": "Notes"}}]}
    )
    assert sub["parent"] == {"type": "page_id", "page_id": page_id}
    assert svc.notion.values(sub["id"]) == {"title": "Notes"}
    fetched: Any = notion.pages.retrieve(page_id=page_id)
    assert fetched["properties"]["Status"]["select"]["name"] == "Todo"
    updated: Any = notion.pages.update(
        page_id=page_id, properties={"Status": {"select": {"name": "Done"}}}
    )
    assert updated["properties"]["Status"]["select"]["name"] == "Done"
    assert updated["last_edited_time"] > created["last_edited_time"]
    trashed: Any = notion.pages.update(page_id=page_id, in_trash=True)
    assert trashed["in_trash"] is True
    assert svc.notion.values(page_id)["Status"] == "Done"
    assert [(r.method, r.path) for r in svc.writes()] == [
        ("POST", "/v1/pages"),
        ("POST", "/v1/pages"),
        ("PATCH", f"/v1/pages/{page_id}"),
        ("PATCH", f"/v1/pages/{page_id}"),
    ]
    assert svc.writes()[0].body["parent"] == {"database_id": "db-tasks"}
    with pytest.raises(APIResponseError) as caught:
        notion.pages.create(
            parent={"type": "data_source_id", "data_source_id": "ds-db-tasks"},
            properties={"Name": {"title": []}, "Owner": {"rich_text": []}},
        )
    assert (caught.value.code, str(caught.value)) == (
        APIErrorCode.ValidationError,
        "Owner is not a property that exists.",
    )


def paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "paragraph": {"rich_text": [{"text": {"content": text}}]}}


def test_notion_blocks(svc: ServiceServer, notion: notion_client.Client) -> None:
    page_id = svc.notion.add_page(title="Doc")
    appended: Any = notion.blocks.children.append(
        block_id=page_id, children=[paragraph("one"), paragraph("three")]
    )
    one, three = appended["results"]
    assert one["object"] == "block" and one["type"] == "paragraph"
    assert one["parent"] == {"type": "page_id", "page_id": page_id}
    assert one["paragraph"]["rich_text"][0]["plain_text"] == "one"
    notion.blocks.children.append(block_id=page_id, children=[paragraph("two")], after=one["id"])
    listed = collect_paginated_api(notion.blocks.children.list, block_id=page_id, page_size=2)
    assert [b["paragraph"]["rich_text"][0]["plain_text"] for b in listed] == ["one", "two", "three"]
    changed: Any = notion.blocks.update(
        block_id=three["id"], paragraph={"rich_text": [{"text": {"content": "3"}}]}
    )
    assert changed["paragraph"]["rich_text"][0]["plain_text"] == "3"
    deleted: Any = notion.blocks.delete(block_id=one["id"])
    assert deleted["in_trash"] is True
    left: Any = notion.blocks.children.list(block_id=page_id)
    assert [b["paragraph"]["rich_text"][0]["plain_text"] for b in left["results"]] == ["two", "3"]
    assert [(r.method, r.path) for r in svc.writes()] == [
        ("PATCH", f"/v1/blocks/{page_id}/children"),
        ("PATCH", f"/v1/blocks/{page_id}/children"),
        ("PATCH", f"/v1/blocks/{three['id']}"),
        ("DELETE", f"/v1/blocks/{one['id']}"),
    ]
    assert svc.writes()[1].body == {"children": [paragraph("two")], "after": one["id"]}
    assert [b["in_trash"] for b in svc.notion.blocks[page_id]] == [True, False, False]


def test_notion_limits(svc: ServiceServer, notion: notion_client.Client) -> None:
    page_id = svc.notion.add_page(title="Doc")
    with pytest.raises(APIResponseError) as caught:
        notion.blocks.children.append(block_id=page_id, children=[paragraph("x" * 2001)])
    assert caught.value.code == APIErrorCode.ValidationError
    assert str(caught.value) == (
        "body failed validation: body.children[0].paragraph.rich_text[0].text.content.length "
        "should be ≤ `2000`, instead was `2001`."
    )
    with pytest.raises(APIResponseError) as caught:
        notion.pages.create(
            parent={"page_id": page_id},
            properties={"title": [{"text": {"content": "Long"}}]},
            children=[paragraph("x")] * 101,
        )
    assert "body.children.length should be ≤ `100`, instead was `101`." in str(caught.value)
    assert svc.notion.blocks[page_id] == [] and len(svc.notion.pages) == 1
    assert [r.status for r in svc.requests] == [400, 400]


def test_notion_rate_limit_fault(svc: ServiceServer, notion: notion_client.Client) -> None:
    page_id = svc.notion.add_page(title="Doc")
    svc.fault("notion", "PATCH", "/v1/pages/*", status=429, headers={"Retry-After": "1"})
    with pytest.raises(APIResponseError) as caught:
        notion.pages.update(page_id=page_id, in_trash=True)
    assert (caught.value.code, caught.value.status) == (APIErrorCode.RateLimited, 429)
    assert caught.value.headers["retry-after"] == "1"
    assert svc.notion.pages[page_id]["in_trash"] is False
    [request] = svc.requests
    assert (request.fault, request.status, request.body) == (True, 429, {"in_trash": True})


def test_notion_bad_token(svc: ServiceServer) -> None:
    client = notion_client.Client(auth="ntn_wrong", base_url=svc.notion_url, retry=False)
    with pytest.raises(APIResponseError) as caught:
        client.search(query="x")
    client.close()
    assert (caught.value.code, caught.value.status) == (APIErrorCode.Unauthorized, 401)
    assert str(caught.value) == "API token is invalid."
    assert svc.requests[0].status == 401


# --------------------------------------------------------------------------------------
# Slack


@pytest.fixture
def general(svc: ServiceServer) -> str:
    svc.slack.add_channel("C100", "general")
    return "C100"


def test_slack_post_by_id_name_and_hash_name_and_in_a_thread(
    svc: ServiceServer, slack: WebClient, general: str
) -> None:
    first = slack.chat_postMessage(channel="C100", text="by id")
    assert (first["ok"], first["channel"], first["ts"]) == (True, "C100", "1700000000.000100")
    assert first["message"]["text"] == "by id" and first["message"]["bot_id"] == "B1"
    assert slack.chat_postMessage(channel="general", text="by name")["channel"] == "C100"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hash*"}}]
    by_hash = slack.chat_postMessage(channel="#general", text="by hash", blocks=blocks)
    reply = slack.chat_postMessage(channel="C100", text="a reply", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]
    assert [(m["text"], m["thread_ts"]) for m in svc.slack.messages] == [
        ("by id", None),
        ("by name", None),
        ("by hash", None),
        ("a reply", first["ts"]),
    ]
    assert svc.slack.messages[2]["blocks"] == blocks and by_hash["message"]["blocks"] == blocks
    posts = svc.writes()
    assert [(r.method, r.path) for r in posts] == [("POST", "chat.postMessage")] * 4
    assert posts[2].body == {"channel": "#general", "text": "by hash", "blocks": blocks}
    assert posts[0].headers["authorization"] == "Bearer xoxb-test"
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="C100", text="lost", thread_ts="1.000000")
    assert caught.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="#random", text="hi")
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="C100", text="x" * 40_001)
    assert caught.value.response["error"] == "msg_too_long"
    assert len(svc.slack.messages) == 4


def test_slack_update_and_reactions(svc: ServiceServer, slack: WebClient, general: str) -> None:
    ts = slack.chat_postMessage(channel="C100", text="draft")["ts"]
    updated = slack.chat_update(channel="C100", ts=ts, text="final")
    assert (updated["channel"], updated["ts"], updated["text"]) == ("C100", ts, "final")
    assert svc.slack.messages[0]["text"] == "final"
    slack.reactions_add(channel="C100", timestamp=ts, name="white_check_mark")
    with pytest.raises(SlackApiError) as caught:
        slack.reactions_add(channel="C100", timestamp=ts, name="white_check_mark")
    assert caught.value.response["error"] == "already_reacted"
    assert svc.slack.messages[0]["reactions"] == {"white_check_mark": ["UBOT"]}
    with pytest.raises(SlackApiError) as caught:
        slack.chat_update(channel="C100", ts="1.000000", text="x")
    assert caught.value.response["error"] == "message_not_found"
    react = svc.writes()[2]
    assert (react.path, react.body) == (
        "reactions.add",
        {"channel": "C100", "timestamp": ts, "name": "white_check_mark"},
    )
    assert [r.path for r in svc.writes()] == [
        "chat.postMessage",
        "chat.update",
        "reactions.add",
        "reactions.add",
        "chat.update",
    ]


def test_slack_thread_and_metadata_are_kept(svc: ServiceServer, slack: WebClient, general: str) -> None:
    metadata = {"event_type": "task_done", "event_payload": {"id": 42}}
    parent = slack.chat_postMessage(channel="C100", text="done", metadata=metadata)["ts"]
    reply = slack.chat_postMessage(channel="C100", text="details", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    assert [(m["text"], m["thread_ts"], m["metadata"]) for m in svc.slack.messages] == [
        ("done", None, metadata),
        ("details", parent, None),
    ]
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="C100", text="lost", thread_ts="1.000000")
    assert caught.value.response["error"] == "thread_not_found"


def test_slack_missing_scope(svc: ServiceServer, slack: WebClient, general: str) -> None:
    svc.slack.scopes.discard("reactions:write")
    ts = slack.chat_postMessage(channel="C100", text="hi")["ts"]
    with pytest.raises(SlackApiError) as caught:
        slack.reactions_add(channel="C100", timestamp=ts, name="eyes")
    response = caught.value.response
    assert response["error"] == "missing_scope"
    assert response["needed"] == "reactions:write"
    assert response["provided"] == "chat:write"
    assert response.headers["x-accepted-oauth-scopes"] == "reactions:write"
    assert response.headers["x-oauth-scopes"] == "chat:write"
    assert svc.slack.messages[0]["reactions"] == {}


def test_slack_rate_limit_fault(svc: ServiceServer, slack: WebClient, general: str) -> None:
    svc.fault("slack", "POST", "chat.postMessage", status=429, headers={"Retry-After": "1"})
    with pytest.raises(SlackApiError) as caught:
        slack.chat_postMessage(channel="C100", text="hi")
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response["error"] == "ratelimited"
    assert svc.slack.messages == []
    assert slack.chat_postMessage(channel="C100", text="hi")["ok"] is True
    svc.fault("slack", "*", "chat.*", status=200, body={"ok": False, "error": "fatal_error"})
    with pytest.raises(SlackApiError) as caught:
        slack.chat_update(channel="C100", ts=svc.slack.messages[0]["ts"], text="x")
    assert caught.value.response["error"] == "fatal_error"
    assert [(r.path, r.fault) for r in svc.requests] == [
        ("chat.postMessage", True),
        ("chat.postMessage", False),
        ("chat.update", True),
    ]


def test_slack_credentials(svc: ServiceServer, general: str) -> None:
    assert WebClient(token="xoxb-test", base_url=svc.slack_url).chat_postMessage(channel="C100", text="ok")["ok"]
    wrong = WebClient(token="xoxb-wrong", base_url=svc.slack_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as caught:
        wrong.chat_postMessage(channel="C100", text="hi")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "invalid_auth"
    assert [m["text"] for m in svc.slack.messages] == ["ok"]
    assert [(r.path, r.status) for r in svc.writes()] == [("chat.postMessage", 200)] * 2  # both logged


# --------------------------------------------------------------------------------------
# The log


def test_log_across_services(
    svc: ServiceServer, gh: Github, notion: notion_client.Client, slack: WebClient, general: str
) -> None:
    svc.github.add_repo("o/r")
    database = svc.notion.add_database(title="Notes")
    gh.get_repo("o/r").create_issue(title="t")
    notion.data_sources.query(data_source_id=f"ds-{database}")
    notion.search(query="x")
    slack.chat_postMessage(channel="C100", text="hi")
    assert [(r.service, r.method, r.path) for r in svc.requests] == [
        ("github", "GET", "/repos/o/r"),
        ("github", "POST", "/repos/o/r/issues"),
        ("notion", "POST", f"/v1/data_sources/ds-{database}/query"),
        ("notion", "POST", "/v1/search"),
        ("slack", "POST", "chat.postMessage"),
    ]
    assert [(r.service, r.path) for r in svc.writes()] == [
        ("github", "/repos/o/r/issues"),
        ("slack", "chat.postMessage"),
    ]
    assert [r.path for r in svc.requests_to("notion")] == [
        f"/v1/data_sources/ds-{database}/query",
        "/v1/search",
    ]
    svc.clear()
    assert svc.requests == [] and svc.github.issues[("o/r", 1)]["title"] == "t"


def test_unknown_endpoints_answer_as_each_service_would(svc: ServiceServer) -> None:
    def fetch(url: str, token: str) -> tuple[int, Any]:
        request = urllib.request.Request(url, headers={"Authorization": token})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    assert fetch(f"{svc.github_url}/orgs/o/teams", "token ghp_test") == (
        404,
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
    )
    status, body = fetch(f"{svc.notion_url}/v1/comments", "Bearer ntn_test")
    assert (status, body["code"]) == (400, "invalid_request_url")
    assert fetch(f"{svc.slack_url}files.upload", "Bearer xoxb-test") == (
        200,
        {"ok": False, "error": "unknown_method", "req_method": "files.upload"},
    )
    assert [r.status for r in svc.requests] == [404, 400, 200]

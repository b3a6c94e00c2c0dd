"""GitHub steps through PyGithub against the loopback GitHub: what is sent, what is approved, what comes back."""

from __future__ import annotations

import base64

from loopback import run

from gorgon_nb.runner import Runner
from gorgon_nb.testing import Approver, ServiceServer


def sent(svc: ServiceServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in svc.requests_to("github")]


def test_reads_run_without_approval(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - {id: repos, github: list_repositories}
  - {id: info, github: get_repository, with: {repo: octo/site}}
  - {id: guide, github: read_file, with: {repo: octo/site, path: docs/guide.md}}
""")
    assert result.ok, result.error
    assert asked == []
    assert [r["name"] for r in result.steps["repos"].output] == ["octo/site", "octo/tools"]
    assert result.steps["info"].output["description"] == "The web site"
    assert result.steps["info"].output["default_branch"] == "main"
    assert result.steps["guide"].output == "# Guide\n\nold line\n"
    assert ("GET", "/user/repos") in sent(svc)
    assert ("GET", "/repos/octo/site/contents/docs/guide.md") in sent(svc)
    assert all(r.headers["authorization"] == "token ghp_loopback_token_1" for r in svc.requests_to("github"))


def test_an_issue_is_created_once_approved_with_its_title_and_body_shown(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: file
    github: create_issue
    with: {repo: octo/site, title: Broken link on the home page, body: "The *About* link 404s.", labels: [bug]}
""")
    assert result.ok, result.error
    (approval,) = asked
    assert approval.title == "Create an issue in octo/site: Broken link on the home page"
    assert "The *About* link 404s." in approval.preview and "**Labels:** bug" in approval.preview
    (post,) = [r for r in svc.requests_to("github") if r.method == "POST"]
    assert post.path == "/repos/octo/site/issues"
    assert post.body == {"title": "Broken link on the home page", "body": "The *About* link 404s.", "labels": ["bug"]}
    assert result.steps["file"].output == {"number": 1, "url": "https://github.com/octo/site/issues/1",
                                           "title": "Broken link on the home page"}


def test_a_rejected_write_sends_nothing(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - {id: file, github: create_issue, with: {repo: octo/site, title: Spam}}
""", approve=False, comment="not now")
    assert not result.ok
    assert len(asked) == 1
    assert "rejected by alice: not now" in (result.steps["file"].error or "")
    assert svc.writes() == []
    assert svc.github.issues == {}


def test_commit_shows_the_diff_and_sends_the_new_content_over_the_old_sha(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: save
    github: commit_file
    with: {repo: octo/site, path: docs/guide.md, content: "# Guide\\n\\nnew line\\n", message: Reword the guide}
""")
    assert result.ok, result.error
    (approval,) = asked
    assert approval.title == "Commit docs/guide.md to octo/site (main)"
    assert "-old line" in approval.preview and "+new line" in approval.preview
    assert "**Message:** Reword the guide" in approval.preview
    put, = [r for r in svc.requests_to("github") if r.method == "PUT"]
    assert put.path == "/repos/octo/site/contents/docs/guide.md"
    assert base64.b64decode(put.body["content"]).decode() == "# Guide\n\nnew line\n"
    assert put.body["message"] == "Reword the guide" and put.body["branch"] == "main"
    assert put.body["sha"]  # an update names the blob it replaces
    assert svc.github.file_text("octo/site", "docs/guide.md") == "# Guide\n\nnew line\n"
    assert result.steps["save"].output["changed"] is True and result.steps["save"].output["commit_sha"]


def test_commit_to_a_new_branch_then_open_a_pull_request(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - id: save
    github: commit_file
    with: {repo: octo/site, path: docs/new.md, content: "hello\\n", branch: docs-update}
  - id: pr
    github: open_pull_request
    with: {repo: octo/site, title: New docs page, head: docs-update, body: "Adds {{ steps.save.output.path }}"}
""")
    assert result.ok, result.error
    assert [a.title for a in asked] == ["Commit docs/new.md to octo/site (docs-update)",
                                        "Open a pull request on octo/site: docs-update → main"]
    assert "(new, from main)" in asked[0].preview and "+hello" in asked[0].preview
    writes = [(r.method, r.path) for r in svc.writes()]
    assert writes == [("POST", "/repos/octo/site/git/refs"), ("PUT", "/repos/octo/site/contents/docs/new.md"),
                      ("POST", "/repos/octo/site/pulls")]
    pull = svc.writes()[-1].body
    assert pull == {"title": "New docs page", "head": "docs-update", "base": "main", "body": "Adds docs/new.md",
                    "draft": False}
    assert result.steps["pr"].output["url"] == "https://github.com/octo/site/pull/1"


def test_committing_the_same_content_again_changes_nothing(wired: Runner, svc: ServiceServer) -> None:
    result, asked = run(wired, """
  - {id: save, github: commit_file, with: {repo: octo/site, path: docs/guide.md, content: "# Guide\\n\\nold line\\n"}}
""")
    assert result.ok
    assert "nothing will be committed" in asked[0].preview
    assert svc.writes() == []
    assert result.steps["save"].output["changed"] is False


def test_comment_and_read_back_an_issue_and_a_pull_request(wired: Runner, svc: ServiceServer) -> None:
    svc.github.add_issue("octo/site", "Crash on start", body="Stack trace…")
    result, asked = run(wired, """
  - {id: issue, github: get_issue, with: {repo: octo/site, number: 1}}
  - id: say
    github: comment_on_issue
    auto_approve: true
    with: {repo: octo/site, number: 1, body: "Seen: {{ steps.issue.output.title }}"}
""")
    assert result.ok, result.error
    assert asked == []  # auto-approved by the step
    assert result.steps["issue"].output["title"] == "Crash on start"
    (comment,) = svc.writes()
    assert (comment.path, comment.body) == ("/repos/octo/site/issues/1/comments", {"body": "Seen: Crash on start"})


def test_the_config_can_auto_approve_an_action(home, svc: ServiceServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from loopback import ENV, TOKENS, configure

    from gorgon_nb.config import load_config
    from gorgon_nb.store import Store

    configure(home, svc, extra='auto_approve = ["create_issue"]')
    monkeypatch.setenv(ENV["github"], TOKENS["github"])
    with Store(home / "gorgon.db") as store:
        result, asked = run(Runner(load_config(), store), """
  - {id: file, github: create_issue, with: {repo: octo/site, title: Auto}}
  - {id: save, github: commit_file, with: {repo: octo/site, path: a.md, content: x}}
""")
    assert result.ok
    assert [a.title for a in asked] == ["Commit a.md to octo/site (main)"]


def test_rate_limit_is_waited_out_and_the_write_sent_once(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("github", "POST", "/repos/octo/site/issues", status=403, times=1,
              headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0", "Retry-After": "0"})
    result, _ = run(wired, """
  - {id: file, github: create_issue, auto_approve: true, retry: {attempts: 3, backoff: 0.01}, with: {repo: octo/site, title: T}}
""")
    assert result.ok, result.error
    assert [r.method for r in svc.requests_to("github") if r.path.endswith("/issues")] == ["POST", "POST"]
    assert len(svc.github.issues) == 1
    assert result.steps["file"].attempts == 2


def test_a_missing_permission_is_named(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("github", "POST", "/repos/octo/site/issues", status=403,
              body={"message": "Resource not accessible by personal access token"},
              headers={"X-Accepted-GitHub-Permissions": "issues=write"})
    result, _ = run(wired, "  - {id: file, github: create_issue, auto_approve: true, with: {repo: octo/site, title: T}}\n")
    assert not result.ok
    error = result.steps["file"].error or ""
    assert "lacks a permission this needs: issues=write" in error
    assert len([r for r in svc.requests_to("github") if r.method == "POST"]) == 1  # a refusal is not retried


def test_a_server_error_on_a_create_is_not_sent_again(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("github", "POST", "/repos/octo/site/issues", status=502, times=1)
    result, _ = run(wired, "  - {id: file, github: create_issue, auto_approve: true, with: {repo: octo/site, title: T}}\n")
    assert not result.ok
    assert "may have been written anyway" in (result.steps["file"].error or "")
    assert len([r for r in svc.requests_to("github") if r.method == "POST"]) == 1


def test_a_server_error_on_a_commit_is_retried(wired: Runner, svc: ServiceServer) -> None:
    svc.fault("github", "PUT", "/repos/octo/site/contents/*", status=502, times=1)
    result, _ = run(wired, """
  - {id: save, github: commit_file, auto_approve: true, retry: {attempts: 3, backoff: 0.01}, with: {repo: octo/site, path: b.md, content: y}}
""")
    assert result.ok, result.error
    assert len([r for r in svc.requests_to("github") if r.method == "PUT"]) == 2


def test_a_file_changed_after_its_diff_was_shown_is_not_overwritten(wired: Runner, svc: ServiceServer) -> None:

    from gorgon_nb.workflow import Workflow

    assert wired.store is not None and wired.store.path is not None
    someone = lambda: svc.github.add_file("octo/site", "docs/guide.md", "# Guide\n\nsomeone else's line\n")  # noqa: E731
    with Approver(wired.store.path, meanwhile=someone):
        result = wired.run(Workflow.from_yaml(
            "id: t\nsteps:\n  - {id: save, github: commit_file, with: {repo: octo/site, path: docs/guide.md, "
            "content: mine}}\n"))
    assert not result.ok
    assert "changed in octo/site (main) after its diff was shown" in (result.steps["save"].error or "")
    assert svc.writes() == []
    assert svc.github.file_text("octo/site", "docs/guide.md") == "# Guide\n\nsomeone else's line\n"


def test_repository_activity_counts_commits_pulls_and_issues_since_a_time(wired: Runner, svc: ServiceServer) -> None:
    svc.github.add_file("octo/site", "a.txt", "a\n")
    svc.github.add_file("octo/site", "b.txt", "b\n")
    svc.github.add_issue("octo/site", "Broken link")
    svc.github.add_issue("octo/site", "Typo")
    result, asked = run(wired, """
  - id: week
    github: repository_activity
    with: {repo: octo/site, since: "2020-01-01T00:00:00Z"}
  - id: later
    github: repository_activity
    with: {repo: octo/site, since: "2099-01-01T00:00:00Z", metrics: [commits]}
""")
    assert result.ok, result.error
    assert asked == []  # reads need no approval
    week = result.steps["week"].output
    # the repository's first commit, the guide, then a.txt and b.txt
    assert week["commits"] == 4
    assert week["issues"] == {"opened": 2, "closed": 0, "open": 2}
    assert week["prs"] == {"opened": 0, "closed": 0, "open": 0}
    assert result.steps["later"].output == {"repo": "octo/site", "since": "2099-01-01T00:00:00+00:00",
                                            "capped": [], "commits": 0}
    assert ("GET", "/repos/octo/site/commits") in sent(svc)


def test_repository_activity_refuses_an_unknown_metric(wired: Runner, svc: ServiceServer) -> None:
    result, _ = run(wired, """
  - {id: week, github: repository_activity, with: {repo: octo/site, metrics: [stars]}}
""")
    assert not result.ok
    assert "unknown metric 'stars'; the metrics are commits, prs, issues" in (result.steps["week"].error or "")

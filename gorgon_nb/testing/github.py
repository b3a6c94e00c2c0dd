"""The fake GitHub REST API: repositories with branches and files (``_github_repos``),
issues, comments and pull requests, as the project's GitHub actions call them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gorgon_nb.testing._api import (
    Clock,
    Refusal,
    Reply,
    RouteHandler,
    Service,
    ServiceRequest,
    status_phrase,
)
from gorgon_nb.testing._github_repos import (
    GITHUB_DOCS,
    GitHubRepos,
    github_error,
    github_invalid,
    github_object,
    github_time,
)

__all__ = ["GitHubState"]

_GH_RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


class GitHubState(GitHubRepos):
    """GitHub: repositories with branches and files, issues, comments and pull requests.

    ``repos["o/r"]`` holds the repository's fields (``description``, ``default_branch``,
    ``private``, ...) and its ``branches`` (name -> head sha) and ``files``
    ((branch, path) -> text). ``issues[("o/r", n)]`` holds issues and pull requests alike
    (numbers shared per repository, from 1); ``pulls[("o/r", n)]`` the pull request's
    ``head``/``base`` branch names; ``comments[("o/r", n)]`` the comments; ``commits``
    every file change made through the API as ``{repo, branch, path, message, content}``.

    Served (what the project's GitHub actions call): ``GET /user/repos``, ``GET
    /repos/o/r``, ``GET|PUT /repos/o/r/contents/{path}``, ``GET /repos/o/r/branches/B``,
    ``POST /repos/o/r/git/refs``, ``GET|POST /repos/o/r/issues``, ``GET /repos/o/r/issues/N``,
    ``GET /repos/o/r/commits``,
    ``POST /repos/o/r/issues/N/comments``, ``GET|POST /repos/o/r/pulls``, ``GET
    /repos/o/r/pulls/N``. Lists take ``per_page`` and ``page`` and send a ``Link`` header.
    """

    service: Service = "github"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}

    # Seeding ---------------------------------------------------------------------------

    def add_issue(self, repo: str, title: str, body: str = "") -> int:
        """An issue someone opened; its number."""
        with self._lock:
            return self._new_issue(repo, {"title": title, "body": body}, pull=False)

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, RouteHandler]]:
        number = r"/(?P<number>\d+)"
        return [
            ("GET", r"/user/repos", self._user_repos),
            ("GET", _REPO, self._get_repo),
            ("GET", _REPO + r"/contents/?(?P<path>.*)", self._get_contents),
            ("PUT", _REPO + r"/contents/(?P<path>.+)", self._put_contents),
            ("GET", _REPO + r"/branches/(?P<branch>.+)", self._get_branch),
            ("POST", _REPO + r"/git/refs", self._create_ref),
            ("POST", _REPO + r"/issues", self._create_issue),
            ("GET", _REPO + r"/issues", self._list_issues),
            ("GET", _REPO + r"/issues" + number, self._get_issue),
            ("GET", _REPO + r"/commits", self._list_commits),
            ("POST", _REPO + r"/issues" + number + "/comments", self._create_comment),
            ("GET", _REPO + r"/pulls", self._list_pulls),
            ("POST", _REPO + r"/pulls", self._create_pull),
            ("GET", _REPO + r"/pulls" + number, self._get_pull),
        ]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> Reply | None:
        given = request.headers.get("authorization")
        if given is None:
            return github_error(401, "Requires authentication")
        scheme, _, value = given.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == token:
            return None
        return github_error(401, "Bad credentials")

    def _unknown(self, request: ServiceRequest) -> Reply:
        return github_error(404, "Not Found")

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> Reply | None:
        if "repo" in params and params["repo"] not in self.repos:
            return github_error(404, "Not Found")
        return None

    def default_error(self, status: int, message: str | None = None) -> Any:
        if status in (403, 429):
            return {
                "message": message or "API rate limit exceeded for user ID 1.",
                "documentation_url": _GH_RATE_DOCS,
            }
        if status >= 500:
            return {"message": message or "Server Error"}
        known = {401: "Bad credentials", 404: "Not Found", 422: "Validation Failed"}
        return {
            "message": message or known.get(status, status_phrase(status)),
            "documentation_url": GITHUB_DOCS,
        }

    # Representations -------------------------------------------------------------------

    def _issue_json(self, full_name: str, number: int) -> dict[str, Any]:
        issue = self.issues[(full_name, number)]
        url = f"{self.api_url}/repos/{full_name}/issues/{number}"
        kind = "pull" if issue["pull"] else "issues"
        found = {
            "id": issue["id"],
            "number": number,
            "title": issue["title"],
            "body": issue["body"],
            "state": issue["state"],
            "state_reason": issue.get("state_reason"),
            "locked": False,
            "labels": [
                {"name": name, "color": "ededed", "default": False} for name in issue["labels"]
            ],
            "assignees": [],
            "assignee": None,
            "user": self._user_json(issue["user"]),
            "comments": len(self.comments.get((full_name, number), [])),
            "html_url": f"https://github.com/{full_name}/{kind}/{number}",
            "url": url,
            "comments_url": f"{url}/comments",
            "repository_url": f"{self.api_url}/repos/{full_name}",
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
        }
        if issue["pull"]:
            found["pull_request"] = {
                "url": f"{self.api_url}/repos/{full_name}/pulls/{number}",
                "html_url": found["html_url"],
            }
        return found

    def _pull_json(self, full_name: str, number: int) -> dict[str, Any]:
        found = self._issue_json(full_name, number)
        pull = self.pulls[(full_name, number)]
        repo = self.repos[full_name]

        def part(branch: str, sha: str) -> dict[str, Any]:
            return {
                "ref": branch,
                "sha": repo["branches"].get(branch, sha),
                "label": f"{repo['owner']}:{branch}",
                "user": self._user_json(repo["owner"]),
                "repo": self._repo_json(full_name),
            }

        del found["pull_request"]
        found |= {
            "url": f"{self.api_url}/repos/{full_name}/pulls/{number}",
            "issue_url": f"{self.api_url}/repos/{full_name}/issues/{number}",
            "head": part(pull["head"], pull["head_sha"]),
            "base": part(pull["base"], pull["base_sha"]),
            "draft": pull["draft"],
            "merged": False,
            "merged_at": None,
            "mergeable": True,
        }
        return found

    def _comment_json(self, full_name: str, number: int, comment: dict[str, Any]) -> dict[str, Any]:
        issue_html = self._issue_json(full_name, number)["html_url"]
        return {
            "id": comment["id"],
            "body": comment["body"],
            "user": self._user_json(comment["user"]),
            "author_association": "OWNER",
            "created_at": comment["created_at"],
            "updated_at": comment["created_at"],
            "html_url": f"{issue_html}#issuecomment-{comment['id']}",
            "url": f"{self.api_url}/repos/{full_name}/issues/comments/{comment['id']}",
            "issue_url": f"{self.api_url}/repos/{full_name}/issues/{number}",
        }

    # Handlers ---------------------------------------------------------------------------

    def _new_issue(self, full_name: str, body: dict[str, Any], *, pull: bool) -> int:
        title = body.get("title")
        if not isinstance(title, str) or not title:
            raise github_invalid("PullRequest" if pull else "Issue", "title", "missing_field")
        number = 1 + max((n for (r, n) in self.issues if r == full_name), default=0)
        now = github_time(self._clock.tick())
        labels = [
            lab["name"] if isinstance(lab, dict) else str(lab) for lab in body.get("labels") or []
        ]
        self.issues[(full_name, number)] = {
            "id": next(self._ids),
            "number": number,
            "title": title,
            "body": body.get("body"),
            "state": "open",
            "labels": labels,
            "user": self.login,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "pull": pull,
        }
        return number

    def _issue_of(self, params: dict[str, str]) -> tuple[str, int]:
        key = (params["repo"], int(params["number"]))
        if key not in self.issues:
            raise Refusal(github_error(404, "Not Found"))
        return key

    def _create_issue(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        number = self._new_issue(params["repo"], github_object(request.body), pull=False)
        return Reply(201, self._issue_json(params["repo"], number))

    def _get_issue(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return Reply(200, self._issue_json(*self._issue_of(params)))

    def _create_comment(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name, number = self._issue_of(params)
        body = github_object(request.body)
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise github_invalid("IssueComment", "body", "missing_field")
        comment = {
            "id": next(self._ids),
            "body": body["body"],
            "user": self.login,
            "created_at": github_time(self._clock.tick()),
        }
        self.comments.setdefault((full_name, number), []).append(comment)
        return Reply(201, self._comment_json(full_name, number, comment))

    def _list_issues(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        """Issues and pull requests alike, newest first, by ``state`` and ``since`` (updated)."""
        full_name = params["repo"]
        self._known_repo(full_name)
        state = request.query.get("state", "open")
        since = request.query.get("since", "")
        found = [self._issue_json(r, n) for (r, n), issue in sorted(self.issues.items(), key=lambda i: -i[0][1])
                 if r == full_name and state in ("all", issue["state"]) and issue["updated_at"] >= since]
        return self._paginate(request, found)

    def _list_commits(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        """The commits of a branch (``sha``, else the default one), newest first, by ``since``."""
        full_name = params["repo"]
        repo = self._known_repo(full_name)
        branch = request.query.get("sha") or repo["default_branch"]
        since = request.query.get("since", "")
        history = {c["sha"]: c for c in repo.get("history", [])}
        found, sha = [], repo["branches"].get(branch)
        while sha in history:
            commit = history[sha]
            if commit["date"] >= since:
                found.append({"sha": sha, "html_url": f"https://github.com/{full_name}/commit/{sha}",
                              "url": f"{self.api_url}/repos/{full_name}/commits/{sha}",
                              "commit": {"message": commit["message"],
                                         "author": {"name": self.login, "date": commit["date"]},
                                         "committer": {"name": self.login, "date": commit["date"]}},
                              "parents": [{"sha": commit["parent"]}] if commit["parent"] else []})
            sha = commit["parent"]
        return self._paginate(request, found)

    def _known_repo(self, full_name: str) -> dict[str, Any]:
        if full_name not in self.repos:
            raise Refusal(github_error(404, "Not Found"))
        return self.repos[full_name]

    def _list_pulls(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name = params["repo"]
        state = request.query.get("state", "open")
        head = request.query.get("head", "").rpartition(":")[2]
        base = request.query.get("base")
        found = []
        for (r, n), pull in sorted(self.pulls.items(), key=lambda item: -item[0][1]):
            if r != full_name or state not in ("all", self.issues[(r, n)]["state"]):
                continue
            if (head and pull["head"] != head) or (base and pull["base"] != base):
                continue
            found.append(self._pull_json(full_name, n))
        return self._paginate(request, found)

    def _create_pull(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name = params["repo"]
        body = github_object(request.body)
        repo = self.repos[full_name]
        head_spec = str(body.get("head", ""))
        owner, _, head = head_spec.rpartition(":")
        base = str(body.get("base", ""))
        if head not in repo["branches"] or owner not in ("", repo["owner"]):
            raise github_invalid("PullRequest", "head", "invalid")
        if base not in repo["branches"]:
            raise github_invalid("PullRequest", "base", "invalid")
        for (r, n), pull in self.pulls.items():
            same = (r, pull["head"], pull["base"]) == (full_name, head, base)
            if same and self.issues[(r, n)]["state"] == "open":
                error = {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {repo['owner']}:{head}.",
                }
                return github_error(422, "Validation Failed", errors=[error])
        number = self._new_issue(full_name, body, pull=True)
        self.pulls[(full_name, number)] = {
            "number": number,
            "head": head,
            "base": base,
            "head_sha": repo["branches"][head],
            "base_sha": repo["branches"][base],
            "draft": bool(body.get("draft", False)),
        }
        return Reply(201, self._pull_json(full_name, number))

    def _get_pull(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        key = (params["repo"], int(params["number"]))
        if key not in self.pulls:
            return github_error(404, "Not Found")
        return Reply(200, self._pull_json(*key))

"""A loopback HTTP server imitating the GitHub REST API, the Notion API and the Slack Web API.

Tests point the real SDKs at it with their ``base_url`` options; it answers from in-memory
state that tests seed and inspect, logs every request, and fails chosen requests on demand.

    with ServiceServer(tokens={"github": "ghp_test"}) as svc:
        svc.github.add_repo("o/r")
        gh = Github(base_url=svc.github_url, auth=Auth.Token("ghp_test"), retry=None,
                    seconds_between_requests=None, seconds_between_writes=None)
        gh.get_repo("o/r").create_issue("Broken")  # the code under test
        assert svc.writes()[0].path == "/repos/o/r/issues"

Turn the SDKs' retries off (PyGithub ``retry=None``, notion-client ``retry=False``,
slack_sdk ``retry_handlers=[]``) so that a fault answers at once; PyGithub also waits
between calls unless told ``seconds_between_*=None``.

The contract:

- Addresses: GitHub under ``/github`` (``github_url``), Notion under ``/notion``
  (``notion_url``; the SDK adds ``/v1/``), Slack under ``/slack/api/`` (``slack_url``).
- The log (``requests``) holds every request in arrival order, answered or refused, as a
  :class:`ServiceRequest`: the path without the service's prefix and URL-decoded (for Slack,
  the method name), the query's first values, the parsed body (JSON, or the fields of a
  form) and the lower-case headers. ``writes()`` keeps the ones that change something.
- Credentials: with a token given for a service, a request without it is refused the way
  that service refuses it (GitHub and Notion 401; Slack 200 with ``"ok": false``).
- State: the three state objects (``svc.github``, ``svc.notion``, ``svc.slack``) are plain
  dicts and lists, seeded with their ``add_*`` methods and read directly for assertions. Ids,
  hashes, timestamps and Slack ``ts`` come from counters, so a run repeats exactly.
- Faults: ``fault(service, method, path, status, ...)`` answers the next matching requests
  with that status and the service's usual error body (or the one given) instead of serving
  them; they are still logged, with ``fault=True``.
- Only the endpoints listed on each state class are served. Others get the service's own
  answer to an unknown URL, so a client calling something new fails loudly.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import copy
import dataclasses
import fnmatch
import hashlib
import http
import itertools
import json
import math
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from gorgon_nb.testing._http import HTTPRequest, LoopServer, ResponseWriter, Served

__all__ = [
    "GitHubState",
    "NotionState",
    "ServiceFault",
    "ServiceRequest",
    "ServiceServer",
    "SlackState",
]

Service = Literal["github", "notion", "slack"]
SERVICES: tuple[Service, ...] = ("github", "notion", "slack")
_PREFIXES: tuple[tuple[Service, str], ...] = (
    ("github", "/github"),
    ("notion", "/notion"),
    ("slack", "/slack/api/"),
)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Notion reads that are POSTs, because their filters travel in the body.
_NOTION_POST_READS = re.compile(r"/v1/(search|(data_sources|databases)/[^/]+/query)")
_SLACK_WRITES = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "reactions.add",
    }
)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class ServiceRequest:
    """One request the server received, and the status it answered."""

    service: Service
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None
    fault: bool = False

    @property
    def is_write(self) -> bool:
        """Whether the request changes something (what ``ServiceServer.writes`` keeps)."""
        if self.service == "slack":
            return self.path in _SLACK_WRITES
        if self.method not in _WRITE_METHODS:
            return False
        return not (self.service == "notion" and _NOTION_POST_READS.fullmatch(self.path))


@dataclass
class ServiceFault:
    """An answer to give instead of serving requests that match ``service``, ``method`` and
    ``path`` (fnmatch patterns for the last two; ``path`` as logged). ``body=None`` sends
    the service's usual error body for ``status``; a string is sent as an HTML page."""

    service: Service
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def matches(self, request: ServiceRequest) -> bool:
        return (
            self.service == request.service
            and fnmatch.fnmatchcase(request.method, self.method.upper())
            and fnmatch.fnmatchcase(request.path, self.path)
        )


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Refusal(Exception):
    """Raised inside a handler to answer ``reply`` instead."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


Handler = Callable[[ServiceRequest, dict[str, str]], _Reply]


@dataclass(frozen=True)
class _Route:
    method: str  # "*" for any
    pattern: re.Pattern[str]
    handler: Handler


class _Clock:
    """Timestamps one second apart from a fixed start, shared by the three services."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1)

    def tick(self) -> datetime:
        return _EPOCH + timedelta(seconds=next(self._ticks))


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _int(value: Any, default: int, low: int = 1, high: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    number = max(low, number)
    return number if high is None else min(high, number)


class _State:
    """What the three services share: routing, credentials, error bodies."""

    service: Service

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: _Clock) -> None:
        self._lock = lock
        self._base_url = base_url
        self._clock = clock
        self._routes = [
            _Route(method, re.compile(pattern), handler)
            for method, pattern, handler in self._route_table()
        ]

    @property
    def api_url(self) -> str:
        """The absolute URL this service is served at (the SDK's ``base_url``)."""
        return self._base_url()

    def _route_table(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> _Reply | None:
        raise NotImplementedError

    def _unknown(self, request: ServiceRequest) -> _Reply:
        raise NotImplementedError

    def default_error(self, status: int, message: str | None = None) -> Any:
        """The body this service sends with ``status`` when something goes wrong."""
        raise NotImplementedError

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> _Reply | None:
        return None

    def finish(self, request: ServiceRequest, reply: _Reply) -> _Reply:
        """Headers every answer of this service carries."""
        return reply

    def answer(self, request: ServiceRequest, token: str | None) -> _Reply:
        if token is not None and (refusal := self._refuse_credentials(request, token)):
            return refusal
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None or route.method not in ("*", request.method):
                continue
            params = match.groupdict()
            try:
                return self._precheck(request, params) or route.handler(request, params)
            except _Refusal as refusal:
                return refusal.reply
        return self._unknown(request)


# --------------------------------------------------------------------------------------
# GitHub

_GH_DOCS = "https://docs.github.com/rest"
_GH_RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


def _gh_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _b64_lines(text: str) -> str:
    """Base64 the way the contents API sends it: lines of 60 characters."""
    encoded = base64.b64encode(text.encode()).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def _gh_error(status: int, message: str, **extra: Any) -> _Reply:
    return _Reply(status, {"message": message, **extra, "documentation_url": _GH_DOCS})


def _gh_invalid(resource: str, field_name: str, code: str) -> _Refusal:
    error = {"resource": resource, "field": field_name, "code": code}
    return _Refusal(_gh_error(422, "Validation Failed", errors=[error]))


def _gh_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Refusal(_gh_error(400, "Problems parsing JSON"))
    return body


class GitHubState(_State):
    """GitHub: repositories with branches and files, issues, comments and pull requests.

    ``repos["o/r"]`` holds the repository's fields (``description``, ``default_branch``,
    ``private``, ...) and its ``branches`` (name -> head sha) and ``files``
    ((branch, path) -> text). ``issues[("o/r", n)]`` holds issues and pull requests alike
    (numbers shared per repository, from 1); ``pulls[("o/r", n)]`` the pull request's
    ``head``/``base`` branch names; ``comments[("o/r", n)]`` the comments; ``commits``
    every file change made through the API as ``{repo, branch, path, message, content}``.

    Served (what the project's GitHub actions call): ``GET /user/repos``, ``GET
    /repos/o/r``, ``GET|PUT /repos/o/r/contents/{path}``, ``GET /repos/o/r/branches/B``,
    ``POST /repos/o/r/git/refs``, ``POST /repos/o/r/issues``, ``GET /repos/o/r/issues/N``,
    ``POST /repos/o/r/issues/N/comments``, ``GET|POST /repos/o/r/pulls``, ``GET
    /repos/o/r/pulls/N``. Lists take ``per_page`` and ``page`` and send a ``Link`` header.
    """

    service: Service = "github"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: _Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.login = "octo"
        self.repos: dict[str, dict[str, Any]] = {}
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.commits: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._commit_numbers = itertools.count(1)
        # The files of every commit, so that a branch can start from any of them.
        self._snapshots: dict[tuple[str, str], dict[str, str]] = {}

    # Seeding ---------------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        description: str = "",
        default_branch: str = "main",
        private: bool = False,
        language: str | None = None,
        stargazers_count: int = 0,
        forks_count: int = 0,
    ) -> dict[str, Any]:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"a repository is named owner/name, not {full_name!r}")
        with self._lock:
            repo: dict[str, Any] = {
                "id": next(self._ids),
                "owner": owner,
                "name": name,
                "full_name": full_name,
                "description": description,
                "default_branch": default_branch,
                "private": private,
                "language": language,
                "stargazers_count": stargazers_count,
                "forks_count": forks_count,
                "updated_at": _gh_time(self._clock.tick()),
                "branches": {},
                "files": {},
            }
            self.repos[full_name] = repo
            self._commit(full_name, default_branch)
            return repo

    def add_issue(self, repo: str, title: str, body: str = "") -> int:
        """An issue someone opened; its number."""
        with self._lock:
            return self._new_issue(repo, {"title": title, "body": body}, pull=False)

    def add_branch(self, repo: str, branch: str, from_branch: str | None = None) -> str:
        """Start ``branch`` at the head of ``from_branch`` (the default one); its sha."""
        with self._lock:
            state = self.repos[repo]
            source = from_branch or state["default_branch"]
            sha: str = state["branches"][source]
            self._start_branch(repo, branch, sha)
            return sha

    def add_file(self, repo: str, path: str, text: str, branch: str | None = None) -> str:
        """Put a file on ``branch`` (made from the default branch if new); its blob sha."""
        with self._lock:
            state = self.repos[repo]
            branch = branch or state["default_branch"]
            if branch not in state["branches"]:
                self.add_branch(repo, branch)
            state["files"][(branch, path.strip("/"))] = text
            self._commit(repo, branch)
            return _blob_sha(text)

    def file_text(self, repo: str, path: str, branch: str | None = None) -> str | None:
        with self._lock:
            state = self.repos[repo]
            found: str | None = state["files"].get((branch or state["default_branch"], path))
            return found

    # Plumbing --------------------------------------------------------------------------

    def _commit(self, repo: str, branch: str) -> str:
        """A new head for ``branch``, remembering its files."""
        state = self.repos[repo]
        sha = hashlib.sha1(f"loopback commit {next(self._commit_numbers)}".encode()).hexdigest()
        state["branches"][branch] = sha
        files = {path: text for (b, path), text in state["files"].items() if b == branch}
        self._snapshots[(repo, sha)] = files
        return sha

    def _start_branch(self, repo: str, branch: str, sha: str) -> None:
        state = self.repos[repo]
        state["branches"][branch] = sha
        for path, text in self._snapshots.get((repo, sha), {}).items():
            state["files"][(branch, path)] = text

    def _route_table(self) -> list[tuple[str, str, Handler]]:
        number = r"/(?P<number>\d+)"
        return [
            ("GET", r"/user/repos", self._user_repos),
            ("GET", _REPO, self._get_repo),
            ("GET", _REPO + r"/contents/?(?P<path>.*)", self._get_contents),
            ("PUT", _REPO + r"/contents/(?P<path>.+)", self._put_contents),
            ("GET", _REPO + r"/branches/(?P<branch>.+)", self._get_branch),
            ("POST", _REPO + r"/git/refs", self._create_ref),
            ("POST", _REPO + r"/issues", self._create_issue),
            ("GET", _REPO + r"/issues" + number, self._get_issue),
            ("POST", _REPO + r"/issues" + number + "/comments", self._create_comment),
            ("GET", _REPO + r"/pulls", self._list_pulls),
            ("POST", _REPO + r"/pulls", self._create_pull),
            ("GET", _REPO + r"/pulls" + number, self._get_pull),
        ]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> _Reply | None:
        given = request.headers.get("authorization")
        if given is None:
            return _gh_error(401, "Requires authentication")
        scheme, _, value = given.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == token:
            return None
        return _gh_error(401, "Bad credentials")

    def _unknown(self, request: ServiceRequest) -> _Reply:
        return _gh_error(404, "Not Found")

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> _Reply | None:
        if "repo" in params and params["repo"] not in self.repos:
            return _gh_error(404, "Not Found")
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
            "message": message or known.get(status, _phrase(status)),
            "documentation_url": _GH_DOCS,
        }

    def _paginate(self, request: ServiceRequest, items: list[Any]) -> _Reply:
        per_page = _int(request.query.get("per_page"), 30, high=100)
        page = _int(request.query.get("page"), 1)
        last = max(1, math.ceil(len(items) / per_page))
        others = {k: v for k, v in request.query.items() if k not in ("per_page", "page")}
        path = urllib.parse.quote(request.path)

        def link(number: int, rel: str) -> str:
            query = urllib.parse.urlencode({**others, "per_page": per_page, "page": number})
            return f'<{self.api_url}{path}?{query}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        start = (page - 1) * per_page
        headers = {"Link": ", ".join(links)} if links else {}
        return _Reply(200, items[start : start + per_page], headers)

    # Representations -------------------------------------------------------------------

    def _user_json(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": 1,
            "type": "User",
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"https://github.com/{login}",
        }

    def _repo_json(self, full_name: str) -> dict[str, Any]:
        repo = self.repos[full_name]
        return {
            "id": repo["id"],
            "name": repo["name"],
            "full_name": full_name,
            "owner": self._user_json(repo["owner"]),
            "description": repo["description"],
            "private": repo["private"],
            "visibility": "private" if repo["private"] else "public",
            "fork": False,
            "archived": False,
            "html_url": f"https://github.com/{full_name}",
            "url": f"{self.api_url}/repos/{full_name}",
            "stargazers_count": repo["stargazers_count"],
            "watchers_count": repo["stargazers_count"],
            "forks_count": repo["forks_count"],
            "language": repo["language"],
            "default_branch": repo["default_branch"],
            "updated_at": repo["updated_at"],
            "pushed_at": repo["updated_at"],
        }

    def _file_json(
        self, full_name: str, branch: str, path: str, text: str, *, content: bool = True
    ) -> dict[str, Any]:
        sha = _blob_sha(text)
        quoted = urllib.parse.quote(path)
        ref = urllib.parse.quote(branch, safe="")
        found: dict[str, Any] = {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(text.encode()),
            "url": f"{self.api_url}/repos/{full_name}/contents/{quoted}?ref={ref}",
            "html_url": f"https://github.com/{full_name}/blob/{urllib.parse.quote(branch)}/{quoted}",
            "git_url": f"{self.api_url}/repos/{full_name}/git/blobs/{sha}",
            "download_url": f"https://raw.githubusercontent.com/{full_name}/{branch}/{quoted}",
        }
        if content:
            found |= {"encoding": "base64", "content": _b64_lines(text)}
        return found

    def _dir_json(self, full_name: str, branch: str, path: str) -> dict[str, Any]:
        quoted = urllib.parse.quote(path)
        return {
            "type": "dir",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": hashlib.sha1(f"tree {full_name} {branch} {path}".encode()).hexdigest(),
            "size": 0,
            "url": f"{self.api_url}/repos/{full_name}/contents/{quoted}?ref={branch}",
            "html_url": f"https://github.com/{full_name}/tree/{branch}/{quoted}",
        }

    def _commit_json(self, full_name: str, sha: str, message: str, parent: str) -> dict[str, Any]:
        person = {"name": self.login, "email": f"{self.login}@users.noreply.github.com"}
        person["date"] = _gh_time(self._clock.tick())
        return {
            "sha": sha,
            "url": f"{self.api_url}/repos/{full_name}/git/commits/{sha}",
            "html_url": f"https://github.com/{full_name}/commit/{sha}",
            "message": message,
            "author": person,
            "committer": person,
            "tree": {"sha": hashlib.sha1(f"tree {sha}".encode()).hexdigest()},
            "parents": [
                {"sha": parent, "url": f"{self.api_url}/repos/{full_name}/git/commits/{parent}"}
            ],
        }

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

    def _user_repos(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        return self._paginate(request, [self._repo_json(name) for name in self.repos])

    def _get_repo(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._repo_json(params["repo"]))

    def _branch_of(self, full_name: str, ref: str | None) -> str:
        """The branch a ``ref`` (branch name, head sha, or none) names."""
        repo = self.repos[full_name]
        ref = ref or repo["default_branch"]
        if ref in repo["branches"]:
            return ref
        for branch, sha in repo["branches"].items():
            if sha == ref:
                return str(branch)
        raise _Refusal(_gh_error(404, f"No commit found for the ref {ref}"))

    def _get_contents(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        full_name = params["repo"]
        branch = self._branch_of(full_name, request.query.get("ref"))
        path = params["path"].strip("/")
        files: dict[tuple[str, str], str] = self.repos[full_name]["files"]
        if (text := files.get((branch, path))) is not None:
            return _Reply(200, self._file_json(full_name, branch, path, text))
        prefix = f"{path}/" if path else ""
        entries: dict[str, dict[str, Any]] = {}
        for (b, file_path), file_text in sorted(files.items()):
            if b != branch or not file_path.startswith(prefix):
                continue
            head, sep, _ = file_path[len(prefix) :].partition("/")
            if sep:
                entries.setdefault(head, self._dir_json(full_name, branch, prefix + head))
            else:
                entries[head] = self._file_json(
                    full_name, branch, file_path, file_text, content=False
                )
        if not entries:
            return _gh_error(404, "Not Found")
        return _Reply(200, list(entries.values()))

    def _put_contents(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        full_name, path = params["repo"], params["path"].strip("/")
        body = _gh_object(request.body)
        repo = self.repos[full_name]
        message, content = body.get("message"), body.get("content")
        for name, value in (("message", message), ("content", content)):
            if not isinstance(value, str):
                return _gh_error(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')
        branch = body.get("branch") or repo["default_branch"]
        if branch not in repo["branches"]:
            return _gh_error(404, f"Branch {branch} not found")
        old = repo["files"].get((branch, path))
        sha = body.get("sha")
        if old is not None and not sha:
            return _gh_error(422, "sha wasn't supplied.")
        if old is not None and sha != _blob_sha(old):
            return _gh_error(409, f"{path} does not match {sha}")
        text = base64.b64decode(str(content)).decode("utf-8", "replace")
        repo["files"][(branch, path)] = text
        return self._committed(
            full_name, branch, path, str(message), text, 201 if old is None else 200
        )

    def _committed(
        self, full_name: str, branch: str, path: str, message: str, text: str | None, status: int
    ) -> _Reply:
        parent = self.repos[full_name]["branches"][branch]
        sha = self._commit(full_name, branch)
        self.repos[full_name]["updated_at"] = _gh_time(self._clock.tick())
        self.commits.append(
            {"repo": full_name, "branch": branch, "path": path, "message": message, "content": text}
        )
        content = None
        if text is not None:
            content = self._file_json(full_name, branch, path, text, content=False)
        commit = self._commit_json(full_name, sha, message, parent)
        return _Reply(status, {"content": content, "commit": commit})

    def _branch_json(self, full_name: str, branch: str) -> dict[str, Any]:
        sha = self.repos[full_name]["branches"][branch]
        return {
            "name": branch,
            "commit": {"sha": sha, "url": f"{self.api_url}/repos/{full_name}/commits/{sha}"},
            "protected": False,
        }

    def _get_branch(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        if params["branch"] not in self.repos[params["repo"]]["branches"]:
            return _gh_error(404, "Branch not found")
        return _Reply(200, self._branch_json(params["repo"], params["branch"]))

    def _ref_json(self, full_name: str, branch: str) -> dict[str, Any]:
        sha = self.repos[full_name]["branches"][branch]
        return {
            "ref": f"refs/heads/{branch}",
            "url": f"{self.api_url}/repos/{full_name}/git/refs/heads/{branch}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{self.api_url}/repos/{full_name}/git/commits/{sha}",
            },
        }

    def _create_ref(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        full_name = params["repo"]
        body = _gh_object(request.body)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(sha, str) or not sha:
            return _gh_error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if not isinstance(ref, str) or not ref.startswith("refs/heads/") or ref == "refs/heads/":
            return _gh_error(422, "Reference name is invalid")
        branch = ref.removeprefix("refs/heads/")
        if branch in self.repos[full_name]["branches"]:
            return _gh_error(422, "Reference already exists")
        if (full_name, sha) not in self._snapshots:
            return _gh_error(422, "Object does not exist")
        self._start_branch(full_name, branch, sha)
        return _Reply(201, self._ref_json(full_name, branch))

    def _new_issue(self, full_name: str, body: dict[str, Any], *, pull: bool) -> int:
        title = body.get("title")
        if not isinstance(title, str) or not title:
            raise _gh_invalid("PullRequest" if pull else "Issue", "title", "missing_field")
        number = 1 + max((n for (r, n) in self.issues if r == full_name), default=0)
        now = _gh_time(self._clock.tick())
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
            raise _Refusal(_gh_error(404, "Not Found"))
        return key

    def _create_issue(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        number = self._new_issue(params["repo"], _gh_object(request.body), pull=False)
        return _Reply(201, self._issue_json(params["repo"], number))

    def _get_issue(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._issue_json(*self._issue_of(params)))

    def _create_comment(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        full_name, number = self._issue_of(params)
        body = _gh_object(request.body)
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise _gh_invalid("IssueComment", "body", "missing_field")
        comment = {
            "id": next(self._ids),
            "body": body["body"],
            "user": self.login,
            "created_at": _gh_time(self._clock.tick()),
        }
        self.comments.setdefault((full_name, number), []).append(comment)
        return _Reply(201, self._comment_json(full_name, number, comment))

    def _list_pulls(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
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

    def _create_pull(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        full_name = params["repo"]
        body = _gh_object(request.body)
        repo = self.repos[full_name]
        head_spec = str(body.get("head", ""))
        owner, _, head = head_spec.rpartition(":")
        base = str(body.get("base", ""))
        if head not in repo["branches"] or owner not in ("", repo["owner"]):
            raise _gh_invalid("PullRequest", "head", "invalid")
        if base not in repo["branches"]:
            raise _gh_invalid("PullRequest", "base", "invalid")
        for (r, n), pull in self.pulls.items():
            same = (r, pull["head"], pull["base"]) == (full_name, head, base)
            if same and self.issues[(r, n)]["state"] == "open":
                error = {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {repo['owner']}:{head}.",
                }
                return _gh_error(422, "Validation Failed", errors=[error])
        number = self._new_issue(full_name, body, pull=True)
        self.pulls[(full_name, number)] = {
            "number": number,
            "head": head,
            "base": base,
            "head_sha": repo["branches"][head],
            "base_sha": repo["branches"][base],
            "draft": bool(body.get("draft", False)),
        }
        return _Reply(201, self._pull_json(full_name, number))

    def _get_pull(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        key = (params["repo"], int(params["number"]))
        if key not in self.pulls:
            return _gh_error(404, "Not Found")
        return _Reply(200, self._pull_json(*key))


# --------------------------------------------------------------------------------------
# Notion

_NOTION_SHARED = "Make sure the relevant pages and databases are shared with your integration."
_NOTION_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_NOTION_MESSAGES = {
    401: "API token is invalid.",
    403: "API token does not have access to this resource.",
    404: f"Could not find the object. {_NOTION_SHARED}",
    409: "Conflict occurred while saving. Please try again.",
    429: "You have been rate limited. Please try again in a few minutes.",
    500: "Unexpected error occurred.",
    503: "Notion is unavailable, please try again later.",
    504: "Notion timed out, please try again later.",
}
_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
_TEXT_KINDS = frozenset({"title", "rich_text", "url", "email", "phone_number"})
_OPTION_KINDS = frozenset({"select", "status", "multi_select"})
_LIST_KINDS = frozenset({"title", "rich_text", "multi_select", "people", "relation", "files"})
_BOT_USER = {"object": "user", "id": "00000000-0000-4000-8000-0000000000b0"}


def _notion_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _notion_error(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, {"object": "error", "status": status, "code": code, "message": message})


def _notion_invalid(message: str) -> _Refusal:
    return _Refusal(_notion_error(400, "validation_error", message))


def _notion_missing(kind: str, ident: str) -> _Refusal:
    return _Refusal(
        _notion_error(
            404, "object_not_found", f"Could not find {kind} with ID: {ident}. {_NOTION_SHARED}"
        )
    )


def _notion_object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Refusal(_notion_error(400, "invalid_json", "Error parsing JSON body."))
    return body


def _rich_text(text: str) -> dict[str, Any]:
    return {
        "type": "text",
        "text": {"content": text, "link": None},
        "annotations": dict(_ANNOTATIONS),
        "plain_text": text,
        "href": None,
    }


def _complete_rich_text(items: Any) -> list[dict[str, Any]]:
    """Rich text items as Notion returns them: typed, annotated, with ``plain_text``."""
    completed = []
    for given in items or []:
        item: dict[str, Any] = (
            copy.deepcopy(given) if isinstance(given, dict) else {"text": {"content": str(given)}}
        )
        kind = item.get("type") or next(
            (k for k in ("text", "mention", "equation") if k in item), "text"
        )
        item["type"] = kind
        plain, href = item.get("plain_text", ""), None
        if kind == "text":
            text = item.setdefault("text", {})
            text.setdefault("content", "")
            text.setdefault("link", None)
            plain = text["content"]
            href = (text["link"] or {}).get("url")
        elif kind == "equation":
            plain = item.get("equation", {}).get("expression", "")
        item["annotations"] = {**_ANNOTATIONS, **(item.get("annotations") or {})}
        item["plain_text"] = plain
        item.setdefault("href", href)
        completed.append(item)
    return completed


def _plain_text(items: Any) -> str:
    return "".join(item.get("plain_text", "") for item in items or [])


def _option(value: Any) -> dict[str, Any]:
    name = value.get("name", "") if isinstance(value, dict) else str(value)
    ident = value.get("id") if isinstance(value, dict) else None
    color = value.get("color", "default") if isinstance(value, dict) else "default"
    return {
        "id": ident or hashlib.sha1(name.encode()).hexdigest()[:8],
        "name": name,
        "color": color,
    }


def _empty_value(kind: str) -> Any:
    if kind in _LIST_KINDS:
        return []
    return False if kind == "checkbox" else None


def _simple_value(kind: str, value: Any) -> Any:
    """A Python value (``"Done"``, ``["a", "b"]``, ``3``) as a property value of ``kind``."""
    if value is None:
        return _empty_value(kind)
    if kind in ("title", "rich_text"):
        return [_rich_text(str(value))] if value != "" else []
    if kind in ("select", "status"):
        return _option(value)
    if kind == "multi_select":
        return [_option(v) for v in value]
    if kind == "date":
        return {"start": value, "end": None, "time_zone": None} if isinstance(value, str) else value
    return copy.deepcopy(value)


def _api_value(name: str, kind: str, given: Any, where: str) -> Any:
    """A property value object sent to the API (``{"select": {"name": "Done"}}``), completed.

    A bare list stands for a list-valued property's value (``{"title": [...]}`` as
    ``[...]``), which the API accepts too."""
    if isinstance(given, list) and kind in _LIST_KINDS:
        given = {kind: given}
    if not isinstance(given, dict) or kind not in given:
        raise _notion_invalid(f"{name} is expected to be {kind}.")
    value = given[kind]
    if value is None:
        return _empty_value(kind)
    if kind in ("title", "rich_text"):
        _check_rich_text(value, f"{where}.{kind}")
        return _complete_rich_text(value)
    if kind in ("select", "status"):
        return _option(value)
    if kind == "multi_select":
        return [_option(v) for v in value]
    if kind == "date":
        return {"end": None, "time_zone": None, **value}
    return copy.deepcopy(value)


def _plain(prop: dict[str, Any]) -> Any:
    """A property value as a Python value: text, option name(s), number, ..."""
    kind = prop["type"]
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return _plain_text(value)
    if kind in ("select", "status"):
        return value["name"] if value else None
    if kind == "multi_select":
        return [option["name"] for option in value or []]
    if kind == "date":
        return value["start"] if value else None
    return value


def _check_rich_text(items: Any, where: str) -> None:
    if not isinstance(items, list):
        raise _notion_invalid(f"body failed validation: {where} should be an array.")
    if len(items) > 100:
        raise _notion_invalid(
            f"body failed validation: {where}.length should be ≤ `100`, instead was `{len(items)}`."
        )
    for j, item in enumerate(items):
        content = (item.get("text") or {}).get("content", "") if isinstance(item, dict) else ""
        if len(content) > 2000:
            raise _notion_invalid(
                f"body failed validation: {where}[{j}].text.content.length should be ≤ `2000`, "
                f"instead was `{len(content)}`."
            )


def _block_type(block: Any) -> str | None:
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind is None:
        kind = next((k for k in block if k not in ("object", "type", "id")), None)
    return kind if isinstance(kind, str) and isinstance(block.get(kind), dict) else None


def _check_blocks(children: Any, where: str) -> None:
    """Notion's limits on blocks sent in one request."""
    if not isinstance(children, list):
        raise _notion_invalid(f"body failed validation: {where} should be an array.")
    if len(children) > 100:
        raise _notion_invalid(
            f"body failed validation: {where}.length should be ≤ `100`, "
            f"instead was `{len(children)}`."
        )
    for i, block in enumerate(children):
        kind = _block_type(block)
        if kind is None:
            raise _notion_invalid(f"body failed validation: {where}[{i}] should be a block object.")
        _check_block_content(block[kind], f"{where}[{i}].{kind}")


def _check_block_content(content: dict[str, Any], where: str) -> None:
    for key in ("rich_text", "caption"):
        if key in content:
            _check_rich_text(content[key], f"{where}.{key}")
    if "children" in content:
        _check_blocks(content["children"], f"{where}.children")


def _compact(ident: str) -> str:
    return ident.replace("-", "").lower()


def _lookup(mapping: Mapping[str, Any], ident: str) -> str | None:
    """The key of ``mapping`` naming ``ident``, with or without the uuid's dashes."""
    if ident in mapping:
        return ident
    return next((key for key in mapping if _compact(key) == _compact(ident)), None)


class NotionState(_State):
    """Notion (API version 2025-09-03): databases, their data sources, pages and blocks.

    ``databases[id]`` holds ``title`` and ``data_sources`` (ids); ``data_sources[id]``
    holds ``name``, ``database_id`` and ``properties`` (name -> type); ``pages[id]`` is
    the page object as the API returns it; ``blocks[parent id]`` the children of a page or
    block, in order (deleted ones stay, with ``in_trash``). ``values(page_id)`` gives a
    page's properties as plain Python values.

    Served: ``GET /v1/databases/{id}``, ``GET /v1/data_sources/{id}``, ``POST
    /v1/data_sources/{id}/query``, ``POST /v1/search``, ``POST /v1/pages``, ``GET|PATCH
    /v1/pages/{id}``, ``PATCH|DELETE /v1/blocks/{id}``, ``GET|PATCH
    /v1/blocks/{id}/children``.
    """

    service: Service = "notion"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: _Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, list[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)

    # Seeding ---------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{next(self._numbers):08x}-0000-4000-8000-000000000000"

    def add_database(
        self,
        database_id: str | None = None,
        *,
        title: str = "",
        properties: Mapping[str, str] | None = None,
    ) -> str:
        """A database with one data source (``"ds-" + database_id``); the database's id.

        ``properties`` maps names to types (``"title"``, ``"select"``, ...); a ``Name``
        title property is added when none is a title.
        """
        schema = dict(properties or {})
        if "title" not in schema.values():
            schema = {"Name": "title", **schema}
        with self._lock:
            database_id = database_id or self.new_id()
            source_id = f"ds-{database_id}"
            now = _notion_time(self._clock.tick())
            self.databases[database_id] = {
                "id": database_id,
                "title": title,
                "data_sources": [source_id],
                "created_time": now,
            }
            self.data_sources[source_id] = {
                "id": source_id,
                "database_id": database_id,
                "name": title,
                "properties": schema,
                "created_time": now,
            }
            return database_id

    def add_page(
        self,
        *,
        parent_database: str | None = None,
        parent_data_source: str | None = None,
        parent_page: str | None = None,
        properties: Mapping[str, Any] | None = None,
        title: str | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> str:
        """A page in a database (properties as plain values, or as property objects), under
        a page, or at the top of the workspace (just a title); its id."""
        with self._lock:
            parent_json: dict[str, Any] = {"type": "workspace", "workspace": True}
            schema: dict[str, str] | None = None
            if parent_page is not None:
                parent_json, schema = self._parent({"page_id": parent_page})
            elif parent_database is not None:
                parent_json, schema = self._parent({"database_id": parent_database})
            elif parent_data_source is not None:
                parent_json, schema = self._parent({"data_source_id": parent_data_source})
            values = dict(properties or {})
            if title is not None:
                values[self._title_name(schema)] = title
            given: dict[str, Any] = {}
            for name, value in values.items():
                kind = (schema or {"title": "title"}).get(name)
                if kind is None:
                    raise KeyError(f"{name} is not a property of the parent")
                given[name] = (
                    value if isinstance(value, dict) else {kind: _simple_value(kind, value)}
                )
            return str(self._new_page(parent_json, schema, given, children or [])["id"])

    def values(self, page_id: str) -> dict[str, Any]:
        """A page's properties as plain values (text, option names, numbers, ...)."""
        with self._lock:
            page = self.pages[_lookup(self.pages, page_id) or page_id]
            return {name: _plain(prop) for name, prop in page["properties"].items()}

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, Handler]]:
        ident = r"(?P<id>[^/]+)"
        return [
            ("GET", rf"/v1/databases/{ident}", self._get_database),
            ("GET", rf"/v1/data_sources/{ident}", self._get_data_source),
            ("POST", rf"/v1/data_sources/{ident}/query", self._query),
            ("POST", r"/v1/search", self._search),
            ("POST", r"/v1/pages", self._create_page),
            ("GET", rf"/v1/pages/{ident}", self._get_page),
            ("PATCH", rf"/v1/pages/{ident}", self._update_page),
            ("PATCH", rf"/v1/blocks/{ident}", self._update_block),
            ("DELETE", rf"/v1/blocks/{ident}", self._delete_block),
            ("GET", rf"/v1/blocks/{ident}/children", self._list_children),
            ("PATCH", rf"/v1/blocks/{ident}/children", self._append_children),
        ]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> _Reply | None:
        if request.headers.get("authorization") == f"Bearer {token}":
            return None
        return _notion_error(401, "unauthorized", "API token is invalid.")

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> _Reply | None:
        if "notion-version" not in request.headers:
            message = (
                "Notion-Version header failed validation: Notion-Version header should be "
                "defined, instead was `undefined`."
            )
            return _notion_error(400, "missing_version", message)
        return None

    def _unknown(self, request: ServiceRequest) -> _Reply:
        return _notion_error(400, "invalid_request_url", "Invalid request URL.")

    def default_error(self, status: int, message: str | None = None) -> Any:
        code = _NOTION_CODES.get(status) or (
            "internal_server_error" if status >= 500 else "validation_error"
        )
        text = message or _NOTION_MESSAGES.get(status) or f"Request failed: {_phrase(status)}."
        return {"object": "error", "status": status, "code": code, "message": text}

    def _now(self) -> str:
        return _notion_time(self._clock.tick())

    def _url(self, ident: str) -> str:
        return f"https://www.notion.so/{_compact(ident)}"

    def _source_of(self, ident: str) -> dict[str, Any]:
        key = _lookup(self.data_sources, ident)
        if key is None:
            raise _notion_missing("data source", ident)
        return self.data_sources[key]

    def _page_of(self, ident: str) -> dict[str, Any]:
        key = _lookup(self.pages, ident)
        if key is None:
            raise _notion_missing("page", ident)
        return self.pages[key]

    @staticmethod
    def _title_name(schema: Mapping[str, str] | None) -> str:
        if schema is None:
            return "title"
        return next(name for name, kind in schema.items() if kind == "title")

    def _parent(self, parent: Any) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The parent's JSON and, for a data source, its schema."""
        if not isinstance(parent, dict):
            raise _notion_invalid("body failed validation: body.parent should be an object.")
        if parent.get("page_id"):
            page = self._page_of(str(parent["page_id"]))
            return {"type": "page_id", "page_id": page["id"]}, None
        if parent.get("database_id") and not parent.get("data_source_id"):
            key = _lookup(self.databases, str(parent["database_id"]))
            if key is None:
                raise _notion_missing("database", str(parent["database_id"]))
            source = self.data_sources[self.databases[key]["data_sources"][0]]
        elif parent.get("data_source_id"):
            source = self._source_of(str(parent["data_source_id"]))
        else:
            raise _notion_invalid(
                "body failed validation: body.parent should have one of page_id, "
                "database_id or data_source_id."
            )
        parent_json = {
            "type": "data_source_id",
            "data_source_id": source["id"],
            "database_id": source["database_id"],
        }
        return parent_json, source["properties"]

    def _properties(
        self, given: Any, schema: Mapping[str, str] | None, base: dict[str, Any]
    ) -> dict[str, Any]:
        """``base`` updated with the property values ``given`` to the API."""
        if not isinstance(given, dict):
            raise _notion_invalid("body failed validation: body.properties should be an object.")
        kinds = dict(schema) if schema is not None else {"title": "title"}
        ids = {self._property_id(name, kind): name for name, kind in kinds.items()}
        merged = copy.deepcopy(base)
        for key, value in given.items():
            name = key if key in kinds else ids.get(key)
            if name is None:
                raise _notion_invalid(f"{key} is not a property that exists.")
            kind = kinds[name]
            where = f"body.properties.{name}"
            merged[name] = {
                "id": self._property_id(name, kind),
                "type": kind,
                kind: _api_value(name, kind, value, where),
            }
        return merged

    @staticmethod
    def _property_id(name: str, kind: str) -> str:
        return "title" if kind == "title" else hashlib.sha1(name.encode()).hexdigest()[:4]

    def _new_page(
        self,
        parent: dict[str, Any],
        schema: Mapping[str, str] | None,
        given: dict[str, Any],
        children: list[dict[str, Any]],
    ) -> dict[str, Any]:
        _check_blocks(children, "body.children")
        kinds = dict(schema) if schema is not None else {"title": "title"}
        empty = {
            name: {"id": self._property_id(name, kind), "type": kind, kind: _empty_value(kind)}
            for name, kind in kinds.items()
        }
        properties = self._properties(given, schema, empty)
        page_id = self.new_id()
        now = self._now()
        page = {
            "object": "page",
            "id": page_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": dict(_BOT_USER),
            "last_edited_by": dict(_BOT_USER),
            "cover": None,
            "icon": None,
            "parent": parent,
            "archived": False,
            "in_trash": False,
            "is_locked": False,
            "properties": properties,
            "url": self._url(page_id),
            "public_url": None,
        }
        self.pages[page_id] = page
        self.blocks[page_id] = []
        self._store_blocks(page_id, {"type": "page_id", "page_id": page_id}, children)
        return page

    def _store_blocks(
        self,
        parent_id: str,
        parent: dict[str, Any],
        children: list[dict[str, Any]],
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        created = []
        for given in children:
            kind = cast(str, _block_type(given))
            content = copy.deepcopy(given[kind])
            nested = content.pop("children", None) or []
            for key in ("rich_text", "caption"):
                if key in content:
                    content[key] = _complete_rich_text(content[key])
            now = self._now()
            block_id = self.new_id()
            block = {
                "object": "block",
                "id": block_id,
                "parent": parent,
                "created_time": now,
                "last_edited_time": now,
                "created_by": dict(_BOT_USER),
                "last_edited_by": dict(_BOT_USER),
                "has_children": bool(nested),
                "archived": False,
                "in_trash": False,
                "type": kind,
                kind: content,
            }
            created.append(block)
            self.blocks[block_id] = []
            if nested:
                self._store_blocks(block_id, {"type": "block_id", "block_id": block_id}, nested)
        siblings = self.blocks.setdefault(parent_id, [])
        at = len(siblings) if after is None else after + 1
        siblings[at:at] = created
        return created

    def _find_block(self, ident: str) -> dict[str, Any] | None:
        for siblings in self.blocks.values():
            for block in siblings:
                if _compact(block["id"]) == _compact(ident):
                    return block
        return None

    def _page_as_block(self, page: dict[str, Any]) -> dict[str, Any]:
        title = _plain(page["properties"][self._title_of(page)])
        return {
            "object": "block",
            "id": page["id"],
            "parent": page["parent"],
            "created_time": page["created_time"],
            "last_edited_time": page["last_edited_time"],
            "has_children": bool(self.blocks.get(page["id"])),
            "archived": page["archived"],
            "in_trash": page["in_trash"],
            "type": "child_page",
            "child_page": {"title": title},
        }

    def _listing(self, items: list[Any], options: Mapping[str, Any], kind: str) -> dict[str, Any]:
        size = _int(options.get("page_size"), 100, high=100)
        cursor = options.get("start_cursor")
        try:
            start = int(cursor) if cursor else 0
        except ValueError:
            raise _notion_invalid(f"start_cursor {cursor} is not valid.") from None
        chunk = items[start : start + size]
        more = start + size < len(items)
        return {
            "object": "list",
            "results": copy.deepcopy(chunk),
            "next_cursor": str(start + size) if more else None,
            "has_more": more,
            "type": kind,
            kind: {},
        }

    # Representations -------------------------------------------------------------------

    def _database_json(self, database: dict[str, Any]) -> dict[str, Any]:
        sources = [self.data_sources[ds] for ds in database["data_sources"]]
        return {
            "object": "database",
            "id": database["id"],
            "title": [_rich_text(database["title"])] if database["title"] else [],
            "description": [],
            "data_sources": [{"id": source["id"], "name": source["name"]} for source in sources],
            "parent": {"type": "workspace", "workspace": True},
            "created_time": database["created_time"],
            "last_edited_time": database["created_time"],
            "is_inline": False,
            "in_trash": False,
            "archived": False,
            "icon": None,
            "cover": None,
            "url": self._url(database["id"]),
            "public_url": None,
        }

    def _source_json(self, source: dict[str, Any]) -> dict[str, Any]:
        properties = {}
        for name, kind in source["properties"].items():
            config: dict[str, Any] = {}
            if kind in _OPTION_KINDS:
                config = {"options": self._options_in_use(source["id"], name)}
            properties[name] = {
                "id": self._property_id(name, kind),
                "name": name,
                "type": kind,
                kind: config,
            }
        return {
            "object": "data_source",
            "id": source["id"],
            "title": [_rich_text(source["name"])] if source["name"] else [],
            "description": [],
            "properties": properties,
            "parent": {"type": "database_id", "database_id": source["database_id"]},
            "database_parent": {"type": "workspace", "workspace": True},
            "created_time": source["created_time"],
            "last_edited_time": source["created_time"],
            "in_trash": False,
            "archived": False,
            "icon": None,
            "cover": None,
            "url": self._url(source["database_id"]),
        }

    def _options_in_use(self, source_id: str, name: str) -> list[dict[str, Any]]:
        options: dict[str, dict[str, Any]] = {}
        for page in self._pages_in(source_id):
            prop = page["properties"].get(name, {})
            value = prop.get(prop.get("type", ""))
            for option in value if isinstance(value, list) else [value] if value else []:
                options.setdefault(option["name"], option)
        return list(options.values())

    def _pages_in(self, source_id: str) -> list[dict[str, Any]]:
        return [
            page
            for page in self.pages.values()
            if page["parent"].get("data_source_id") == source_id and not page["in_trash"]
        ]

    # Handlers ---------------------------------------------------------------------------

    def _get_database(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        key = _lookup(self.databases, params["id"])
        if key is None:
            raise _notion_missing("database", params["id"])
        return _Reply(200, self._database_json(self.databases[key]))

    def _get_data_source(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        return _Reply(200, self._source_json(self._source_of(params["id"])))

    def _query(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        source = self._source_of(params["id"])
        body = _notion_object(request.body)
        schema: dict[str, str] = source["properties"]
        pages = self._pages_in(source["id"])
        if body.get("filter"):
            pages = [page for page in pages if self._matches(page, body["filter"], schema)]
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise _notion_invalid("body failed validation: body.sorts should be an array.")
        for sort in reversed(sorts):
            pages = self._sorted(pages, sort, schema)
        return _Reply(200, self._listing(pages, body, "page_or_data_source"))

    def _schema_name(self, schema: Mapping[str, str], ident: Any) -> str | None:
        if ident in schema:
            return str(ident)
        return next((n for n, k in schema.items() if self._property_id(n, k) == ident), None)

    def _matches(self, page: dict[str, Any], condition: Any, schema: Mapping[str, str]) -> bool:
        if not isinstance(condition, dict):
            raise _notion_invalid("body failed validation: body.filter should be an object.")
        if "and" in condition:
            return all(self._matches(page, part, schema) for part in condition["and"])
        if "or" in condition:
            return any(self._matches(page, part, schema) for part in condition["or"])
        if "timestamp" in condition:
            stamp = str(condition["timestamp"])
            return _compare(page.get(stamp), "date", condition.get(stamp) or {})
        ident = condition.get("property")
        name = self._schema_name(schema, ident)
        if name is None:
            raise _notion_invalid(f"Could not find property with name or id: {ident}")
        kind = schema[name]
        given = [key for key in condition if key != "property"]
        if len(given) != 1 or not isinstance(condition[given[0]], dict):
            raise _notion_invalid(f"body failed validation: the filter on {name} has no condition.")
        filter_kind = given[0]
        if filter_kind != kind and not {filter_kind, kind} <= _TEXT_KINDS:
            raise _notion_invalid(
                f"body failed validation: the filter on {name} is a {filter_kind} filter, "
                f"but {name} is a {kind} property."
            )
        return _compare(_plain(page["properties"][name]), kind, condition[filter_kind])

    def _sorted(
        self, pages: list[dict[str, Any]], sort: Any, schema: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        if not isinstance(sort, dict):
            raise _notion_invalid("body failed validation: body.sorts should hold objects.")
        descending = sort.get("direction") == "descending"
        stamp = sort.get("timestamp")
        name = None if stamp else self._schema_name(schema, sort.get("property"))
        if not stamp and name is None:
            raise _notion_invalid(
                f"Could not find sort property with name or id: {sort.get('property')}"
            )

        def value(page: dict[str, Any]) -> Any:
            if name is None:
                return page.get(str(stamp))
            found = _plain(page["properties"][name])
            return ",".join(found) if isinstance(found, list) else found

        present = [page for page in pages if value(page) not in (None, "")]
        absent = [page for page in pages if value(page) in (None, "")]
        return sorted(present, key=value, reverse=descending) + absent

    def _search(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        body = _notion_object(request.body)
        query = str(body.get("query") or "").lower()
        wanted = (body.get("filter") or {}).get("value")
        if wanted not in (None, "page", "data_source"):
            raise _notion_invalid(
                'body failed validation: body.filter.value should be `"page"` or '
                f'`"data_source"`, instead was `{json.dumps(wanted)}`.'
            )
        found: list[dict[str, Any]] = []
        if wanted in (None, "data_source"):
            found += [
                self._source_json(source)
                for source in self.data_sources.values()
                if query in source["name"].lower()
            ]
        if wanted in (None, "page"):
            for page in self.pages.values():
                title = _plain(page["properties"][self._title_of(page)])
                if not page["in_trash"] and query in title.lower():
                    found.append(page)
        sort = body.get("sort")
        if isinstance(sort, dict) and sort.get("timestamp"):
            found.sort(
                key=lambda item: item["last_edited_time"],
                reverse=sort.get("direction") != "ascending",
            )
        return _Reply(200, self._listing(found, body, "page_or_data_source"))

    @staticmethod
    def _title_of(page: dict[str, Any]) -> str:
        return next(name for name, prop in page["properties"].items() if prop["type"] == "title")

    def _create_page(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        body = _notion_object(request.body)
        parent, schema = self._parent(body.get("parent"))
        given = body.get("properties") or {}
        if schema is not None and isinstance(given, dict):
            title = self._title_name(schema)
            if title not in given and "title" not in given:
                raise _notion_invalid(
                    f"body failed validation: body.properties.{title} should be defined, "
                    "instead was `undefined`."
                )
        page = self._new_page(parent, schema, given, body.get("children") or [])
        for key in ("icon", "cover"):
            page[key] = body.get(key)
        return _Reply(200, copy.deepcopy(page))

    def _get_page(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        return _Reply(200, copy.deepcopy(self._page_of(params["id"])))

    def _update_page(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        page = self._page_of(params["id"])
        body = _notion_object(request.body)
        trash = body.get("in_trash", body.get("archived"))
        edits = [key for key in ("properties", "icon", "cover") if key in body]
        if page["in_trash"] and trash is not False and edits:
            raise _notion_invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        if "properties" in body:
            parent = page["parent"]
            schema = None
            if parent["type"] == "data_source_id":
                schema = self._source_of(parent["data_source_id"])["properties"]
            page["properties"] = self._properties(body["properties"], schema, page["properties"])
        for key in ("icon", "cover"):
            if key in body:
                page[key] = body[key]
        if trash is not None:
            page["in_trash"] = page["archived"] = bool(trash)
        page["last_edited_time"] = self._now()
        return _Reply(200, copy.deepcopy(page))

    def _update_block(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        block = self._find_block(params["id"])
        if block is None:
            raise _notion_missing("block", params["id"])
        body = _notion_object(request.body)
        kind = block["type"]
        trash = body.get("in_trash", body.get("archived"))
        other = next((k for k in body if k not in (kind, "type", "in_trash", "archived")), None)
        if other is not None:
            raise _notion_invalid(f"Block type {other} does not match existing block type {kind}.")
        if block["in_trash"] and trash is not False and kind in body:
            raise _notion_invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        if isinstance(body.get(kind), dict):
            _check_block_content(body[kind], f"body.{kind}")
            content = copy.deepcopy(body[kind])
            for key in ("rich_text", "caption"):
                if key in content:
                    content[key] = _complete_rich_text(content[key])
            block[kind] = {**block[kind], **content}
        if trash is not None:
            block["in_trash"] = block["archived"] = bool(trash)
        block["last_edited_time"] = self._now()
        return _Reply(200, copy.deepcopy(block))

    def _delete_block(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        block = self._find_block(params["id"])
        if block is None:
            page = self._page_of(params["id"]) if _lookup(self.pages, params["id"]) else None
            if page is None:
                raise _notion_missing("block", params["id"])
            page["in_trash"] = page["archived"] = True
            return _Reply(200, self._page_as_block(page))
        if block["in_trash"]:
            raise _notion_invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        block["in_trash"] = block["archived"] = True
        block["last_edited_time"] = self._now()
        return _Reply(200, copy.deepcopy(block))

    def _children_of(self, ident: str) -> str:
        """The key in ``blocks`` of the page or block ``ident``."""
        key = _lookup(self.blocks, ident)
        if key is None or (key not in self.pages and self._find_block(key) is None):
            raise _notion_missing("block", ident)
        return key

    def _list_children(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        key = self._children_of(params["id"])
        children = [block for block in self.blocks[key] if not block["in_trash"]]
        return _Reply(200, self._listing(children, request.query, "block"))

    def _append_children(self, request: ServiceRequest, params: dict[str, str]) -> _Reply:
        key = self._children_of(params["id"])
        body = _notion_object(request.body)
        children = body.get("children")
        _check_blocks(children, "body.children")
        after = None
        if body.get("after"):
            ids = [_compact(block["id"]) for block in self.blocks[key]]
            if _compact(str(body["after"])) not in ids:
                raise _notion_missing("block", str(body["after"]))
            after = ids.index(_compact(str(body["after"])))
        parent = (
            {"type": "page_id", "page_id": key}
            if key in self.pages
            else {"type": "block_id", "block_id": key}
        )
        created = self._store_blocks(key, parent, cast(list[dict[str, Any]], children), after)
        if (block := self._find_block(key)) is not None:
            block["has_children"] = True
        return _Reply(200, self._listing(created, {}, "block"))


def _compare(value: Any, kind: str, condition: dict[str, Any]) -> bool:
    """Whether ``value`` (a plain property value of ``kind``) meets a filter condition."""
    if not condition:
        raise _notion_invalid("body failed validation: a filter condition is empty.")
    op, arg = next(iter(condition.items()))
    if op == "is_empty":
        return value in (None, "", [])
    if op == "is_not_empty":
        return value not in (None, "", [])
    if kind in _TEXT_KINDS:
        text, needle = str(value or ""), str(arg)
        tests: dict[str, Callable[[], bool]] = {
            "equals": lambda: text == needle,
            "does_not_equal": lambda: text != needle,
            "contains": lambda: needle.lower() in text.lower(),
            "does_not_contain": lambda: needle.lower() not in text.lower(),
            "starts_with": lambda: text.lower().startswith(needle.lower()),
            "ends_with": lambda: text.lower().endswith(needle.lower()),
        }
    elif kind == "multi_select":
        names = value or []
        tests = {"contains": lambda: arg in names, "does_not_contain": lambda: arg not in names}
    elif kind in ("number", "date"):
        tests = {
            "equals": lambda: value == arg,
            "does_not_equal": lambda: value != arg,
            "greater_than": lambda: value is not None and value > arg,
            "less_than": lambda: value is not None and value < arg,
            "greater_than_or_equal_to": lambda: value is not None and value >= arg,
            "less_than_or_equal_to": lambda: value is not None and value <= arg,
            "after": lambda: value is not None and value > arg,
            "before": lambda: value is not None and value < arg,
            "on_or_after": lambda: value is not None and value >= arg,
            "on_or_before": lambda: value is not None and value <= arg,
        }
    else:  # select, status, checkbox and the rest compare whole values
        tests = {"equals": lambda: value == arg, "does_not_equal": lambda: value != arg}
    if op not in tests:
        raise _notion_invalid(f"body failed validation: {op} is not a {kind} filter condition.")
    return tests[op]()


# --------------------------------------------------------------------------------------
# Slack

_SLACK_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "reactions.add": "reactions:write",
}


def _slack_error(error: str, **extra: Any) -> _Refusal:
    return _Refusal(_Reply(200, {"ok": False, "error": error, **extra}))


def _slack_json(value: Any, error: str) -> Any:
    """A JSON argument, which form-encoded calls send as a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _slack_error(error) from None


def _block_errors(blocks: Any) -> list[str]:
    """Slack's complaints about a ``blocks`` argument (a few of its limits)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > 50:
        return ["no more than 50 items allowed [json-pointer:/blocks]"]
    errors = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            errors.append(f"missing required field: type [json-pointer:/blocks/{i}]")
            continue
        limit = {"section": 3000, "header": 150}.get(block["type"])
        text = (
            (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        )
        if limit is not None and len(text) > limit:
            errors.append(
                f"must be less than {limit + 1} characters [json-pointer:/blocks/{i}/text/text]"
            )
    return errors


class SlackState(_State):
    """Slack: channels, messages (with threads, metadata and reactions) and the bot's scopes.

    ``channels`` maps ids to names; ``messages`` holds ``{channel, ts, text, blocks,
    thread_ts, metadata, user, reactions: {name: [users]}}`` in posting order (the bot
    posts as ``bot_user``); ``scopes`` the bot token's scopes, checked per method.

    Served (POST or GET, JSON or form bodies): ``chat.postMessage``, ``chat.update``,
    ``reactions.add``.
    """

    service: Service = "slack"

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: _Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.channels: dict[str, str] = {}
        self.messages: list[dict[str, Any]] = []
        self.scopes: set[str] = {"chat:write", "reactions:write"}
        self.bot_user = "UBOT"
        self.bot_id = "B1"
        self._ts = itertools.count(1)

    # Seeding ---------------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self.channels[channel_id] = name.lstrip("#")

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0001",
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A message someone posted; its ``ts``."""
        with self._lock:
            return str(
                self._post(self._channel(channel), text, blocks, thread_ts, metadata, user)["ts"]
            )

    # Plumbing --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, str, Handler]]:
        methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "reactions.add": self._react,
        }

        def serve(call: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
            return lambda request, params: _Reply(200, {"ok": True, **call(_slack_args(request))})

        return [("*", re.escape(name), serve(call)) for name, call in methods.items()]

    def _refuse_credentials(self, request: ServiceRequest, token: str) -> _Reply | None:
        given = request.headers.get("authorization")
        if given is None:
            given = _slack_args(request).get("token")
            if given is None:
                return _Reply(200, {"ok": False, "error": "not_authed"})
            given = f"Bearer {given}"
        if given == f"Bearer {token}":
            return None
        return _Reply(200, {"ok": False, "error": "invalid_auth"})

    def _precheck(self, request: ServiceRequest, params: dict[str, str]) -> _Reply | None:
        needed = _SLACK_SCOPES.get(request.path)
        if needed is None or needed in self.scopes:
            return None
        refusal = {"ok": False, "error": "missing_scope", "needed": needed}
        return _Reply(200, {**refusal, "provided": ",".join(sorted(self.scopes))})

    def _unknown(self, request: ServiceRequest) -> _Reply:
        return _Reply(200, {"ok": False, "error": "unknown_method", "req_method": request.path})

    def default_error(self, status: int, message: str | None = None) -> Any:
        if status == 429:
            error = "ratelimited"
        elif status >= 500:
            error = "internal_error"
        else:
            error = "fatal_error"
        return {"ok": False, "error": error} | ({"detail": message} if message else {})

    def finish(self, request: ServiceRequest, reply: _Reply) -> _Reply:
        reply.headers.setdefault("x-oauth-scopes", ",".join(sorted(self.scopes)))
        reply.headers.setdefault("x-accepted-oauth-scopes", _SLACK_SCOPES.get(request.path, ""))
        return reply

    def _channel(self, given: Any) -> str:
        """The id of the channel named by an id, a name or ``#name``."""
        name = str(given or "")
        if name in self.channels:
            return name
        for channel_id, channel_name in self.channels.items():
            if channel_name == name.lstrip("#"):
                return channel_id
        raise _slack_error("channel_not_found")

    def _message(self, channel: str, ts: Any, error: str = "message_not_found") -> dict[str, Any]:
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == str(ts):
                return message
        raise _slack_error(error)

    def _post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        metadata: dict[str, Any] | None,
        user: str,
    ) -> dict[str, Any]:
        if thread_ts:
            parent = self._message(channel, thread_ts, "thread_not_found")
            thread_ts = parent["thread_ts"] or parent["ts"]
        micros = 100 * next(self._ts)
        message: dict[str, Any] = {
            "channel": channel,
            "ts": f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}",
            "text": text,
            "blocks": blocks,
            "thread_ts": thread_ts or None,
            "metadata": metadata,
            "user": user,
            "reactions": {},
        }
        self.messages.append(message)
        return message

    def _message_json(self, message: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {
            "type": "message",
            "user": message["user"],
            "text": message["text"],
            "ts": message["ts"],
        }
        if message["user"] == self.bot_user:
            found |= {"bot_id": self.bot_id, "app_id": "A1"}
        if message["blocks"]:
            found["blocks"] = copy.deepcopy(message["blocks"])
        if message["thread_ts"]:
            found["thread_ts"] = message["thread_ts"]
        replies = [m for m in self.messages if m["thread_ts"] == message["ts"] and m is not message]
        if replies:
            found |= {
                "thread_ts": message["ts"],
                "reply_count": len(replies),
                "reply_users": sorted({m["user"] for m in replies}),
                "latest_reply": replies[-1]["ts"],
            }
        if message["reactions"]:
            found["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in message["reactions"].items()
            ]
        if message["metadata"]:
            found["metadata"] = copy.deepcopy(message["metadata"])
        if message.get("edited"):
            found["edited"] = dict(message["edited"])
        return found

    def _content(self, args: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
        text = str(args.get("text") or "")
        blocks = _slack_json(args.get("blocks"), "invalid_blocks_format") or None
        if not text and not blocks and not args.get("attachments"):
            raise _slack_error("no_text")
        if len(text) > 40_000:
            raise _slack_error("msg_too_long")
        if blocks is not None and (errors := _block_errors(blocks)):
            raise _slack_error("invalid_blocks", errors=errors)
        return text, blocks

    # Handlers ---------------------------------------------------------------------------

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        text, blocks = self._content(args)
        metadata = _slack_json(args.get("metadata"), "invalid_metadata_format")
        if metadata is not None and not (isinstance(metadata, dict) and metadata.get("event_type")):
            raise _slack_error("invalid_metadata_format")
        thread_ts = args.get("thread_ts")
        message = self._post(
            channel, text, blocks, str(thread_ts) if thread_ts else None, metadata, self.bot_user
        )
        return {"channel": channel, "ts": message["ts"], "message": self._message_json(message)}

    def _own_message(self, args: dict[str, Any], key: str, refusal: str) -> dict[str, Any]:
        message = self._message(self._channel(args.get("channel")), args.get(key))
        if message["user"] != self.bot_user:
            raise _slack_error(refusal)
        return message

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._own_message(args, "ts", "cant_update_message")
        text, blocks = self._content(args)
        message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user, "ts": message["ts"]}
        found = {"channel": message["channel"], "ts": message["ts"], "text": text}
        return found | {"message": self._message_json(message)}

    def _reaction_target(self, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
        message = self._message(self._channel(args.get("channel")), args.get("timestamp"))
        name = str(args.get("name") or "").strip(":")
        if not name:
            raise _slack_error("invalid_name")
        return message, name

    def _react(self, args: dict[str, Any]) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message["reactions"].setdefault(name, [])
        if self.bot_user in users:
            raise _slack_error("already_reacted")
        users.append(self.bot_user)
        return {}

def _slack_args(request: ServiceRequest) -> dict[str, Any]:
    """A Slack call's arguments: the query's, then the body's."""
    args: dict[str, Any] = dict(request.query)
    if isinstance(request.body, dict):
        args.update(request.body)
    return args


# --------------------------------------------------------------------------------------
# The server

# _http.read_request keeps only the path of a request's target; these APIs carry arguments
# in the query string, so each connection reads through a _TargetRecorder (kept in a
# context variable, one per connection task) that notes the whole target.
_connection: contextvars.ContextVar[_TargetRecorder] = contextvars.ContextVar("service_connection")


class _TargetRecorder:
    """Passes reads through to a connection's reader, noting each request line's target."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self.target = ""

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        data = await self._reader.readuntil(separator)
        if separator == b"\r\n\r\n":
            parts = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            self.target = parts[1] if len(parts) > 1 else ""
        return data

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)


class _TargetKeepingServer(LoopServer):
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        recorder = _TargetRecorder(reader)
        _connection.set(recorder)
        await super()._serve(cast(asyncio.StreamReader, recorder), writer)


def _locate(path: str) -> tuple[Service, str] | None:
    """The service a raw request path is for, and the path within it (decoded)."""
    for service, prefix in _PREFIXES:
        bare = prefix.rstrip("/")
        if path == bare or path.startswith(bare + "/"):
            rest = path[len(prefix) :] if service == "slack" else path[len(bare) :]
            return service, urllib.parse.unquote(rest) or ("" if service == "slack" else "/")
    return None


def _parse_body(request: HTTPRequest) -> Any:
    if not request.body:
        return None
    text = request.body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _record(request: HTTPRequest, target: str) -> ServiceRequest | None:
    raw_path, _, raw_query = target.partition("?")
    located = _locate(raw_path)
    if located is None:
        return None
    service, path = located
    query = {k: v[0] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
    return ServiceRequest(
        service, request.method, path, query, _parse_body(request), dict(request.headers)
    )


async def _send(out: ResponseWriter, reply: _Reply) -> None:
    if reply.status == 204:
        await out.head(204, "application/json", 0, reply.headers)
    elif isinstance(reply.body, str | bytes):
        raw = reply.body.encode() if isinstance(reply.body, str) else reply.body
        await out.head(reply.status, "text/html; charset=utf-8", None, reply.headers)
        if raw:
            await out.chunk(raw)
        await out.end_chunks()
    else:
        await out.json(reply.status, reply.body, reply.headers)


class ServiceServer(Served):
    """GitHub, Notion and Slack on one loopback port (see the module doc)."""

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        unknown = set(tokens or {}) - set(SERVICES)
        if unknown:
            raise ValueError(f"no such service: {', '.join(sorted(unknown))}")
        self.tokens: dict[str, str] = dict(tokens or {})
        self._lock = threading.RLock()
        self._requests: list[ServiceRequest] = []
        self._faults: list[list[Any]] = []  # [fault, uses left]
        self._slow: list[list[Any]] = []  # [match, seconds, uses left]
        clock = _Clock()
        self.github = GitHubState(self._lock, lambda: self.github_url, clock)
        self.notion = NotionState(self._lock, lambda: self.notion_url, clock)
        self.slack = SlackState(self._lock, lambda: self.slack_url, clock)
        self._states: dict[Service, _State] = {
            "github": self.github,
            "notion": self.notion,
            "slack": self.slack,
        }
        self._http = _TargetKeepingServer(self._dispatch, host, port)

    @property
    def github_url(self) -> str:
        return f"{self.url}/github"

    @property
    def notion_url(self) -> str:
        return f"{self.url}/notion"

    @property
    def slack_url(self) -> str:
        return f"{self.url}/slack/api/"

    # The log -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[ServiceRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._requests]

    def requests_to(self, service: Service) -> list[ServiceRequest]:
        return [r for r in self.requests if r.service == service]

    def writes(self, service: Service | None = None) -> list[ServiceRequest]:
        """The requests that change something (Notion's POST reads and Slack's reads left out)."""
        return [r for r in self.requests if r.is_write and service in (None, r.service)]

    def clear(self) -> None:
        """Forget the requests logged so far (state and faults stay)."""
        with self._lock:
            self._requests.clear()

    # Faults ------------------------------------------------------------------------------

    def fault(
        self,
        service: Service,
        method: str,
        path: str,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> ServiceFault:
        """Answer the next ``times`` requests matching ``service``, ``method`` and ``path``
        (fnmatch patterns, the path as logged) with ``status`` instead of serving them."""
        if service not in SERVICES:
            raise ValueError(f"no such service: {service}")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = ServiceFault(service, method, path, status, dict(headers or {}), body)
        with self._lock:
            self._faults.append([fault, times])
        return fault

    def slow(self, service: Service, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` matching requests ``seconds`` before serving them as usual
        (a write caught in flight: the request has arrived, its answer has not)."""
        with self._lock:
            self._slow.append([ServiceFault(service, method, path, 0), seconds, times])

    def _take_slow(self, request: ServiceRequest) -> float:
        with self._lock:
            for entry in self._slow:
                if entry[0].matches(request):
                    entry[2] -= 1
                    if entry[2] == 0:
                        self._slow.remove(entry)
                    return float(entry[1])
        return 0.0

    @property
    def pending_faults(self) -> list[ServiceFault]:
        with self._lock:
            return [f for f, uses in self._faults for _ in range(uses)]

    def _take_fault(self, request: ServiceRequest) -> ServiceFault | None:
        for entry in self._faults:
            fault: ServiceFault = entry[0]
            if fault.matches(request):
                entry[1] -= 1
                if entry[1] == 0:
                    self._faults.remove(entry)
                return fault
        return None

    # Serving -----------------------------------------------------------------------------

    async def _dispatch(self, request: HTTPRequest, out: ResponseWriter) -> None:
        recorder = _connection.get(None)
        record = _record(request, recorder.target if recorder is not None else request.path)
        if record is None:
            message = f"Nothing is served at {request.path}: use /github, /notion or /slack/api/."
            await out.json(404, {"message": message})
            return
        out.on_status = lambda status: self._set_status(record, status)
        with self._lock:
            self._requests.append(record)
        if delay := self._take_slow(record):
            await asyncio.sleep(delay)
        with self._lock:
            reply = self._reply(record)
        await _send(out, reply)

    def _set_status(self, record: ServiceRequest, status: int) -> None:
        with self._lock:
            record.status = status

    def _reply(self, record: ServiceRequest) -> _Reply:
        state = self._states[record.service]
        fault = self._take_fault(record)
        if fault is not None:
            record.fault = True
            body = fault.body if fault.body is not None else state.default_error(fault.status)
            reply = _Reply(fault.status, body, dict(fault.headers))
        else:
            try:
                reply = state.answer(record, self.tokens.get(record.service))
            except Exception as exc:
                message = f"The loopback {record.service} server failed: {exc!r}"
                reply = _Reply(500, state.default_error(500, message))
        return state.finish(record, reply)

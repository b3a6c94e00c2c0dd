"""The git data of the fake GitHub: repositories, their branches and files, and the commits
that the contents API makes.

``GitHubRepos`` holds this part of the state and serves the repository, contents, branch
and ref endpoints; ``GitHubState`` (in ``github``) adds issues, comments and pull requests
and the routing. Shas are made from counters, so a run repeats exactly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import threading
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gorgon_nb.testing._api import Clock, FakeAPI, Refusal, Reply, ServiceRequest, bounded_int

__all__ = [
    "GITHUB_DOCS",
    "GitHubRepos",
    "github_error",
    "github_invalid",
    "github_object",
    "github_time",
]

GITHUB_DOCS = "https://docs.github.com/rest"


def github_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _b64_lines(text: str) -> str:
    """Base64 the way the contents API sends it: lines of 60 characters."""
    encoded = base64.b64encode(text.encode()).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def github_error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"message": message, **extra, "documentation_url": GITHUB_DOCS})


def github_invalid(resource: str, field_name: str, code: str) -> Refusal:
    error = {"resource": resource, "field": field_name, "code": code}
    return Refusal(github_error(422, "Validation Failed", errors=[error]))


def github_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Refusal(github_error(400, "Problems parsing JSON"))
    return body


class GitHubRepos(FakeAPI):
    """The repositories part of ``GitHubState`` (see its doc)."""

    def __init__(self, lock: threading.RLock, base_url: Callable[[], str], clock: Clock) -> None:
        super().__init__(lock, base_url, clock)
        self.login = "octo"
        self.repos: dict[str, dict[str, Any]] = {}
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
                "updated_at": github_time(self._clock.tick()),
                "branches": {},
                "files": {},
            }
            self.repos[full_name] = repo
            self._commit(full_name, default_branch)
            return repo

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

    def _commit(self, repo: str, branch: str, message: str = "Update files") -> str:
        """A new head for ``branch``, remembering its files and the commit in the history."""
        state = self.repos[repo]
        sha = hashlib.sha1(f"loopback commit {next(self._commit_numbers)}".encode()).hexdigest()
        parent = state["branches"].get(branch)
        state["branches"][branch] = sha
        state.setdefault("history", []).append(
            {"sha": sha, "branch": branch, "parent": parent, "message": message,
             "date": github_time(self._clock.tick())})
        files = {path: text for (b, path), text in state["files"].items() if b == branch}
        self._snapshots[(repo, sha)] = files
        return sha

    def _start_branch(self, repo: str, branch: str, sha: str) -> None:
        state = self.repos[repo]
        state["branches"][branch] = sha
        for path, text in self._snapshots.get((repo, sha), {}).items():
            state["files"][(branch, path)] = text

    def _paginate(self, request: ServiceRequest, items: list[Any]) -> Reply:
        per_page = bounded_int(request.query.get("per_page"), 30, high=100)
        page = bounded_int(request.query.get("page"), 1)
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
        return Reply(200, items[start : start + per_page], headers)

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
        person["date"] = github_time(self._clock.tick())
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

    # Handlers ---------------------------------------------------------------------------

    def _user_repos(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return self._paginate(request, [self._repo_json(name) for name in self.repos])

    def _get_repo(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        return Reply(200, self._repo_json(params["repo"]))

    def _branch_of(self, full_name: str, ref: str | None) -> str:
        """The branch a ``ref`` (branch name, head sha, or none) names."""
        repo = self.repos[full_name]
        ref = ref or repo["default_branch"]
        if ref in repo["branches"]:
            return ref
        for branch, sha in repo["branches"].items():
            if sha == ref:
                return str(branch)
        raise Refusal(github_error(404, f"No commit found for the ref {ref}"))

    def _get_contents(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name = params["repo"]
        branch = self._branch_of(full_name, request.query.get("ref"))
        path = params["path"].strip("/")
        files: dict[tuple[str, str], str] = self.repos[full_name]["files"]
        if (text := files.get((branch, path))) is not None:
            return Reply(200, self._file_json(full_name, branch, path, text))
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
            return github_error(404, "Not Found")
        return Reply(200, list(entries.values()))

    def _put_contents(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name, path = params["repo"], params["path"].strip("/")
        body = github_object(request.body)
        repo = self.repos[full_name]
        message, content = body.get("message"), body.get("content")
        for name, value in (("message", message), ("content", content)):
            if not isinstance(value, str):
                return github_error(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')
        branch = body.get("branch") or repo["default_branch"]
        if branch not in repo["branches"]:
            return github_error(404, f"Branch {branch} not found")
        old = repo["files"].get((branch, path))
        sha = body.get("sha")
        if old is not None and not sha:
            return github_error(422, "sha wasn't supplied.")
        if old is not None and sha != _blob_sha(old):
            return github_error(409, f"{path} does not match {sha}")
        text = base64.b64decode(str(content)).decode("utf-8", "replace")
        repo["files"][(branch, path)] = text
        return self._committed(
            full_name, branch, path, str(message), text, 201 if old is None else 200
        )

    def _committed(
        self, full_name: str, branch: str, path: str, message: str, text: str | None, status: int
    ) -> Reply:
        parent = self.repos[full_name]["branches"][branch]
        sha = self._commit(full_name, branch, message)
        self.repos[full_name]["updated_at"] = github_time(self._clock.tick())
        self.commits.append(
            {"repo": full_name, "branch": branch, "path": path, "message": message, "content": text}
        )
        content = None
        if text is not None:
            content = self._file_json(full_name, branch, path, text, content=False)
        commit = self._commit_json(full_name, sha, message, parent)
        return Reply(status, {"content": content, "commit": commit})

    def _branch_json(self, full_name: str, branch: str) -> dict[str, Any]:
        sha = self.repos[full_name]["branches"][branch]
        return {
            "name": branch,
            "commit": {"sha": sha, "url": f"{self.api_url}/repos/{full_name}/commits/{sha}"},
            "protected": False,
        }

    def _get_branch(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        if params["branch"] not in self.repos[params["repo"]]["branches"]:
            return github_error(404, "Branch not found")
        return Reply(200, self._branch_json(params["repo"], params["branch"]))

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

    def _create_ref(self, request: ServiceRequest, params: dict[str, str]) -> Reply:
        full_name = params["repo"]
        body = github_object(request.body)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(sha, str) or not sha:
            return github_error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if not isinstance(ref, str) or not ref.startswith("refs/heads/") or ref == "refs/heads/":
            return github_error(422, "Reference name is invalid")
        branch = ref.removeprefix("refs/heads/")
        if branch in self.repos[full_name]["branches"]:
            return github_error(422, "Reference already exists")
        if (full_name, sha) not in self._snapshots:
            return github_error(422, "Object does not exist")
        self._start_branch(full_name, branch, sha)
        return Reply(201, self._ref_json(full_name, branch))

"""GitHub through PyGithub: repositories, files, issues and pull requests.

The client retries nothing itself (``retry=None``): PyGithub's own retry would send a
create again after a server error, and a second issue is worse than a failed step. The
engine retries what is safe to retry. ``base_url`` reaches GitHub Enterprise
(``https://HOST/api/v3``).
"""

from __future__ import annotations

import difflib
import itertools
import time
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError
from gorgon_nb.integrations import Preview, action
from gorgon_nb.integrations.text import fenced

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

    from gorgon_nb.config import IntegrationSettings

__all__ = ["connect", "translate"]

API = "https://api.github.com"


def connect(settings: IntegrationSettings, token: str) -> Github:
    from github import Auth, Github

    return Github(base_url=(settings.base_url or API).rstrip("/"), auth=Auth.Token(token), retry=None,
                  timeout=int(settings.timeout), seconds_between_requests=None, seconds_between_writes=None,
                  lazy=True)


def _fail(message: str) -> IntegrationError:
    return IntegrationError(message, service="github")


def translate(exc: Exception) -> IntegrationError:
    """A PyGithub or requests exception as an ``IntegrationError`` a person can act on."""
    import requests
    from github import GithubException

    if isinstance(exc, GithubException):
        return _from_status(exc.status, exc.data, {k.lower(): v for k, v in (exc.headers or {}).items()})
    if _never_sent(exc):
        return IntegrationError(f"cannot reach GitHub: {exc}", service="github", retryable=True)
    if isinstance(exc, requests.RequestException):  # a dropped connection or a timeout, maybe after it was sent
        return IntegrationError(f"GitHub did not answer in time: {exc}", service="github", retryable=True, unsure=True)
    return IntegrationError(f"GitHub call failed: {type(exc).__name__}: {exc}", service="github", unsure=True)


def _never_sent(exc: Exception) -> bool:
    """True when no connection was made, so the request cannot have been carried out."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _from_status(status: int, data: Any, headers: dict[str, str]) -> IntegrationError:
    message = str(data.get("message", "")) if isinstance(data, dict) else str(data or "")
    details = [str(e.get("message") or e) for e in data.get("errors", [])] if isinstance(data, dict) else []
    said = "; ".join([message, *details]) if message else "; ".join(details) or f"HTTP {status}"
    limited = headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or "rate limit" in said.lower()
    if status in (403, 429) and limited:
        wait = headers.get("retry-after")
        if wait is None and headers.get("x-ratelimit-reset", "").isdigit():
            wait = str(max(0.0, int(headers["x-ratelimit-reset"]) - time.time()) + 1)
        return IntegrationError(f"GitHub's rate limit was reached ({said})", service="github", retryable=True,
                                retry_after=float(wait) if wait else 60.0)
    if status == 401:
        return _fail(f"GitHub refused the token ({said}): check that it is right and has not expired")
    needed = headers.get("x-accepted-github-permissions") or headers.get("x-accepted-oauth-scopes")
    if status in (403, 404) and needed:
        has = headers.get("x-oauth-scopes")
        return _fail(f"the GitHub token lacks a permission this needs: {needed}"
                     + (f" (the token has: {has})" if has is not None else "")
                     + f". Give the token that permission, then run the step again. GitHub said: {said}")
    if status == 403:
        return _fail(f"GitHub refused this ({said}); the token may lack access to the repository")
    if status == 404:
        return _fail(f"GitHub found nothing there ({said}); check the name. A token that cannot see a private "
                     "repository gets this too")
    if status == 409:
        return _fail(f"GitHub refused the change because the file changed meanwhile ({said}); run the step again")
    if status >= 500:
        return IntegrationError(f"GitHub failed with {status} ({said})", service="github", retryable=True,
                                unsure=True)
    return _fail(f"GitHub refused the request with {status}: {said}")


# -- helpers --------------------------------------------------------------------------------

def _repo(gh: Github, repo: str) -> Repository:
    if not isinstance(repo, str) or repo.count("/") != 1 or not all(repo.split("/")):
        raise _fail(f"repo must be 'owner/name', not {repo!r}")
    return gh.get_repo(repo)  # lazy (see connect): no request until something is read


def _repo_info(r: Repository) -> dict[str, Any]:
    return {"name": r.full_name, "description": r.description, "url": r.html_url, "private": r.private,
            "default_branch": r.default_branch, "language": r.language, "stars": r.stargazers_count,
            "forks": r.forks_count}


def _current(r: Repository, path: str, branch: str) -> Any:
    """The file at ``path`` on ``branch``, or None when there is none (or no such branch yet)."""
    from github import UnknownObjectException

    try:
        found = r.get_contents(path, ref=branch)
    except UnknownObjectException:
        return None
    if isinstance(found, list):
        raise _fail(f"{path} is a directory in {r.full_name}; give the path of a file")
    return found


def _branch_exists(r: Repository, branch: str) -> bool:
    from github import UnknownObjectException

    try:
        r.get_branch(branch)
    except UnknownObjectException:
        return False
    return True


# -- reading --------------------------------------------------------------------------------

@action("github")
def list_repositories(gh: Github, limit: int = 30) -> list[dict[str, Any]]:
    """The repositories the token's user can see (at most ``limit``)."""
    return [{"name": r.full_name, "description": r.description, "url": r.html_url, "private": r.private}
            for r in itertools.islice(gh.get_user().get_repos(), int(limit))]


@action("github")
def get_repository(gh: Github, repo: str) -> dict[str, Any]:
    """A repository's description, default branch, language, stars and forks."""
    return _repo_info(_repo(gh, repo))


@action("github")
def read_file(gh: Github, repo: str, path: str, ref: str | None = None) -> str:
    """The text of a file (on ``ref``, a branch, tag or commit; else the default branch)."""
    r = _repo(gh, repo)
    found = _current(r, path, ref or r.default_branch)
    if found is None:
        raise _fail(f"no file {path} in {repo}" + (f" at {ref}" if ref else ""))
    return found.decoded_content.decode("utf-8", errors="replace")


@action("github")
def get_issue(gh: Github, repo: str, number: int) -> dict[str, Any]:
    """An issue (or pull request) by number: title, body, state, labels, author."""
    issue = _repo(gh, repo).get_issue(int(number))
    return {"number": issue.number, "title": issue.title, "body": issue.body or "", "state": issue.state,
            "url": issue.html_url, "labels": [label.name for label in issue.labels],
            "author": issue.user.login if issue.user else None, "comments": issue.comments,
            "is_pull_request": issue.pull_request is not None}


@action("github")
def get_pull_request(gh: Github, repo: str, number: int) -> dict[str, Any]:
    """A pull request by number: title, body, state, its branches, whether it is merged."""
    pull = _repo(gh, repo).get_pull(int(number))
    return {"number": pull.number, "title": pull.title, "body": pull.body or "", "state": pull.state,
            "url": pull.html_url, "head": pull.head.ref, "base": pull.base.ref, "merged": pull.merged,
            "author": pull.user.login if pull.user else None}


ACTIVITY_METRICS = ("commits", "prs", "issues")
_ACTIVITY_CAP = 1000  # items read per metric; a busier repository is counted up to this


@action("github")
def repository_activity(gh: Github, repo: str, days: float = 7, metrics: list[str] | None = None,
                        since: str | None = None) -> dict[str, Any]:
    """What happened in a repository since ``since`` (an ISO time; else ``days`` ago): commits on the
    default branch, and pull requests and issues opened, closed and open now.

    ``metrics`` picks some of ``commits``, ``prs`` and ``issues`` (all by default). Counts stop at
    1000 per metric (``capped`` says which).
    """
    from datetime import UTC, datetime, timedelta

    wanted = list(ACTIVITY_METRICS) if metrics is None else [str(m) for m in metrics]
    if unknown := [m for m in wanted if m not in ACTIVITY_METRICS]:
        raise _fail(f"unknown metric {unknown[0]!r}; the metrics are " + ", ".join(ACTIVITY_METRICS))
    try:
        start = datetime.fromisoformat(since) if since else datetime.now(UTC) - timedelta(days=float(days))
    except ValueError:
        raise _fail(f"since must be an ISO time such as 2026-01-31T00:00:00Z, not {since!r}") from None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    r = _repo(gh, repo)
    out: dict[str, Any] = {"repo": r.full_name, "since": start.isoformat(timespec="seconds"), "capped": []}

    def capped(items: Any, metric: str) -> list[Any]:
        found = list(itertools.islice(items, _ACTIVITY_CAP + 1))
        if len(found) > _ACTIVITY_CAP:
            out["capped"].append(metric)
        return found[:_ACTIVITY_CAP]

    if "commits" in wanted:
        out["commits"] = len(capped(r.get_commits(since=start), "commits"))
    changed = capped(r.get_issues(state="all", since=start), "issues") if {"prs", "issues"} & set(wanted) else []
    for metric, pulls in (("prs", True), ("issues", False)):
        if metric not in wanted:
            continue
        mine = [i for i in changed if (i.pull_request is not None) == pulls]
        out[metric] = {
            "opened": sum(1 for i in mine if _aware(i.created_at) >= start),
            "closed": sum(1 for i in mine if i.closed_at is not None and _aware(i.closed_at) >= start),
            "open": sum(1 for i in capped(r.get_issues(state="open"), metric) if (i.pull_request is not None) == pulls),
        }
    return out


def _aware(moment: Any) -> Any:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- writing --------------------------------------------------------------------------------

def _issue_preview(gh: Github, repo: str, title: str, body: str = "", labels: list[str] | None = None) -> Preview:
    shown = f"**Repository:** {repo}\n\n**Title:** {title}\n\n"
    if labels:
        shown += "**Labels:** " + ", ".join(labels) + "\n\n"
    return Preview(f"Create an issue in {repo}: {title}", shown + "**Body:**\n\n" + (body or "(empty)"))


@action("github", write=True, preview=_issue_preview)
def create_issue(gh: Github, repo: str, title: str, body: str = "", labels: list[str] | None = None) -> dict[str, Any]:
    """Open an issue with a title, a body and labels."""
    issue = _repo(gh, repo).create_issue(title=title, body=body, labels=list(labels or []))
    return {"number": issue.number, "url": issue.html_url, "title": issue.title}


def _comment_preview(gh: Github, repo: str, number: int, body: str) -> Preview:
    return Preview(f"Comment on {repo}#{number}", f"**On:** {repo}#{number}\n\n**Comment:**\n\n{body}")


@action("github", write=True, preview=_comment_preview)
def comment_on_issue(gh: Github, repo: str, number: int, body: str) -> dict[str, Any]:
    """Add a comment to an issue or a pull request."""
    comment = _repo(gh, repo).get_issue(int(number)).create_comment(body)
    return {"id": comment.id, "url": comment.html_url}


def _commit_preview(gh: Github, repo: str, path: str, content: str, message: str | None = None,
                    branch: str | None = None) -> Preview:
    r = _repo(gh, repo)
    default = r.default_branch
    branch = branch or default
    new_branch = branch != default and not _branch_exists(r, branch)
    current = None if new_branch else _current(r, path, branch)
    old = current.decoded_content.decode("utf-8", errors="replace") if current is not None else ""
    where = f"**Repository:** {repo} · **branch:** {branch}" + (f" (new, from {default})" if new_branch else "")
    head = f"{where}\n\n**File:** {path}\n\n**Message:** {message or _message(path, current is not None)}\n\n"
    if current is not None and old == content:
        return Preview(f"Commit {path} to {repo} ({branch})", head + "The file already has this content: "
                       "nothing will be committed.")
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), content.splitlines(keepends=True),
                                        "/dev/null" if current is None else f"a/{path}", f"b/{path}"))
    return Preview(f"Commit {path} to {repo} ({branch})", head + fenced(diff, "diff"),
                   expect={"_sha": current.sha if current is not None else None})


def _message(path: str, exists: bool) -> str:
    return f"{'Update' if exists else 'Add'} {path}"


@action("github", write=True, idempotent=True, preview=_commit_preview)
def commit_file(gh: Github, repo: str, path: str, content: str, message: str | None = None,
                branch: str | None = None, _sha: str | bool | None = False) -> dict[str, Any]:
    """Create or update a file on a branch (made from the default branch if it is new).

    ``_sha``: the version of the file the approved diff was made from (None: there was
    none); a file changed since is not overwritten."""
    r = _repo(gh, repo)
    default = r.default_branch
    branch = branch or default
    if branch != default and not _branch_exists(r, branch):
        r.create_git_ref(f"refs/heads/{branch}", r.get_branch(default).commit.sha)
    current = _current(r, path, branch)
    if current is not None and current.decoded_content.decode("utf-8", errors="replace") == content:
        return {"commit_sha": None, "url": current.html_url, "path": path, "branch": branch, "changed": False}
    if _sha is not False and (current.sha if current is not None else None) != _sha:
        raise _fail(f"{path} changed in {repo} ({branch}) after its diff was shown for approval, so nothing "
                    "was committed; run the step again to see and approve the new diff")
    text = message or _message(path, current is not None)
    if current is None:
        done = r.create_file(path, text, content, branch=branch)
    else:
        done = r.update_file(path, text, content, current.sha, branch=branch)
    return {"commit_sha": done["commit"].sha, "url": done["content"].html_url, "path": path, "branch": branch,
            "changed": True}


def _pull_preview(gh: Github, repo: str, title: str, head: str, base: str | None = None, body: str = "",
                  draft: bool = False) -> Preview:
    base = base or _repo(gh, repo).default_branch
    kind = "draft pull request" if draft else "pull request"
    return Preview(f"Open a {kind} on {repo}: {head} → {base}",
                   f"**Repository:** {repo} · **{head}** into **{base}**\n\n**Title:** {title}\n\n"
                   f"**Description:**\n\n{body or '(empty)'}")


@action("github", write=True, idempotent=True, preview=_pull_preview)
def open_pull_request(gh: Github, repo: str, title: str, head: str, base: str | None = None, body: str = "",
                      draft: bool = False) -> dict[str, Any]:
    """Open a pull request from ``head`` into ``base`` (the default branch when not given).

    An open pull request between the same branches is returned instead of a second one.
    """
    from github import GithubException

    r = _repo(gh, repo)
    base = base or r.default_branch
    try:
        pull = r.create_pull(base=base, head=head, title=title, body=body, draft=bool(draft))
    except GithubException as exc:
        if exc.status != 422 or "already exists" not in str(exc.data):
            raise
        owner = repo.split("/")[0]
        existing = next(iter(r.get_pulls(state="open", head=f"{owner}:{head}", base=base)), None)
        if existing is None:
            raise
        return {"number": existing.number, "url": existing.html_url, "title": existing.title, "existed": True}
    return {"number": pull.number, "url": pull.html_url, "title": pull.title, "existed": False}

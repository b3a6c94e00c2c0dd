"""A webhook sender for tests: GitHub-shaped bodies and the headers GitHub signs them with.

    body = push_payload("octo/hello", pusher="alice", message="Fix the parser")
    headers = github_headers("the shared secret", body, delivery="d-1")
    # POST body with headers to http://HOST/gorgon/webhooks/NAME
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from gorgon_nb.model.webhooks import sign

__all__ = ["github_headers", "push_payload"]


def push_payload(repository: str = "octo/hello", *, pusher: str = "alice", message: str = "Fix the parser",
                 **more: Any) -> bytes:
    """The body of GitHub's ``push`` event, with the fields people map (as GitHub sends it:
    JSON, UTF-8)."""
    owner, _, name = repository.partition("/")
    commit = {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": message,
              "author": {"name": pusher, "email": f"{pusher}@example.com"}}
    data = {"ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "after": commit["id"], "repository": {"id": 1296269, "name": name, "full_name": repository,
                                                  "owner": {"login": owner}, "private": False},
            "pusher": {"name": pusher, "email": f"{pusher}@example.com"}, "sender": {"login": pusher},
            "commits": [commit], "head_commit": commit, **more}
    return json.dumps(data).encode("utf-8")


def github_headers(secret: str, body: bytes, *, delivery: str | None = None, event: str = "push") -> dict[str, str]:
    """The headers GitHub sends with ``body``: its signature with ``secret``, the event, and
    a delivery id (a new one unless given)."""
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": sign(secret, body)}

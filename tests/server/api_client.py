"""Calling the gorgon API of the test's Jupyter server (pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.httpclient import HTTPResponse

Fetch = Callable[..., Awaitable[HTTPResponse]]


def strict_json(text: str | bytes) -> Any:
    """``text`` as JSON as a browser's ``JSON.parse`` reads it: a bare NaN or Infinity fails."""
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} in what the server sent is not JSON")
    return json.loads(text, parse_constant=refuse)


def body(response: HTTPResponse) -> Any:
    assert response.headers["Content-Type"].startswith("application/json")
    return strict_json(response.body)


async def call(jp_fetch: Fetch, *path: str, method: str = "GET", data: Any = None,
               **options: Any) -> HTTPResponse:
    """``/gorgon/api/PATH`` with ``data`` as its JSON body (text or bytes are sent as they
    are); errors are answers, not raised."""
    raw = None if data is None else data if isinstance(data, str | bytes) else json.dumps(data)
    response: HTTPResponse = await jp_fetch("gorgon", "api", *path, method=method, body=raw,
                                            raise_error=False, allow_nonstandard_methods=True, **options)
    return response

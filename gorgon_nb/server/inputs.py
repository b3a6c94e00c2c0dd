"""What the API takes in and gives out: bodies, queries and socket frames read by their
pydantic models within limits, and JSON that is always JSON.

A body (or a chat frame) is read in this order, each step before the next can be fooled:

1. its size: at most ``BODY_LIMIT`` bytes (``413``), a chat frame ``FRAME_LIMIT``;
2. UTF-8 text;
3. its nesting, counted over the raw text before any parser recurses: at most
   ``DEPTH_LIMIT`` lists and objects in one another;
4. JSON, with finite numbers only: ``NaN``, ``Infinity`` and numbers too large for a float
   (``1e400``) are refused, as are strings with lone surrogates (``"\\ud800"``), which no
   store or path takes;
5. the route's model (``extra="forbid"``: a misspelt field is named, not ignored).

A query is read by its model too: each parameter once, as UTF-8 text, no unknown names
(``token`` and ``_xsrf``, Jupyter's own, aside). Every refusal is an ``ApiError`` with a
message that says what is wrong and what to send instead.

Answers go out through ``dumps``: ``allow_nan=False``, with any NaN or infinity (which a
row stored before these checks may hold) written as ``null``, so a client's ``JSON.parse``
never meets a bare ``NaN``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from tornado import web

from gorgon_nb.secrets import redact

__all__ = ["BODY_LIMIT", "DEPTH_LIMIT", "FRAME_LIMIT", "ApiError", "EmptyBody", "Query", "dumps", "finite",
           "parse_body", "parse_query", "read_json", "shown"]

BODY_LIMIT = 256 * 1024  # bytes of a request body: a schedule with 64 KiB of parameters fits well
FRAME_LIMIT = 256 * 1024  # bytes of a chat frame: 20,000 characters of text, escaped, fit
DEPTH_LIMIT = 32  # lists and objects in one another
QUERY_PASSED = frozenset({"token", "_xsrf"})  # Jupyter's own: authentication, not the route's

M = TypeVar("M", bound=BaseModel)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _cache_buster(name: str, given: list[bytes]) -> bool:
    """JupyterLab's own ``?1796669727395`` (the time, in ms) that keeps a browser from caching a GET."""
    return name.isascii() and name.isdigit() and given == [b""]


class ApiError(web.HTTPError):
    """An answer other than 200, with the message the client is shown."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


def shown(value: object, limit: int = 40) -> str:
    """``value`` to quote in a message: control characters escaped, cut at ``limit``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value)[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests lists and objects more than ``limit`` deep.

    Strings are taken out first (a bracket in a string does not count); what is left is
    walked bracket by bracket, so the count costs no recursion however deep the text goes.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send finite numbers only")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{shown(text)} is too large a number; send numbers up to about 1e308")
    return number


def _surrogate_in(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_json(raw: bytes | str, *, what: str, limit: int, hint: str) -> Any:
    """``raw`` as JSON within the limits above; ``ApiError`` (413 or 400) naming ``what``
    (``the request body``, ``the frame``) and ``hint`` otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > limit:
        raise ApiError(413, f"{what} is {len(data):,} bytes; the most is {limit:,} bytes; {hint}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"{what} is not UTF-8 text (byte {exc.start}); {hint}") from None
    if nesting_exceeds(data, DEPTH_LIMIT):
        raise ApiError(400, f"{what} nests lists and objects more than {DEPTH_LIMIT} deep; {hint}")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:  # the count above makes this unreachable; kept as a refusal all the same
        raise ApiError(400, f"{what} nests lists and objects too deep; {hint}") from None
    except ValueError as exc:
        raise ApiError(400, f"{what} is not JSON ({shown(exc, 200)}); {hint}") from None
    if _surrogate_in(value):
        raise ApiError(400, f"{what} holds a lone surrogate (a \\ud800-\\udfff escape without its pair), which "
                            f"is not text; {hint}")
    return value


def problems(exc: ValidationError) -> str:
    """A model's complaints as one sentence: ``field: what is wrong; ...``."""
    said = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(shown(part) for part in error["loc"])
        if error["type"] == "value_error":  # a message that starts with its field's name is not prefixed again
            message = str(error.get("ctx", {}).get("error", error["msg"]))
            said.append(message if not where or message.startswith(where.split(".")[0]) else f"{where}: {message}")
        else:
            said.append(f"{where or 'body'}: {error['msg']}")
    unique = list(dict.fromkeys(said))
    return "; ".join(unique[:5]) + (f"; and {len(unique) - 5} more" if len(unique) > 5 else "")


def parse_body(raw: bytes | None, model: type[M], hint: str, *, empty: str | None = None) -> M:
    """A request's JSON body as ``model``, or a 4xx that says what is wrong and ``hint``.

    An empty body is read as ``empty`` when given (``"{}"``: every field has a default)."""
    if not raw and empty is not None:
        raw = empty.encode()
    data = read_json(raw or b"null", what="the request body", limit=BODY_LIMIT, hint=hint)
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object; {hint}")
    return validated(model, data, "request body", hint)


class EmptyBody(BaseModel):
    """The body of a request that takes none (``pause``, ``run``, ``cancel``): nothing, or ``{}``."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """A route's query parameters, each a text (a model per route says which)."""

    model_config = ConfigDict(extra="forbid")


def parse_query(arguments: Mapping[str, list[bytes]], model: type[M], hint: str) -> M:
    """Tornado's ``request.query_arguments`` as ``model``, or a 400 that says what is wrong."""
    values: dict[str, str] = {}
    for name, given in arguments.items():
        if name in QUERY_PASSED or _cache_buster(name, given):
            continue
        if name not in model.model_fields:
            raise ApiError(400, f"unknown query parameter '{shown(name)}'; {hint}")
        if len(given) != 1:
            raise ApiError(400, f"the query gives {shown(name)} {len(given)} times; give it once; {hint}")
        try:
            values[name] = given[0].decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"the query parameter {shown(name)} is not UTF-8 text; {hint}") from None
    return validated(model, values, "query", hint)


def validated(model: type[M], data: Any, what: str, hint: str) -> M:
    """``data`` as ``model``, or a 400 naming each field that is wrong (never echoing a value)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, f"bad {what}: {problems(exc)}; {hint}") from None


def one_of(name: str, value: str, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices``; a message naming them otherwise."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"unknown {name} '{shown(value)}'; use one of {', '.join(allowed)}")
    return value


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity replaced by None (JSON's null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [finite(inner) for inner in value]
    return value


def dumps(value: Any) -> str:
    """``value`` as JSON that every parser takes: no NaN or Infinity (written as null), and no
    secret (every answer, feed frame and chat frame goes through here)."""
    try:
        return redact(json.dumps(value, allow_nan=False, default=str))
    except ValueError:  # a non-finite number, from a row stored before it was refused
        return redact(json.dumps(finite(value), allow_nan=False, default=str))

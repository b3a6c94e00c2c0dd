"""REST handlers for approvals: list, read and decide what runs wait for.

==========================================  ================================================
``GET  /gorgon/api/approvals``               ``{"approvals": [...]}``; ``?status=pending`` (the
                                             default), ``all``, ``approved``, ``rejected`` or
                                             ``cancelled``; ``?run=RUN`` (an id or a prefix)
``GET  /gorgon/api/approvals/{id}``          one approval
``POST /gorgon/api/approvals/{id}``          body ``{"decision": "approve" | "reject",
                                             "comment": "optional text"}``; the decided approval
==========================================  ================================================

An approval is ``approval_data`` (the event's form) plus ``run_id``, ``step_key``,
``requested_at`` and ``run_alive`` (whether a process still runs its run). Errors are
``{"message": ..., "reason": ..., "api": "gorgon"}`` (``api`` tells them from a server
without the extension, whose 404 is not about the approval) with 400 (a bad body or query), 403 (not an approver,
or not allowed by the server's authorizer), 404 (no such approval or run), 409 (decided
already: the message says by whom) or 500 (the store failed: the message says why). No
traceback ever reaches the client; unexpected errors go to the server's log.

Every handler needs Jupyter's authentication; a POST authenticated by cookie also needs
the XSRF token (``X-XSRFToken``), as all of Jupyter's own API does. Store calls run in a
worker thread: SQLite may wait for another process's write, and the server must not.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from tornado import web

from gorgon_nb.errors import ApprovalError, GorgonError, NotFoundError, StoreError, UsageError
from gorgon_nb.model.approval import COMMENT_LIMIT

if TYPE_CHECKING:
    from gorgon_nb.model.approval import ApprovalRequest
    from gorgon_nb.store import Store

__all__ = ["COMMENT_LIMIT", "ApiError", "DecisionBody", "StoreHolder", "decider_name", "handlers"]

AUTH_RESOURCE = "gorgon"
LIST_LIMIT = 500
STATUSES = ("pending", "approved", "rejected", "cancelled", "all")
BODY_HINT = 'send {"decision": "approve" | "reject", "comment": "optional text"}'
_APPROVAL_ID = r"[A-Za-z0-9_-]{1,64}"
# jupyter_server's identity for a shared-token login: a random id named "Anonymous <moon>"
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")

T = TypeVar("T")


class ApiError(web.HTTPError):
    """An answer other than 200, with the message the client is shown."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class DecisionBody(BaseModel):
    """The body of a decision."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: StrictStr | None = Field(None, max_length=COMMENT_LIMIT)

    @classmethod
    def parse(cls, raw: bytes) -> DecisionBody:
        """The body of a request, or a 400 that says what is wrong with it."""
        try:
            data = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not JSON ({exc}); {BODY_HINT}") from None
        if not isinstance(data, dict):
            raise ApiError(400, f"the request body must be a JSON object; {BODY_HINT}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
            raise ApiError(400, f"bad decision: {problems}; {BODY_HINT}") from None

    @property
    def approve(self) -> bool:
        return self.decision == "approve"

    @property
    def text(self) -> str | None:
        return (self.comment or "").strip() or None


class StoreHolder:
    """The server's store: opened from ``load_config()`` on first use, then kept.

    A failed open is not kept, so fixing the config or the folder needs no restart.
    """

    def __init__(self) -> None:
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                from gorgon_nb.config import load_config
                from gorgon_nb.store import Store

                self._store = Store(load_config().db_path)
            return self._store


def decider_name(user: Any) -> str:
    """Who decides: the Jupyter user, or the server's own user when the login names nobody.

    A server logged into with its shared token knows no person: jupyter_server makes up an
    anonymous user per browser (a random hex id). Such a server belongs to whoever started
    it, so the decision is theirs, recorded as ``gorgon approve`` would (GORGON_USER, else
    the system's user name). Servers that know their users (JupyterHub, a custom identity
    provider) record the user's name.
    """
    username = str(getattr(user, "username", "") or "")
    anonymous = _ANONYMOUS_ID.fullmatch(username) and str(getattr(user, "name", "")).startswith(
        "Anonymous "
    )
    if username and not anonymous:
        return username
    from gorgon_nb.runner import current_user

    return current_user()


def approval_json(request: ApprovalRequest, run_alive: bool) -> dict[str, Any]:
    from gorgon_nb.engine.approvals import approval_data

    return {
        **approval_data(request),
        "run_id": request.run_id,
        "step_key": request.step_key,
        "requested_at": request.requested_at,
        "run_alive": run_alive,
    }


def _alive(store: Store, run_id: str) -> bool:
    try:
        return store.owner(run_id).alive
    except (GorgonError, IndexError):  # the run row is gone
        return False


@contextmanager
def gorgon_errors() -> Iterator[None]:
    """The store's errors as HTTP answers with their messages."""
    try:
        yield
    except NotFoundError as exc:
        raise ApiError(404, str(exc)) from None
    except UsageError as exc:
        raise ApiError(400, str(exc)) from None
    except StoreError as exc:
        raise ApiError(503, str(exc)) from None
    except GorgonError as exc:
        raise ApiError(500, str(exc)) from None


class GorgonHandler(APIHandler):
    """Base of the gorgon API handlers: the store, and errors as JSON without tracebacks."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, stores: StoreHolder) -> None:
        self.stores = stores

    async def in_thread(self, work: Callable[[Store], T]) -> T:
        with gorgon_errors():
            store = await asyncio.to_thread(self.stores.get)
            return await asyncio.to_thread(work, store)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            message = error.message
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message  # tornado's and jupyter_server's own (XSRF, authorizer)
        elif isinstance(error, web.HTTPError):
            message = error.reason or self._reason
        else:  # logged with its traceback by tornado; the client gets no details
            message = "the gorgon server extension failed; the Jupyter server's log has the details"
        self.set_status(status_code)
        self.finish(json.dumps({"message": message, "reason": self._reason, "api": "gorgon"}))


class ApprovalsHandler(GorgonHandler):
    """``GET /gorgon/api/approvals``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = self.get_query_argument("status", "pending")
        if status not in STATUSES:
            raise ApiError(400, f"unknown status '{status}'; use one of {', '.join(STATUSES)}")
        run = self.get_query_argument("run", "") or None
        limit = self.get_query_argument("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= LIST_LIMIT:
            raise ApiError(400, f"limit must be a whole number from 1 to {LIST_LIMIT}")

        def listed(store: Store) -> list[dict[str, Any]]:
            run_id = store.resolve_run_id(run) if run else None
            found = store.list_approvals(
                status=None if status == "all" else status, run_id=run_id, limit=int(limit)
            )
            alive = {r: _alive(store, r) for r in {a.run_id for a in found}}
            return [approval_json(a, alive[a.run_id]) for a in found]

        self.finish(json.dumps({"approvals": await self.in_thread(listed)}))


class ApprovalHandler(GorgonHandler):
    """``GET`` and ``POST /gorgon/api/approvals/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, approval_id: str) -> None:
        def read(store: Store) -> dict[str, Any]:
            request = store.get_approval(approval_id)
            return approval_json(request, _alive(store, request.run_id))

        self.finish(json.dumps(await self.in_thread(read)))

    @web.authenticated
    @authorized
    async def post(self, approval_id: str) -> None:
        body = DecisionBody.parse(self.request.body)
        by = decider_name(self.current_user)

        def decide(store: Store) -> dict[str, Any]:
            request = store.get_approval(approval_id)
            try:
                decided = store.decide_approval(
                    approval_id, approve=body.approve, by=by, comment=body.text
                )
            except ApprovalError as exc:
                raise ApiError(409 if request.may_decide(by) else 403, str(exc)) from None
            return approval_json(decided, _alive(store, decided.run_id))

        decided = await self.in_thread(decide)
        self.log.info(
            "gorgon: approval %s %s by %s", approval_id, decided["status"], decided["decided_by"]
        )
        self.finish(json.dumps(decided))


def handlers(base_url: str, stores: StoreHolder) -> list[tuple[str, type, dict[str, Any]]]:
    """The URL routes of the extension, under ``base_url``."""
    api = url_path_join(base_url, "gorgon", "api")
    arguments = {"stores": stores}
    return [
        (url_path_join(api, "approvals"), ApprovalsHandler, arguments),
        (url_path_join(api, "approvals", f"({_APPROVAL_ID})"), ApprovalHandler, arguments),
    ]

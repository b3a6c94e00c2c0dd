"""What every gorgon handler shares, and the approvals: list, read and decide what runs wait for.

``GET approvals`` (``?status=pending`` (the default), ``all``, ``approved``, ``rejected`` or
``cancelled``; ``?run=RUN``), ``GET approvals/{id}``, ``POST approvals/{id}`` with
``{"decision": "approve" | "reject", "comment": "optional text"}``; ``API.md`` has the
shapes of the whole API.

Errors are ``{"message": ..., "reason": ..., "api": "gorgon"}`` (``api`` tells them from a
server without the extension, whose 404 is not about the approval) with 400 (a bad body
or query), 403 (not an approver, or not allowed by the server's authorizer), 404 (no such
approval, run or chat), 409 (decided or ended already: the message says how), 500 or 503
(the store failed: the message says why). No traceback ever reaches the client;
unexpected errors go to the server's log.

Every handler needs Jupyter's authentication; a request that changes something and is
authenticated by cookie also needs the XSRF token (``X-XSRFToken``), as all of Jupyter's
own API does. Store calls run in a worker thread: SQLite may wait for another process's
write, and the server must not.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from tornado import web

from gorgon_nb.errors import ApprovalError, GorgonError, NotFoundError, StoreError, UsageError
from gorgon_nb.model.approval import COMMENT_LIMIT

if TYPE_CHECKING:
    from gorgon_nb.chat import ChatService
    from gorgon_nb.model.approval import ApprovalRequest
    from gorgon_nb.server.jobs import ServerFiles, ServerScheduler
    from gorgon_nb.store import Store

__all__ = ["COMMENT_LIMIT", "ApiError", "ApprovalHandler", "ApprovalsHandler", "Backend", "DecisionBody", "GorgonHandler",
           "decider_name", "parse_body", "run_alive"]

AUTH_RESOURCE = "gorgon"
LIST_LIMIT = 500
STATUSES = ("pending", "approved", "rejected", "cancelled", "all")
BODY_HINT = 'send {"decision": "approve" | "reject", "comment": "optional text"}'
# jupyter_server's identity for a shared-token login: a random id named "Anonymous <moon>"
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)


class ApiError(web.HTTPError):
    """An answer other than 200, with the message the client is shown."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


def parse_body(raw: bytes, model: type[B], hint: str) -> B:
    """A request's JSON body as ``model``, or a 400 that says what is wrong and ``hint``."""
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not JSON ({exc}); {hint}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object; {hint}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ApiError(400, f"bad request body: {problems}; {hint}") from None


class DecisionBody(BaseModel):
    """The body of a decision."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: StrictStr | None = Field(None, max_length=COMMENT_LIMIT)

    @property
    def approve(self) -> bool:
        return self.decision == "approve"

    @property
    def text(self) -> str | None:
        return (self.comment or "").strip() or None


class Backend:
    """What the handlers share: the server's store, opened from ``load_config()`` on first
    use, then kept (a failed open is not kept, so fixing the config or the folder needs no
    restart), the chat service on that store, and the scheduler loop when the server runs
    one."""

    def __init__(self, files: ServerFiles | None = None) -> None:
        from gorgon_nb.server.jobs import ServerFiles

        self.files = files or ServerFiles(Path.cwd().resolve())  # what JupyterLab can open
        self._store: Store | None = None
        self._chat: ChatService | None = None
        self.scheduler: ServerScheduler | None = None
        self._lock = threading.Lock()
        from gorgon_nb.server.feed import Feed

        self.feed = Feed(self)

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                from gorgon_nb.config import load_config
                from gorgon_nb.store import Store

                self._store = Store(load_config().db_path)
            return self._store

    def chat(self) -> ChatService:
        store = self.get()
        with self._lock:
            if self._chat is None:
                from gorgon_nb.chat import ChatService
                from gorgon_nb.config import load_config
                from gorgon_nb.runner import Runner

                self._chat = ChatService(Runner(load_config(), store))
            return self._chat

    async def close(self) -> None:
        """Stop the scheduler (its running jobs go back to the queue), the feed and the chat's
        answers (their text so far is kept); close the store."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.feed.close()
        if self._chat is not None:
            await self._chat.close()
        if self._store is not None:
            self._store.close()


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


def approval_json(request: ApprovalRequest, alive: bool) -> dict[str, Any]:
    from gorgon_nb.engine.approvals import approval_data
    from gorgon_nb.render import output_html

    return {
        **approval_data(request),
        "preview_html": output_html(request.preview) or None,
        "run_id": request.run_id,
        "step_key": request.step_key,
        "requested_at": request.requested_at,
        "run_alive": alive,
    }


def run_alive(store: Store, run_id: str) -> bool:
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
        raise ApiError(404, exc.for_surface("sidebar")) from None
    except UsageError as exc:
        raise ApiError(400, exc.for_surface("sidebar")) from None
    except StoreError as exc:
        raise ApiError(503, exc.for_surface("sidebar")) from None
    except GorgonError as exc:
        raise ApiError(500, exc.for_surface("sidebar")) from None


class GorgonHandler(APIHandler):
    """Base of the gorgon API handlers: the store, and errors as JSON without tracebacks."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Backend) -> None:
        self.backend = backend

    async def in_thread(self, work: Callable[[Store], T]) -> T:
        with gorgon_errors():
            store = await asyncio.to_thread(self.backend.get)
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
            alive = {r: run_alive(store, r) for r in {a.run_id for a in found}}
            return [approval_json(a, alive[a.run_id]) for a in found]

        self.finish(json.dumps({"approvals": await self.in_thread(listed)}))


class ApprovalHandler(GorgonHandler):
    """``GET`` and ``POST /gorgon/api/approvals/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, approval_id: str) -> None:
        def read(store: Store) -> dict[str, Any]:
            request = store.get_approval(approval_id)
            return approval_json(request, run_alive(store, request.run_id))

        self.finish(json.dumps(await self.in_thread(read)))

    @web.authenticated
    @authorized
    async def post(self, approval_id: str) -> None:
        body = parse_body(self.request.body, DecisionBody, BODY_HINT)
        by = decider_name(self.current_user)

        def decide(store: Store) -> dict[str, Any]:
            request = store.get_approval(approval_id)
            try:
                decided = store.decide_approval(
                    approval_id, approve=body.approve, by=by, comment=body.text
                )
            except ApprovalError as exc:
                raise ApiError(409 if request.may_decide(by) else 403, exc.for_surface("sidebar")) from None
            return approval_json(decided, run_alive(store, decided.run_id))

        decided = await self.in_thread(decide)
        self.log.info(
            "gorgon: approval %s %s by %s", approval_id, decided["status"], decided["decided_by"]
        )
        self.finish(json.dumps(decided))

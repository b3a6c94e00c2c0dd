"""What every gorgon handler shares, and the approvals: list, read and decide what runs wait for.

``GET approvals`` (``?status=pending`` (the default), ``all``, ``approved``, ``rejected`` or
``cancelled``; ``?run=RUN``), ``GET approvals/{id}``, ``POST approvals/{id}`` with
``{"decision": "approve" | "reject", "comment": "optional text"}``; ``API.md`` has the
shapes of the whole API.

Errors are ``{"message": ..., "reason": ..., "api": "gorgon"}`` (``api`` tells them from a
server without the extension, whose 404 is not about the approval) with 400 (a bad body
or query: ``inputs`` reads every one by its model), 403 (not an approver, or not allowed by
the server's authorizer), 404 (no such approval, run, chat or route), 405 (a method the
route does not take), 409 (decided or ended already: the message says how), 413 (a body
too large), 500 or 503 (the store failed: the message says why). No traceback ever reaches
the client; unexpected errors go to the server's log.

Every handler needs Jupyter's authentication; a request that changes something and is
authenticated by cookie also needs the XSRF token (``X-XSRFToken``), as all of Jupyter's
own API does. Store calls run in a worker thread: SQLite may wait for another process's
write, and the server must not.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr
from tornado import web

from gorgon_nb.errors import ApprovalError, GorgonError, NotFoundError, StoreError, UsageError
from gorgon_nb.model.approval import COMMENT_LIMIT
from gorgon_nb.server.inputs import ApiError, Query, dumps, one_of, parse_body, parse_query, shown

if TYPE_CHECKING:
    from gorgon_nb.chat import ChatService
    from gorgon_nb.model.approval import ApprovalRequest
    from gorgon_nb.server.jobs import ServerFiles, ServerScheduler
    from gorgon_nb.store import Store

__all__ = ["COMMENT_LIMIT", "ApiError", "ApprovalHandler", "ApprovalsHandler", "ApprovalsQuery", "Backend",
           "DecisionBody", "GorgonHandler", "Limit", "Line", "NotFoundHandler", "decider_name", "parse_body",
           "run_alive"]

AUTH_RESOURCE = "gorgon"
LIST_LIMIT = 500
LINE_LIMIT = 200  # characters of a query's id, name or filter
STATUSES = ("pending", "approved", "rejected", "cancelled", "all")
BODY_HINT = 'send {"decision": "approve" | "reject", "comment": "optional text"}'
APPROVALS_HINT = "for example ?status=pending&run=RUN&limit=100"
# jupyter_server's identity for a shared-token login: a random id named "Anonymous <moon>"
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")
_WHOLE = re.compile(r"[0-9]{1,6}", re.ASCII)  # "²" and "١" are digits to str.isdigit, not to int()
_UNPLAIN = re.compile("[\x00-\x1f\x7f]")

T = TypeVar("T")
Q = TypeVar("Q", bound=Query)


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and _WHOLE.fullmatch(value) and 1 <= int(value) <= LIST_LIMIT:
        return int(value)
    raise ValueError(f"limit must be a whole number from 1 to {LIST_LIMIT}, not '{shown(value)}'")


def _line(value: str) -> str:
    if len(value) > LINE_LIMIT or _UNPLAIN.search(value):
        raise ValueError(f"must be one line of at most {LINE_LIMIT} characters, without control characters")
    return value


Limit = Annotated[int, BeforeValidator(_whole_number, json_schema_input_type=str)]
"""A list's ``limit``: ASCII digits, 1 to ``LIST_LIMIT``."""
Line = Annotated[str, AfterValidator(_line)]
"""An id, a name or a filter in a query: one line of at most ``LINE_LIMIT`` characters."""


class ApprovalsQuery(Query):
    """``GET approvals?status=pending&run=RUN&limit=100``."""

    status: Annotated[str, AfterValidator(lambda v: one_of("status", v, STATUSES))] = "pending"
    run: Line = ""
    limit: Limit = 100


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
    from gorgon_nb.outputs import output_html

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
        return store.control.owner(run_id).alive
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

    def query(self, model: type[Q], hint: str) -> Q:
        """The request's query as ``model`` (``Query``: a route that takes none)."""
        return parse_query(self.request.query_arguments, model, hint)

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
        self.finish(dumps({"message": message, "reason": self._reason, "api": "gorgon"}))


class ApprovalsHandler(GorgonHandler):
    """``GET /gorgon/api/approvals``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(ApprovalsQuery, APPROVALS_HINT)

        def listed(store: Store) -> list[dict[str, Any]]:
            run_id = store.runs.resolve_id(query.run) if query.run else None
            found = store.approvals.recent(
                status=None if query.status == "all" else query.status, run_id=run_id, limit=query.limit
            )
            alive = {r: run_alive(store, r) for r in {a.run_id for a in found}}
            return [approval_json(a, alive[a.run_id]) for a in found]

        self.finish(dumps({"approvals": await self.in_thread(listed)}))


class ApprovalHandler(GorgonHandler):
    """``GET`` and ``POST /gorgon/api/approvals/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, approval_id: str) -> None:
        self.query(Query, "this route takes no query")

        def read(store: Store) -> dict[str, Any]:
            request = store.approvals.get(approval_id)
            return approval_json(request, run_alive(store, request.run_id))

        self.finish(dumps(await self.in_thread(read)))

    @web.authenticated
    @authorized
    async def post(self, approval_id: str) -> None:
        self.query(Query, "this route takes no query")
        body = parse_body(self.request.body, DecisionBody, BODY_HINT)
        by = decider_name(self.current_user)

        def decide(store: Store) -> dict[str, Any]:
            request = store.approvals.get(approval_id)
            try:
                decided = store.approvals.decide(
                    approval_id, approve=body.approve, by=by, comment=body.text
                )
            except ApprovalError as exc:
                raise ApiError(409 if request.may_decide(by) else 403, exc.for_surface("sidebar")) from None
            return approval_json(decided, run_alive(store, decided.run_id))

        decided = await self.in_thread(decide)
        self.log.info(
            "gorgon: approval %s %s by %s", approval_id, decided["status"], decided["decided_by"]
        )
        self.finish(dumps(decided))


class NotFoundHandler(GorgonHandler):
    """Any other path under ``gorgon/api/``: a 404 in the API's words, whatever the method."""

    async def missing(self, *args: Any) -> None:
        raise ApiError(404, f"no gorgon API route '{shown(self.request.path, 120)}'; the routes are listed in "
                            "the gorgon_nb package's server/API.md")

    get = post = put = patch = delete = head = missing

"""The approvals: list, read and decide what runs wait for.

``GET approvals`` (``?status=pending`` (the default), ``all``, ``approved``, ``rejected`` or
``cancelled``; ``?run=RUN``), ``GET approvals/{id}``, ``POST approvals/{id}`` with
``{"decision": "approve" | "reject", "comment": "optional text"}``; ``API.md`` has the
shapes of the whole API, ``base.py`` its errors.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from jupyter_server.auth.decorator import authorized
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from tornado import web

from gorgon_nb.errors import ApprovalError, GorgonError
from gorgon_nb.model.approval import COMMENT_LIMIT
from gorgon_nb.server.base import GorgonHandler, Limit, Line
from gorgon_nb.server.inputs import ApiError, Query, dumps, one_of, parse_body

if TYPE_CHECKING:
    from gorgon_nb.model.approval import ApprovalRequest
    from gorgon_nb.store import Store

__all__ = ["STATUSES", "ApprovalHandler", "ApprovalsHandler", "ApprovalsQuery", "DecisionBody", "approval_json",
           "decider_name", "run_alive"]

STATUSES = ("pending", "approved", "rejected", "cancelled", "all")
BODY_HINT = 'send {"decision": "approve" | "reject", "comment": "optional text"}'
APPROVALS_HINT = "for example ?status=pending&run=RUN&limit=100"
# jupyter_server's identity for a shared-token login: a random id named "Anonymous <moon>"
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")


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

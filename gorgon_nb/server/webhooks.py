"""Webhooks: the workflows HTTP POSTs start, and each POST that came.

``GET``/``POST webhooks``, ``GET``/``DELETE webhooks/{name}``, ``GET webhook-deliveries``,
``GET webhook-deliveries/{id}``, ``POST webhook-deliveries/{id}/replay``; the shapes are in
``API.md``. These need Jupyter's authentication and XSRF like every gorgon route; the
deliveries themselves come to ``/gorgon/webhooks/{name}`` (``scheduler/webhook_server.py``),
which senders sign instead. Workflow files are named relative to the Jupyter server's root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from jupyter_server.auth.decorator import authorized
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from tornado import web

from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.server.base import GorgonHandler, Limit, Line
from gorgon_nb.server.inputs import ApiError, EmptyBody, Query, dumps, parse_body

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.model.webhooks import Webhook
    from gorgon_nb.store import Store

__all__ = ["DeliveriesHandler", "DeliveryHandler", "ReplayHandler", "WebhookBody", "WebhookHandler", "WebhooksHandler"]

WEBHOOK_HINT = ('send {"name": "github_push", "workflow": "flows/summary.yaml", "secret_env": "GITHUB_PUSH_SECRET"}, '
                'with optional "inputs": {...}, "payload_mappings": [{"source_path": "repository.full_name", '
                '"target_variable": "repo_name"}] and "rate" (deliveries a minute)')
NO_QUERY = "this route takes no query"


def _one_line(value: str) -> str:
    from gorgon_nb.scheduler.triggers import plain_text

    if not plain_text(value):
        raise ValueError("must be one line, without control characters")
    return value


OneLine = Annotated[StrictStr, AfterValidator(_one_line)]


class MappingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_path: OneLine = Field(min_length=1, max_length=500)
    target_variable: OneLine = Field(min_length=1, max_length=200)
    default: Any = None


class WebhookBody(BaseModel):
    """The body of ``POST webhooks``: what ``gorgon webhook create`` takes, as JSON."""

    model_config = ConfigDict(extra="forbid")

    name: OneLine = Field(min_length=1, max_length=64)
    workflow: OneLine = Field(min_length=1, max_length=1024)
    inputs: dict[str, Any] = Field(default_factory=dict)
    payload_mappings: list[MappingBody] = Field(default_factory=list, max_length=200)
    secret_env: OneLine = Field("", max_length=200)
    rate: StrictInt = Field(60, ge=1, le=10_000)
    description: StrictStr = Field("", max_length=1000)


class DeliveriesQuery(Query):
    """``GET webhook-deliveries?webhook=NAME&limit=50``."""

    limit: Limit = 50
    webhook: Line = ""


def webhook_json(webhook: Webhook, config: Config, base_url: str) -> dict[str, Any]:
    from gorgon_nb.scheduler.webhooks import secret_for

    return {**webhook.to_dict(), "url_path": f"{base_url}gorgon/webhooks/{webhook.name}",
            "secret_set": secret_for(webhook.name, webhook.secret_env, config) is not None}


class WebhooksBase(GorgonHandler):
    def answer(self, payload: Any) -> None:
        self.finish(dumps(payload))

    @property
    def base(self) -> str:
        return str(self.settings.get("base_url", "/"))


class WebhooksHandler(WebhooksBase):
    """``GET`` and ``POST /gorgon/api/webhooks``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from gorgon_nb.config import load_config

        self.query(Query, NO_QUERY)
        base = self.base

        def listed(store: Store) -> list[dict[str, Any]]:
            config = load_config()
            return [webhook_json(w, config, base) for w in store.webhooks.all()]

        self.answer({"webhooks": await self.in_thread(listed)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from gorgon_nb.config import load_config
        from gorgon_nb.scheduler.webhooks import create_webhook
        from gorgon_nb.workflow import declared_inputs

        self.query(Query, NO_QUERY)
        body = parse_body(self.request.body, WebhookBody, WEBHOOK_HINT)
        root, base = self.backend.files.root, self.base

        def create(store: Store) -> dict[str, Any]:
            config = load_config()
            try:
                webhook = create_webhook(
                    store, config, body.name, body.workflow, root=root, inputs=body.inputs,
                    payload_mappings=[m.model_dump() for m in body.payload_mappings], secret_env=body.secret_env,
                    rate=body.rate, description=body.description, inputs_of=declared_inputs)
            except UsageError as exc:  # NotFoundError among them: the body names a workflow that is not there
                raise ApiError(400, exc.for_surface("sidebar")) from None
            return webhook_json(webhook, config, base)

        created = await self.in_thread(create)
        self.log.info("gorgon: webhook %s starts %s", created["name"], created["workflow"])
        self.set_status(201)
        self.answer(created)


class WebhookHandler(WebhooksBase):
    """``GET`` and ``DELETE /gorgon/api/webhooks/{name}``."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        from gorgon_nb.config import load_config

        self.query(Query, NO_QUERY)
        base = self.base
        self.answer(await self.in_thread(lambda store: webhook_json(store.webhooks.get(name), load_config(), base)))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, "send no body", empty="{}")
        deleted = await self.in_thread(lambda store: store.webhooks.delete(name))
        self.log.info("gorgon: deleted webhook %s", deleted.name)
        self.set_status(204)
        self.finish()


class DeliveriesHandler(WebhooksBase):
    """``GET /gorgon/api/webhook-deliveries``: the last received first, without their bodies."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(DeliveriesQuery, "for example ?webhook=github_push&limit=50")

        def listed(store: Store) -> list[dict[str, Any]]:
            if query.webhook:
                store.webhooks.get(query.webhook)  # an unknown name is a 404, not an empty list
            return [d.to_dict(payload=False) for d in store.webhooks.deliveries(query.webhook or None, query.limit)]

        self.answer({"deliveries": await self.in_thread(listed)})


class DeliveryHandler(WebhooksBase):
    """``GET /gorgon/api/webhook-deliveries/{id}``, with the body kept."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.query(Query, NO_QUERY)
        self.answer({"delivery": await self.in_thread(lambda store: store.webhooks.delivery(ref).to_dict())})


class ReplayHandler(WebhooksBase):
    """``POST /gorgon/api/webhook-deliveries/{id}/replay``."""

    @web.authenticated
    @authorized
    async def post(self, ref: str) -> None:
        from gorgon_nb.config import load_config
        from gorgon_nb.scheduler.webhooks import replay

        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, "send no body, or {}", empty="{}")

        def again(store: Store) -> dict[str, Any]:
            try:
                return replay(store, load_config(), ref).to_dict(payload=False)
            except NotFoundError:
                raise
            except UsageError as exc:
                raise ApiError(409, exc.for_surface("sidebar")) from None

        delivery = await self.in_thread(again)
        self.log.info("gorgon: delivery %s replayed as %s (job %s)", ref, delivery["id"], delivery["job_id"])
        self.answer({"delivery": delivery})

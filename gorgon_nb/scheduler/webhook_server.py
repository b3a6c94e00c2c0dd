"""``POST /gorgon/webhooks/NAME``: a delivery starts the webhook's workflow as a scheduler job.

The same handler (``WebhookReceiver``) is served by the Jupyter server extension and, for
deployments without one, by ``gorgon scheduler --webhooks PORT`` (``start_webhook_server``).
It is not a Jupyter API route: senders (GitHub) have no Jupyter token, so the request is
authenticated by its body's HMAC-SHA256 (``X-Hub-Signature-256: sha256=<hex>``, GitHub's
scheme) with the webhook's shared secret, and by nothing else: no XSRF cookie, no login.

In order: an unknown webhook is 404 (and says no more); a body over ``BODY_LIMIT`` 413; a
webhook whose secret is not set where the server runs 503; a missing or wrong signature
401. None of these stores anything. Then the delivery is recorded: a duplicate of one
accepted before is 200 with the original (nothing started again), over the webhook's rate
429 with ``Retry-After``, a paused webhook 503, a body that is not a JSON object 400, a
job that cannot be queued 500; otherwise the job is queued and the answer is 202 with the
delivery's and the job's ids. GitHub's ``ping`` (sent when a hook is added) is 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tornado import web

from gorgon_nb.errors import GorgonError
from gorgon_nb.model.webhooks import (
    NAME_PATTERN,
    PAYLOAD_KEEP,
    Delivery,
    body_digest,
    map_inputs,
    signature_matches,
)
from gorgon_nb.scheduler.triggers import plain_text
from gorgon_nb.secrets import redact

if TYPE_CHECKING:
    from tornado.httpserver import HTTPServer

    from gorgon_nb.config import Config
    from gorgon_nb.store import Store

__all__ = ["BODY_LIMIT", "ROUTE", "Answer", "WebhookReceiver", "receive", "start_webhook_server"]

BODY_LIMIT = 1024 * 1024  # bytes of a delivery's body
ROUTE = r"gorgon/webhooks/([^/]{1,200})"
log = logging.getLogger("gorgon_nb.webhooks")


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _header(headers: Mapping[str, str], name: str, limit: int) -> str:
    value = headers.get(name) or ""
    return value if len(value) <= limit and plain_text(value) else ""


def _payload(body: bytes, content_type: str) -> Any:
    """The JSON the sender posted: the body, or its ``payload`` field when GitHub sends a form."""
    text = body.decode("utf-8")
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = parse_qs(text).get("payload", [""])[0]
    return json.loads(text)


def receive(store: Store, config: Config, name: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    """What the webhook ``name`` does with a POST of ``body`` (the module's docstring)."""
    from gorgon_nb.scheduler.service import check_parameters
    from gorgon_nb.scheduler.webhooks import job_for, missing_secret, secret_for, workflow_problem

    webhook = store.webhooks.find(name) if NAME_PATTERN.fullmatch(name) else None
    if webhook is None:
        return Answer(404, {"message": "not found"})
    if len(body) > BODY_LIMIT:
        return Answer(413, {"message": f"the body is {len(body):,} bytes; the most is {BODY_LIMIT:,}"})
    secret = secret_for(webhook.name, webhook.secret_env, config)
    if secret is None:
        log.warning("webhook %s: a delivery was refused: %s", name, missing_secret(name, webhook.secret_env, config))
        return Answer(503, {"message": "this webhook cannot check signatures: its secret is not set on this server"})
    if not signature_matches(secret, body, headers.get("X-Hub-Signature-256")):
        log.warning("webhook %s: a delivery without a valid X-Hub-Signature-256 was refused", name)
        return Answer(401, {"message": "a valid X-Hub-Signature-256 (sha256=HMAC of the body with the webhook's "
                                       "secret) is needed"})
    event = _header(headers, "X-GitHub-Event", 100)
    delivery = Delivery(id="", webhook=name, delivery_id=_header(headers, "X-GitHub-Delivery", 200) or
                        body_digest(body), received_at=0.0, status="refused", event=event,
                        payload=redact(body[:PAYLOAD_KEEP].decode("utf-8", "replace")),
                        payload_size=len(body))
    status = 503
    try:
        payload = _payload(body, headers.get("Content-Type", ""))
    except (UnicodeDecodeError, ValueError, RecursionError):
        payload = None
    if webhook.paused:
        delivery.reason = "the webhook is paused"
    elif event == "ping":
        delivery.reason, status = "GitHub's ping (sent when a hook is added); the signature is good", 200
    elif not isinstance(payload, dict):
        delivery.reason, status = "the body is not a JSON object", 400
    else:
        inputs, missing = map_inputs(webhook, payload)
        notes = [f"not in the payload: {', '.join(missing)}"] if missing else []
        try:
            delivery.inputs = check_parameters(inputs)
        except GorgonError as exc:
            delivery.status, delivery.reason, status = "failed", f"the inputs cannot be kept: {exc}", 500
        else:
            if problem := workflow_problem(webhook, config):
                delivery.status, delivery.reason, status = "failed", problem, 500
            else:
                delivery.status, delivery.reason = "accepted", "; ".join(notes)
    job = job_for(webhook, delivery.inputs or {}) if delivery.status == "accepted" else None
    recorded, retry_after = store.webhooks.record(delivery, job, rate=webhook.rate)
    said = {"delivery": recorded.id, "delivery_id": recorded.delivery_id, "status": recorded.status,
            "reason": recorded.reason, "job": recorded.job_id}
    if recorded.status == "accepted":
        log.info("webhook %s: delivery %s queued job %s", name, recorded.id, recorded.job_id)
        return Answer(202, said)
    if recorded.status == "duplicate":
        return Answer(200, {**said, "delivery": recorded.original})
    if recorded.status == "rate_limited":
        return Answer(429, said, {"Retry-After": str(int(retry_after))})
    log.warning("webhook %s: delivery %s %s: %s", name, recorded.id, recorded.status, recorded.reason)
    return Answer(status, said)


class WebhookReceiver(web.RequestHandler):
    """``POST /gorgon/webhooks/NAME``, authenticated by its signature alone."""

    def initialize(self, store: Callable[[], Store], config: Callable[[], Config]) -> None:
        self.open_store = store
        self.load_config = config

    def check_xsrf_cookie(self) -> None:
        """Senders have no Jupyter cookie: the signature authenticates the request instead."""

    async def post(self, name: str) -> None:
        def answer() -> Answer:
            return receive(self.open_store(), self.load_config(), name, self.request.body, self.request.headers)

        try:
            result = await asyncio.to_thread(answer)
        except GorgonError as exc:  # the store or the config could not be read: the sender may retry
            log.error("webhook %s: a delivery could not be taken: %s", name, exc)
            result = Answer(503, {"message": "the server cannot take deliveries now; try again later"})
        self.set_status(result.status)
        for header, value in result.headers.items():
            self.set_header(header, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result.body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # no traceback and no page: a short JSON, as every answer of this route
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": self._reason}))


def start_webhook_server(store: Store, host: str, port: int) -> HTTPServer:
    """Serve ``POST /gorgon/webhooks/NAME`` on ``host:port`` in the running event loop."""
    from tornado.httpserver import HTTPServer

    from gorgon_nb.config import load_config

    app = web.Application([(f"/{ROUTE}", WebhookReceiver, {"store": lambda: store, "config": load_config})])
    # a body a little over the limit gets the handler's 413, which says the limit; one far
    # over it is cut off by tornado before it is read whole
    server = HTTPServer(app, max_body_size=2 * BODY_LIMIT, xheaders=False)
    server.listen(port, address=host)
    return server

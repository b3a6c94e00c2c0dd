"""Webhooks and their deliveries, in the store every process shares.

Transaction rule: a delivery is recorded in one transaction that first looks for an
accepted delivery with the same sender's id (then it is a duplicate and starts nothing),
then counts the webhook's deliveries started in the last minute (at its rate it is rate
limited), and only then queues its job and records it. So two servers receiving the same
delivery, or a burst spread over several processes, still start it once and keep the rate.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from gorgon_nb.errors import Advice, NotFoundError, UsageError
from gorgon_nb.model.jobs import Job
from gorgon_nb.model.webhooks import Delivery, PayloadMapping, Webhook
from gorgon_nb.store.database import Database, new_id
from gorgon_nb.store.jobs import JobStore

__all__ = ["RATE_WINDOW", "WebhookStore"]

RATE_WINDOW = 60.0  # seconds: a webhook's rate is per minute
_WEBHOOK_FIELDS = ("name", "workflow", "root", "inputs", "payload_mappings", "secret_env", "rate", "description",
                   "paused", "created_at")
_DELIVERY_FIELDS = ("id", "webhook", "delivery_id", "received_at", "status", "reason", "event", "job_id", "inputs",
                    "payload", "payload_size", "replay_of", "original")
_LIST_ADVICE = Advice(python="Runner().store.webhooks.all() lists them.",
                      notebook="Run %gorgon webhooks to list them.", cli="Run 'gorgon webhook list' to list them.")


def _webhook(row: dict[str, Any]) -> Webhook:
    return Webhook(**{**row, "inputs": json.loads(row["inputs"]), "paused": bool(row["paused"]),
                      "payload_mappings": [PayloadMapping(**m) for m in json.loads(row["payload_mappings"])]})


def _delivery(row: dict[str, Any]) -> Delivery:
    run_ids = json.loads(row.pop("job_run_ids") or "[]")
    state = row.pop("job_state")
    inputs = json.loads(row["inputs"]) if row["inputs"] is not None else None
    return Delivery(**{**row, "inputs": inputs, "run_id": run_ids[-1] if run_ids else None, "job_state": state})


_SELECT_DELIVERIES = ("SELECT d.*, j.state AS job_state, j.run_ids AS job_run_ids FROM webhook_deliveries d "
                      "LEFT JOIN jobs j ON j.id = d.job_id")


class WebhookStore:
    """``store.webhooks``: webhooks, and the deliveries their senders made."""

    def __init__(self, db: Database, jobs: JobStore) -> None:
        self._db = db
        self._jobs = jobs

    # -- webhooks -------------------------------------------------------------------------

    def create(self, webhook: Webhook) -> Webhook:
        """Add a webhook; its name is its URL's last part, so no two share one."""
        webhook.created_at = webhook.created_at or time.time()
        values = {**webhook.__dict__, "inputs": json.dumps(webhook.inputs), "paused": int(webhook.paused),
                  "payload_mappings": json.dumps([m.__dict__ for m in webhook.payload_mappings])}
        with self._db.transaction():
            if self._db.conn.execute("SELECT 1 FROM webhooks WHERE name = ?", (webhook.name,)).fetchone():
                raise UsageError(f"a webhook named '{webhook.name}' exists already; give this one another name, or "
                                 "delete that one first: ", Advice(
                                     python=f"Runner().store.webhooks.delete('{webhook.name}')",
                                     notebook=f"%gorgon webhooks delete {webhook.name}",
                                     cli=f"gorgon webhook delete {webhook.name}"))
            self._db.conn.execute(f"INSERT INTO webhooks ({', '.join(_WEBHOOK_FIELDS)}) VALUES "
                                  f"({', '.join('?' for _ in _WEBHOOK_FIELDS)})",
                                  tuple(values[name] for name in _WEBHOOK_FIELDS))
        return webhook

    def find(self, name: str) -> Webhook | None:
        rows = self._db.query("SELECT * FROM webhooks WHERE name = ?", (name,))
        return _webhook(rows[0]) if rows else None

    def get(self, name: str) -> Webhook:
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"no webhook '{name}'. ", _LIST_ADVICE)
        return found

    def all(self) -> list[Webhook]:
        return [_webhook(r) for r in self._db.query("SELECT * FROM webhooks ORDER BY name")]

    def set_paused(self, name: str, paused: bool) -> Webhook:
        webhook = self.get(name)
        self._db.write("UPDATE webhooks SET paused = ? WHERE name = ?", (int(paused), name))
        webhook.paused = paused
        return webhook

    def delete(self, name: str) -> Webhook:
        """Remove a webhook and its deliveries (their jobs stay with the other jobs)."""
        webhook = self.get(name)
        with self._db.transaction():
            self._db.conn.execute("DELETE FROM webhook_deliveries WHERE webhook = ?", (name,))
            self._db.conn.execute("DELETE FROM webhooks WHERE name = ?", (name,))
        return webhook

    # -- deliveries -----------------------------------------------------------------------

    def record(self, delivery: Delivery, job: Job | None = None, *, rate: int | None = None,
               dedupe: bool = True) -> tuple[Delivery, float]:
        """Record ``delivery`` and queue ``job`` for it, once (the rule at the top); return it
        and, when it was rate limited, the seconds until the webhook starts one again.

        ``rate`` (deliveries a minute) is checked only when given, and earlier deliveries
        only with ``dedupe``: a replay asked for by a person is neither."""
        delivery.id = delivery.id or new_id()
        delivery.received_at = delivery.received_at or time.time()
        retry_after = 0.0
        with self._db.transaction():
            first = None if not dedupe else self._db.conn.execute(
                "SELECT id, job_id FROM webhook_deliveries WHERE webhook = ? AND delivery_id = ? AND status = "
                "'accepted' ORDER BY received_at LIMIT 1", (delivery.webhook, delivery.delivery_id)).fetchone()
            if first is not None:
                delivery.status, delivery.original, delivery.job_id = "duplicate", first[0], first[1]
                delivery.reason = f"delivery {delivery.delivery_id} was accepted before, as {first[0]}"
                job = None
            elif job is not None and rate is not None:
                since = delivery.received_at - RATE_WINDOW
                started = self._db.conn.execute(
                    "SELECT received_at FROM webhook_deliveries WHERE webhook = ? AND status = 'accepted' AND "
                    "replay_of IS NULL AND received_at > ? ORDER BY received_at", (delivery.webhook, since)).fetchall()
                if len(started) >= rate:
                    # the oldest of the minute leaves the window first
                    retry_after = max(1.0, math.ceil(started[-rate][0] + RATE_WINDOW - delivery.received_at))
                    delivery.status = "rate_limited"
                    count = len(started)
                    delivery.reason = (f"{count} {'delivery' if count == 1 else 'deliveries'} started in the last "
                                       f"minute; the rate is {rate}")
                    job = None
            if job is not None:
                delivery.job_id = self._jobs.enqueue(job).id
            values = {**delivery.__dict__, "inputs": None if delivery.inputs is None else json.dumps(delivery.inputs)}
            self._db.conn.execute(f"INSERT INTO webhook_deliveries ({', '.join(_DELIVERY_FIELDS)}) VALUES "
                                  f"({', '.join('?' for _ in _DELIVERY_FIELDS)})",
                                  tuple(values[name] for name in _DELIVERY_FIELDS))
        return delivery, retry_after

    def delivery(self, ref: str) -> Delivery:
        """A delivery by its id or an unambiguous start of one."""
        if not ref.strip():
            raise UsageError("a delivery id is needed")
        rows = self._db.query(f"{_SELECT_DELIVERIES} WHERE d.id = ? OR d.id LIKE ? ORDER BY d.id = ? DESC LIMIT 3",
                              (ref, ref.replace("%", "") + "%", ref))
        if not rows:
            raise NotFoundError(f"no delivery '{ref}'. ", Advice(
                python="Runner().store.webhooks.deliveries() lists recent ones.",
                notebook="Run %gorgon webhooks to list recent ones.",
                cli="Run 'gorgon webhooks deliveries' to list recent ones."))
        if len(rows) > 1 and rows[0]["id"] != ref:
            raise UsageError(f"'{ref}' matches several deliveries ({', '.join(r['id'] for r in rows)}); "
                             "give more of the id")
        return _delivery(rows[0])

    def deliveries(self, webhook: str | None = None, limit: int = 50) -> list[Delivery]:
        """Deliveries, the last received first; of one webhook when given."""
        where, params = (" WHERE d.webhook = ?", (webhook,)) if webhook else ("", ())
        return [_delivery(r) for r in self._db.query(
            f"{_SELECT_DELIVERIES}{where} ORDER BY d.received_at DESC, d.rowid DESC LIMIT ?", (*params, limit))]

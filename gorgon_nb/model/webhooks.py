"""Webhooks: a workflow started by an HTTP POST, and each POST that came (a delivery).

A ``Webhook`` names a workflow (a file relative to its ``root``, or a workflow's name), the
inputs it is given (``inputs``, fixed, and ``payload_mappings``, each a dotted path into the
JSON body copied to an input), where its shared secret is read from (never the secret
itself: ``secret_env`` names an environment variable; empty means the config's
``[webhooks.NAME]``), and how many deliveries a minute it starts (``rate``).

A ``Delivery`` is one POST whose signature was good: accepted (a job queued), a duplicate
of one accepted before (nothing started), rate limited, refused (not a JSON object, the
webhook paused) or failed (the job could not be queued). The sender's body is kept, cut to
``PAYLOAD_KEEP`` bytes, to be read later; the inputs it gave are kept whole, for a replay.

This module is pure: signatures, delivery ids and the mapping of a payload to inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["DELIVERY_STATES", "NAME_PATTERN", "PAYLOAD_KEEP", "REPLAYABLE", "Delivery", "DeliveryState",
           "PayloadMapping", "Webhook", "body_digest", "extract", "map_inputs", "placeholders", "sign",
           "signature_matches"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
PAYLOAD_KEEP = 64 * 1024  # bytes of a sender's body kept with its delivery
DeliveryState = Literal["accepted", "duplicate", "rate_limited", "refused", "failed"]
DELIVERY_STATES: tuple[DeliveryState, ...] = ("accepted", "duplicate", "rate_limited", "refused", "failed")
REPLAYABLE: frozenset[str] = frozenset({"failed", "rate_limited"})
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class PayloadMapping:
    """``source_path`` (``repository.full_name``, ``commits.0.id``) in the body, copied to
    the input ``target_variable``; ``default`` when the body has no such path."""

    source_path: str
    target_variable: str
    default: Any = None
    # False when the workflow has no such input and the value only fills ``{{name}}`` in the
    # fixed inputs, as Gorgon's files use theirs (decided when the webhook is made).
    as_input: bool = True


@dataclass
class Webhook:
    name: str
    workflow: str  # a workflow file relative to root, or a workflow's name
    root: str  # an absolute folder
    inputs: dict[str, Any] = field(default_factory=dict)
    payload_mappings: list[PayloadMapping] = field(default_factory=list)
    secret_env: str = ""  # the variable holding the secret; "" reads [webhooks.NAME] in the config
    rate: int = 60  # deliveries started per minute
    description: str = ""
    paused: bool = False
    created_at: float = 0.0

    @property
    def secret_source(self) -> str:
        return f"${self.secret_env}" if self.secret_env else f"[webhooks.{self.name}] in the config"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "secret_source": self.secret_source}


@dataclass
class Delivery:
    id: str
    webhook: str
    delivery_id: str  # the sender's (X-GitHub-Delivery), else the body's SHA-256
    received_at: float
    status: DeliveryState
    reason: str = ""
    event: str = ""  # X-GitHub-Event, when sent
    job_id: str | None = None
    run_id: str | None = None  # of the job, once it ran (read from the job, not stored)
    job_state: str | None = None  # likewise
    inputs: dict[str, Any] | None = None
    payload: str = ""
    payload_size: int = 0  # bytes of the whole body; more than PAYLOAD_KEEP means payload is cut
    replay_of: str | None = None  # the delivery this one replayed
    original: str | None = None  # the accepted delivery this one duplicates

    @property
    def replayable(self) -> bool:
        return self.status in REPLAYABLE or (self.status == "accepted" and self.job_state in ("failed", "timed_out"))

    def to_dict(self, *, payload: bool = True) -> dict[str, Any]:
        values = {**asdict(self), "replayable": self.replayable}
        if not payload:
            values.pop("payload")
        return values


def sign(secret: str, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` of ``body``: ``sha256=`` and the HMAC's hex digest."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``body``'s signature with ``secret``, compared in constant time."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def extract(payload: Any, path: str) -> tuple[bool, Any]:
    """``(True, value)`` at the dotted ``path`` in ``payload`` (a number steps into a list),
    or ``(False, None)`` when the payload has no such path."""
    value = payload
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and re.fullmatch(r"-?[0-9]+", key) and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            return False, None
    return True, value


def _fill(value: Any, names: dict[str, Any]) -> Any:
    """``{{name}}`` in a fixed text replaced by a mapped value (Gorgon's files write their
    prompts so); other placeholders are left for the workflow."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: str(names[m[1]]) if m[1] in names else m[0], value)
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


def map_inputs(webhook: Webhook, payload: Any) -> tuple[dict[str, Any], list[str]]:
    """The workflow's inputs for ``payload``, and the mapped paths it lacked.

    As in Gorgon: the fixed inputs, then each mapped value (its ``default`` when the path
    is missing; a path missing without a default leaves the input out, so the workflow's
    own default applies). Mapped values are also put into ``{{name}}`` placeholders of the
    fixed texts; one the workflow has no input for (``as_input`` false) goes only there."""
    mapped: dict[str, Any] = {}
    missing: list[str] = []
    fill_only = {m.target_variable for m in webhook.payload_mappings if not m.as_input}
    for mapping in webhook.payload_mappings:
        found, value = extract(payload, mapping.source_path)
        if found and value is not None:
            mapped[mapping.target_variable] = value
        else:
            missing.append(mapping.source_path)
            if mapping.default is not None:
                mapped[mapping.target_variable] = mapping.default
    fixed = {name: _fill(value, mapped) for name, value in webhook.inputs.items()}
    return {**fixed, **{name: value for name, value in mapped.items() if name not in fill_only}}, missing


def placeholders(value: Any) -> set[str]:
    """The ``{{name}}`` placeholders of a fixed input (in its texts, lists and mappings)."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return set().union(*(placeholders(item) for item in value))
    if isinstance(value, dict):
        return set().union(*(placeholders(item) for item in value.values()))
    return set()

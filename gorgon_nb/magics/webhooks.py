"""``%gorgon webhooks``: the webhooks, their recent deliveries, and a replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gorgon_nb.magics.display import Table, Text
from gorgon_nb.model.text import format_time, preview

if TYPE_CHECKING:
    from gorgon_nb.magics.commands import Notebook, Parse
    from gorgon_nb.model.webhooks import Delivery

__all__ = ["Tables", "cmd_webhooks"]


@dataclass
class Tables:
    """Tables shown one after the other."""

    tables: list[Table]

    def _repr_markdown_(self) -> str:
        return "\n\n".join(table._repr_markdown_() for table in self.tables)

    def __repr__(self) -> str:
        return "\n\n".join(repr(table) for table in self.tables)


def deliveries_table(deliveries: list[Delivery]) -> Table:
    def job(d: Delivery) -> str:
        return f"`{d.job_id}` ({d.job_state})" if d.job_id and d.job_state else f"`{d.job_id}`" if d.job_id else "-"

    rows = [[f"`{d.id}`", d.webhook, format_time(d.received_at), d.status.replace("_", " "), job(d),
             f"`{d.run_id}`" if d.run_id else "-", preview(d.reason, 80)] for d in deliveries]
    return Table(["delivery", "webhook", "received", "status", "job", "run", "reason"], rows,
                 title="Recent deliveries", empty="no deliveries yet",
                 footer="`%gorgon webhooks replay DELIVERY` starts a failed or rate-limited one again.")


def cmd_webhooks(magics: Notebook, parse: Parse, words: Sequence[str]) -> Tables | Table | Text:
    options = parse("%gorgon webhooks", words, [(("action",), {"nargs": "?", "choices": ["deliveries", "replay"]}),
                                                (("ref",), {"nargs": "?", "metavar": "NAME|DELIVERY"}),
                                                (("-n", "--limit"), {"type": int, "default": 20})])
    store = magics.runner().store
    if store is None:
        from gorgon_nb.errors import ConfigError

        raise ConfigError("this session keeps no store, so no webhooks")
    if options.action == "replay":
        from gorgon_nb.config import load_config
        from gorgon_nb.errors import UsageError
        from gorgon_nb.scheduler.webhooks import replay

        if not options.ref:
            raise UsageError("%gorgon webhooks replay needs a DELIVERY id")
        again = replay(store, load_config(), options.ref)
        return Text(f"Delivery `{again.replay_of}` replayed as `{again.id}`: job `{again.job_id}` queued.")
    if options.action == "deliveries":
        if options.ref:
            store.webhooks.get(options.ref)
        return deliveries_table(store.webhooks.deliveries(options.ref, options.limit))
    rows: list[list[Any]] = [[w.name, f"`{w.workflow}`", w.secret_source, f"{w.rate}/min",
                              "paused" if w.paused else "active"] for w in store.webhooks.all()]
    hooks = Table(["webhook", "workflow", "secret", "rate", "state"], rows, title="Webhooks",
                  empty="no webhooks yet: `gorgon webhook create NAME WORKFLOW --secret-env VARIABLE`",
                  footer="Senders POST to `/gorgon/webhooks/NAME`, signed with the webhook's secret.")
    return Tables([hooks, deliveries_table(store.webhooks.deliveries(limit=options.limit))])

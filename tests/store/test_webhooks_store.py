"""Webhook deliveries in the store: the rate and duplicates hold across connections (as
across processes), and a burst from many at once starts no more than the rate."""

from __future__ import annotations

import threading
from pathlib import Path

from gorgon_nb.model.jobs import Job
from gorgon_nb.model.webhooks import Delivery, Webhook
from gorgon_nb.store import Store


def delivery(delivery_id: str) -> Delivery:
    return Delivery(id="", webhook="hook", delivery_id=delivery_id, received_at=0.0, status="accepted", inputs={})


def job() -> Job:
    return Job(id="", root="/srv", notebook="flow.yaml", parameters={"a": 1})


def test_the_rate_and_duplicates_hold_across_connections(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as one, Store(tmp_path / "g.db") as other:
        one.webhooks.create(Webhook(name="hook", workflow="flow.yaml", root="/srv", rate=1))
        first, _ = one.webhooks.record(delivery("d-1"), job(), rate=1)
        again, _ = other.webhooks.record(delivery("d-1"), job(), rate=1)
        limited, retry_after = other.webhooks.record(delivery("d-2"), job(), rate=1)
        assert (first.status, again.status, limited.status) == ("accepted", "duplicate", "rate_limited")
        assert again.original == first.id and again.job_id == first.job_id
        assert 1 <= retry_after <= 60 and limited.job_id is None
        assert [j.id for j in one.jobs.recent()] == [first.job_id]
        # a person's replay is not held to the rate
        replayed, _ = other.webhooks.record(delivery("d-2"), job(), dedupe=False)
        assert replayed.status == "accepted" and len(one.jobs.recent()) == 2


def test_a_burst_from_many_connections_starts_no_more_than_the_rate(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        store.webhooks.create(Webhook(name="hook", workflow="flow.yaml", root="/srv", rate=3))
    statuses: list[str] = []
    start = threading.Barrier(8)

    def send(number: int) -> None:
        with Store(tmp_path / "g.db") as mine:
            start.wait()
            recorded, _ = mine.webhooks.record(delivery(f"d-{number}"), job(), rate=3)
            statuses.append(recorded.status)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == ["accepted"] * 3 + ["rate_limited"] * 5
    with Store(tmp_path / "g.db") as store:
        assert len(store.jobs.recent()) == 3
        assert sorted(d.job_id is None for d in store.webhooks.deliveries()) == [False] * 3 + [True] * 5


def test_deleting_a_webhook_deletes_its_deliveries_and_keeps_its_jobs(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        store.webhooks.create(Webhook(name="hook", workflow="flow.yaml", root="/srv"))
        store.webhooks.record(delivery("d-1"), job(), rate=5)
        store.webhooks.delete("hook")
        assert store.webhooks.deliveries() == [] and store.webhooks.all() == []
        assert len(store.jobs.recent()) == 1

"""Notifications: Slack, email or a webhook told when a run or a job ends, fails or waits.

- ``message``: what a notification says (``Message``), made from a run's events or a job.
- ``senders``: sending one message to one target (Slack, SMTP, a signed JSON POST).
- ``dispatch``: who is told what (the run subscriber, the job hook) and the outbox's
  delivery with retries.

The settings are ``model.notifications`` (read by ``config`` from ``[notifications]``);
the outbox is ``store.notifications``. A ``notify:`` step (``steps.notify``) sends a
message of the workflow's own through the same senders.
"""

from __future__ import annotations

from gorgon_nb.notify.dispatch import (
    RunNotifier,
    deliver_due,
    enqueue,
    notify_job_end,
    run_notifier,
    subscribed,
    wait_for_sends,
)
from gorgon_nb.notify.message import Message

__all__ = ["Message", "RunNotifier", "deliver_due", "enqueue", "notify_job_end", "run_notifier", "subscribed",
           "wait_for_sends"]

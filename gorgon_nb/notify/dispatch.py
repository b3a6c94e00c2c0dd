"""Who is told what, and the sending of it: the run subscriber, the job hook, the outbox's delivery.

A run tells its targets when it waits for an approval and when it ends; a scheduled job
when its last attempt ends. The targets are those of ``[notifications] always``, of the
workflow's ``notify:`` and of the schedule's ``--notify``, each for the events its rule
(else the target, else ``[notifications] on``) names; a target named twice is told once.

Each message goes into the store's outbox, then a worker thread sends what is due. A
send that fails is logged and retried with a doubling backoff: in this process while it
lives, by the next run's notifier, and by any scheduler's tick. Nothing here raises into
a run or a job: a notification that cannot be made or sent is logged, never a failure of
what it tells of, and a send takes at most its target's timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import ConfigError, IntegrationError
from gorgon_nb.model.events import (
    ApprovalRequested,
    Event,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFailed,
)
from gorgon_nb.model.notifications import NotificationSettings, NotifyRule, parse_notify_rule
from gorgon_nb.notify.message import Message, approval_message, job_event, job_message, run_message
from gorgon_nb.store.notifications import MAX_ATTEMPTS, Notification

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.model.jobs import Job
    from gorgon_nb.model.workflow import WorkflowSpec
    from gorgon_nb.store import Store

__all__ = ["RunNotifier", "check_rules", "checked_rules", "deliver_due", "enqueue", "notify_job_end", "notify_rules",
           "run_notifier", "send_note", "subscribed", "wait_for_sends"]

log = logging.getLogger("gorgon_nb.notify")
IN_PROCESS_TRIES = 3  # sends this process tries before leaving a notification to later ones
BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0


def subscribed(settings: NotificationSettings, rules: Iterable[NotifyRule], event: str) -> list[str]:
    """The targets told of ``event``: ``always``'s and the rules', each once, in that order."""
    found: list[str] = []
    for rule in [*(NotifyRule(target=name) for name in settings.always), *rules]:
        if rule.target not in settings.targets:
            continue  # checked where the rule was given; a target removed since is skipped
        events = rule.on if rule.on is not None else settings.events_of(rule.target)
        if event in events and rule.target not in found:
            found.append(rule.target)
    return found


def unknown_targets(settings: NotificationSettings, rules: Iterable[NotifyRule]) -> list[str]:
    return [rule.target for rule in rules if rule.target not in settings.targets]


def check_rules(settings: NotificationSettings, rules: Iterable[NotifyRule], what: str) -> None:
    """Refuse rules naming targets the config lacks, saying how to add them."""
    unknown = unknown_targets(settings, rules)
    if unknown:
        known = ", ".join(settings.targets) or "none yet"
        raise ConfigError(f"{what} notifies '{unknown[0]}', which is not a notification target (targets: {known}); "
                          f"add [notifications.targets.{unknown[0]}] with slack, email or webhook to the config file")


def checked_rules(settings: NotificationSettings, texts: Iterable[str], what: str) -> list[str]:
    """``TARGET[:events]`` texts (``--notify``) checked against the config, as a schedule keeps them."""
    from gorgon_nb.errors import UsageError

    try:
        rules = [parse_notify_rule(text) for text in texts]
    except ValueError as exc:
        raise UsageError(f"--notify: {exc}") from None
    check_rules(settings, rules, what)
    return [str(rule) for rule in rules]


def notify_rules(texts: list[str]) -> list[str]:
    """A schedule's ``--notify`` rules, checked against the targets of the config file."""
    if not texts:
        return []
    from gorgon_nb.config import load_config

    return checked_rules(load_config().notifications, texts, "this schedule")


def enqueue(config: Config, store: Store | None, message: Message, targets: list[str]) -> list[Notification]:
    """Put ``message`` in the outbox for each target and start sending it; never raises."""
    if not targets:
        return []
    try:
        if store is None:  # a runner that keeps nothing: one try each, in the background
            notes = [Notification("", target, message.event, message.title, message.to_json()) for target in targets]
            _start(lambda: _send_each(config, notes))
            return notes
        notes = [store.notifications.add(target, message.event, message.title, message.to_json(),
                                         run_id=message.run_id, job_id=message.job_id) for target in targets]
    except Exception:
        log.warning("could not queue the notification '%s'", message.title, exc_info=True)
        return []
    _start(lambda: _deliver(config, store, [note.id for note in notes], tries_left=IN_PROCESS_TRIES))
    return notes


_sending: set[threading.Thread] = set()


def _start(work: Any, delay: float = 0.0) -> None:
    # The first try holds the process open until it is done (bounded by the target's timeout),
    # so `gorgon run` sends before it exits; later tries must not hold a process open.
    def tracked() -> None:
        try:
            work()
        finally:
            _sending.discard(thread)

    thread: threading.Thread
    if delay:
        thread = threading.Timer(delay, tracked)
        thread.daemon = True
    else:
        thread = threading.Thread(target=tracked, name="gorgon-notify")
    _sending.add(thread)
    thread.start()


def wait_for_sends(timeout: float = 30.0) -> bool:
    """Wait until the sends under way (not the retries waiting their turn) are done; whether they are."""
    deadline = time.monotonic() + timeout
    for thread in [t for t in list(_sending) if not isinstance(t, threading.Timer)]:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return not any(t.is_alive() for t in _sending if not isinstance(t, threading.Timer))


def _backoff(attempts: int) -> float:
    return min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def _send_each(config: Config, notes: list[Notification]) -> None:
    from gorgon_nb.notify.senders import send

    for note in notes:
        try:
            send(config, config.notifications.targets[note.target], Message.from_json(note.message), note.id)
        except Exception as exc:
            log.warning("notification '%s' to %s failed: %s", note.title, note.target, exc)


def send_note(config: Config, store: Store, note_id: str, now: float | None = None) -> bool | None:
    """Claim and send one notification: True when sent, False when it failed, None when it was
    not due or another process took it."""
    from gorgon_nb.notify.senders import send

    note = store.notifications.claim(note_id, now)
    if note is None:
        return None
    target = config.notifications.targets.get(note.target)
    if target is None:
        store.notifications.failed(note.id, f"the target '{note.target}' is no longer in the config", None)
        log.warning("notification '%s': the target %s is no longer configured; given up", note.title, note.target)
        return False
    try:
        send(config, target, Message.from_json(note.message), note.id)
    except Exception as exc:
        retryable = not isinstance(exc, IntegrationError) or exc.retryable
        last = note.attempts >= MAX_ATTEMPTS or not retryable
        store.notifications.failed(note.id, str(exc), None if last else time.time() + _backoff(note.attempts))
        log.warning("notification '%s' to %s failed (attempt %d)%s: %s", note.title, note.target, note.attempts,
                    "; given up" if last else "; it will be tried again", exc)
        return False
    store.notifications.sent(note.id)
    return True


def _deliver(config: Config, store: Store, note_ids: list[str], tries_left: int) -> None:
    from contextlib import nullcontext

    from gorgon_nb.store import Store

    try:
        # A connection of its own: the run's may be closed by its owner while a send goes on.
        with Store(store.path) if store.path is not None else nullcontext(store) as own:
            failed = [note_id for note_id in note_ids if send_note(config, own, note_id) is False]
            deliver_due(own, config)  # what earlier processes left to retry
            due = min((own.notifications.get(note_id).next_try_at for note_id in failed), default=0.0)
        if failed and tries_left > 1:
            _start(lambda: _deliver(config, store, failed, tries_left - 1), max(due - time.time(), 0.0) + 0.1)
    except Exception:  # an unwritable store or a bug: logged, never raised into a run
        log.warning("notifications could not be delivered", exc_info=True)


def deliver_due(store: Store, config: Config | None = None, now: float | None = None) -> int:
    """Send the notifications whose next try has come (a scheduler's tick calls it); how many went."""
    try:
        due = store.notifications.due(now)
        if not due:
            return 0
        config = config or _current_config()
        return sum(bool(send_note(config, store, note.id, now)) for note in due)
    except Exception:
        log.warning("notifications could not be delivered", exc_info=True)
        return 0


_config_cache: tuple[Any, Config] | None = None


def _current_config() -> Config:
    """The config as its file is now (a scheduler runs for days while the file changes)."""
    import os

    from gorgon_nb.config import gorgon_home, load_config

    global _config_cache
    file = Path(os.environ.get("GORGON_CONFIG") or gorgon_home() / "config.toml")
    key = (str(file), file.stat().st_mtime if file.is_file() else None, os.environ.get("GORGON_HOME"))
    if _config_cache is None or _config_cache[0] != key:
        _config_cache = (key, load_config())
    return _config_cache[1]


class RunNotifier:
    """The subscriber to a run's events that tells its targets when it waits and when it ends."""

    def __init__(self, config: Config, store: Store | None, spec: WorkflowSpec) -> None:
        self.config, self.store, self.rules = config, store, list(spec.notify)
        self.workflow = spec.name or spec.id
        self.failed_step: str | None = None

    def __call__(self, event: Event) -> None:
        settings = self.config.notifications
        match event.payload:
            case RunStarted(name=name) | RunResumed(name=name):
                self.workflow = name or self.workflow
            case StepFailed(continued=False):
                self.failed_step = self.failed_step or event.step
            case ApprovalRequested(approval=approval):
                message = approval_message(settings, workflow=self.workflow, run_id=event.run_id, step=event.step,
                                           approval=approval["title"], approval_id=approval["id"])
                enqueue(self.config, self.store, message, subscribed(settings, self.rules, "waiting"))
            case RunFinished(status=status, error=error):
                message = run_message(settings, event=status, workflow=self.workflow, run_id=event.run_id,
                                      error=error, step=self.failed_step if status == "failed" else None)
                enqueue(self.config, self.store, message, subscribed(settings, self.rules, status))


def run_notifier(config: Config, store: Store | None, spec: WorkflowSpec) -> RunNotifier | None:
    """The notifier of a run of ``spec``, or None when no target would hear of it."""
    settings = config.notifications
    check_rules(settings, spec.notify, f"workflow '{spec.id}'")
    if not settings.always and not spec.notify:
        return None
    return RunNotifier(config, store, spec)


def notify_job_end(store: Store, job: Job, config: Config | None = None) -> None:
    """Tell the targets of a job's schedule (and ``always``'s) that it ended; never raises."""
    from gorgon_nb.model.jobs import FINISHED

    try:
        if job.state not in FINISHED:
            return
        config = config or _current_config()
        settings = config.notifications
        name, rules = "", []
        if job.schedule_id:
            try:
                schedule = store.jobs.get_schedule(job.schedule_id)
                name, rules = schedule.name, [parse_notify_rule(text) for text in schedule.notify]
            except Exception:  # the schedule was deleted meanwhile: only the always targets hear
                pass
        targets = subscribed(settings, rules, job_event(job))
        if targets:
            enqueue(config, store, job_message(settings, job, name), targets)
    except Exception:
        log.warning("could not notify the end of job %s", job.id, exc_info=True)

"""Retries with exponential backoff and jitter, and a circuit breaker per provider.

Each step retries its own calls (``retrying``, with the step's ``retry`` policy). The
circuit breaker is shared by every step and run of a process that call one provider; it
exists to stop hammering a provider that is down, not to second-guess a step's retries.
So it counts failed rounds, not failed calls: ten parallel steps that each get one 429
(or 500, or a dropped connection) are one failed round, not ten failures in a row, and
their retries go ahead. Only a provider that keeps failing round after round (by default
5 rounds in a row, each round's calls sent after the previous round's failure came back)
opens the breaker; then calls fail at once with ``CircuitOpenError`` for 30 s, naming the
last error, and a step falls through to its ``fallback_models``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gorgon_nb.errors import CircuitOpenError, ExecutionError
from gorgon_nb.model.workflow import RetryPolicy

__all__ = ["CircuitBreaker", "backoff_delay", "is_retryable", "retrying"]

T = TypeVar("T")
MAX_RETRY_AFTER = 300.0  # a provider asking for more than this is treated as down


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ExecutionError) and exc.retryable


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1).

    Exponential (backoff, 2x, 4x... capped at ``max_backoff``) with "full jitter" so
    that many parallel steps hitting the same rate limit do not retry in lockstep; a
    provider's ``Retry-After`` is a floor, since retrying sooner is certain to fail.
    """
    base = min(policy.max_backoff, policy.backoff * (2 ** (attempt - 1)))
    delay = (rng or random).uniform(0, base) if policy.jitter else base
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


async def retrying(
    attempt_fn: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """Call ``attempt_fn(attempt)`` until it succeeds, fails for good, or tries run out."""
    attempt = 1
    while True:
        try:
            return await attempt_fn(attempt)
        except ExecutionError as exc:
            if not is_retryable(exc) or attempt >= policy.attempts:
                raise
            delay = backoff_delay(attempt, policy, getattr(exc, "retry_after", None))
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            await asyncio.sleep(delay)
            attempt += 1


class CircuitBreaker:
    """Stop calling a provider that keeps failing, then let one trial call through.

    Closed: calls pass. It counts failed *rounds*, not failed calls: a failure counts only
    when its call was sent after the last counted failure came back. Calls that were
    already in flight then (parallel steps hitting one rate limit together, a burst of
    dropped connections) fail as part of the same round and count once with it, so a
    burst never opens the breaker on its own; each step's retries, sent after the burst,
    count again only if they fail too. After ``threshold`` failed rounds in a row it opens:
    calls fail at once with ``CircuitOpenError`` (so fallbacks kick in without waiting).
    After ``cooldown`` seconds it is half-open: one trial call goes through; success
    closes it, failure opens it again. Any success closes it and clears the count.

    ``before_call`` returns a ticket (how many failures had been counted when the call
    was sent); pass it back to ``record_failure`` or ``release``. ``record_failure()``
    without one counts the failure unconditionally.
    """

    def __init__(self, name: str, threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0  # failed rounds in a row
        self._counted = 0  # failures counted since the breaker was made: the round number
        self._last_error = ""
        self._opened_at: float | None = None
        self._trial: int | None = None  # the ticket of the trial call in flight

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def before_call(self) -> int:
        """Let a call through (returning its ticket) or raise ``CircuitOpenError``."""
        self.check()
        if self.state == "half-open":
            self._trial = self._counted
        return self._counted

    def check(self) -> None:
        """Raise ``CircuitOpenError`` if a call would be refused now (without making one)."""
        state = self.state
        if state == "closed" or (state == "half-open" and self._trial is None):
            return
        assert self._opened_at is not None
        if state == "half-open":
            raise CircuitOpenError(
                f"calls to '{self.name}' are paused while a trial call checks whether it has recovered; "
                "add fallback_models to the step to use another meanwhile.", provider=self.name)
        wait = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        last = f" (the last: {self._last_error})" if self._last_error else ""
        raise CircuitOpenError(
            f"calls to '{self.name}' are paused for {wait:.0f}s after {self._failures} failures in a row{last}; "
            "the provider looks down. Add fallback_models to the step to use another meanwhile.",
            provider=self.name,
        )

    def record_success(self) -> None:
        self._failures = 0
        self._last_error = ""
        self._opened_at = None
        self._trial = None

    def record_failure(self, ticket: int | None = None, error: str = "") -> None:
        """A retryable failure of the call holding ``ticket``."""
        if ticket is not None and ticket < self._counted:
            return  # sent before the last counted failure came back: that round is counted
        self._failures += 1
        self._counted += 1
        self._last_error = error
        self._trial = None
        if self._failures >= self.threshold:
            self._opened_at = self._clock()

    def release(self, ticket: int) -> None:
        """The call holding ``ticket`` ended without telling whether the provider is up
        (cancelled, a rejected request): a trial call frees the way for the next one."""
        if self._trial == ticket:
            self._trial = None

"""Retries with exponential backoff and jitter, and a circuit breaker per provider."""

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

    Closed: calls pass. After ``threshold`` consecutive retryable failures it opens:
    calls fail at once with ``CircuitOpenError`` (so fallbacks kick in without waiting).
    After ``cooldown`` seconds it is half-open: one call goes through; success closes
    it, failure opens it again.
    """

    def __init__(self, name: str, threshold: int = 5, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def before_call(self) -> None:
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        if state == "half-open":
            raise CircuitOpenError(
                f"calls to '{self.name}' are paused while a trial call checks whether it has recovered; "
                "add fallback_models to the step to use another meanwhile.", provider=self.name)
        wait = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"calls to '{self.name}' are paused for {wait:.0f}s after {self._failures} failures in a row; "
            "the provider looks down. Add fallback_models to the step to use another meanwhile.",
            provider=self.name,
        )

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._failures >= self.threshold:
            self._opened_at = self._clock()

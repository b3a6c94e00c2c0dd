"""Budgets: stop before the call that would exceed ``max_usd`` or ``max_tokens``.

Before each call the executor reserves what the call may use: its estimated prompt
tokens plus its ``max_tokens`` of output. When the room left is taken only by calls in
flight, the call waits for them to settle (they usually use far less than reserved);
when actual spending leaves too little, the call's output limit shrinks to what is left,
and below a useful minimum the run stops with a message saying which limit to raise.
Parallel calls therefore never jointly overshoot the budget.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from gorgon_nb.errors import BudgetExceededError
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import Budget

__all__ = ["BudgetTracker", "Reservation", "estimate_tokens"]

MIN_OUTPUT_TOKENS = 16  # below this a call cannot say anything useful


def estimate_tokens(text: str) -> int:
    """A deliberately generous estimate (about 4 characters per token)."""
    return math.ceil(len(text) / 4) + 4


@dataclass
class Reservation:
    tokens: int = 0
    usd: float = 0.0
    max_output: int = 0


class BudgetTracker:
    """A run's budget, and optionally a daily one shared by every run (``[budget] daily_usd``)."""

    def __init__(self, budget: Budget | None, spent: Usage | None = None, *, daily_usd: float | None = None,
                 spent_today: Callable[[], float] | None = None) -> None:
        self.budget = budget or Budget()
        self.spent = spent or Usage()
        self.daily_usd = daily_usd
        self.spent_today = spent_today
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._in_flight = 0
        self._settled: asyncio.Event | None = None  # set (and replaced) whenever a call settles

    def _room(self, prompt_tokens: int, prices: tuple[float, float] | None, *,
              count_reserved: bool) -> int | None:
        """Output tokens that fit (None: no limit applies)."""
        room: int | None = None
        if self.budget.max_tokens is not None:
            left = self.budget.max_tokens - self.spent.total_tokens - prompt_tokens
            room = left - (self._reserved_tokens if count_reserved else 0)
        if self.budget.max_usd is not None and prices is not None:
            per_in, per_out = prices
            left_usd = self.budget.max_usd - self.spent.cost_usd - prompt_tokens * per_in
            left_usd -= self._reserved_usd if count_reserved else 0.0
            usd_room = math.floor(left_usd / per_out) if per_out > 0 else (None if left_usd > 0 else -1)
            if usd_room is not None:
                room = usd_room if room is None else min(room, usd_room)
        return room

    async def reserve(self, prompt_tokens: int, max_output: int,
                      prices: tuple[float, float] | None) -> Reservation:
        """Reserve room for a call (waiting for calls in flight if need be) or raise."""
        self._check_daily(prompt_tokens, prices)
        while True:
            room = self._room(prompt_tokens, prices, count_reserved=True)
            if room is None or room >= max_output:
                return self._take(prompt_tokens, max_output, prices)
            actual_room = self._room(prompt_tokens, prices, count_reserved=False)
            if self._in_flight and actual_room is not None and actual_room >= MIN_OUTPUT_TOKENS:
                if self._settled is None:
                    self._settled = asyncio.Event()
                await self._settled.wait()
                continue
            if room < MIN_OUTPUT_TOKENS:
                raise self._exceeded(prompt_tokens, prices)
            return self._take(prompt_tokens, room, prices)

    def _check_daily(self, prompt_tokens: int, prices: tuple[float, float] | None) -> None:
        if self.daily_usd is None or prices is None or self.spent_today is None:
            return
        today = self.spent_today() + self._reserved_usd
        if today + prompt_tokens * prices[0] + MIN_OUTPUT_TOKENS * prices[1] > self.daily_usd:
            raise BudgetExceededError(
                f"daily budget reached: ${today:.4f} of ${self.daily_usd:.2f} spent today by all runs. Raise "
                "daily_usd under [budget] in the config file, or resume this run tomorrow; the results so far are kept.")

    def _take(self, prompt_tokens: int, cap: int, prices: tuple[float, float] | None) -> Reservation:
        usd = prompt_tokens * prices[0] + cap * prices[1] if prices is not None else 0.0
        reservation = Reservation(prompt_tokens + cap, usd, cap)
        self._reserved_tokens += reservation.tokens
        self._reserved_usd += reservation.usd
        self._in_flight += 1
        return reservation

    def _exceeded(self, prompt_tokens: int, prices: tuple[float, float] | None) -> BudgetExceededError:
        limit_tokens = self.budget.max_tokens
        if limit_tokens is not None and limit_tokens - self.spent.total_tokens - prompt_tokens < MIN_OUTPUT_TOKENS:
            return BudgetExceededError(
                f"token budget reached: {self.spent.total_tokens:,} of max_tokens {limit_tokens:,} used, "
                f"and the next call needs about {prompt_tokens + MIN_OUTPUT_TOKENS:,} more. "
                "Raise budget.max_tokens to go on; the results so far are kept.")
        return BudgetExceededError(
            f"dollar budget reached: ${self.spent.cost_usd:.4f} of max_usd ${self.budget.max_usd:.2f} spent, "
            "and the next call could pass it. Raise budget.max_usd to go on; the results so far are kept.")

    def settle(self, reservation: Reservation, actual: Usage | None) -> None:
        """Replace a reservation by what the call really used (None: it used nothing)."""
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        self._in_flight -= 1
        if actual is not None:
            self.spent = self.spent + actual
        if self._settled is not None:
            self._settled.set()
            self._settled = None

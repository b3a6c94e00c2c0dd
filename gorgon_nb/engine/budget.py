"""Budgets: stop before the call that would exceed ``max_usd`` or ``max_tokens``.

Before each call the executor reserves what the call may use: its estimated prompt
tokens plus its ``max_tokens`` of output, capped so the reservation fits what is left.
Parallel calls therefore cannot jointly overshoot, and a call's output is limited to
the budget that remains. After the call the reservation is replaced by actual usage.
"""

from __future__ import annotations

import math
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
    def __init__(self, budget: Budget | None, spent: Usage | None = None) -> None:
        self.budget = budget or Budget()
        self.spent = spent or Usage()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0

    def reserve(self, prompt_tokens: int, max_output: int,
                prices: tuple[float, float] | None) -> Reservation:
        """Reserve room for a call or raise ``BudgetExceededError``; returns the output cap."""
        cap = max_output
        limit_tokens, limit_usd = self.budget.max_tokens, self.budget.max_usd
        if limit_tokens is not None:
            left = limit_tokens - self.spent.total_tokens - self._reserved_tokens - prompt_tokens
            cap = min(cap, left)
            if cap < MIN_OUTPUT_TOKENS:
                raise BudgetExceededError(
                    f"token budget reached: {self.spent.total_tokens:,} of max_tokens {limit_tokens:,} used, "
                    f"and the next call needs about {prompt_tokens + MIN_OUTPUT_TOKENS:,} more. "
                    "Raise budget.max_tokens to go on; the results so far are kept.")
        usd = 0.0
        if limit_usd is not None and prices is not None:
            per_in, per_out = prices
            left_usd = limit_usd - self.spent.cost_usd - self._reserved_usd - prompt_tokens * per_in
            if per_out > 0:
                cap = min(cap, math.floor(left_usd / per_out))
            if cap < MIN_OUTPUT_TOKENS or left_usd <= 0:
                raise BudgetExceededError(
                    f"dollar budget reached: ${self.spent.cost_usd:.4f} of max_usd ${limit_usd:.2f} spent, "
                    "and the next call could pass it. Raise budget.max_usd to go on; the results so far are kept.")
            usd = prompt_tokens * per_in + cap * per_out
        reservation = Reservation(prompt_tokens + cap, usd, cap)
        self._reserved_tokens += reservation.tokens
        self._reserved_usd += reservation.usd
        return reservation

    def settle(self, reservation: Reservation, actual: Usage | None) -> None:
        """Replace a reservation by what the call really used (None: it used nothing)."""
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        if actual is not None:
            self.spent = self.spent + actual

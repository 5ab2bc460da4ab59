"""Exponential backoff with full jitter and a cap, for reconnects and failing pollers."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays that double after every failure, randomised, never above ``cap``.

    "Equal jitter" (a uniform draw between half the exponential delay and the delay itself) spreads the
    reconnects of many clients after an exchange-wide outage, so they do not all return in the same
    second and trip the venue's connection limit (Binance: 300 connection attempts per 5 minutes per IP).
    """

    def __init__(
        self, base: float, cap: float, *, factor: float = 2.0, rand: Callable[[], float] = random.random
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("backoff needs 0 < base <= cap and factor >= 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.failures = 0
        self._rand = rand

    def next_delay(self) -> float:
        """Count one failure and return how long to wait before the next attempt (seconds)."""
        # The exponent is bounded so a feed failing for weeks cannot overflow a float.
        ceiling = min(self.cap, self.base * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.failures = 0

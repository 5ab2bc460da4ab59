"""The IDENTIFY limits: max_concurrency per 5 s and the daily session-start budget (gateway.mdx)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .gateway_config import GatewayConfig


class IdentifyLimits:
    """Count session starts per period and IDENTIFYs per rate-limit key, as GET /gateway/bot reports."""

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.used = 0
        self.period_start = clock()
        self._last_by_key: dict[int, float] = {}

    def _roll(self) -> None:
        now = self.clock()
        if now - self.period_start >= self.config.session_start_period:
            self.used = 0
            self.period_start = now

    @property
    def remaining(self) -> int:
        """Return the session starts left in this period (the config's total is read live)."""
        return max(0, self.config.session_start_total - self.used)

    def reset_after_ms(self) -> int:
        """Return the milliseconds until the budget is full again."""
        self._roll()
        left = self.config.session_start_period - (self.clock() - self.period_start)
        return max(0, int(left * 1000))

    def concurrency_allows(self, shard_id: int) -> bool:
        """Return whether this shard's bucket (shard_id % max_concurrency) may IDENTIFY now."""
        key = shard_id % max(1, self.config.max_concurrency)
        last = self._last_by_key.get(key)
        return last is None or self.clock() - last >= self.config.identify_window

    def exhausted(self) -> bool:
        """Return whether no session start is left in this period."""
        self._roll()
        return self.remaining <= 0

    def start_session(self, shard_id: int) -> None:
        """Spend one session start for this shard's bucket."""
        self._roll()
        self._last_by_key[shard_id % max(1, self.config.max_concurrency)] = self.clock()
        self.used += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the session_start_limit object of GET /gateway/bot."""
        self._roll()
        return {
            "total": self.config.session_start_total,
            "remaining": self.remaining,
            "reset_after": self.reset_after_ms(),
            "max_concurrency": self.config.max_concurrency,
        }

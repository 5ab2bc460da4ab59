"""Discord-style rate limits: fixed-window buckets per route and major parameter, plus a global limit."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from .state import RateLimitConfig, RateLimitRule

MESSAGE_CREATE_ROUTE = "POST /channels/{channel_id}/messages"


def _ceil_ms(seconds: float) -> float:
    """Round up to whole milliseconds.

    discord.py (http.py Ratelimit.update) sleeps exactly X-RateLimit-Reset-After; rounding down would wake
    the client a hair before the window ends and earn it a 429.
    """
    # round() first so float noise (0.8000000000000007) does not add a millisecond.
    return math.ceil(round(max(seconds, 0.0) * 1000, 6)) / 1000


def bucket_hash(route: str) -> str:
    """Return a stable opaque bucket id for a route, like Discord's X-RateLimit-Bucket."""
    return hashlib.md5(route.encode(), usedforsecurity=False).hexdigest()


@dataclass
class _Window:
    limit: int
    per: float
    count: int = 0
    reset_at: float = 0.0


@dataclass
class Decision:
    """Outcome of one request against the limits: allowed or a 429, with the headers to send."""

    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    is_global: bool = False
    scope: str = "user"


class RateLimiter:
    """Track buckets and decide, per request, whether it passes and which X-RateLimit headers it gets."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window(limit=config.global_per_second, per=1.0)

    def rule_for(self, route: str) -> RateLimitRule:
        """Return the bucket rule for a route key ("METHOD /template")."""
        if route in self.config.routes:
            return self.config.routes[route]
        if route == MESSAGE_CREATE_ROUTE:
            return self.config.message_create
        if " /webhooks/{webhook_id}/{webhook_token}" in route:
            return self.config.webhook
        return self.config.default

    def check(self, route: str, major: str, *, counts_global: bool, now: float | None = None) -> Decision:
        """Consume one request from the route's bucket (and the global window) or refuse it."""
        if not self.config.enabled:
            return Decision(allowed=True)
        now = time.monotonic() if now is None else now
        if counts_global:
            glob = self._global
            glob.limit = self.config.global_per_second
            if now >= glob.reset_at:
                glob.count, glob.reset_at = 0, now + glob.per
            if glob.count >= glob.limit:
                retry = _ceil_ms(glob.reset_at - now)
                return Decision(
                    allowed=False,
                    retry_after=retry,
                    is_global=True,
                    scope="global",
                    headers={
                        "X-RateLimit-Global": "true",
                        "X-RateLimit-Scope": "global",
                        "Retry-After": str(math.ceil(retry)),
                    },
                )
            # Every request reaching Discord counts toward the global limit, even one a route bucket refuses.
            glob.count += 1
        rule = self.rule_for(route)
        key = (route, major)
        window = self._windows.get(key)
        if window is None or now >= window.reset_at:
            window = self._windows[key] = _Window(limit=rule.limit, per=rule.per, reset_at=now + rule.per)
        reset_after = _ceil_ms(window.reset_at - now)
        headers = {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(route),
        }
        if window.count >= window.limit:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(math.ceil(reset_after))
            return Decision(allowed=False, headers=headers, retry_after=reset_after)
        window.count += 1
        headers["X-RateLimit-Remaining"] = str(window.limit - window.count)
        return Decision(allowed=True, headers=headers)

    def reset(self) -> None:
        """Forget every bucket (as if a long time had passed)."""
        self._windows.clear()
        self._global = _Window(limit=self.config.global_per_second, per=1.0)

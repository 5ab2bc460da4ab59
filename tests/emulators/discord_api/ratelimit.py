"""Discord-style rate limits: fixed-window buckets per route and major parameter, plus a global limit."""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
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


# Statuses rate-limits.mdx counts as invalid requests.
INVALID_STATUSES = (401, 403, 429)

#: What the emulator answers while a client is banned. The document says only that the IP address is
#: "temporarily restricted from accessing the Discord API" by Cloudflare. Assumption: Cloudflare's own
#: 1015 page, a 429 with an HTML body and neither a Via header nor X-RateLimit headers; discord.py
#: (http.py HTTPClient.request) reads exactly that as a Cloudflare ban and raises HTTPException at once.
CLOUDFLARE_BAN_BODY = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict access"
    "</title></head><body><h1>Error 1015</h1><h2>You are being rate limited</h2>"
    "<p>The owner of this website (discord.com) has banned you temporarily from accessing this website."
    "</p></body></html>"
)


class InvalidRequestLimiter:
    """Count a client's 401/403/429 responses in a sliding window and ban it past the limit."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._invalid: dict[str, deque[float]] = {}
        self._banned_until: dict[str, float] = {}
        # Clients that were banned, in order (for tests and the stats endpoint).
        self.bans: list[str] = []

    def banned(self, client: str, now: float | None = None) -> bool:
        """Return whether a client is banned right now."""
        now = time.monotonic() if now is None else now
        return self._banned_until.get(client, 0.0) > now

    def record(self, client: str, status: int, scope: str | None, now: float | None = None) -> None:
        """Count one response served to a client; start a ban when the window holds too many."""
        if not self.config.enabled or status not in INVALID_STATUSES:
            return
        if status == 429 and scope == "shared":
            return  # "429 errors returned with X-RateLimit-Scope: shared are not counted against you."
        now = time.monotonic() if now is None else now
        times = self._invalid.setdefault(client, deque())
        times.append(now)
        while times and now - times[0] >= self.config.invalid_request_window:
            times.popleft()
        if len(times) >= self.config.invalid_request_limit and not self.banned(client, now):
            self._banned_until[client] = now + self.config.invalid_request_ban
            self.bans.append(client)
            times.clear()

    def count(self, client: str, now: float | None = None) -> int:
        """Return how many invalid responses a client has in the current window."""
        now = time.monotonic() if now is None else now
        times = self._invalid.get(client, deque())
        return sum(1 for t in times if now - t < self.config.invalid_request_window)

    def lift(self) -> None:
        """End every ban and forget the counts."""
        self._invalid.clear()
        self._banned_until.clear()

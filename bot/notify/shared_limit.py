"""The bot's global REST limit shared by every process that sends with its token, kept in Redis.

Discord allows a bot 50 requests per second over all its connections (developers/topics/rate-limits.mdx,
"Global Rate Limit") and sends no headers about it before a 429. With several Discord clusters a window
per process would need a budget per cluster (50 / clusters each), which wastes what an idle cluster does
not use and must be redone whenever the number of clusters changes; a budget shared through Redis lets a
busy cluster use what the others leave. Redis rather than PostgreSQL: a request pays one round trip to an
in-memory server instead of a write to the database every alert already waits on, and a lost limiter
costs nothing durable. PostgreSQL stays the only place that holds state that matters.

The window is the local ``SlidingWindow``'s (bot.notify.discord.sink), over Redis: a sorted set of the
requests of the last ``per`` seconds, scored by the Redis server's clock (one clock for every host). A
request takes a place before it is sent (a Lua script: trim, count, add, atomically) and its score is moved
to when it ended once it has, so Discord's own window, which starts when a request arrives, never sees one
too many. A request that never reports its end (the process died) leaves the window ``per`` seconds after
it started. When Redis does not answer, a request waits and retries rather than going out unlimited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1]: the window. ARGV: limit, window ms, member. Returns 0 when a place was taken, else the ms to
# wait until the oldest request leaves the window.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
-- Times are whole milliseconds: a request leaves the window 2 ms late, never early.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window - 2))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window + 2 - now)
"""

# Move a request's score to when it ended (only if it is still in the window).
_DONE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return 0
"""


class RedisWindow:
    """At most ``limit`` requests in any ``per`` seconds over every process using the same ``key``."""

    def __init__(
        self, client: Any, key: str, limit: int, per: float = 1.0, *, retry_seconds: float = 0.5
    ) -> None:
        if limit < 1 or per <= 0:
            raise ValueError(f"a shared rate needs limit >= 1 and per > 0, not {limit}/{per}")
        self.client = client
        self.key = key
        self.limit = limit
        self.window_ms = int(per * 1000)
        self.retry_seconds = retry_seconds
        self._take = client.register_script(_TAKE)
        self._done = client.register_script(_DONE)
        self.waits = 0
        self.down_since: float | None = None  # when Redis stopped answering (None: it answers)

    @classmethod
    def from_url(cls, url: str, key: str, limit: int, per: float = 1.0) -> RedisWindow:
        """Return a window on the Redis server at ``url`` (redis://host:port/db)."""
        return cls(aioredis.from_url(url), key, limit, per)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a place in the shared window, hold it while the request runs, count it from its end."""
        member = uuid.uuid4().hex
        while True:
            try:
                wait_ms = int(await self._take(keys=[self.key], args=[self.limit, self.window_ms, member]))
            except (RedisError, OSError) as exc:
                if self.down_since is None:  # once per outage: every waiting request retries twice a second
                    self.down_since = time.monotonic()
                    log.warning("shared rate limit: Redis did not answer (%s); requests wait for it", exc)
                await asyncio.sleep(self.retry_seconds)
                continue
            if self.down_since is not None:
                log.warning(
                    "shared rate limit: Redis answers again after %.1f s", time.monotonic() - self.down_since
                )
                self.down_since = None
            if wait_ms == 0:
                break
            self.waits += 1
            await asyncio.sleep(wait_ms / 1000)
        try:
            yield
        finally:
            with contextlib.suppress(RedisError, OSError):  # unmoved, it leaves the window on time anyway
                await self._done(keys=[self.key], args=[member])

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.client.aclose()

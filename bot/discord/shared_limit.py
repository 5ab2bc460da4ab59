"""Put every REST request of a discord.py client through a shared global limit (bot.notify.shared_limit).

discord.py's ``HTTPClient.request`` is where each bot-token request leaves, alert sends and the member checks
included; wrapping it counts them all, wherever they come from. Interaction responses and followups do not
pass through it (discord.py sends them with the interaction's webhook adapter, without the bot token), and
Discord does not count them against the global limit either (rate-limits.mdx, "Global Rate Limit").
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord


class RequestLimiter(Protocol):
    """Something that holds a request back until it may go (``SlidingWindow``, ``RedisWindow``)."""

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for room; hold it while the request runs."""


def share_global_limit(client: discord.Client, limiter: RequestLimiter) -> None:
    """Make every request of ``client``'s HTTP client wait for a place in ``limiter`` first."""
    http = client.http
    original: Callable[..., Awaitable[Any]] = http.request

    async def request(route: discord.http.Route, **kwargs: Any) -> Any:
        async with limiter.slot():
            return await original(route, **kwargs)

    http.request = request  # type: ignore[method-assign]

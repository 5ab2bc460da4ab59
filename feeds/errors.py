"""What can go wrong when talking to an exchange, sorted into the classes the feeds react to.

Every failure a feed meets (HTTP, websocket, payload) becomes a ``FeedError`` with a ``kind``; pollers
and streams decide from the kind alone whether to wait (``retry_after``), switch to a fallback
(``geo_blocked``) or simply back off. Messages never carry a query string or header, so they are safe
to log.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "timeout",  # no answer within the configured timeout
    "connection",  # refused, reset, DNS, TLS: no HTTP answer at all
    "rate_limited",  # HTTP 429: over the documented request rate or weight
    "banned",  # HTTP 418: Binance's IP ban for ignoring 429s
    "geo_blocked",  # HTTP 451: the venue refuses this region
    "server",  # HTTP 5xx
    "http",  # any other unexpected HTTP status (4xx)
    "malformed",  # the body is not the JSON document expected
    "truncated",  # the connection closed before the whole body arrived
    "oversized",  # the body passed [feeds.limits] max_body_mib and was refused unread
    "api",  # a well-formed error envelope (Bybit retCode, OKX code, alternative.me metadata.error)
    "unknown_symbol",  # the venue says it has no such symbol (Binance -1121, Bybit 10001, OKX 51001)
    "budget",  # our own request-weight budget is spent; nothing was sent
]


class FeedError(Exception):
    """A classified failure of one request or connection."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retry_after: float | None = None,
        scope: Literal["venue", "endpoint"] = "venue",
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        # Seconds the venue asked us to wait (Retry-After), or our own wait for a spent weight budget.
        self.retry_after = retry_after
        # What the wait applies to: every request to the venue, or one endpoint with a limit of its own.
        self.scope = scope

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class PayloadError(FeedError):
    """A response whose overall shape is wrong (not the item inside it): nothing in it can be used."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed", message)

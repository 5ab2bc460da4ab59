"""The HTTP route TradingView posts alerts to: ``POST /webhook/{route}/{secret}`` on the [http] server.

Each route has its own secret, sent in the URL path (TradingView cannot set headers) or in the
``X-Tripwire-Secret`` header (for senders that can, keeping it out of proxies' access logs). The secret is
compared in constant time with the stored SHA-256 (``hmac.compare_digest``); an unknown route costs the
same comparison, so timing tells nothing about which routes exist. In order:

* a sender outside ``allowed_ips`` (when set), an unknown route or a wrong secret: 403, nothing stored;
* more than the route's ``rate_per_minute`` (a moving window, the ``limits`` library): 429 with
  ``Retry-After`` in seconds;
* a body over the route's ``max_body_bytes``: 413;
* a body that cannot be read as an alert: 400 with the reason (``bot.inbound.payload``);
* else the alert is recorded (``bot.inbound.intake``) and the answer is 200 with the event id.

TradingView cancels a request its receiver takes more than a few seconds over, and does not retry; the
alert is recorded (one SQLite transaction) before the answer and delivered afterwards by the outbox, so
the answer takes milliseconds. Neither the secret nor the URL holding it is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bot.alerts.model import RecordedEvent
from bot.config import WebhooksInConfig
from bot.inbound.payload import InboundAlert, PayloadError, parse_body
from storage.repo import Repo, WebhookRouteRow

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Tripwire-Secret"
PATH = "/webhook/{route}"
PATH_WITH_SECRET = "/webhook/{route}/{secret}"
# Compared against when the route does not exist, so an unknown route costs what a wrong secret costs.
_NO_ROUTE_HASH = hashlib.sha256(b"no such route").hexdigest()

Record = Callable[[WebhookRouteRow, InboundAlert], Awaitable[RecordedEvent | None]]


class RouteGone(Exception):
    """The route's alert is paused or gone: nothing was recorded (the message says which)."""


def secret_hash(secret: str) -> str:
    """Return the stored form of a route secret (hex SHA-256; the secret itself is never stored)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class WebhookEndpoint:
    """Check and accept alerts posted to the routes stored in the database."""

    def __init__(
        self,
        repo: Repo,
        record: Record,
        config: WebhooksInConfig,
        *,
        wall_s: Callable[[], float] = time.time,
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        self.repo = repo
        # Told the status of every answer (the tripwire_webhook_requests_total{status} counter).
        self.on_answer = on_answer
        self.record = record
        self.allowed = [ipaddress.ip_network(a, strict=False) for a in config.allowed_ips]
        self.wall_s = wall_s
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def install(self, app: web.Application) -> None:
        """Add the webhook routes to the web server's application."""
        app.router.add_post(PATH_WITH_SECRET, self.handle)
        app.router.add_post(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one posted alert (see the module docstring for the checks, in order)."""
        try:
            response = await self._handle(request)
        except Exception:
            # Logged without the request: its path holds the route's secret.
            log.exception("webhook: recording an alert failed")
            response = _error(500, "the alert could not be recorded; try again")
        if self.on_answer is not None:
            self.on_answer(response.status)
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        if not self._sender_allowed(request.remote):
            return _error(403, "this sender is not allowed")
        route = self._authenticate(request)
        if route is None:
            return _error(403, "unknown route or wrong secret")
        if (wait := self._rate_limited(route)) is not None:
            return _error(
                429,
                f"more than {route.rate_per_minute} alerts a minute on this route; try again in {wait} s",
                **{"Retry-After": str(wait)},
            )
        data = await _read_limited(request, route.max_body_bytes)
        if data is None:
            return _error(413, f"the body is over this route's limit of {route.max_body_bytes} bytes")
        try:
            alert = parse_body(data, request.headers.get("Content-Type", "").lower())
        except PayloadError as exc:
            return _error(400, str(exc))
        try:
            event = await self.record(route, alert)
        except RouteGone as exc:
            return _error(409, str(exc))
        return web.json_response(_accepted(route, alert, event))

    def _sender_allowed(self, remote: str | None) -> bool:
        if not self.allowed:
            return True
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in network for network in self.allowed)

    def _authenticate(self, request: web.Request) -> WebhookRouteRow | None:
        given = request.match_info.get("secret") or request.headers.get(SECRET_HEADER) or ""
        route = self.repo.webhook_route(request.match_info["route"])
        stored = route.secret_sha256 if route is not None else _NO_ROUTE_HASH
        matches = hmac.compare_digest(secret_hash(given), stored)
        return route if matches and given else None

    def _rate_limited(self, route: WebhookRouteRow) -> int | None:
        """Count one request of the route; return the seconds to wait when it is over its limit."""
        limit = RateLimitItemPerMinute(route.rate_per_minute)
        if self._limiter.hit(limit, route.id):
            return None
        reset_at, _ = self._limiter.get_window_stats(limit, route.id)
        return max(1, math.ceil(reset_at - self.wall_s()))


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """Return the body, or None as soon as it is longer than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _accepted(route: WebhookRouteRow, alert: InboundAlert, event: RecordedEvent | None) -> dict[str, Any]:
    if event is None:
        return {
            "status": "held",
            "reason": "the rule's cooldown for this key is running",
            "symbol": alert.symbol,
        }
    return {
        "status": "silenced" if event.silenced else "accepted",
        "event_id": event.event_id,
        "symbol": alert.symbol,
        "title": alert.title,
        "route": route.name,
    }

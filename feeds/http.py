"""One venue's REST access over the shared aiohttp session: timeouts, classification, rate limits.

``HttpClient.get_json`` either returns the decoded JSON document or raises a ``FeedError`` whose kind
says what went wrong. It also enforces, per venue:

- **Retry-After**: after a 429 or 418 (or a 5xx carrying Retry-After) no request is sent to that venue
  until the time has passed; the call fails at once with the remaining wait instead. Binance bans an IP
  that keeps sending after a 429 (418, from 2 minutes up to 3 days), so honouring it matters.
- **Bounded bodies**: a body is read in chunks and refused (kind ``oversized``) as soon as it passes
  ``max_body_bytes`` (``[feeds.limits] max_body_mib``), so a runaway answer never sits in memory whole;
  it is decoded by ``feeds.jsonlimits`` (off the event loop above ``off_loop_bytes``, depth-bounded).
- **Clock**: every answer's ``Date`` header, and the venue's server-time field where its envelope has
  one (Bybit v5 ``time``, Binance ``serverTime``), is a sample for ``feeds.clock.VenueClock``, which
  estimates how far the host clock is from the venues'.
- **Request weight** (Binance): every response carries ``X-MBX-USED-WEIGHT-1M``, the weight this IP used
  in the current minute. ``WeightBudget`` refuses a request that would push it over our budget (kept
  below Binance's documented 6,000/min spot, 2,400/min USD-M) until the next window.
- **An endpoint's own limit** (Binance USD-M ``/fapi/v1/fundingRate`` 500 and
  ``/futures/data/openInterestHist`` 1,000 requests per 5 minutes per IP, beside the weight): requests to
  such a path wait for a free slot (``EndpointGate``) instead of being sent into a 429, and a 429 there
  slows that path only (wait Retry-After, send again) instead of stopping every request to the venue.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from feeds.base import NowMs
from feeds.clock import VenueClock
from feeds.errors import ErrorKind, FeedError
from feeds.jsonlimits import decode, decode_async

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
Params = Mapping[str, str | int]
# Defaults of [feeds.limits]: the largest documented answer we ask for (a 1000-candle klines page, the
# all-symbols premiumIndex) is about 120 KiB, so 4 MiB leaves room for venues growing their lists.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_OFF_LOOP_BYTES = 64 * 1024
_CHUNK_BYTES = 64 * 1024


class WeightBudget:
    """Binance request weight used in the current window, from the response headers."""

    def __init__(self, limit: int, now_ms: NowMs, window_s: float = 60.0) -> None:
        if limit <= 0:
            raise ValueError("weight limit must be positive")
        self.limit = limit
        self.now_ms = now_ms
        self.window_ms = max(1, int(window_s * 1000))
        self.used = 0
        self._window = self._index(now_ms())

    def _index(self, now: int) -> int:
        return now // self.window_ms

    def _roll(self, now: int) -> None:
        index = self._index(now)
        if index != self._window:
            self._window = index
            self.used = 0

    def reserve(self, weight: int) -> None:
        """Count a request about to be sent, or raise FeedError("budget") if it would exceed the limit."""
        now = self.now_ms()
        self._roll(now)
        if self.used + weight > self.limit:
            wait_ms = (self._window + 1) * self.window_ms - now
            raise FeedError(
                "budget",
                f"request weight {self.used}+{weight} would exceed our budget of {self.limit} per window;"
                f" waiting {wait_ms / 1000:.1f}s for the next one",
                retry_after=wait_ms / 1000,
            )
        self.used += weight

    def observe(self, header: str | None) -> None:
        """Take the venue's own count of the weight used in this window (authoritative)."""
        if header is None:
            return
        try:
            used = int(header)
        except ValueError:
            return
        self._roll(self.now_ms())
        self.used = used


@dataclass(frozen=True, slots=True)
class EndpointLimit:
    """A path's own request limit: ``requests`` per ``window_s`` seconds."""

    requests: int
    window_s: float


# Documented per-IP limits of Binance USD-M paths beside the request weight (BFUT "Get Funding Rate
# History": 500/5min/IP shared with fundingInfo; "Open Interest Statistics": 1000/5min/IP).
BINANCE_FUTURES_ENDPOINT_LIMITS = {
    "/fapi/v1/fundingRate": EndpointLimit(500, 300.0),
    "/fapi/v1/fundingInfo": EndpointLimit(500, 300.0),
    "/futures/data/openInterestHist": EndpointLimit(1000, 300.0),
}
# fundingRate and fundingInfo count against one budget.
_SHARED_ENDPOINT = {"/fapi/v1/fundingInfo": "/fapi/v1/fundingRate"}
# Times one request is sent again after its endpoint answered 429 (each after Retry-After).
ENDPOINT_RETRIES = 3


class EndpointGate:
    """Keep one endpoint inside its own limit: wait for a free slot, and after a 429 for its Retry-After.

    Time here is the event loop's (monotonic, real): a wait is a real wait whatever clock the feed runs on.
    """

    def __init__(self, limit: EndpointLimit, margin_s: float = 1.0) -> None:
        self.limit = limit
        # The venue counts a request when it arrives, we when it leaves: a request sent exactly a window
        # after the oldest could arrive inside the venue's window. A second's margin keeps clear of that.
        self.window_s = limit.window_s + margin_s
        self.sent: deque[float] = deque()
        self.blocked_until = 0.0  # loop time
        self.waits = 0  # times a request had to wait, for tests and /metrics

    async def acquire(self) -> None:
        """Wait until a request may be sent, then count it."""
        while True:
            now = time.monotonic()
            while self.sent and self.sent[0] <= now - self.window_s:
                self.sent.popleft()
            wait = self.blocked_until - now
            if len(self.sent) >= self.limit.requests:
                wait = max(wait, self.sent[0] + self.window_s - now)
            if wait <= 0:
                self.sent.append(now)
                return
            self.waits += 1
            await asyncio.sleep(wait)

    def block(self, seconds: float) -> None:
        """Send nothing to this endpoint for ``seconds`` (its 429's Retry-After)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)


def parse_retry_after(value: str | None) -> float | None:
    """Return Retry-After in seconds (Binance sends whole seconds); None if absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class HttpClient:
    """GET JSON from one venue, with a timeout on everything and every failure classified."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        venue: str,
        base_url: str,
        *,
        timeout_s: float,
        now_ms: NowMs,
        budget: WeightBudget | None = None,
        default_retry_after_429_s: float = 60.0,
        default_retry_after_418_s: float = 120.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        off_loop_bytes: int = DEFAULT_OFF_LOOP_BYTES,
        clock: VenueClock | None = None,
        server_time_field: str | None = None,
        endpoint_limits: Mapping[str, EndpointLimit] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.session = session
        # Sent with every request (an API key header); never part of a message or a log line.
        self.headers = dict(headers or {})
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.now_ms = now_ms
        self.budget = budget
        self.default_429 = default_retry_after_429_s
        self.default_418 = default_retry_after_418_s
        self.blocked_until = 0  # epoch ms before which nothing is sent (Retry-After)
        self._blocked_kind: ErrorKind = "rate_limited"
        self.requests = 0  # requests actually sent, for /metrics and tests
        self.max_body_bytes = max_body_bytes
        self.off_loop_bytes = off_loop_bytes
        self.clock = clock
        # A top-level epoch-ms field of the venue's envelope giving its own time (a clock sample).
        self.server_time_field = server_time_field
        self.oversized = 0  # bodies refused for their size, for /metrics and tests
        self.gates: dict[str, EndpointGate] = {}
        for path, limit in (endpoint_limits or {}).items():
            key = _SHARED_ENDPOINT.get(path, path)
            self.gates.setdefault(key, EndpointGate(limit))
        for path, key in _SHARED_ENDPOINT.items():
            if key in self.gates:
                self.gates[path] = self.gates[key]

    def _check_gate(self, path: str) -> None:
        now = self.now_ms()
        if now < self.blocked_until:
            wait = (self.blocked_until - now) / 1000
            raise FeedError(
                self._blocked_kind,
                f"{self.venue} {path}: not sent, honouring Retry-After for {wait:.1f}s more",
                retry_after=wait,
            )

    def _block(self, seconds: float, kind: ErrorKind) -> None:
        until = self.now_ms() + int(seconds * 1000)
        if until > self.blocked_until:
            self.blocked_until = until
            self._blocked_kind = kind

    async def get_json(self, path: str, params: Params | None = None, *, weight: int = 1) -> Any:
        """Send GET base_url+path and return the decoded JSON, or raise a classified FeedError.

        A path with a limit of its own waits for its turn, and after its 429 waits and asks again (up to
        ENDPOINT_RETRIES times), so one busy endpoint slows down without failing the others.
        """
        return await self._gated("GET", path, params, None, weight)

    async def post_json(self, path: str, body: Mapping[str, Any], *, weight: int = 1) -> Any:
        """Send POST base_url+path with a JSON body (Hyperliquid's /info) and return the decoded JSON."""
        return await self._gated("POST", path, None, body, weight)

    async def _gated(
        self, method: str, path: str, params: Params | None, json_body: Mapping[str, Any] | None, weight: int
    ) -> Any:
        gate = self.gates.get(path)
        if gate is None:
            return await self._request(method, path, params, json_body, weight)
        for attempt in range(ENDPOINT_RETRIES + 1):
            await gate.acquire()
            try:
                return await self._request(method, path, params, json_body, weight, endpoint=gate)
            except FeedError as exc:
                if exc.kind != "rate_limited" or exc.scope != "endpoint" or attempt == ENDPOINT_RETRIES:
                    raise
                log.info("%s %s: endpoint limit; asking again in %.1fs", self.venue, path, exc.retry_after)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _request(
        self,
        method: str,
        path: str,
        params: Params | None,
        json_body: Mapping[str, Any] | None,
        weight: int,
        endpoint: EndpointGate | None = None,
    ) -> Any:
        self._check_gate(path)
        if self.budget is not None:
            self.budget.reserve(weight)
        where = f"{self.venue} {path}"
        self.requests += 1
        clock = self.clock
        sent = clock.host_now_ms() if clock is not None else 0
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                params=dict(params or {}),
                json=None if json_body is None else dict(json_body),
                headers=self.headers,
                timeout=self.timeout,
            ) as response:
                status = response.status
                headers = response.headers
                body = await self._read_capped(response, where)
        except TimeoutError:
            raise FeedError("timeout", f"{where}: no answer within {self.timeout.total}s") from None
        except aiohttp.ClientPayloadError as exc:
            raise FeedError("truncated", f"{where}: body cut short ({_first_line(exc)})") from None
        except aiohttp.ClientConnectorError as exc:
            raise FeedError("connection", f"{where}: cannot connect ({_first_line(exc.os_error)})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise FeedError("connection", f"{where}: {type(exc).__name__} {_first_line(exc)}") from None
        received = clock.host_now_ms() if clock is not None else 0
        date = headers.get("Date")
        if clock is not None and date is not None:
            clock.observe_date(self.venue, date, sent, received)
        if self.budget is not None:
            self.budget.observe(headers.get(WEIGHT_HEADER))
        if status != 200:
            self._raise_for_status(where, status, headers, body, endpoint)
        payload = await decode_async(body, where, off_loop_bytes=self.off_loop_bytes)
        if clock is not None and self.server_time_field is not None and isinstance(payload, dict):
            server = payload.get(self.server_time_field)
            if type(server) is int:
                clock.observe_server_time(self.venue, server, sent, received)
        return payload

    async def _read_capped(self, response: aiohttp.ClientResponse, where: str) -> bytes:
        """Read the body in chunks, refusing it (FeedError "oversized") once it passes max_body_bytes."""
        limit = self.max_body_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            self._refuse_size(where, f"Content-Length {declared:,} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                self._refuse_size(where, f"more than {limit:,} bytes read")
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse_size(self, where: str, seen: str) -> None:
        # Leaving the `async with` releases the connection without reading the rest (aiohttp closes it).
        self.oversized += 1
        raise FeedError(
            "oversized",
            f"{where}: body refused, {seen} is over the limit of {self.max_body_bytes:,}"
            " ([feeds.limits] max_body_mib)",
        )

    def _raise_for_status(
        self,
        where: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        endpoint: EndpointGate | None = None,
    ) -> None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        detail = _error_detail(body)
        if status == 429 and endpoint is not None and not self._weight_spent():
            # The weight left is ample: the endpoint's own limit answered, so only it waits.
            wait = self.default_429 if retry_after is None else retry_after
            endpoint.block(wait)
            message = f"{where}: HTTP 429 ({detail}); this endpoint waits {wait:g}s"
            raise FeedError("rate_limited", message, retry_after=wait, scope="endpoint")
        if status == 429:
            wait = self.default_429 if retry_after is None else retry_after
            self._block(wait, "rate_limited")
            message = f"{where}: HTTP 429 ({detail}); waiting {wait:g}s"
            raise FeedError("rate_limited", message, retry_after=wait)
        if status == 418:
            wait = self.default_418 if retry_after is None else retry_after
            self._block(wait, "banned")
            message = f"{where}: HTTP 418 IP ban ({detail}); waiting {wait:g}s"
            raise FeedError("banned", message, retry_after=wait)
        if status == 451:
            raise FeedError("geo_blocked", f"{where}: HTTP 451 restricted location ({detail})")
        if status >= 500:
            if retry_after is not None:
                self._block(retry_after, "rate_limited")
            raise FeedError("server", f"{where}: HTTP {status} ({detail})", retry_after=retry_after)
        if status == 400 and _error_code(body) == BINANCE_INVALID_SYMBOL:
            raise FeedError("unknown_symbol", f"{where}: HTTP 400 ({detail})")
        raise FeedError("http", f"{where}: HTTP {status} ({detail})")

    def _weight_spent(self) -> bool:
        """Tell whether the venue's count of weight used has reached our budget (a 429 for the IP)."""
        return self.budget is not None and self.budget.used >= self.budget.limit


# Binance's error code for a symbol it does not list (spot and USD-M, docs "Error codes": -1121
# INVALID_SYMBOL "Invalid symbol."), answered with HTTP 400.
BINANCE_INVALID_SYMBOL = -1121


def _error_code(body: bytes) -> object:
    """Return the ``code`` of a JSON error body ({"code":-1121,"msg":...} on Binance), else None."""
    try:
        data = decode(body, "error body")  # depth-bounded like every other body (feeds.jsonlimits)
    except FeedError:
        return None
    return data.get("code") if isinstance(data, dict) else None


def _error_detail(body: bytes) -> str:
    """Return the venue's error message from a body ({"code","msg"} on Binance), shortened."""
    try:
        data = decode(body, "error body")
    except FeedError:
        return body[:80].decode("utf-8", "replace").strip() or "empty body"
    if isinstance(data, dict):
        for key in ("msg", "message", "retMsg", "error"):
            if data.get(key):
                return str(data[key])[:120]
    return str(data)[:80]


def _first_line(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return (text.splitlines() or [""])[0][:160] or type(exc).__name__

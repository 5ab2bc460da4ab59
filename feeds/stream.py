"""A websocket that never dies silently: connect, subscribe, keep alive, notice silence, reconnect.

``WebSocketStream.run()`` loops until cancelled:

1. connect (bounded by a timeout) and send the venue's subscriptions (``on_open``);
2. read frames, handing text to ``on_text``; buffered liquidations are flushed on time;
3. ping at once and then every ``ping_interval`` (protocol ping or the venue's text/JSON ping), and treat
   "nothing at all received for ping_interval + pong_timeout" as a dead socket;
4. before a venue's hard connection lifetime (Binance: 24 h), and after "no data frame for data_silence"
   while pongs still come (a lost subscription, or a quiet market), open the next connection first, then
   close the old one: the switch loses no event (repeats are dropped by Ingest) and is not a failure;
5. on any other end, reconnect after an exponential backoff with jitter and a cap (reset once a connection
   stayed up for ``stable_after``), reporting health and logging once per interval.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import aiohttp

from feeds.backoff import Backoff
from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.errors import ErrorKind, FeedError
from feeds.health import FeedHealth
from feeds.http import parse_retry_after
from feeds.jsonlimits import FRAME, decode
from feeds.logonce import FailureLog
from storage.rows import Liquidation

log = logging.getLogger(__name__)

WS = aiohttp.ClientWebSocketResponse


class _Replace(str):
    """Why a working connection is replaced (new one first, then the old one closed): no gap, no failure."""


# A close handshake with a silent server must not hold a reconnect up (aiohttp waits 10 s by default).
_CLOSE_TIMEOUT_S = 2.0


@dataclass(slots=True)
class _ReadTimes:
    """When one connection opened and last received anything, data, or sent a ping (loop time)."""

    opened: float
    last_rx: float
    last_data: float
    last_ping: float
    stable: bool = False  # up long enough that its failure streak was cleared


class WebSocketStream(ABC):
    """One long-lived websocket subscription with reconnects, keep-alive and staleness detection."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        *,
        ping_interval_s: float,
        ping_when_idle: bool,
        data_silence_s: float,
        max_lifetime_s: float | None = None,
        buffer: LiquidationBuffer | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.session = session
        self.health = health
        self.failures = failures
        self.tuning = tuning
        self.ping_interval_s = ping_interval_s
        # OKX wants a ping only after N quiet seconds; Bybit and Binance get one every N seconds.
        self.ping_when_idle = ping_when_idle
        self.data_silence_s = data_silence_s
        self.max_lifetime_s = max_lifetime_s
        self.buffer = buffer
        self.backoff = Backoff(tuning.reconnect_base_s, tuning.reconnect_cap_s)
        # A connection up this long ends a failure streak; HTX lowers it, as it drops every ~30 s.
        self.stable_after_s = tuning.stable_after_s
        self.connections = 0  # connections opened, for tests and /metrics
        self.reconnect_reasons: list[str] = []

    # --- hooks ----------------------------------------------------------------------------------------------

    async def on_open(self, ws: WS) -> None:
        """Send subscriptions after connecting (default: none, the URL names the stream)."""
        return None

    async def send_ping(self, ws: WS) -> None:
        """Send a keep-alive (default: a websocket protocol ping)."""
        await ws.ping()

    async def on_binary(self, ws: WS, data: bytes) -> bool:
        """Handle one binary frame like ``on_text`` (default: ignore it; HTX sends gzip frames)."""
        return False

    @abstractmethod
    def on_text(self, text: str) -> bool:
        """Handle one text frame; return True if it carried market data (not an ack or a pong).

        Raise FeedError to drop the connection (a refused subscription, an error event).
        """

    # --- loop -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, read and reconnect until cancelled; always close the socket and flush on the way out."""
        ws: WS | None = None
        loop = asyncio.get_running_loop()
        opened = rotate_at = 0.0
        try:
            while True:
                if ws is None:
                    ws = await self._connect_until_open()
                    opened = loop.time()
                    rotate_at = self._rotate_deadline(opened)
                outcome = await self._guarded_read(ws, rotate_at)
                if isinstance(outcome, _Replace):
                    replacement = await self._rotate(ws, outcome)
                    if replacement is None:
                        # Keep the old one; the venue ends it at its limit and a normal reconnect follows.
                        rotate_at = loop.time() + self.tuning.reconnect_cap_s
                    else:
                        ws = replacement
                        opened = loop.time()
                        rotate_at = self._rotate_deadline(opened)
                    continue
                await self._close(ws)
                ws = None
                self._lost(outcome)
                if loop.time() - opened >= self.stable_after_s:
                    self.backoff.reset()
                await asyncio.sleep(self.backoff.next_delay())
        finally:
            if ws is not None:
                await self._close(ws)
            self._flush()

    def _rotate_deadline(self, opened: float) -> float:
        return float("inf") if self.max_lifetime_s is None else opened + self.max_lifetime_s

    async def _connect_until_open(self) -> WS:
        while True:
            try:
                ws = await self._open()
            except FeedError as exc:
                self._lost(str(exc))
                blocked = exc.kind == "geo_blocked"
                others = self.health.stand_by("HTTP 451 restricted location") if blocked else []
                if others:
                    self.failures.once(
                        f"{self.name}:451-standby",
                        "%s: the venue refuses this location (HTTP 451); %s now come from %s (standby)",
                        self.name,
                        ", ".join(sorted(self.health.kinds)),
                        ", ".join(others),
                    )
                elif blocked:
                    self.failures.once(
                        f"{self.name}:451",
                        "%s: the venue refuses connections from this region (HTTP 451); retrying every %.0fs",
                        self.name,
                        self.tuning.reconnect_cap_s,
                    )
                await asyncio.sleep(max(exc.retry_after or 0.0, self.backoff.next_delay()))
                continue
            self.health.set_connected(True)
            return ws

    async def _open(self) -> WS:
        """Connect and subscribe, or raise a classified FeedError."""
        ws: WS | None = None
        try:
            async with asyncio.timeout(self.tuning.connect_timeout_s):
                ws = await self.session.ws_connect(
                    self.url,
                    autoping=False,  # pings and pongs are handled here, so a silent socket is noticed
                    heartbeat=None,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT_S),
                    max_msg_size=self.tuning.max_frame_bytes,
                )
                await self.on_open(ws)
        except BaseException as exc:
            if ws is not None:
                await self._close(ws)
            if isinstance(exc, Exception):
                raise self._classify(exc) from None
            raise
        self.connections += 1
        return ws

    def _classify(self, exc: Exception) -> FeedError:
        if isinstance(exc, FeedError):
            return exc
        if isinstance(exc, aiohttp.WSServerHandshakeError):
            status = exc.status
            retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            if status == 451:
                return FeedError("geo_blocked", "handshake refused with HTTP 451")
            if status in (418, 429):
                kind: ErrorKind = "banned" if status == 418 else "rate_limited"
                return FeedError(kind, f"handshake HTTP {status}", retry_after=retry_after)
            if status >= 500:
                return FeedError("server", f"handshake HTTP {status}", retry_after=retry_after)
            return FeedError("http", f"handshake HTTP {status}")
        if isinstance(exc, TimeoutError):
            return FeedError("timeout", f"no connection within {self.tuning.connect_timeout_s}s")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return FeedError("connection", f"cannot connect ({exc.os_error})")
        return FeedError("connection", f"{type(exc).__name__} {exc}")

    async def _guarded_read(self, ws: WS, rotate_at: float) -> str:
        try:
            return await self._read(ws, rotate_at)
        except FeedError as exc:
            return str(exc)
        except (aiohttp.ClientError, ConnectionError) as exc:
            return f"connection lost ({type(exc).__name__} {exc})"
        except Exception as exc:  # a bug must cost a reconnect, not the stream
            self.failures.failure(f"{self.name}:bug", f"unexpected {type(exc).__name__}: {exc}", exc_info=exc)
            return f"unexpected {type(exc).__name__}"

    async def _read(self, ws: WS, rotate_at: float) -> str:
        """Read until the socket ends or must be replaced (at ``rotate_at``, loop time); return why."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        times = _ReadTimes(opened=start, last_rx=start, last_data=start, last_ping=start)
        await self.send_ping(ws)  # an immediate ping proves the connection end to end
        dead_after = self.ping_interval_s + self.tuning.pong_timeout_s
        while True:
            wait = self._wait_s(times, dead_after, rotate_at, loop.time())
            try:
                msg = await ws.receive(timeout=wait)
            except TimeoutError:
                msg = None
            now = loop.time()
            if msg is not None:
                ended, is_data = await self._handle(ws, msg)
                if ended is not None:
                    return ended
                times.last_rx = now
                if is_data:
                    times.last_data = now
            if self.buffer is not None:
                self.buffer.flush_if_due()
            self._note_stable(times, now)
            ended = self._why_end(times, dead_after, rotate_at, now)
            if ended is not None:
                return ended
            if now >= self._next_ping(times):
                await self.send_ping(ws)
                times.last_ping = now

    def _next_ping(self, times: _ReadTimes) -> float:
        """Return when the next ping is due (loop time): an interval after the last receipt or ping."""
        return (times.last_rx if self.ping_when_idle else times.last_ping) + self.ping_interval_s

    def _wait_s(self, times: _ReadTimes, dead_after: float, rotate_at: float, now: float) -> float:
        """Return how long to wait for a message: until the first ping, timeout, flush or rotation due."""
        deadlines = [
            self._next_ping(times),
            times.last_rx + dead_after,
            times.last_data + self.data_silence_s,
            rotate_at,
        ]
        flush_at = self.buffer.due() if self.buffer is not None else None
        if flush_at is not None:
            deadlines.append(flush_at)
        # receive(timeout=0) would mean "no timeout" to aiohttp: never pass less than a millisecond.
        return max(0.001, min(deadlines) - now)

    def _note_stable(self, times: _ReadTimes, now: float) -> None:
        """Clear the failure streak once the connection has been up long enough, once per connection."""
        if not times.stable and now - times.opened >= self.stable_after_s:
            # Up for a while without trouble: a failure streak is over even if no data came.
            times.stable = True
            self.health.clear_failures()
            self.failures.success(self.name)

    def _why_end(self, times: _ReadTimes, dead_after: float, rotate_at: float, now: float) -> str | None:
        """Return why the connection must end or be replaced now (silent socket, no data, age), or None."""
        if now - times.last_rx >= dead_after:
            silent = now - times.last_rx
            return f"nothing received for {silent:.1f}s, not even a pong (silent socket)"
        if now - times.last_data >= self.data_silence_s:
            # Pongs still come, so the socket is alive; a lost subscription looks like this, and so
            # does a quiet market. Replacing the connection (gap-free) covers both at no cost.
            return _Replace(f"no data for {now - times.last_data:.1f}s (subscription lost?)")
        if now >= rotate_at:
            return _Replace("lifetime")
        return None

    async def _handle(self, ws: WS, msg: aiohttp.WSMessage) -> tuple[str | None, bool]:
        """Handle one message; return (why the connection ended or None, whether it carried data)."""
        kind = msg.type
        if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
            try:
                if kind is aiohttp.WSMsgType.BINARY:
                    return None, await self.on_binary(ws, bytes(msg.data))
                return None, self.on_text(str(msg.data))
            except FeedError as exc:
                if exc.kind != "malformed":
                    raise
                # One garbled frame costs that frame only, not the connection.
                self.failures.skipped(f"{self.name}:frame", [exc.message])
                return None, False
        if kind is aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
            self.health.alive()
            return None, False
        if kind is aiohttp.WSMsgType.PONG:
            self.health.alive()
            return None, False
        if kind is aiohttp.WSMsgType.ERROR:
            if getattr(msg.data, "code", None) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
                # RFC 6455 section 7.4.1, 1009: aiohttp refused a frame over max_msg_size unread.
                limit = self.tuning.max_frame_bytes
                return (
                    f"websocket error: frame refused, over {limit:,} bytes ([feeds.limits] max_frame_mib)",
                    False,
                )
            return f"websocket error ({msg.data})", False
        # CLOSE, CLOSING, CLOSED: the server (or the network) ended it.
        extra = f" {msg.extra}" if kind is aiohttp.WSMsgType.CLOSE and msg.extra else ""
        return f"closed by the server (code {ws.close_code}{extra})", False

    async def _rotate(self, old: WS, reason: str) -> WS | None:
        """Open the replacement before closing the old connection, so no event falls in between."""
        try:
            new = await self._open()
        except FeedError as exc:
            self.failures.failure(self.name, f"could not open the replacement connection: {exc}")
            return None
        log.info("%s: replaced a working connection (%s)", self.name, reason)
        self.reconnect_reasons.append(reason)
        await self._drain(old)
        await self._close(old)
        self._flush()
        return new

    async def _drain(self, old: WS) -> None:
        """Keep reading the old connection a moment, for the events still on their way to it.

        Events sent to it before the new one was subscribed are still arriving (every later event also reaches
        the new one; Ingest drops the repeats).
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + self.tuning.rotate_drain_s
        while (left := until - loop.time()) > 0:
            try:
                msg = await old.receive(timeout=max(0.001, left))
            except TimeoutError:
                return
            try:
                ended, _ = await self._handle(old, msg)
            except FeedError:
                return
            if ended is not None:
                return

    def record(self, rows: list[Liquidation]) -> None:
        """Buffer parsed liquidations and mark the stream healthy as of the newest one (or now, if none)."""
        if self.buffer is not None:
            self.buffer.add(rows)
        self.health.success(max((r.ts for r in rows), default=None))

    def _lost(self, reason: str) -> None:
        self.reconnect_reasons.append(reason)
        self.health.set_connected(False, reason)
        self.failures.failure(self.name, reason)
        self._flush()

    def _flush(self) -> None:
        if self.buffer is None:
            return
        try:
            self.buffer.flush()
        except Exception as exc:  # the database failing must not take the stream down
            self.failures.failure(f"{self.name}:write", f"cannot store liquidations: {exc}", exc_info=exc)

    async def _close(self, ws: WS) -> None:
        try:
            await ws.close()
        except Exception as exc:
            log.debug("%s: error while closing: %s", self.name, exc)


def frame_json(text: str) -> Any:
    """Decode a text frame, raising FeedError('malformed') for invalid or too deeply nested JSON."""
    # orjson: a frame took a third of the time json.loads takes, 11% of a liquidation's ingest
    # (bench.ingest). It is strict JSON: NaN, Infinity or a number beyond a double are malformed frames.
    return decode(text, FRAME)

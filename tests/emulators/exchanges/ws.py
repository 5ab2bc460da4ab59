"""Websocket plumbing shared by the venues: connections, server pings, lifetime, idle and silence."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)


@dataclass
class WsPolicy:
    """Timing rules one venue's server applies to every connection (seconds; None = never)."""

    # Server-initiated ping frames and how long a pong may take (Binance USD-M: 180 s / 600 s).
    ping_interval: float | None = None
    pong_timeout: float | None = None
    # Hard connection lifetime (Binance: 24 h) and the close code sent then (None: drop the TCP stream).
    max_lifetime: float | None = None
    lifetime_close_code: int | None = 1000
    # Close when nothing was sent or received for this long (OKX: 30 s, code 4004).
    idle_timeout: float | None = None
    idle_close_code: int = 1000
    idle_close_reason: str = ""
    # Incoming frames (text, ping, pong) allowed per second; more drops the connection (Binance USD-M: 10).
    max_incoming_per_s: int | None = None
    # Streams one connection may listen to (Binance: 1024); None: no limit.
    max_streams: int | None = None
    # Connection attempts allowed per window (Binance spot: 300 per 5 minutes per IP); None: no limit.
    max_connects: int | None = None
    connects_window: float = 300.0


@dataclass(eq=False)
class WsConn:
    """One client connection to a venue's websocket."""

    ws: web.WebSocketResponse
    request: web.Request
    kind: str
    subscriptions: set[str] = field(default_factory=set)
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    opened: float = field(default_factory=time.monotonic)
    last_rx: float = field(default_factory=time.monotonic)
    last_tx: float = field(default_factory=time.monotonic)
    last_ping: float = field(default_factory=time.monotonic)
    ping_sent: float | None = None  # the oldest server ping not answered yet
    pongs: int = 0
    received: list[str] = field(default_factory=list)  # every text frame the client sent
    incoming: deque[float] = field(default_factory=deque)


TextHandler = Callable[[WsConn, str], Awaitable[None]]


class WsVenue:
    """All websocket connections of one venue and the faults that apply to them."""

    def __init__(self, name: str, policy: WsPolicy) -> None:
        self.name = name
        self.policy = policy
        self.conns: set[WsConn] = set()
        self.silent = False
        self.total_connections = 0
        self._activity = asyncio.Event()
        self._ping_ids = itertools.count(1)
        self._attempts: deque[float] = deque()

    def over_connect_limit(self) -> bool:
        """Count one connection attempt; tell whether it is over the policy's attempts per window."""
        limit = self.policy.max_connects
        now = time.monotonic()
        self._attempts.append(now)
        while self._attempts and self._attempts[0] <= now - self.policy.connects_window:
            self._attempts.popleft()
        return limit is not None and len(self._attempts) > limit

    # -- serving -------------------------------------------------------------------------------------
    async def serve(
        self,
        request: web.Request,
        kind: str,
        on_text: TextHandler | None,
        initial: Iterable[str] = (),
        companion: Callable[[WsConn], Coroutine[Any, Any, None]] | None = None,
    ) -> web.StreamResponse:
        """Run one websocket connection until either side closes it; `initial` are URL subscriptions.

        ``companion(conn)`` runs beside it (a venue pushing on its own schedule) and ends with it.
        """
        # autoping=False: the emulator answers pings itself, so "go silent" can stop answering them.
        # timeout bounds how long a close waits for the client's close reply (aiohttp's default is 10 s).
        ws = web.WebSocketResponse(autoping=False, timeout=1.0)
        await ws.prepare(request)
        conn = WsConn(ws=ws, request=request, kind=kind, subscriptions=set(initial))
        self.conns.add(conn)
        self.total_connections += 1
        self._poke()
        watchdog = asyncio.create_task(self._watch(conn), name=f"{self.name}-ws-watchdog")
        pusher: asyncio.Task[None] | None = None
        if companion is not None:
            pusher = asyncio.create_task(companion(conn), name=f"{self.name}-ws-push")
        try:
            async for msg in ws:
                conn.last_rx = time.monotonic()
                if self._over_rate(conn):
                    log.info(
                        "%s: more than %s incoming messages/s, disconnecting",
                        self.name,
                        self.policy.max_incoming_per_s,
                    )
                    await self._end(conn, None, b"")
                    break
                if msg.type == WSMsgType.PING:
                    if not self.silent:
                        await ws.pong(msg.data)
                        conn.last_tx = time.monotonic()
                elif msg.type == WSMsgType.PONG:
                    conn.pongs += 1
                    conn.ping_sent = None
                elif msg.type == WSMsgType.TEXT:
                    conn.received.append(msg.data)
                    if on_text is not None and not self.silent:
                        await on_text(conn, msg.data)
                    self._poke()
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        except ConnectionResetError:
            pass
        finally:
            await _cancel(watchdog, pusher)
            self.conns.discard(conn)
            self._poke()
        return ws

    def _over_rate(self, conn: WsConn) -> bool:
        limit = self.policy.max_incoming_per_s
        if limit is None:
            return False
        conn.incoming.append(conn.last_rx)
        while conn.incoming and conn.incoming[0] <= conn.last_rx - 1.0:
            conn.incoming.popleft()
        return len(conn.incoming) > limit

    async def _watch(self, conn: WsConn) -> None:
        """Apply the venue's ping, pong, lifetime and idle rules to one connection."""
        try:
            await self._enforce(conn)
        except ConnectionError:
            log.debug("%s: connection went away while the watchdog acted on it", self.name)

    async def _enforce(self, conn: WsConn) -> None:
        p = self.policy
        while not conn.ws.closed:
            now = time.monotonic()
            deadlines = [now + 0.5]
            if not self.silent:
                if p.max_lifetime is not None:
                    if now - conn.opened >= p.max_lifetime:
                        await self._end(conn, p.lifetime_close_code, b"")
                        return
                    deadlines.append(conn.opened + p.max_lifetime)
                if p.pong_timeout is not None and conn.ping_sent is not None:
                    if now - conn.ping_sent >= p.pong_timeout:
                        log.info("%s: no pong within %.1fs, dropping connection", self.name, p.pong_timeout)
                        await self._end(conn, None, b"")
                        return
                    deadlines.append(conn.ping_sent + p.pong_timeout)
                if p.ping_interval is not None:
                    # Binance pings on a fixed schedule whatever else flows on the connection.
                    next_ping = conn.last_ping + p.ping_interval
                    if now >= next_ping:
                        await conn.ws.ping(str(next(self._ping_ids)).encode())
                        conn.last_ping = now
                        if conn.ping_sent is None:
                            conn.ping_sent = now
                        continue
                    deadlines.append(next_ping)
                if p.idle_timeout is not None:
                    idle_since = max(conn.last_rx, conn.last_tx)
                    if now - idle_since >= p.idle_timeout:
                        await self._end(conn, p.idle_close_code, p.idle_close_reason.encode())
                        return
                    deadlines.append(idle_since + p.idle_timeout)
            await asyncio.sleep(max(0.001, min(deadlines) - time.monotonic()))

    async def _end(self, conn: WsConn, code: int | None, message: bytes) -> None:
        if code is None:
            transport = conn.request.transport
            if transport is not None:
                transport.close()
        else:
            await conn.ws.close(code=code, message=message)

    # -- sending -------------------------------------------------------------------------------------
    async def send(self, conn: WsConn, payload: Any) -> bool:
        """Send a JSON payload (or a str verbatim) to one connection unless the venue is silent."""
        if self.silent or conn.ws.closed:
            return False
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        try:
            await conn.ws.send_str(text)
        except ConnectionError:
            return False
        conn.last_tx = time.monotonic()
        return True

    async def broadcast(self, render: Callable[[WsConn], Any | None]) -> int:
        """Send render(conn) to every connection where it is not None; return how many got it."""
        sent = 0
        for conn in list(self.conns):
            payload = render(conn)
            if payload is not None and await self.send(conn, payload):
                sent += 1
        return sent

    # -- faults --------------------------------------------------------------------------------------
    async def close_all(self, code: int = 1000, reason: str = "") -> int:
        """Close every open connection now with a close frame; return how many were closed."""
        conns = list(self.conns)
        for conn in conns:
            await conn.ws.close(code=code, message=reason.encode())
        return len(conns)

    async def drop_all(self) -> int:
        """Cut every open connection's TCP stream without a close frame; return how many."""
        conns = list(self.conns)
        for conn in conns:
            await self._end(conn, None, b"")
        return len(conns)

    # -- waiting -------------------------------------------------------------------------------------
    def _poke(self) -> None:
        """Wake waiters: a connection opened or closed, or a message (maybe a subscription) arrived."""
        self._activity.set()
        self._activity = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> None:
        """Wait until predicate() holds (a client connected, subscribed...), or raise TimeoutError."""
        async with asyncio.timeout(within):
            while not predicate():
                await self._activity.wait()


async def _cancel(*tasks: asyncio.Task[None] | None) -> None:
    """Cancel a connection's helper tasks and wait for them to end."""
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task

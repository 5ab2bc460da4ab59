"""ExchangeEmulator: one aiohttp server on 127.0.0.1 serving every venue, with a fault-injection API."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.utils import formatdate
from types import TracebackType
from typing import Any

from aiohttp import web

from .binance import BinanceVenue
from .bybit import BybitVenue
from .clock import Clock
from .context import Context, EmulatorConfig
from .control import control_routes
from .data import Dataset
from .etf import EtfVenue
from .fallback import FallbackVenue
from .faults import Fault, FaultInjector, RequestLog, RequestRecord, Route
from .fear_greed import FearGreedVenue
from .hyperliquid_info import HyperliquidInfo
from .liq_venues import DeribitVenue, GateVenue, HtxVenue, HyperliquidVenue
from .okx import OkxVenue
from .positioning import PositioningVenue
from .positioning_venues import OiFundingVenues
from .replay import Replayer
from .ws import WsConn, WsPolicy, WsVenue

log = logging.getLogger(__name__)

WS_VENUES = ("binance", "binance-legacy", "bybit", "okx", "gate", "htx", "deribit", "hyperliquid")
# Paths of each venue's websocket handshake, for refusing connections through the fault middleware.
WS_ROUTES: dict[str, Route] = {
    "binance": "/market/*",
    "binance-legacy": ("/ws", "/ws/*@*", "/stream"),  # not /ws/v5/public, which is OKX's
    "bybit": "/v5/public/*",
    "okx": "/ws/v5/public",
    "gate": "/v4/ws/usdt",
    "htx": "/linear-swap-notification",
    "deribit": "/ws/api/v2",
    "hyperliquid": "/hyperliquid/ws",
}


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that nothing listens on (for "connection refused" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


class ExchangeEmulator:
    """Serve Binance, Bybit, OKX, alternative.me, Coinbase and Kraken from one local aiohttp server.

    Use as `async with ExchangeEmulator(shift_to=None) as emu:` and point every base URL of the client
    at `emu.base_url` / `emu.ws_url`. Keyword arguments override fields of EmulatorConfig.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, dataset: Dataset | None = None, **overrides: Any
    ) -> None:
        self.config = dataclasses.replace(config or EmulatorConfig(), **overrides)
        self.ctx = Context(self.config, dataset)
        self.log = RequestLog()
        self.faults = FaultInjector(self.log)
        self.binance = BinanceVenue(self.ctx)
        self.bybit = BybitVenue(self.ctx)
        self.okx = OkxVenue(self.ctx)
        self.gate = GateVenue(self.ctx)
        self.htx = HtxVenue(self.ctx)
        self.deribit = DeribitVenue(self.ctx)
        self.hyperliquid = HyperliquidVenue(self.ctx)
        self.fear_greed = FearGreedVenue(self.ctx)
        self.fallback = FallbackVenue(self.ctx)
        self.positioning = PositioningVenue(self.ctx)
        self.etf = EtfVenue(self.ctx)
        self.oi_funding = OiFundingVenues(self.ctx, self.positioning.deribit_credits)
        cfg = self.config
        self.hyperliquid_info = HyperliquidInfo(
            self.ctx,
            self.positioning.hyperliquid_asset_ctxs,
            cfg.hyperliquid_weight_limit,
            cfg.hyperliquid_weight_window,
            predicted=self.oi_funding.hyperliquid_predicted_fundings,
        )
        self.replayer: Replayer | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        """Build the aiohttp application with every venue's routes and the control endpoints."""
        app = web.Application(middlewares=[self.faults.middleware])
        venues = (self.binance, self.bybit, self.okx, self.fear_greed, self.fallback)
        hyperliquid = (self.hyperliquid, self.hyperliquid_info)
        for venue in (
            *venues,
            self.gate,
            self.htx,
            self.deribit,
            *hyperliquid,
            self.positioning,
            self.oi_funding,
            self.etf,
        ):
            app.add_routes(venue.routes())
        app.add_routes(control_routes(self))
        app.on_shutdown.append(self._close_websockets)
        app.on_response_prepare.append(self._date_header)
        return app

    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        # Real venues stamp every answer with their own clock (RFC 9110 section 6.6.1 Date, an IMF-fixdate,
        # one-second resolution); aiohttp would stamp the host's. Serve the emulator's clock instead, so a
        # client's clock-skew estimate is tested against the emulated "now" (a shifted or frozen clock).
        response.headers["Date"] = formatdate(self.ctx.clock.now_ms() / 1000, usegmt=True)

    async def start(self) -> ExchangeEmulator:
        """Start listening (and replaying recorded liquidations if liq_rate > 0)."""
        # handler_cancellation: a client that times out or hangs up cancels its pending handler, so a
        # "delay" fault never outlives its request; shutdown_timeout bounds the wait at stop().
        self._runner = web.AppRunner(self.build_app(), handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.config.liq_rate > 0:
            self.start_replay(self.config.liq_rate)
        log.info("exchange emulator listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Stop replay, close websockets (1001 going away) and the server."""
        await self.stop_replay()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ExchangeEmulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _close_websockets(self, app: web.Application) -> None:
        for name in WS_VENUES:
            await self.ws_venue(name).close_all(1001, "server shutdown")

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT, the base URL for every REST venue."""
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Return ws://127.0.0.1:PORT, the base URL for every websocket venue."""
        return self.base_url.replace("http://", "ws://", 1)

    @property
    def data(self) -> Dataset:
        """Return the recorded data being served (mutable, for tests that set data explicitly)."""
        return self.ctx.data

    @property
    def clock(self) -> Clock:
        """Return the emulator's clock (served "now" and the time shift)."""
        return self.ctx.clock

    # -- replay ------------------------------------------------------------------------------------------
    def start_replay(self, rate: float) -> Replayer:
        """Start pushing recorded liquidations to every liquidation venue, `rate` frames/s per venue."""
        if self.replayer is not None:
            raise RuntimeError("replay already running")
        self.replayer = Replayer(
            {
                "binance": (self.binance.push, self.binance.replay_frames()),
                "bybit": (self.bybit.push, self.bybit.replay_frames()),
                "okx": (self.okx.push, self.okx.replay_frames()),
                "gate": (self.gate.push, self.gate.replay_frames()),
                "htx": (self.htx.push, self.htx.replay_frames()),
                "deribit": (self.deribit.push_frame, self.deribit.replay_frames()),
                "hyperliquid": (self.hyperliquid.push, self.hyperliquid.replay_frames()),
            },
            rate,
        )
        self.replayer.start()
        return self.replayer

    async def stop_replay(self) -> None:
        """Stop the liquidation replay if it runs."""
        if self.replayer is not None:
            await self.replayer.stop()
            self.replayer = None

    # -- REST faults and data ----------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        """Activate a fault built by hand (or from the control endpoint's JSON)."""
        return self.faults.add(fault)

    def fail(
        self,
        route: Route,
        status: int,
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        times: int | None = 1,
        query: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with this status (and Retry-After, headers, body)."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = str(retry_after)
        return self.faults.add(
            Fault(
                route,
                "status",
                times=times,
                status=status,
                headers=all_headers,
                body=body.encode() if isinstance(body, str) else body,
                query=query,
                method=method,
            )
        )

    def delay(
        self, route: Route, seconds: float, *, times: int | None = 1, query: Mapping[str, str] | None = None
    ) -> Fault:
        """Hold the next matching requests for `seconds` before answering normally."""
        return self.faults.add(Fault(route, "delay", times=times, seconds=seconds, query=query))

    def malformed(
        self,
        route: Route,
        body: bytes | str = b'{"code":0,"msg":',
        *,
        status: int = 200,
        content_type: str = "application/json",
        times: int | None = 1,
    ) -> Fault:
        """Answer the next matching requests with this body instead (malformed JSON by default)."""
        raw = body.encode() if isinstance(body, str) else body
        return self.faults.add(
            Fault(route, "body", times=times, status=status, body=raw, content_type=content_type)
        )

    def flood(self, route: Route, size_bytes: int, *, times: int | None = 1) -> Fault:
        """Answer with a chunked JSON body of ``size_bytes`` (no Content-Length): a runaway upstream."""
        return self.faults.add(Fault(route, "flood", times=times, flood_bytes=size_bytes))

    def truncate(self, route: Route, *, extra_bytes: int = 100, times: int | None = 1) -> Fault:
        """Send half the real body under a Content-Length `extra_bytes` larger, then close the connection."""
        return self.faults.add(Fault(route, "truncate", times=times, extra_bytes=extra_bytes))

    def cut_json(self, route: Route, *, times: int | None = 1) -> Fault:
        """Send a complete response whose JSON document is cut in half."""
        return self.faults.add(Fault(route, "cut_json", times=times))

    def mangle(
        self,
        route: Route,
        *,
        drop: Sequence[str | int] = (),
        retype: Mapping[str | int, Any] | None = None,
        every: int = 2,
        times: int | None = 1,
    ) -> Fault:
        """Serve the real payload with fields removed or replaced by wrong types in every `every`-th item."""
        return self.faults.add(
            Fault(route, "mangle", times=times, drop_fields=drop, retype=retype or {}, every=every)
        )

    def drop(self, route: Route, *, times: int | None = 1) -> Fault:
        """Close the connection of the next matching requests without any response."""
        return self.faults.add(Fault(route, "drop", times=times))

    def set_rest(
        self,
        route: Route,
        payload: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> Fault:
        """Answer requests to `route` (optionally only with these query values) with this JSON payload."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self.faults.add(
            Fault(
                route,
                "respond",
                times=times,
                status=status,
                headers=dict(headers or {}),
                body=body,
                query=query,
            )
        )

    def clear_faults(self, route: Route | None = None) -> None:
        """Remove every fault and REST override (or those registered for exactly `route`)."""
        self.faults.clear(route)

    def requests(self, route: str | None = None) -> list[RequestRecord]:
        """Return the recorded requests (all, or those whose path matches route / a pattern)."""
        return self.log.matching(route)

    def set_geo_block(self, on: bool = True) -> None:
        """Answer every Binance request (REST and websocket handshake) with 451, or stop doing so."""
        self.binance.geo_block = on

    # -- websockets ----------------------------------------------------------------------------------------
    def ws_venue(self, venue: str) -> WsVenue:
        """Return the websocket side of a venue: binance, binance-legacy, bybit or okx."""
        venues = {
            "binance": self.binance.ws,
            "binance-legacy": self.binance.legacy_ws,
            "binance-spot": self.binance.legacy_ws,
            "bybit": self.bybit.ws,
            "okx": self.okx.ws,
            "gate": self.gate.ws,
            "htx": self.htx.ws,
            "deribit": self.deribit.ws,
            "hyperliquid": self.hyperliquid.ws,
        }
        if venue not in venues:
            raise KeyError(f"unknown websocket venue {venue!r}; one of {sorted(venues)}")
        return venues[venue]

    def ws_policy(self, venue: str) -> WsPolicy:
        """Return the (mutable) timing rules of a venue's websocket."""
        return self.ws_venue(venue).policy

    def ws_connections(self, venue: str) -> list[WsConn]:
        """Return the open connections of a venue."""
        return list(self.ws_venue(venue).conns)

    async def push_ws(self, venue: str, payload: Any) -> int:
        """Push a frame to a venue's subscribed clients; return how many received it.

        binance: the raw forceOrder event (wrapped for /market/stream clients); bybit: an allLiquidation
        frame; okx: a liquidation-orders frame; gate: the items of an update; htx: a notify frame (sent
        gzipped); deribit: [instrument, trades]; hyperliquid: the trades of one coin. A str payload is sent
        verbatim to every connection (binance, bybit, okx).
        """
        pushers: dict[str, Callable[[Any], Awaitable[int]]] = {
            "binance": self.binance.push,
            "bybit": self.bybit.push,
            "okx": self.okx.push,
            "gate": self.gate.push,
            "htx": self.htx.push,
            "deribit": self.deribit.push_frame,
            "hyperliquid": self.hyperliquid.push,
        }
        if venue not in pushers:
            raise KeyError(f"cannot push to {venue!r}; one of {sorted(pushers)}")
        return await pushers[venue](payload)

    async def ws_close(self, venue: str, code: int = 1000, reason: str = "") -> int:
        """Close every connection of the venue now with this close code; return how many."""
        return await self.ws_venue(venue).close_all(code, reason)

    async def ws_drop(self, venue: str) -> int:
        """Cut every connection of the venue without a close frame; return how many."""
        return await self.ws_venue(venue).drop_all()

    def ws_silence(self, venue: str, on: bool = True) -> None:
        """Keep the venue's connections open but send nothing and answer no ping (until turned off)."""
        self.ws_venue(venue).silent = on

    def ws_refuse(self, venue: str, times: int = 1, status: int = 503) -> Fault:
        """Refuse the next `times` websocket handshakes of the venue with this HTTP status."""
        return self.fail(WS_ROUTES[venue], status, times=times)

    async def wait_ws(
        self, venue: str, count: int = 1, *, subscribed: str | None = None, within: float = 5.0
    ) -> list[WsConn]:
        """Wait until `count` connections are open (and subscribed to `subscribed`, if given)."""
        ws = self.ws_venue(venue)

        def ready() -> list[WsConn]:
            return [c for c in ws.conns if subscribed is None or subscribed in c.subscriptions]

        await ws.wait_for(lambda: len(ready()) >= count, within)
        return ready()

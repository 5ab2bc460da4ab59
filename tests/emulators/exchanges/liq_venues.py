"""The liquidation-only venues: Gate, HTX, Deribit and Hyperliquid websockets (and Gate's contract list).

Each serves what its venue documents and refuses the rest the way the venue does:

- Gate ``WS /v4/ws/usdt``: ``futures.public_liquidates`` subscribe with contract names or ``!all`` (an
  unknown contract: ``error`` code 2), ``futures.ping`` -> ``futures.pong``. Updates come as the venue
  sent them live on 2026-08-10 (gateio/WebSocket-API#132): one frame per item, ``result`` a **bare
  object**; ``GateVenue.arrays = True`` sends the documented shape instead, one **array** of every
  contract's item per update. ``GET /api/v4/futures/usdt/contracts``: BTC_USDT and ETH_USDT with their
  ``quanto_multiplier`` (0.0001 BTC, 0.01 ETH, as Gate lists them [values unverified on the live API]).
- HTX ``WS /linear-swap-notification``: every server frame **gzip** binary; ``{"op":"ping","ts"}`` every
  5 s, five unanswered pings close the connection; ``op: sub`` to ``public.<code|*>.liquidation_orders``
  (another topic: err-code 4000 [code unverified]); every connection is **dropped after 30 s** (TCP cut,
  no close frame), as the venue does in practice.
- Deribit ``WS /ws/api/v2``: JSON-RPC 2.0; ``public/subscribe`` answers the channels it subscribed (an
  unknown instrument is left out); a ``raw`` channel without authorisation is refused with error 13778
  ``raw_subscriptions_not_available_for_unauthorized``; ``public/test`` answers a version.
- Hyperliquid ``WS /hyperliquid/ws`` (the venue's path is ``/ws`` on its own host; here ``/ws`` is
  Binance's retired path): ``subscribe`` trades per coin (an unknown coin: ``channel: error``),
  ``{"method":"ping"}`` -> ``{"channel":"pong"}``; a connection silent for 60 s is closed.

Frames pushed by tests are the corpus payloads (tests/data/corpus, fixtures) or built from their shape.
Replayed frames (``start_replay``, ``liq_rate``) are a STAND-IN: no Gate, Deribit or Hyperliquid BTC/ETH
liquidation was recorded, so each venue re-expresses OKX's recorded BTC/ETH events
(tests/data/fixtures/okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv, as Bybit's stand-ins do) in
its own wire format; HTX's round starts with its live captured frame. A consumer adding up venues counts
the same events on each.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from aiohttp import web

from .context import Context, json_response
from .data import OkxLiquidation
from .ws import WsConn, WsPolicy, WsVenue

# OKX's contract values of the recorded excerpt (okx.SWAP_INSTRUMENTS): coins per contract.
OKX_CT_VAL = {"BTC-USDT": Decimal("0.01"), "ETH-USDT": Decimal("0.1")}
# A forced order closes the position: a long by selling.
_ORDER_SIDE = {"long": "sell", "short": "buy"}
VAULT = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"


def _coin_events(ctx: Context) -> Iterator[tuple[OkxLiquidation, str, Decimal, Decimal, int]]:
    """Yield OKX's recorded BTC/ETH events forever as (event, coin, size in coins, price, ts)."""
    events = ctx.data.okx_liquidations
    while True:
        for liq in events:
            ts = ctx.clock.now_ms() if ctx.clock.shifted else liq.ts_ms
            yield liq, liq.uly.split("-")[0], Decimal(liq.sz) * OKX_CT_VAL[liq.uly], Decimal(liq.bk_px), ts


GATE_CONTRACTS: list[dict[str, Any]] = [
    {
        "name": name,
        "type": "direct",
        "quanto_multiplier": multiplier,
        "funding_interval": 28800,
        "in_delisting": False,
        "status": "trading",
    }
    for name, multiplier in (("BTC_USDT", "0.0001"), ("ETH_USDT", "0.01"))
]
DERIBIT_INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC_USDC-PERPETUAL", "ETH_USDC-PERPETUAL")
HYPERLIQUID_COINS = ("BTC", "ETH", "SOL")
HTX_PING_S = 5.0
HTX_MISSED_PINGS = 5


class GateVenue:
    """Gate USDT futures: the public liquidates channel and the contract list."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = WsVenue("gate", WsPolicy())
        # False: the live shape (a bare object per frame); True: the documented one (an array per update).
        self.arrays = False

    def routes(self) -> list[web.RouteDef]:
        """Return Gate's routes."""
        return [
            web.get("/api/v4/futures/usdt/contracts", self.contracts),
            web.get("/v4/ws/usdt", self.ws_usdt),
        ]

    async def contracts(self, request: web.Request) -> web.Response:
        """GET /api/v4/futures/usdt/contracts."""
        return json_response(GATE_CONTRACTS)

    async def ws_usdt(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://fx-ws.gateio.ws/v4/ws/usdt."""
        return await self.ws.serve(request, "usdt", self._on_text)

    async def _on_text(self, conn: WsConn, text: str) -> None:
        now = time.time()
        try:
            message = json.loads(text)
            channel, event = message["channel"], message.get("event")
        except (ValueError, KeyError, TypeError):
            await self.ws.send(conn, {"error": {"code": 1, "message": "invalid argument"}, "result": None})
            return
        base = {"time": int(now), "time_ms": int(now * 1000), "channel": channel, "event": event}
        if channel == "futures.ping":
            await self.ws.send(conn, {**base, "channel": "futures.pong", "event": "", "result": None})
            return
        if channel != "futures.public_liquidates" or event not in ("subscribe", "unsubscribe"):
            await self.ws.send(
                conn, {**base, "error": {"code": 2, "message": "unknown channel"}, "result": None}
            )
            return
        known = {c["name"] for c in GATE_CONTRACTS} | {"!all"}
        payload = message.get("payload") or []
        unknown = [p for p in payload if p not in known]
        if unknown:
            error = {"code": 2, "message": f"unknown contract {unknown[0]}"}
            await self.ws.send(conn, {**base, "error": error, "result": None})
            return
        for contract in payload:
            (conn.subscriptions.add if event == "subscribe" else conn.subscriptions.discard)(contract)
        await self.ws.send(conn, {**base, "result": {"status": "success"}})

    async def push(self, items: list[dict[str, Any]]) -> int:
        """Push liquidation items: one array update (``arrays``) or one bare-object frame each (live).

        Return how many frames reached a subscriber.
        """
        sent = 0
        for result in [items] if self.arrays else items:
            now = time.time()
            frame = {
                "channel": "futures.public_liquidates",
                "event": "update",
                "time": int(now),
                "time_ms": int(now * 1000),
                "result": result,
            }
            contracts = {i["contract"] for i in (result if isinstance(result, list) else [result])}

            def render(conn: WsConn, frame: dict[str, Any] = frame, contracts: set[str] = contracts) -> Any:
                wanted = "!all" in conn.subscriptions or bool(contracts & conn.subscriptions)
                return frame if wanted else None

            sent += await self.ws.broadcast(render)
        return sent

    def replay_frames(self) -> Iterator[list[dict[str, Any]]]:
        """Yield one-item updates made from OKX's recorded events (a STAND-IN, see the module)."""
        multiplier = {c["name"]: Decimal(c["quanto_multiplier"]) for c in GATE_CONTRACTS}
        for liq, coin, size, price, ts in _coin_events(self.ctx):
            contracts = max(1, round(size / multiplier[f"{coin}_USDT"]))
            signed = -contracts if liq.pos_side == "long" else contracts  # a sell closes a long
            # The live item shape (issue #132): price a string, the time in "time".
            yield [{"contract": f"{coin}_USDT", "price": str(price), "time": ts, "size": signed}]


class HtxVenue:
    """HTX linear-swap order-push websocket: gzip frames, server pings, drops after 30 s."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # 30 s: the venue's drops in practice; cut without a close frame.
        self.ws = WsVenue("htx", WsPolicy(max_lifetime=30.0, lifetime_close_code=None))
        self.missed: dict[WsConn, int] = {}  # pings not answered yet, per connection

    def routes(self) -> list[web.RouteDef]:
        """Return HTX's route."""
        return [web.get("/linear-swap-notification", self.ws_notification)]

    async def send(self, conn: WsConn, payload: Any) -> bool:
        """Send a JSON payload gzip-compressed, as every HTX server frame is."""
        if self.ws.silent or conn.ws.closed:
            return False
        try:
            await conn.ws.send_bytes(gzip.compress(json.dumps(payload).encode()))
        except ConnectionError:
            return False
        conn.last_tx = time.monotonic()
        return True

    async def ws_notification(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://api.hbdm.com/linear-swap-notification with HTX's heartbeat."""
        pinger = asyncio.create_task(self._pings(request))
        try:
            return await self.ws.serve(request, "notification", self._on_text)
        finally:
            self.missed = {c: n for c, n in self.missed.items() if c.request is not request}
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _pings(self, request: web.Request) -> None:
        """Ping the connection opened by ``request`` every 5 s; drop it after five unanswered pings."""
        while True:
            await asyncio.sleep(HTX_PING_S)
            conn = next((c for c in self.ws.conns if c.request is request), None)
            if conn is None:
                continue
            missed = self.missed.get(conn, 0)
            if missed >= HTX_MISSED_PINGS:
                self.missed.pop(conn, None)
                await conn.ws.close(code=1000)
                return
            self.missed[conn] = missed + 1
            await self.send(conn, {"op": "ping", "ts": str(int(time.time() * 1000))})

    async def _on_text(self, conn: WsConn, text: str) -> None:
        try:
            message = json.loads(text)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            await self.send(conn, {"op": "error", "ts": int(time.time() * 1000)})
            return
        if op == "pong":
            self.missed[conn] = 0
            return
        topic = str(message.get("topic", ""))
        parts = topic.split(".")
        reply = {"op": op, "cid": message.get("cid"), "topic": topic, "ts": int(time.time() * 1000)}
        if (
            op not in ("sub", "unsub")
            or len(parts) != 3
            or parts[0] != "public"
            or parts[2] != "liquidation_orders"
        ):
            await self.send(conn, {**reply, "err-code": 4000, "err-msg": f"invalid topic {topic}"})
            return
        (conn.subscriptions.add if op == "sub" else conn.subscriptions.discard)(parts[1])
        await self.send(conn, {**reply, "err-code": 0})

    async def push(self, frame: dict[str, Any]) -> int:
        """Push a ``notify`` frame to connections subscribed to its contract or to ``*``."""
        contract = str(frame.get("topic", "")).split(".")[1]
        sent = 0
        for conn in list(self.ws.conns):
            if ("*" in conn.subscriptions or contract in conn.subscriptions) and await self.send(conn, frame):
                sent += 1
        return sent

    def replay_frames(self) -> Iterator[dict[str, Any]]:
        """Yield the live captured frame, then OKX's recorded events as HTX frames (a STAND-IN)."""
        live = self.ctx.data.live_frames["htx"]
        for n, (liq, coin, size, price, ts) in enumerate(_coin_events(self.ctx)):
            if live and n % 50 == 0:
                frame = copy.deepcopy(live[0])
                if self.ctx.clock.shifted:
                    frame["ts"] = self.ctx.clock.now_ms()
                    for item in frame["data"]:
                        item["created_at"] = frame["ts"]
                yield frame
            item = {
                "symbol": coin,
                "contract_code": f"{coin}-USDT",
                "direction": _ORDER_SIDE[liq.pos_side],
                "offset": "close",
                "volume": int(size / OKX_CT_VAL[liq.uly] * 10),  # HTX counts in its own contracts
                "price": float(price),
                "created_at": ts,
                "amount": float(size),
                "trade_turnover": float(size * price),
                "contract_type": "swap",
                "pair": f"{coin}-USDT",
                "business_type": "swap",
                "trade_partition": "USDT",
            }
            yield {
                "op": "notify",
                "topic": f"public.{coin}-USDT.liquidation_orders",
                "ts": ts,
                "data": [item],
            }


class DeribitVenue:
    """Deribit API v2 over one JSON-RPC websocket."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = WsVenue("deribit", WsPolicy())

    def routes(self) -> list[web.RouteDef]:
        """Return Deribit's route."""
        return [web.get("/ws/api/v2", self.ws_api)]

    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://www.deribit.com/ws/api/v2."""
        return await self.ws.serve(request, "api", self._on_text)

    async def _on_text(self, conn: WsConn, text: str) -> None:
        try:
            message = json.loads(text)
            method, request_id = message["method"], message.get("id")
        except (ValueError, KeyError, TypeError):
            error = {"code": -32700, "message": "parse_error"}
            await self.ws.send(conn, {"jsonrpc": "2.0", "error": error})
            return
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if method == "public/test":
            await self.ws.send(conn, {**reply, "result": {"version": "1.2.26"}})
            return
        if method not in ("public/subscribe", "public/unsubscribe"):
            await self.ws.send(conn, {**reply, "error": {"code": -32601, "message": "Method not found"}})
            return
        channels = [str(c) for c in (message.get("params") or {}).get("channels", [])]
        if any(c.endswith(".raw") for c in channels):
            error = {"code": 13778, "message": "raw_subscriptions_not_available_for_unauthorized"}
            await self.ws.send(conn, {**reply, "error": error})
            return
        granted = [c for c in channels if c.count(".") == 2 and c.split(".")[1] in DERIBIT_INSTRUMENTS]
        for channel in granted:
            (conn.subscriptions.add if method == "public/subscribe" else conn.subscriptions.discard)(channel)
        await self.ws.send(conn, {**reply, "result": granted})

    async def push(self, instrument: str, trades: list[dict[str, Any]]) -> int:
        """Push a trades notification of one instrument to its ``100ms`` subscribers."""
        channel = f"trades.{instrument}.100ms"
        frame = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": trades}}
        return await self.ws.broadcast(lambda conn: frame if channel in conn.subscriptions else None)

    async def push_frame(self, frame: tuple[str, list[dict[str, Any]]]) -> int:
        """Push one (instrument, trades) pair: the replayer's one-argument form of ``push``."""
        return await self.push(*frame)

    def replay_frames(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield OKX's recorded events as liquidation trades of the inverse perpetuals (a STAND-IN)."""
        for seq, (liq, coin, size, price, ts) in enumerate(_coin_events(self.ctx), start=1):
            name = f"{coin}-PERPETUAL"
            trade = {
                "trade_seq": seq,
                "trade_id": f"{coin}-{seq}",
                "timestamp": ts,
                "tick_direction": 1,
                "price": float(price),
                "mark_price": float(price),
                "instrument_name": name,
                "index_price": float(price),
                "direction": _ORDER_SIDE[liq.pos_side],  # the liquidated taker's order
                "amount": float(round(size * price, 1)),  # inverse perpetuals count in USD
                "liquidation": "T",
            }
            yield name, [trade]


class HyperliquidVenue:
    """Hyperliquid's public websocket: trades per coin."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = WsVenue("hyperliquid", WsPolicy(idle_timeout=60.0))

    def routes(self) -> list[web.RouteDef]:
        """Return Hyperliquid's route."""
        return [web.get("/hyperliquid/ws", self.ws_public)]

    async def ws_public(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://api.hyperliquid.xyz/ws."""
        return await self.ws.serve(request, "public", self._on_text)

    async def _on_text(self, conn: WsConn, text: str) -> None:
        try:
            message = json.loads(text)
            method = message["method"]
        except (ValueError, KeyError, TypeError):
            await self.ws.send(
                conn, {"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"}
            )
            return
        if method == "ping":
            await self.ws.send(conn, {"channel": "pong"})
            return
        subscription = message.get("subscription") or {}
        if (
            method not in ("subscribe", "unsubscribe")
            or subscription.get("type") != "trades"
            or subscription.get("coin") not in HYPERLIQUID_COINS
        ):
            await self.ws.send(
                conn, {"channel": "error", "data": f"Invalid subscription {json.dumps(subscription)}"}
            )
            return
        (conn.subscriptions.add if method == "subscribe" else conn.subscriptions.discard)(
            subscription["coin"]
        )
        await self.ws.send(conn, {"channel": "subscriptionResponse", "data": message})

    async def push(self, trades: list[dict[str, Any]]) -> int:
        """Push a trades frame to the subscribers of its coin."""
        coin = trades[0]["coin"]
        frame = {"channel": "trades", "data": trades}
        return await self.ws.broadcast(lambda conn: frame if coin in conn.subscriptions else None)

    def replay_frames(self) -> Iterator[list[dict[str, Any]]]:
        """Yield OKX's recorded events as fills against the liquidator vault (a STAND-IN)."""
        for tid, (liq, coin, size, price, ts) in enumerate(_coin_events(self.ctx), start=1):
            # The vault takes over the position: it buys a liquidated long, sells a liquidated short.
            users = [VAULT, "0x0000000000000000000000000000000000000001"]
            if liq.pos_side == "short":
                users.reverse()
            side = "A" if liq.pos_side == "long" else "B"
            yield [{"coin": coin, "side": side, "px": str(price), "sz": str(size), "time": ts, "hash": "0x0",
                    "tid": tid, "users": users}]  # fmt: skip

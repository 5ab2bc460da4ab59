"""Bybit v5: the public linear websocket (allLiquidation.{symbol}) and GET /v5/market/tickers."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from .context import Context, fixed, json_response
from .data import DAY_MS, HOUR_MS, OkxLiquidation, plain
from .okx import SWAP_INSTRUMENTS
from .ws import WsConn, WsVenue

# Topics whose subscription is accepted. Only allLiquidation frames are ever pushed (by replay or by a
# test); the others are accepted so that a client subscribing to more than liquidations is not refused.
KNOWN_TOPIC_PREFIXES = ("allLiquidation.", "tickers.", "publicTrade.", "orderbook.", "kline.")
CATEGORIES = ("spot", "linear", "inverse", "option")


# OKX posSide is the position side, as Bybit's S is: a liquidated long is "Buy" on Bybit.
_BYBIT_POSITION_SIDE = {"long": "Buy", "short": "Sell"}


def stand_in_frames(okx_liquidations: Sequence[OkxLiquidation]) -> list[dict[str, Any]]:
    """Re-express OKX's recorded BTC/ETH liquidations as Bybit allLiquidation frames (a STAND-IN).

    No Bybit liquidation of BTCUSDT or ETHUSDT was recorded: only the two live frames (ICPUSDT,
    MARSCOINUSDT), so a client watching BTC or ETH would never get one. The events here are OKX's real
    ones (tests/data/fixtures/okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv) in the live frame's
    exact shape: s is the OKX family without the dash (BTC-USDT -> BTCUSDT), S is posSide (long ->
    "Buy"), v is OKX's size in contracts times the contract value (0.01 BTC, 0.1 ETH), p is OKX's
    bankruptcy price (Bybit's p is a bankruptcy price too), T is OKX's time (whole seconds). Records of
    the same second and symbol share one frame, whose ts is that second. The same events are what the
    OKX venue replays, so a consumer adding up venues counts them on both.
    """
    ct_val = {i["uly"]: Decimal(i["ctVal"]) for i in SWAP_INSTRUMENTS}
    frames = []
    by_second = sorted(okx_liquidations, key=lambda r: (r.ts_ms, r.uly))  # stable: recorded order kept
    for (ts, uly), group in itertools.groupby(by_second, key=lambda r: (r.ts_ms, r.uly)):
        symbol = uly.replace("-", "")
        frames.append(
            {
                "topic": f"allLiquidation.{symbol}",
                "type": "snapshot",
                "ts": ts,
                "data": [
                    {
                        "T": ts,
                        "s": symbol,
                        "S": _BYBIT_POSITION_SIDE[liq.pos_side],
                        "v": plain(Decimal(liq.sz) * ct_val[uly]),
                        "p": liq.bk_px,
                    }
                    for liq in group
                ],
            }
        )
    return frames


def bybit_envelope(result: Any, ret_code: int = 0, ret_msg: str = "OK", *, now_ms: int) -> dict[str, Any]:
    """Wrap a result in Bybit's v5 envelope {"retCode","retMsg","result","retExtInfo","time"}."""
    return {"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {}, "time": now_ms}


class BybitVenue:
    """Bybit v5 public linear market data on one emulated host."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = WsVenue("bybit", ctx.config.bybit_ws)

    def routes(self) -> list[web.RouteDef]:
        """Return the HTTP and websocket routes of Bybit v5."""
        return [
            web.get("/v5/market/tickers", self.tickers),
            web.get("/v5/market/instruments-info", self.instruments_info),
            web.get("/v5/public/linear", self.ws_linear),
        ]

    # -- REST ------------------------------------------------------------------------------------------
    def _ticker(self, symbol: str) -> dict[str, str] | None:
        """Build the linear ticker of a symbol with recorded price, open interest and funding.

        The values are Binance's (spot candles for prices, CoinGlass's Binance BTCUSDT open interest and
        funding) standing in for Bybit's, since no Bybit series was recorded; ETHUSDT's open interest and
        funding are SYNTHETIC, made from BTC's (data.derive_market_hours). Mark and index price are
        the last price. Order-book fields (bid1/ask1) are left out: no order book was recorded.
        """
        data, now = self.ctx.data, self.ctx.clock.recorded_now_ms()
        candle = data.candle_at(symbol, now)
        hour = data.market_hour_at(symbol, now)
        ago_24h, ago_1h = data.candle_at(symbol, now - DAY_MS), data.candle_at(symbol, now - HOUR_MS)
        if candle is None or hour is None or ago_24h is None or ago_1h is None:
            return None
        window = [c for c in data.spot[symbol] if now - DAY_MS < c.open_time <= now]
        listing = self.ctx.listings.bybit_linear.get(symbol)
        interval = listing.interval_ms if listing is not None and listing.interval_ms else 8 * HOUR_MS
        last = candle.close
        # Bybit prints prices to each instrument's priceScale: 2 places for BTC and ETH, more for coins
        # worth less (1000PEPEUSDT has 7); a stand-in symbol gets enough places to keep its price.
        places = 2 if last >= 100 else 4 if last >= 1 else 8
        return {
            "symbol": symbol,
            "lastPrice": fixed(last, places),
            "indexPrice": fixed(last, places),
            "markPrice": fixed(last, places),
            "prevPrice24h": fixed(ago_24h.close, places),
            "price24hPcnt": fixed(last / ago_24h.close - 1, 6),
            "highPrice24h": fixed(max(c.high for c in window), places),
            "lowPrice24h": fixed(min(c.low for c in window), places),
            "prevPrice1h": fixed(ago_1h.close, places),
            "openInterest": fixed(hour.oi_close_usd / hour.price_close, 3),
            "openInterestValue": fixed(hour.oi_close_usd, 2),
            "turnover24h": fixed(sum((c.quote_volume for c in window), Decimal(0)), 4),
            "volume24h": fixed(sum((c.volume for c in window), Decimal(0)), 3),
            "fundingRate": plain(fixed(hour.funding_close_pct / 100, 8)),
            "nextFundingTime": str(self.ctx.next_funding_ms(interval)),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "fundingIntervalHour": str(interval // HOUR_MS),
        }

    async def tickers(self, request: web.Request) -> web.Response:
        """GET /v5/market/tickers?category=linear[&symbol=]: HTTP 200 even for errors, as Bybit does."""
        now = self.ctx.clock.now_ms()
        category = request.query.get("category", "")
        if category not in CATEGORIES:
            return json_response(bybit_envelope({}, 10001, "Illegal category", now_ms=now))
        if category != "linear":
            return json_response(bybit_envelope({"category": category, "list": []}, now_ms=now))
        symbol = request.query.get("symbol")
        if symbol and not self.ctx.listed(self.ctx.listings.bybit_linear, symbol):
            return json_response(bybit_envelope({}, 10001, "Not supported symbols", now_ms=now))
        symbols = [symbol] if symbol else sorted(self.ctx.data.market_hours)
        items = [t for t in (self._ticker(s) for s in symbols) if t is not None]
        if symbol and not items:
            return json_response(bybit_envelope({}, 10001, "Not supported symbols", now_ms=now))
        return json_response(bybit_envelope({"category": "linear", "list": items}, now_ms=now))

    async def instruments_info(self, request: web.Request) -> web.Response:
        """GET /v5/market/instruments-info: Trading symbols by default, 500 a page (limit 1..1000), cursor.

        As documented in docs/v5/market/instrument.mdx: status filters (only Trading by default for
        linear/inverse), pagination through nextPageCursor; the cursor here is an opaque offset.
        """
        now = self.ctx.clock.now_ms()
        category = request.query.get("category", "")
        if category not in CATEGORIES:
            return json_response(bybit_envelope({}, 10001, "Illegal category", now_ms=now))
        try:
            limit = int(request.query.get("limit", "500"))
            offset = int(request.query.get("cursor") or 0)
        except ValueError:
            return json_response(bybit_envelope({}, 10001, "params error: limit or cursor", now_ms=now))
        if not 1 <= limit <= 1000:
            return json_response(bybit_envelope({}, 10001, "params error: limit", now_ms=now))
        status = request.query.get("status", "Trading")
        items = [i for i in self.ctx.listings.bybit_items(category) if i["status"] == status]
        symbol = request.query.get("symbol")
        if symbol:
            items = [i for i in items if i["symbol"] == symbol]
        page = items[offset : offset + limit]
        cursor = str(offset + limit) if offset + limit < len(items) else ""
        result = {"category": category, "list": page, "nextPageCursor": cursor}
        return json_response(bybit_envelope(result, now_ms=now))

    # -- websocket ---------------------------------------------------------------------------------------
    async def ws_linear(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://stream.bybit.com/v5/public/linear."""
        return await self.ws.serve(request, "linear", self._on_text)

    async def _on_text(self, conn: WsConn, text: str) -> None:
        try:
            message = json.loads(text)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            await self.ws.send(
                conn, {"success": False, "ret_msg": "error:invalid op", "conn_id": conn.conn_id, "op": ""}
            )
            return
        req_id = str(message.get("req_id", ""))
        reply = {"success": True, "ret_msg": "", "conn_id": conn.conn_id, "req_id": req_id, "op": op}
        if op == "ping":
            # The linear/inverse pong documented in docs/v5/websocket/wss-authentication.mdx.
            reply["ret_msg"] = "pong"
        elif op in ("subscribe", "unsubscribe"):
            args = [str(a) for a in message.get("args", [])]
            error = self._topic_error(conn, op, args)
            if error:
                reply.update(success=False, ret_msg=error)
            elif op == "subscribe":
                conn.subscriptions.update(args)
            else:
                conn.subscriptions.difference_update(args)
        else:
            reply.update(success=False, ret_msg=f"error:unsupported op {op}")
        await self.ws.send(conn, reply)

    def listed(self) -> frozenset[str]:
        """Return the linear symbols this emulated Bybit trades: its list, and the captured frames' ones."""
        frames = self.ctx.data.live_frames["bybit"]
        trading = {s for s, i in self.ctx.listings.bybit_linear.items() if i.status == "Trading"}
        return frozenset(trading) | {str(f["topic"]).split(".", 1)[1] for f in frames}

    def _topic_error(self, conn: WsConn, op: str, args: list[str]) -> str:
        # Failure texts are Bybit's "error:<reason>,topic:<topic>" form; their exact wording is not in
        # the public docs [unverified]. The retired liquidation.{symbol} topic is refused so that a feed
        # still using it fails loudly here. A symbol-scoped topic of a symbol Bybit does not list is
        # refused as Bybit does, "Invalid symbol :[<topic>]" (the wording clients report; [unverified]
        # against the docs, which document only the success:false shape).
        for topic in args:
            if not topic.startswith(KNOWN_TOPIC_PREFIXES):
                return f"error:handler not found,topic:{topic}"
            if op == "subscribe" and topic in conn.subscriptions:
                return f"error:already subscribed,topic:{topic}"
            symbol = topic.removeprefix("allLiquidation.")
            if op == "subscribe" and topic.startswith("allLiquidation.") and symbol not in self.listed():
                return f"Invalid symbol :[{topic}]"
        return ""

    async def push(self, frame: Any) -> int:
        """Push an allLiquidation frame to connections subscribed to its topic; a str goes to all."""
        if isinstance(frame, str):
            return await self.ws.broadcast(lambda conn: frame)
        topic = frame.get("topic")
        return await self.ws.broadcast(lambda conn: frame if topic in conn.subscriptions else None)

    def replay_frames(self) -> Iterator[dict[str, Any]]:
        """Yield allLiquidation frames forever, restamped to now when shifted.

        Each round is the two live captured frames (ICPUSDT, MARSCOINUSDT), then the BTCUSDT and
        ETHUSDT frames made from OKX's recorded events (see stand_in_frames).
        """
        frames = [*self.ctx.data.live_frames["bybit"], *stand_in_frames(self.ctx.data.okx_liquidations)]
        while True:
            for recorded in frames:
                frame = copy.deepcopy(recorded)
                if self.ctx.clock.shifted:
                    now = self.ctx.clock.now_ms()
                    for item in frame["data"]:
                        item["T"] = now - (recorded["ts"] - item["T"])
                    frame["ts"] = now
                yield frame

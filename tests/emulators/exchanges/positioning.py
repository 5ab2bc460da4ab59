"""Positioning endpoints: Binance long/short ratios, Bybit account ratio, Deribit DVOL, Hyperliquid /info.

What each venue documents and this emulator enforces:

- Binance ``/futures/data/{globalLongShortAccountRatio, topLongShortAccountRatio, topLongShortPosition
  Ratio, takerlongshortRatio}``: ``symbol`` and ``period`` (5m 15m 30m 1h 2h 4h 6h 12h 1d) mandatory,
  ``limit`` default 30, max 500, only the latest 30 days, ``timestamp`` a string of ms (as in
  openInterestHist); an unknown period is 400 -1130, an unlisted symbol 400 -1121.
- Bybit ``/v5/market/account-ratio``: ``category`` linear|inverse, ``symbol``, ``period`` (5min 15min
  30min 1h 4h 1d), ``limit`` [1, 500] default 50; errors as HTTP 200 with retCode 10001.
- Deribit ``/api/v2/public/get_volatility_index_data``: ``currency`` (BTC, ETH here), ``start_timestamp``,
  ``end_timestamp`` and ``resolution`` (1, 60, 3600, 43200 or 1D) mandatory; JSON-RPC envelope; at most
  1000 candles, ``continuation`` the ``end_timestamp`` of the next (older) page else null; a bad parameter
  is HTTP 400 with ``error`` code -32602 "Invalid params". [unverified: the page size of 1000.] Every
  Deribit request draws on one credit pool (``CreditBucket``): past it ``too_many_requests`` (10028).
- OKX ``/api/v5/public/open-interest``: ``instType`` mandatory (SWAP, FUTURES, OPTION, EVENTS), optional
  ``instId``; ``/api/v5/public/funding-rate``: ``instId`` mandatory; errors as HTTP 200 with ``code``
  50014 (parameter empty), 51000 (parameter error) or 51001 (instrument ID does not exist).
- Binance ``/fapi/v1/depth``: ``symbol`` mandatory, ``limit`` one of 5 10 20 50 100 500 1000 (default 500,
  else 400 -1130); Bybit ``/v5/market/orderbook``: ``category``, ``symbol``, ``limit`` [1, 200] for linear
  (default 25). The books are SYNTHETIC: levels one (Binance) or half a (Bybit) basis point apart around the
  hour's close, so Bybit's 200 levels reach ±1 % and not ±2 %, as a real BTC snapshot stops short.
- Hyperliquid ``{"type": "metaAndAssetCtxs"}``: ``[meta, assetCtxs]`` in universe order, served by the one
  ``POST /info`` route of hyperliquid_info.py (with clearinghouseState and the IP's weight limit); a body
  that is not JSON or names an unknown type is HTTP 422 (the venue's serde error).

The figures are SYNTHETIC, made deterministically from the recorded market hours (no venue's ratio, DVOL
or Hyperliquid history was recorded): the long share leans with the hour's price move and open-interest
change, DVOL is the annualised realised volatility of the 24 hours before plus 10 points, Hyperliquid's
open interest is 12 % of Binance's (in coins) and its hourly funding Binance's 8-hour rate / 8; OKX's
open interest is 40 % of Binance's and its upcoming rate Binance's. The
payload shapes are the documented ones (tests/data/corpus/README.md).
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from .bybit import bybit_envelope
from .context import Context, fixed, json_response
from .data import DAY_MS, HOUR_MS, MarketHour
from .okx import SWAP_INSTRUMENTS

RATIO_PATHS = {
    "globalLongShortAccountRatio": 0.0,
    "topLongShortAccountRatio": 0.03,
    "topLongShortPositionRatio": 0.06,
    "takerlongshortRatio": -0.02,
}
BINANCE_PERIODS = {
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "12h": 720,
    "1d": 1440,
}
BYBIT_PERIODS = {"5min": 5, "15min": 15, "30min": 30, "1h": 60, "4h": 240, "1d": 1440}
DVOL_RESOLUTIONS = {"1": 1_000, "60": 60_000, "3600": HOUR_MS, "43200": 12 * HOUR_MS, "1D": DAY_MS}
DVOL_PAGE = 1000
HYPERLIQUID_COINS = ("BTC", "ETH")


def long_share(hour: MarketHour, lean: float) -> float:
    """Return a SYNTHETIC long share: 0.55 plus a lean, moved by the hour's price and OI change."""
    move = float((hour.price_close / hour.price_open - 1) * 100)
    build = float((hour.oi_close_usd / hour.oi_open_usd - 1) * 100) if hour.oi_open_usd else 0.0
    return min(0.85, max(0.15, 0.55 + lean + 0.05 * math.tanh(move) + 0.05 * math.tanh(build)))


def binance_error(status: int, code: int, msg: str) -> web.Response:
    """Return Binance's error body."""
    return json_response({"code": code, "msg": msg}, status=status)


class CreditBucket:
    """Deribit's credit-based limit of non-matching-engine requests, a leaky bucket per IP.

    Deribit's *Rate Limits* article: each request costs credits, refilled continuously; with none left the
    request is refused with ``too_many_requests`` (code 10028). The default figures for a public caller
    (500 credits a request, 50,000 at most, 10,000 refilled a second: ~20 a second, bursts of 100) are
    those client libraries quote from it [unverified against the page itself]; the HTTP status of the
    refusal (429 here) is not stated there [unverified].
    """

    def __init__(
        self, cost: int = 500, most: int = 50_000, refill_per_s: int = 10_000, now: Any = time.monotonic
    ) -> None:
        self.cost, self.most, self.refill_per_s, self.now = cost, most, refill_per_s, now
        self.credits = float(most)
        self.at = now()

    def charge(self) -> bool:
        """Spend one request's credits and return True, or False (refused) when too few are left."""
        t = self.now()
        self.credits = min(self.most, self.credits + (t - self.at) * self.refill_per_s)
        self.at = t
        if self.credits < self.cost:
            return False
        self.credits -= self.cost
        return True


def deribit_too_many() -> web.Response:
    """Return Deribit's ``too_many_requests`` refusal."""
    body = {"jsonrpc": "2.0", "error": {"message": "too_many_requests", "code": 10028}}
    return json_response(body, status=429)


def deribit_error(reason: str, param: str) -> web.Response:
    """Return Deribit's JSON-RPC "Invalid params" error."""
    body = {
        "jsonrpc": "2.0",
        "error": {"message": "Invalid params", "data": {"reason": reason, "param": param}, "code": -32602},
    }
    return json_response(body, status=400)


def deribit_result(result: Any, now_ms: int) -> web.Response:
    """Return a Deribit JSON-RPC answer holding ``result``, timed as the venue times it (microseconds)."""
    now_us = now_ms * 1000
    body = {
        "jsonrpc": "2.0",
        "result": result,
        "usIn": now_us,
        "usOut": now_us + 150,
        "usDiff": 150,
        "testnet": False,
    }
    return json_response(body)


class PositioningVenue:
    """Binance and Bybit long/short ratios, Deribit DVOL and Hyperliquid asset contexts on one host."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Shared with positioning_venues.py's book summaries: one IP's Deribit requests draw on one pool.
        self.deribit_credits = CreditBucket()

    def routes(self) -> list[web.RouteDef]:
        """Return the routes."""
        return [
            *(web.get(f"/futures/data/{name}", self._binance_handler(name)) for name in RATIO_PATHS),
            web.get("/v5/market/account-ratio", self.bybit_account_ratio),
            web.get("/api/v2/public/get_volatility_index_data", self.deribit_dvol),
            web.get("/api/v5/public/open-interest", self.okx_open_interest),
            web.get("/api/v5/public/funding-rate", self.okx_funding_rate),
            web.get("/fapi/v1/depth", self.binance_depth),
            web.get("/v5/market/orderbook", self.bybit_orderbook),
        ]

    # -- Binance ---------------------------------------------------------------------------------------
    def _points(self, symbol: str, step_ms: int, days: int) -> list[tuple[int, MarketHour]]:
        """Return (recorded ts, its market hour) every ``step_ms`` over the last ``days`` before now."""
        now = self.ctx.clock.recorded_now_ms()
        oldest = now - days * DAY_MS
        points = []
        for hour in self.ctx.data.market_hours.get(symbol, []):
            for t in range(hour.ts, hour.ts + max(HOUR_MS, step_ms), step_ms):
                if oldest <= t <= now and t % step_ms == 0 and t < hour.ts + HOUR_MS:
                    points.append((t, hour))
        return points

    def _binance_handler(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return self.binance_ratio(request, name)

        return handle

    def binance_ratio(self, request: web.Request, name: str) -> web.Response:
        """GET /futures/data/<ratio>: the latest 30 days, limit default 30, max 500, newest kept."""
        query = request.query
        symbol, period = query.get("symbol"), query.get("period")
        if not symbol or not period:
            missing = "symbol" if not symbol else "period"
            return binance_error(
                400, -1102, f"Mandatory parameter '{missing}' was not sent, was empty/null, or malformed."
            )
        if period not in BINANCE_PERIODS:
            return binance_error(400, -1130, "Invalid data sent for a parameter.")
        if not self.ctx.listed(self.ctx.listings.futures, symbol) or symbol not in self.ctx.data.market_hours:
            return binance_error(400, -1121, "Invalid symbol.")
        try:
            limit = min(int(query.get("limit", "30")), 500)
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return binance_error(400, -1100, "Illegal characters found in a parameter.")
        points = self._points(symbol, BINANCE_PERIODS[period] * 60_000, 30)
        picked = self.ctx.window(points, lambda p: p[0], start=start, end=end, limit=limit)
        lean = RATIO_PATHS[name]
        return json_response([self._binance_row(name, symbol, t, h, lean) for t, h in picked])

    def _binance_row(self, name: str, symbol: str, t: int, hour: MarketHour, lean: float) -> dict[str, Any]:
        share = long_share(hour, lean)
        stamp = str(self.ctx.clock.served(t))
        if name == "takerlongshortRatio":
            total = float(hour.oi_close_usd / hour.price_close) / 500
            buy, sell = total * share, total * (1 - share)
            return {
                "buySellRatio": f"{buy / sell:.4f}",
                "buyVol": f"{buy:.4f}",
                "sellVol": f"{sell:.4f}",
                "timestamp": stamp,
            }
        return {
            "symbol": symbol,
            "longShortRatio": f"{share / (1 - share):.4f}",
            "longAccount": f"{share:.4f}",
            "shortAccount": f"{1 - share:.4f}",
            "timestamp": stamp,
        }

    # -- Bybit -----------------------------------------------------------------------------------------
    async def bybit_account_ratio(self, request: web.Request) -> web.Response:
        """GET /v5/market/account-ratio: HTTP 200 with retCode 10001 for every parameter error."""
        now = self.ctx.clock.now_ms()
        query = request.query

        def refuse(message: str) -> web.Response:
            return json_response(bybit_envelope({}, 10001, message, now_ms=now))

        if query.get("category") not in ("linear", "inverse"):
            return refuse("Illegal category")
        period = query.get("period", "")
        if period not in BYBIT_PERIODS:
            return refuse("params error: period")
        symbol = query.get("symbol", "")
        if (
            not self.ctx.listed(self.ctx.listings.bybit_linear, symbol)
            or symbol not in self.ctx.data.market_hours
        ):
            return refuse("Not supported symbols")
        try:
            limit = int(query.get("limit", "50"))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return refuse("params error: limit")
        if not 1 <= limit <= 500:
            return refuse("params error: limit")
        points = self._points(symbol, BYBIT_PERIODS[period] * 60_000, 3650)
        picked = self.ctx.window(points, lambda p: p[0], start=start, end=end, limit=limit)
        rows = [
            {
                "symbol": symbol,
                "buyRatio": f"{long_share(h, -0.02):.4f}",
                "sellRatio": f"{1 - long_share(h, -0.02):.4f}",
                "timestamp": str(self.ctx.clock.served(t)),
            }
            for t, h in reversed(picked)  # Bybit lists newest first
        ]
        return json_response(bybit_envelope({"list": rows, "nextPageCursor": ""}, now_ms=now))

    # -- Deribit ---------------------------------------------------------------------------------------
    def _dvol_at(self, symbol: str, t: int) -> float | None:
        """Return the SYNTHETIC DVOL at recorded ``t``: realised volatility of the 24 h before, plus 10."""
        hours = [h for h in self.ctx.data.market_hours.get(symbol, []) if t - DAY_MS <= h.ts < t]
        if len(hours) < 12:
            return None
        returns = [math.log(float(h.price_close / h.price_open)) for h in hours]
        mean = sum(returns) / len(returns)
        var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        return round(math.sqrt(var * 24 * 365) * 100 + 10, 2)

    async def deribit_dvol(self, request: web.Request) -> web.Response:
        """GET /api/v2/public/get_volatility_index_data: [ts, o, h, l, c] ascending, 1000 a page."""
        if not self.deribit_credits.charge():
            return deribit_too_many()
        query = request.query
        currency = query.get("currency", "")
        if currency not in ("BTC", "ETH"):
            return deribit_error("wrong format", "currency")
        resolution = query.get("resolution", "")
        if resolution not in DVOL_RESOLUTIONS:
            return deribit_error("wrong format", "resolution")
        try:
            start = self.ctx.clock.recorded(int(query["start_timestamp"]))
            end = self.ctx.clock.recorded(int(query["end_timestamp"]))
        except (KeyError, ValueError):
            return deribit_error("must be an integer", "start_timestamp")
        step = max(DVOL_RESOLUTIONS[resolution], 60_000)
        end = min(end, self.ctx.clock.recorded_now_ms())
        times = list(range(start - start % step + (step if start % step else 0), end + 1, step))
        continuation = None
        if len(times) > DVOL_PAGE:
            continuation = self.ctx.clock.served(times[-DVOL_PAGE - 1])
            times = times[-DVOL_PAGE:]
        symbol = f"{currency}USDT"
        data = []
        for t in times:
            value = self._dvol_at(symbol, t)
            if value is not None:
                data.append([self.ctx.clock.served(t), value, value, value, value])
        result = {"data": data, "continuation": continuation}
        return deribit_result(result, self.ctx.clock.now_ms())

    # -- Hyperliquid -----------------------------------------------------------------------------------
    def hyperliquid_asset_ctxs(self) -> list[Any]:
        """Return the ``metaAndAssetCtxs`` answer, [meta, assetCtxs] (hyperliquid_info.py serves it)."""
        now = self.ctx.clock.recorded_now_ms()
        universe, contexts = [], []
        for coin in HYPERLIQUID_COINS:
            hour = self.ctx.data.market_hour_at(f"{coin}USDT", now)
            if hour is None:
                continue
            universe.append({"name": coin, "szDecimals": 5 if coin == "BTC" else 4, "maxLeverage": 40})
            coins_open = hour.oi_close_usd / hour.price_close * Decimal("0.12")
            contexts.append(
                {
                    "funding": f"{hour.funding_close_pct / 100 / 8:.10f}",
                    "openInterest": fixed(coins_open, 5),
                    "prevDayPx": fixed(hour.price_open, 1),
                    "dayNtlVlm": "0.0",
                    "premium": "0.0",
                    "oraclePx": fixed(hour.price_close, 1),
                    "markPx": fixed(hour.price_close, 1),
                    "midPx": fixed(hour.price_close, 1),
                    "impactPxs": [fixed(hour.price_close, 1), fixed(hour.price_close, 1)],
                    "dayBaseVlm": "0.0",
                }
            )
        return [{"universe": universe}, contexts]

    # -- OKX -------------------------------------------------------------------------------------------
    def _okx_hour(self, inst_id: str) -> MarketHour | None:
        """Return the market hour now of a swap the emulator lists (BTC-/ETH-USDT-SWAP)."""
        if inst_id not in {i["instId"] for i in SWAP_INSTRUMENTS}:
            return None
        symbol = inst_id.removesuffix("-SWAP").replace("-", "")
        return self.ctx.data.market_hour_at(symbol, self.ctx.clock.recorded_now_ms())

    @staticmethod
    def _okx(data: list[dict[str, Any]], code: str = "0", msg: str = "") -> web.Response:
        return json_response({"code": code, "msg": msg, "data": data})

    async def okx_open_interest(self, request: web.Request) -> web.Response:
        """GET /api/v5/public/open-interest: every listed swap (or one), contracts, coins and USD."""
        inst_type = request.query.get("instType", "")
        if not inst_type:
            return self._okx([], "50014", "Parameter instType can not be empty")
        if inst_type not in ("SWAP", "FUTURES", "OPTION", "EVENTS"):
            return self._okx([], "51000", "Parameter instType error")
        wanted = request.query.get("instId")
        rows = []
        for inst in SWAP_INSTRUMENTS if inst_type == "SWAP" else []:
            hour = self._okx_hour(inst["instId"])
            if hour is None or (wanted and inst["instId"] != wanted):
                continue
            coins = hour.oi_close_usd / hour.price_close * Decimal("0.4")
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": inst["instId"],
                    "oi": fixed(coins / Decimal(inst["ctVal"]), 2),
                    "oiCcy": fixed(coins, 4),
                    "oiUsd": fixed(coins * hour.price_close, 2),
                    "ts": str(self.ctx.clock.now_ms()),
                }
            )
        return self._okx(rows)

    async def okx_funding_rate(self, request: web.Request) -> web.Response:
        """GET /api/v5/public/funding-rate?instId=: the upcoming settlement's rate, 8-hourly."""
        inst_id = request.query.get("instId", "")
        if not inst_id:
            return self._okx([], "50014", "Parameter instId can not be empty")
        hour = self._okx_hour(inst_id)
        if hour is None:
            return self._okx([], "51001", "Instrument ID does not exist")
        upcoming = self.ctx.next_funding_ms()
        row = {
            "formulaType": "withRate",
            "fundingRate": f"{hour.funding_close_pct / 100:.16f}",
            "fundingTime": str(upcoming),
            "instId": inst_id,
            "instType": "SWAP",
            "method": "current_period",
            "nextFundingTime": str(upcoming + 8 * HOUR_MS),
            "settState": "settled",
            "ts": str(self.ctx.clock.now_ms()),
        }
        return self._okx([row])

    # -- order books -----------------------------------------------------------------------------------
    def _book(
        self, symbol: str, levels: int, step_bp: float
    ) -> tuple[list[list[str]], list[list[str]]] | None:
        """Return SYNTHETIC (bids, asks): ``levels`` a side, ``step_bp`` apart, growing with distance."""
        hour = self.ctx.data.market_hour_at(symbol, self.ctx.clock.recorded_now_ms())
        if hour is None:
            return None
        mid = float(hour.price_close)
        size = 50_000 / mid  # $50k a level near the mid
        bids = [
            [f"{mid * (1 - (k + 0.5) * step_bp / 10_000):.2f}", f"{size * (1 + k / 100):.4f}"]
            for k in range(levels)
        ]
        asks = [
            [f"{mid * (1 + (k + 0.5) * step_bp / 10_000):.2f}", f"{size * (1 + k / 100):.4f}"]
            for k in range(levels)
        ]
        return bids, asks

    async def binance_depth(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/depth: limit one of the documented sizes, default 500."""
        symbol = request.query.get("symbol", "")
        limit = request.query.get("limit", "500")
        if limit not in ("5", "10", "20", "50", "100", "500", "1000"):
            return binance_error(400, -1130, "Invalid data sent for a parameter.")
        book = (
            self._book(symbol, int(limit), 1.0)
            if self.ctx.listed(self.ctx.listings.futures, symbol)
            else None
        )
        if book is None:
            return binance_error(400, -1121, "Invalid symbol.")
        now = self.ctx.clock.now_ms()
        return json_response({"lastUpdateId": 1, "E": now, "T": now, "bids": book[0], "asks": book[1]})

    async def bybit_orderbook(self, request: web.Request) -> web.Response:
        """GET /v5/market/orderbook: linear limit [1, 200], default 25; errors as retCode 10001."""
        now = self.ctx.clock.now_ms()
        query = request.query
        if query.get("category") not in ("spot", "linear", "inverse", "option"):
            return json_response(bybit_envelope({}, 10001, "Illegal category", now_ms=now))
        try:
            limit = int(query.get("limit", "25"))
        except ValueError:
            return json_response(bybit_envelope({}, 10001, "params error: limit", now_ms=now))
        if not 1 <= limit <= 200:
            return json_response(bybit_envelope({}, 10001, "params error: limit", now_ms=now))
        symbol = query.get("symbol", "")
        listed = self.ctx.listed(self.ctx.listings.bybit_linear, symbol)
        book = self._book(symbol, limit, 0.5) if listed else None
        if book is None:
            return json_response(bybit_envelope({}, 10001, "Not supported symbols", now_ms=now))
        result = {"s": symbol, "b": book[0], "a": book[1], "ts": now, "u": 1, "seq": 1, "cts": now}
        return json_response(bybit_envelope(result, now_ms=now))

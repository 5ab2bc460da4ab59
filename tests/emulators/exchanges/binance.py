"""Binance spot and USD-M futures: weight limits, geo-block, liquidation and kline streams."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web

from .binance_klines import KlineStreams
from .context import Context, fixed, json_response
from .data import DAY_MS, HOUR_MS, INTERVAL_MS, MINUTE_MS, WEEK_MS, Candle
from .ws import WsConn, WsVenue

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# Every interval Binance accepts; the emulator serves those in data.INTERVAL_MS and answers [] otherwise.
BINANCE_INTERVALS = {
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
}
OI_HIST_PERIODS = {
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
FORCE_ORDER_ALL = "!forceOrder@arr"
# Seen verbatim in ccxt issues #16044/#15872 for api.binance.com and fapi.binance.com from US IPs.
GEO_BLOCK_BODY = {
    "code": 0,
    "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received this "
    "message in error.",
}
MAX_BAN_SECONDS = 3 * 86_400.0


def binance_error(status: int, code: int, msg: str) -> web.Response:
    """Return Binance's error envelope, e.g. HTTP 400 {"code":-1121,"msg":"Invalid symbol."}."""
    return json_response({"code": code, "msg": msg}, status=status)


class BadParam(Exception):
    """A request parameter Binance would reject; carries the error response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


def _mandatory(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise BadParam(
            binance_error(
                400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        )
    return value


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 20:
        raise BadParam(
            binance_error(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
            )
        )
    return int(value)


class WeightLimiter:
    """Binance's per-IP request-weight window, with 429 then an escalating 418 ban.

    Documented behaviour reproduced: every response carries the weight used in the current window;
    going over the limit gives 429 with Retry-After (seconds to the window's end); a client that keeps
    sending during that wait is banned with 418 and a Retry-After for the ban, and bans grow for repeat
    offenders (2 minutes up to 3 days).
    """

    def __init__(
        self, limit: int, window: float, ban_seconds: float, now: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window
        self.ban_seconds = ban_seconds
        self._now = now
        # Binance aligns windows to the wall-clock minute; here they are aligned to the limiter's start,
        # so a test with a short window knows where the window boundaries fall.
        self._epoch = now()
        self.used = 0
        self._window_start = self._epoch
        self._limited_until = 0.0
        self._banned_until = 0.0
        self.bans = 0

    def _align(self, t: float) -> float:
        return self._epoch + math.floor((t - self._epoch) / self.window) * self.window

    def charge(self, weight: int) -> tuple[int, float | None]:
        """Count one request of this weight; return (HTTP status, Retry-After seconds or None)."""
        now = self._now()
        if now < self._banned_until:
            return 418, self._banned_until - now
        if now >= self._window_start + self.window:
            self._window_start = self._align(now)
            self.used = 0
        if now < self._limited_until:
            # Still sending while told to wait: an IP ban, longer for every repeat.
            duration = min(self.ban_seconds * 2**self.bans, MAX_BAN_SECONDS)
            self.bans += 1
            self._banned_until = now + duration
            return 418, duration
        if self.used + weight > self.limit:
            self._limited_until = self._window_start + self.window
            return 429, self._limited_until - now
        self.used += weight
        return 200, None


class RequestWindow:
    """An endpoint's own request limit per IP (sliding window), beside the weight: 429 past it."""

    def __init__(self, limit: int, window: float, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self.sent: list[float] = []
        self.refused = 0

    def charge(self) -> float | None:
        """Count one request; return None if allowed, else the seconds until a slot frees (Retry-After)."""
        now = self._now()
        self.sent = [t for t in self.sent if t > now - self.window]
        if len(self.sent) >= self.limit:
            self.refused += 1
            return self.sent[0] + self.window - now
        self.sent.append(now)
        return None


def _kline_row(
    candle: Candle, step: int, offset: int, price_places: int, qty_places: int, quote_places: int
) -> list[Any]:
    # Element order per the spot docs: open time, o, h, l, c, volume, close time, quote volume, trades,
    # taker-buy base, taker-buy quote, unused. Taker-buy volumes were not recorded: served as zero.
    return [
        candle.open_time + offset,
        fixed(candle.open, price_places),
        fixed(candle.high, price_places),
        fixed(candle.low, price_places),
        fixed(candle.close, price_places),
        fixed(candle.volume, qty_places),
        candle.open_time + offset + step - 1,
        fixed(candle.quote_volume, quote_places),
        candle.trades,
        fixed(Decimal(0), qty_places),
        fixed(Decimal(0), quote_places),
        "0",
    ]


def _futures_klines_weight(limit: int) -> int:
    # USD-M klines weight by limit: [1,100) 1, [100,500) 2, [500,1000] 5, >1000 10.
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


class BinanceVenue:
    """Binance spot (api.binance.com) and USD-M futures (fapi.binance.com) on one emulated host."""

    def __init__(self, ctx: Context) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.spot_weight = WeightLimiter(cfg.spot_weight_limit, cfg.weight_window, cfg.ban_seconds)
        self.futures_weight = WeightLimiter(cfg.futures_weight_limit, cfg.weight_window, cfg.ban_seconds)
        self.geo_block = cfg.geo_block
        self.ws = WsVenue("binance", cfg.binance_ws)
        # /ws and /stream: the paths of the spot stream host (stream.binance.com, data-stream.binance.vision),
        # serving kline streams under spot's limits. They are also USD-M's retired paths (2026-04-23): a
        # futures client that did not migrate connects fine and sees no liquidations at all.
        self.legacy_ws = WsVenue("binance-spot", cfg.binance_spot_ws)
        self.klines = KlineStreams(
            ctx, self.legacy_ws, cfg.kline_push_s, lambda s: ctx.listed(ctx.listings.spot, s)
        )
        self._oi_hist: dict[tuple[str, str], list[tuple[int, Decimal, Decimal]]] = {}
        self.funding_window = RequestWindow(*cfg.funding_rate_limit)
        self.oi_hist_window = RequestWindow(*cfg.oi_hist_limit)

    def routes(self) -> list[web.RouteDef]:
        """Return the HTTP and websocket routes of Binance spot and USD-M."""
        return [
            web.get("/api/v3/klines", self.spot_klines),
            web.get("/api/v3/exchangeInfo", self.spot_exchange_info),
            web.get("/fapi/v1/exchangeInfo", self.futures_exchange_info),
            web.get("/fapi/v1/fundingInfo", self.funding_info),
            web.get("/fapi/v1/klines", self.futures_klines),
            web.get("/fapi/v1/premiumIndex", self.premium_index),
            web.get("/fapi/v1/fundingRate", self.funding_rate),
            web.get("/fapi/v1/openInterest", self.open_interest),
            web.get("/futures/data/openInterestHist", self.open_interest_hist),
            web.get("/market/ws", self.ws_raw),
            web.get("/market/ws/{stream}", self.ws_raw),
            web.get("/market/stream", self.ws_combined),
            web.get("/ws", self.ws_legacy),
            web.get("/ws/{stream}", self.ws_legacy),
            web.get("/stream", self.ws_legacy),
        ]

    # -- admission: geo-block, then weight -------------------------------------------------------------
    def _admit(self, limiter: WeightLimiter, weight: int) -> web.Response | None:
        if self.geo_block:
            return json_response(GEO_BLOCK_BODY, status=451)
        status, retry_after = limiter.charge(weight)
        if status == 200:
            return None
        if status == 429:
            body = {
                "code": -1003,
                "msg": f"Too much request weight used; current limit is {limiter.limit} request weight per "
                "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
            }
        else:
            until = self.ctx.clock.now_ms() + int((retry_after or 0) * 1000)
            body = {
                "code": -1003,
                "msg": f"Way too much request weight used; IP banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
            }
        response = json_response(body, status=status)
        response.headers["Retry-After"] = str(math.ceil(retry_after or 0))
        response.headers[WEIGHT_HEADER] = str(limiter.used)
        return response

    def _answer(
        self,
        limiter: WeightLimiter,
        weight: int,
        build: Callable[[], Any],
        endpoint: RequestWindow | None = None,
    ) -> web.Response:
        # Order as on Binance: the geo-block answers first, weight is charged even for a bad request.
        denied = self._admit(limiter, weight)
        if denied is not None:
            return denied
        wait = endpoint.charge() if endpoint is not None else None
        if endpoint is not None and wait is not None:
            # [unverified] The body of a refusal by an endpoint's own limit is not documented; Binance's
            # TOO_MANY_REQUESTS code with the limit named, and Retry-After as for the weight's 429.
            response = binance_error(
                429,
                -1003,
                f"Too many requests; current limit of IP is {endpoint.limit} requests per"
                f" {endpoint.window:g} seconds for this endpoint.",
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            response.headers[WEIGHT_HEADER] = str(limiter.used)
            return response
        try:
            response = json_response(build())
        except BadParam as exc:
            response = exc.response
        response.headers[WEIGHT_HEADER] = str(limiter.used)
        return response

    # -- klines ------------------------------------------------------------------------------------------
    def _klines(
        self, request: web.Request, *, default_limit: int, max_limit: int, futures: bool
    ) -> list[Any]:
        symbol = _mandatory(request, "symbol")
        interval = _mandatory(request, "interval")
        if interval not in BINANCE_INTERVALS:
            raise BadParam(binance_error(400, -1120, "Invalid interval."))
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        limit = _int_param(request, "limit")
        if limit is None:
            limit = default_limit
        elif not 1 <= limit <= max_limit and not futures:
            # Spot documents "Default 500; max 1000" without saying what a larger value gets. Assumption
            # [unverified]: refused with Binance's generic bad-value error (-1130, the one the venue gives
            # for an out-of-range enum or number elsewhere), so a client that asks for more than it may
            # get is caught here instead of silently missing candles (a 2018 report, JKorf/Binance.Net#76,
            # describes a silent cap at 1000).
            raise BadParam(binance_error(400, -1130, "Data sent for parameter 'limit' is not valid."))
        limit = min(limit, max_limit)
        # A symbol the venue does not list (or no longer trades) is refused as Binance does.
        listings = self.ctx.listings.futures if futures else self.ctx.listings.spot
        if not self.ctx.listed(listings, symbol):
            raise BadParam(binance_error(400, -1121, "Invalid symbol."))
        series = (
            self.ctx.data.weekly(symbol, self.ctx.clock.offset_ms)
            if interval == "1w"
            else self.ctx.data.candles(symbol, interval)
        )
        if series is None:
            log.warning("binance klines: interval %s is not emulated; answering []", interval)
            return []
        clock = self.ctx.clock
        rows = self.ctx.window(series, lambda c: c.open_time, start=start, end=end, limit=limit)
        step = WEEK_MS if interval == "1w" else INTERVAL_MS[interval]
        # Spot strings carry 8 decimals; USD-M BTC/ETH carry 2 (price), 3 (qty), 5 (quote) as in the
        # recorded /fapi/v1/klines fixture. USD-M candles are the spot recording standing in (no
        # futures candles were recorded for January 2026).
        places = (2, 3, 5) if futures else (8, 8, 8)
        if not futures and interval != "1w":
            # A live price set for the stream (KlineStreams.set_price) shows in REST's forming candle too.
            rows = [self.klines.apply_price(symbol, c, interval) for c in rows]
        return [_kline_row(c, step, clock.offset_ms, *places) for c in rows]

    async def spot_klines(self, request: web.Request) -> web.Response:
        """GET /api/v3/klines: weight 2, limit default 500, max 1000."""
        return self._answer(
            self.spot_weight,
            2,
            lambda: self._klines(request, default_limit=500, max_limit=1000, futures=False),
        )

    async def futures_klines(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/klines: weight by limit, default 500, max 1500."""
        try:
            limit = min(_int_param(request, "limit") or 500, 1500)
        except BadParam as exc:
            return exc.response
        return self._answer(
            self.futures_weight,
            _futures_klines_weight(limit),
            lambda: self._klines(request, default_limit=500, max_limit=1500, futures=True),
        )

    # -- instrument lists --------------------------------------------------------------------------------
    async def spot_exchange_info(self, request: web.Request) -> web.Response:
        """GET /api/v3/exchangeInfo: every spot symbol (weight 20); see instruments.py for the list."""
        now = self.ctx.clock.now_ms()
        return self._answer(self.spot_weight, 20, lambda: self.ctx.listings.binance_spot_payload(now))

    async def futures_exchange_info(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/exchangeInfo: every USD-M contract (weight 1), from the recorded symbol list."""
        now = self.ctx.clock.now_ms()
        return self._answer(self.futures_weight, 1, lambda: self.ctx.listings.binance_futures_payload(now))

    async def funding_info(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/fundingInfo: the symbols whose funding interval (or cap) was adjusted from 8 h."""
        return self._answer(
            self.futures_weight,
            1,
            self.ctx.listings.binance_funding_info_payload,
            endpoint=self.funding_window,  # one 500 per 5 minutes budget with fundingRate
        )

    # -- premium index -----------------------------------------------------------------------------------
    def _premium_btc(self) -> dict[str, Any]:
        clock, data = self.ctx.clock, self.ctx.data
        hour = data.market_hour_at("BTCUSDT", clock.recorded_now_ms())
        if hour is None:
            raise BadParam(binance_error(400, -1121, "Invalid symbol."))
        # Mark, index and settle prices were not recorded: the hour's Binance price (CoinGlass) stands
        # in for all three. The funding rate is Binance's own BTCUSDT rate for that hour (CoinGlass gives
        # it in percent). interestRate is Binance's fixed 0.01 %, as in the recorded fixture.
        price = fixed(hour.price_close, 8)
        return {
            "symbol": "BTCUSDT",
            "markPrice": price,
            "indexPrice": price,
            "estimatedSettlePrice": price,
            "lastFundingRate": fixed(hour.funding_close_pct / 100, 8),
            "interestRate": "0.00010000",
            "nextFundingTime": self.ctx.next_funding_ms(),
            "time": clock.now_ms(),
        }

    def _premium_fixture(self, item: dict[str, Any]) -> dict[str, Any]:
        # Symbols other than BTCUSDT come from the recorded 2025-06-17 response with its values as they
        # were; only the times move to the emulator's clock, keeping each symbol's funding interval
        # (inferred from how its recorded nextFundingTime is aligned).
        interval = next(
            (
                h * HOUR_MS
                for h in (8, 4, 2, 1)
                if item["nextFundingTime"] % (h * HOUR_MS) == 0
                and item["nextFundingTime"] - item["time"] <= h * HOUR_MS
            ),
            8 * HOUR_MS,
        )
        return {
            **item,
            "nextFundingTime": self.ctx.next_funding_ms(interval),
            "time": self.ctx.clock.now_ms(),
        }

    def _premium(self, symbol: str | None) -> Any:
        items = {i["symbol"]: i for i in self.ctx.data.premium_index_fixture}
        if symbol is not None:
            if symbol == "BTCUSDT":
                return self._premium_btc()
            if symbol not in items:
                raise BadParam(binance_error(400, -1121, "Invalid symbol."))
            return self._premium_fixture(items[symbol])
        return [self._premium_btc() if s == "BTCUSDT" else self._premium_fixture(i) for s, i in items.items()]

    async def premium_index(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/premiumIndex: one object with symbol (weight 1), an array without (weight 10)."""
        symbol = request.query.get("symbol") or None
        return self._answer(self.futures_weight, 1 if symbol else 10, lambda: self._premium(symbol))

    # -- funding history ---------------------------------------------------------------------------------
    def _funding(self, request: web.Request) -> list[dict[str, Any]]:
        symbol = request.query.get("symbol") or "BTCUSDT"
        rows = (
            self.ctx.data.funding.get(symbol) if self.ctx.listed(self.ctx.listings.futures, symbol) else None
        )
        if rows is None:
            raise BadParam(binance_error(400, -1121, "Invalid symbol."))
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        limit = min(_int_param(request, "limit") or 100, 1000)
        clock = self.ctx.clock
        picked = self.ctx.window(rows, lambda r: r.funding_time, start=start, end=end, limit=limit)
        return [
            {
                "symbol": symbol,
                "fundingRate": r.funding_rate,
                "fundingTime": clock.served(r.funding_time),
                "markPrice": r.mark_price,
            }
            for r in picked
        ]

    async def funding_rate(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/fundingRate: ascending, endTime inclusive, limit default 100, max 1000."""
        return self._answer(
            self.futures_weight, 1, lambda: self._funding(request), endpoint=self.funding_window
        )

    # -- open interest -----------------------------------------------------------------------------------
    def _open_interest(self, request: web.Request) -> dict[str, Any]:
        symbol = _mandatory(request, "symbol")
        listed = self.ctx.listed(self.ctx.listings.futures, symbol)
        hour = self.ctx.data.market_hour_at(symbol, self.ctx.clock.recorded_now_ms()) if listed else None
        if hour is None:
            raise BadParam(binance_error(400, -1121, "Invalid symbol."))
        # CoinGlass records Binance BTCUSDT open interest in USD (ETHUSDT's is SYNTHETIC, made from it);
        # Binance reports base-asset units.
        return {
            "symbol": symbol,
            "openInterest": fixed(hour.oi_close_usd / hour.price_close, 3),
            "time": self.ctx.clock.now_ms(),
        }

    async def open_interest(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/openInterest: the current open interest in base-asset units (weight 1)."""
        return self._answer(self.futures_weight, 1, lambda: self._open_interest(request))

    def _oi_points(self, symbol: str, period: str) -> list[tuple[int, Decimal, Decimal]]:
        """Return (recorded ts, contracts, usd) points for an openInterestHist period.

        Points on whole hours are the market hour's OI at its open: CoinGlass's recording for BTCUSDT,
        SYNTHETIC for ETHUSDT (see data.derive_market_hours). Points for 5m/15m/30m inside an hour are
        SYNTHETIC: linear between the hour's open and close values.
        """
        key = (symbol, period)
        if key not in self._oi_hist:
            step = OI_HIST_PERIODS[period] * MINUTE_MS
            points = []
            for hour in self.ctx.data.market_hours.get(symbol, []):
                for t in range(hour.ts, hour.ts + HOUR_MS, min(step, HOUR_MS)):
                    if t % step:
                        continue
                    frac = Decimal(t - hour.ts) / HOUR_MS
                    usd = hour.oi_open_usd + (hour.oi_close_usd - hour.oi_open_usd) * frac
                    price = hour.price_open + (hour.price_close - hour.price_open) * frac
                    points.append((t, usd / price, usd))
            self._oi_hist[key] = points
        return self._oi_hist[key]

    def _oi_hist_rows(self, request: web.Request) -> list[dict[str, Any]]:
        symbol = _mandatory(request, "symbol")
        period = _mandatory(request, "period")
        if period not in OI_HIST_PERIODS:
            raise BadParam(binance_error(400, -1130, "Invalid data sent for a parameter."))
        if not self.ctx.listed(self.ctx.listings.futures, symbol) or symbol not in self.ctx.data.market_hours:
            raise BadParam(binance_error(400, -1121, "Invalid symbol."))
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        limit = min(_int_param(request, "limit") or 30, 500)
        clock = self.ctx.clock
        now = clock.recorded_now_ms()
        oldest = now - self.ctx.config.oi_hist_days * DAY_MS  # Binance keeps only the latest 30 days
        points = [p for p in self._oi_points(symbol, period) if p[0] >= oldest]
        picked = self.ctx.window(points, lambda p: p[0], start=start, end=end, limit=limit)
        return [
            {
                "symbol": symbol,
                "sumOpenInterest": fixed(contracts, 8),
                "sumOpenInterestValue": fixed(usd, 8),
                "timestamp": str(clock.served(t)),  # a string in Binance's documented example
            }
            for t, contracts, usd in picked
        ]

    async def open_interest_hist(self, request: web.Request) -> web.Response:
        """GET /futures/data/openInterestHist: period required, limit default 30, max 500, weight 0."""
        return self._answer(
            self.futures_weight, 0, lambda: self._oi_hist_rows(request), endpoint=self.oi_hist_window
        )

    # -- websocket -----------------------------------------------------------------------------------------
    async def _on_text(self, conn: WsConn, text: str, venue: WsVenue) -> None:
        # Binance's live subscribe protocol:
        # {"method":"SUBSCRIBE","params":[...],"id":1} -> {"result":null,"id":1}.
        try:
            message = json.loads(text)
            method, params, req_id = message["method"], message.get("params", []), message.get("id")
        except (ValueError, KeyError, TypeError):
            await venue.send(
                conn, {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}
            )
            return
        if method == "SUBSCRIBE":
            wanted = conn.subscriptions | {str(p) for p in params}
            limit = venue.policy.max_streams
            if limit is not None and len(wanted) > limit:
                # [unverified] The docs give the limit, not the answer past it: refused with an error
                # reply in the documented error shape, the connection and its streams kept.
                error = {"code": 2, "msg": f"Invalid request: more than {limit} streams"}
                await venue.send(conn, {"error": error, "id": req_id})
                return
            conn.subscriptions = wanted
            if venue is self.legacy_ws:
                self.klines.subscribed(conn, wanted)
            await venue.send(conn, {"result": None, "id": req_id})
        elif method == "UNSUBSCRIBE":
            conn.subscriptions.difference_update(str(p) for p in params)
            await venue.send(conn, {"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await venue.send(conn, {"result": sorted(conn.subscriptions), "id": req_id})
        else:
            await venue.send(
                conn,
                {"error": {"code": 2, "msg": f"Invalid request: unknown variant `{method}`"}, "id": req_id},
            )

    def _refused(self) -> web.Response | None:
        return json_response(GEO_BLOCK_BODY, status=451) if self.geo_block else None

    async def ws_raw(self, request: web.Request) -> web.StreamResponse:
        """Serve /market/ws[/<stream>]: raw payloads, no wrapper."""
        refused = self._refused()
        if refused is not None:
            return refused
        stream = request.match_info.get("stream")
        return await self.ws.serve(
            request, "raw", lambda c, t: self._on_text(c, t, self.ws), initial={stream} if stream else set()
        )

    async def ws_combined(self, request: web.Request) -> web.StreamResponse:
        """Serve /market/stream?streams=a/b: every payload wrapped as {"stream","data"}."""
        refused = self._refused()
        if refused is not None:
            return refused
        streams = {s for s in request.query.get("streams", "").split("/") if s}
        return await self.ws.serve(
            request, "combined", lambda c, t: self._on_text(c, t, self.ws), initial=streams
        )

    async def ws_legacy(self, request: web.Request) -> web.StreamResponse:
        """Serve /ws and /stream: spot kline streams; liquidations never arrive there (USD-M retired them)."""
        refused = self._refused()
        if refused is not None:
            return refused
        venue = self.legacy_ws
        if venue.over_connect_limit():
            # [unverified] "300 connections per attempt every 5 minutes per IP": the status of a refused
            # handshake is not documented; 429 as for REST rate limits.
            return binance_error(429, -1003, "Too many connection attempts; try again later.")
        stream = request.match_info.get("stream")
        streams = {stream} if stream else {s for s in request.query.get("streams", "").split("/") if s}
        limit = venue.policy.max_streams
        if limit is not None and len(streams) > limit:
            # [unverified] More streams in the URL than one connection may carry: refused at the handshake.
            return binance_error(400, -1100, f"More than {limit} streams on one connection.")
        if any("forceOrder" in s for s in streams):
            log.warning(
                "binance: client connected to retired path %s; forceOrder is only on /market", request.path
            )
        kind = "combined" if request.path.startswith("/stream") else "legacy"
        return await venue.serve(
            request,
            kind,
            lambda c, t: self._on_text(c, t, venue),
            initial=streams,
            companion=self.klines.serve_conn,
        )

    @staticmethod
    def _stream_for(conn: WsConn, payload: dict[str, Any]) -> str | None:
        symbol = str(payload.get("o", {}).get("s", "")).lower()
        for name in (FORCE_ORDER_ALL, f"{symbol}@forceOrder"):
            if name in conn.subscriptions:
                return name
        return None

    async def push(self, payload: Any) -> int:
        """Push a raw forceOrder event to subscribed /market connections; a str goes to all verbatim."""
        if isinstance(payload, str):
            return await self.ws.broadcast(lambda conn: payload)

        def render(conn: WsConn) -> Any | None:
            stream = self._stream_for(conn, payload)
            if stream is None:
                return None
            return {"stream": stream, "data": payload} if conn.kind == "combined" else payload

        return await self.ws.broadcast(render)

    def replay_frames(self) -> Iterator[dict[str, Any]]:
        """Yield the recorded forceOrder events forever, stamped now when the clock is shifted.

        The collector kept time, symbol, side, average price and filled quantity. Binance's other
        fields are filled from those: price p = average price ap (order price not recorded), q = l = z =
        filled quantity, o LIMIT, f IOC, X FILLED, E = T.
        """
        orders: Sequence[Any] = self.ctx.data.force_orders
        while True:
            for order in orders:
                t = self.ctx.clock.now_ms() if self.ctx.clock.shifted else order.ts_ms
                yield {
                    "e": "forceOrder",
                    "E": t,
                    "o": {
                        "s": order.symbol,
                        "S": order.side,
                        "o": "LIMIT",
                        "f": "IOC",
                        "q": order.qty,
                        "p": order.avg_price,
                        "ap": order.avg_price,
                        "X": "FILLED",
                        "l": order.qty,
                        "z": order.qty,
                        "T": t,
                    },
                }

"""Spot fallbacks for regions Binance blocks: Coinbase Exchange candles and Kraken OHLC.

No Coinbase or Kraken series was recorded. Both serve the recorded Binance BTCUSDT/ETHUSDT candles
standing in for BTC-USD/ETH-USD (USDT taken as USD), in each venue's own wire format.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from .context import Context, fixed, json_response
from .data import Candle

COINBASE_PRODUCTS = {"BTC-USD": "BTCUSDT", "ETH-USD": "ETHUSDT"}
# Coinbase accepts exactly these granularities (seconds); anything else is rejected.
COINBASE_GRANULARITY = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 21600: "6h", 86400: "1d"}
COINBASE_MAX_CANDLES = 300

# Kraken: pair aliases -> (result key, our symbol, price decimals of the pair).
KRAKEN_PAIRS = {
    "XBTUSD": ("XXBTZUSD", "BTCUSDT", 1),
    "XXBTZUSD": ("XXBTZUSD", "BTCUSDT", 1),
    "BTCUSD": ("XXBTZUSD", "BTCUSDT", 1),
    "ETHUSD": ("XETHZUSD", "ETHUSDT", 2),
    "XETHZUSD": ("XETHZUSD", "ETHUSDT", 2),
}
KRAKEN_INTERVALS = {
    1: "1m",
    5: "5m",
    15: "15m",
    30: "30m",
    60: "1h",
    240: "4h",
    1440: "1d",
    10080: None,
    21600: None,
}
KRAKEN_MAX_ENTRIES = 720  # "Returns up to 720 of the most recent entries"


def _epoch_s(text: str) -> int:
    """Parse Coinbase's start/end: ISO 8601 or unix seconds."""
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(parsed.timestamp())


class FallbackVenue:
    """Coinbase Exchange and Kraken public candles on one emulated host."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        """Return the Coinbase and Kraken candle routes."""
        return [
            web.get("/products/{product_id}/candles", self.coinbase_candles),
            web.get("/0/public/OHLC", self.kraken_ohlc),
        ]

    async def coinbase_candles(self, request: web.Request) -> web.Response:
        """GET /products/{id}/candles: [time, low, high, open, close, volume], newest first, <= 300."""
        symbol = COINBASE_PRODUCTS.get(request.match_info["product_id"])
        if symbol is None:
            return json_response({"message": "NotFound"}, status=404)
        try:
            granularity = int(request.query.get("granularity", ""))
        except ValueError:
            granularity = 0
        interval = COINBASE_GRANULARITY.get(granularity)
        if interval is None:
            return json_response({"message": "Unsupported granularity"}, status=400)
        try:
            start = _epoch_s(request.query["start"]) if request.query.get("start") else None
            end = _epoch_s(request.query["end"]) if request.query.get("end") else None
        except ValueError:
            return json_response({"message": "Invalid start or end"}, status=400)
        if start is not None and end is not None and (end - start) // granularity + 1 > COINBASE_MAX_CANDLES:
            return json_response(
                {
                    "message": "granularity too small for the requested time range. Count of aggregations "
                    "requested exceeds 300"
                },
                status=400,
            )
        clock = self.ctx.clock
        series = self.ctx.data.candles(symbol, interval) or []
        rows = self.ctx.window(
            series,
            lambda c: c.open_time,
            start=None if start is None else start * 1000,
            end=None if end is None else end * 1000,
            limit=COINBASE_MAX_CANDLES,
        )
        return json_response(
            [
                [
                    clock.served(c.open_time) // 1000,
                    float(c.low),
                    float(c.high),
                    float(c.open),
                    float(c.close),
                    float(c.volume),
                ]
                for c in reversed(rows)
            ]
        )

    async def kraken_ohlc(self, request: web.Request) -> web.Response:
        """GET /0/public/OHLC?pair=&interval=&since=: errors are HTTP 200 with a non-empty `error`.

        The 720 most recent entries up to now; the last one is the current, not yet committed candle
        and is always present; `last` is the time of the last committed one. `since` keeps entries
        after that time [whether Kraken's since is exclusive is unverified]. vwap is quote volume /
        volume for BTC (both recorded); for ETH, whose quote volume is estimated, it is derived too.
        Weekly and 15-day intervals are valid but not emulated: they answer an empty list.
        """
        pair = KRAKEN_PAIRS.get(request.query.get("pair", "").upper())
        if pair is None:
            return json_response({"error": ["EQuery:Unknown asset pair"]})
        key, symbol, places = pair
        try:
            minutes = int(request.query.get("interval", "1"))
            since = int(request.query["since"]) if request.query.get("since") else None
        except ValueError:
            return json_response({"error": ["EGeneral:Invalid arguments"]})
        if minutes not in KRAKEN_INTERVALS:
            return json_response({"error": ["EGeneral:Invalid arguments"]})
        interval = KRAKEN_INTERVALS[minutes]
        clock = self.ctx.clock
        series = (self.ctx.data.candles(symbol, interval) if interval else None) or []
        window = self.ctx.window(
            series, lambda c: c.open_time, start=None, end=None, limit=KRAKEN_MAX_ENTRIES
        )
        last = clock.served(window[-2].open_time) // 1000 if len(window) >= 2 else 0
        entries = [
            c
            for i, c in enumerate(window)
            if since is None or i == len(window) - 1 or clock.served(c.open_time) // 1000 > since
        ]
        return json_response(
            {"error": [], "result": {key: [self._kraken_row(c, places) for c in entries], "last": last}}
        )

    def _kraken_row(self, c: Candle, places: int) -> list[Any]:
        vwap = c.quote_volume / c.volume if c.volume else c.close
        return [
            self.ctx.clock.served(c.open_time) // 1000,
            fixed(c.open, places),
            fixed(c.high, places),
            fixed(c.low, places),
            fixed(c.close, places),
            fixed(Decimal(vwap), places),
            fixed(c.volume, 8),
            c.trades,
        ]

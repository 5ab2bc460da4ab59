"""Coinbase Exchange candles, the default spot fallback when Binance answers HTTP 451.

``GET /products/{BASE}-USD/candles?granularity=&start=&end=`` answers rows of
``[time, low, high, open, close, volume]`` (low before high, unlike Binance; ``time`` in seconds), newest
first, at most 300 per request; a wider start..end span is rejected, so each page asks for 300 buckets.
Only the granularities 60, 300, 900, 3600, 21600 and 86400 s exist, so the other intervals are built from
the largest of those dividing them: 3m from 1m, 30m from 15m, 2h/**4h**/8h/12h from 1h (Coinbase has no 4h
candles), 1w from 1d (weeks from Monday 00:00 UTC). A page then asks for whole buckets only. USDT pairs
are served from the USD book (USDT taken as USD).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from feeds.candles import aggregate, check_ohlc
from feeds.errors import FeedError
from feeds.http import HttpClient
from feeds.parse import BadItem, Parsed, check_ts, integer, items_list, number, parse_items, split_quote
from storage.rows import Candle, interval_ms

log = logging.getLogger(__name__)

SOURCE = "coinbase"
MAX_CANDLES = 300  # documented cap per request
GRANULARITIES_S = (60, 300, 900, 3600, 21600, 86400)


def product_id(symbol: str) -> str:
    """Return the Coinbase product for a watched symbol: ``BTCUSDT`` -> ``BTC-USD``."""
    parts = split_quote(symbol)
    if parts is None:
        raise FeedError("http", f"coinbase: no USD product known for {symbol}")
    base, quote = parts
    return f"{base}-{'USDC' if quote == 'USDC' else 'USD'}"


def base_granularity(interval: str) -> int:
    """Return the largest Coinbase granularity (s) that divides ``interval``."""
    seconds = interval_ms(interval) // 1000
    return max(g for g in GRANULARITIES_S if seconds % g == 0)


def parse_candles(payload: Any, symbol: str, interval: str, now_ms: int) -> Parsed[Candle]:
    """Parse Coinbase candle rows (``[time, low, high, open, close, volume]``), oldest first."""
    step = interval_ms(interval)

    def one(item: Any) -> Candle:
        if not isinstance(item, list) or len(item) < 6:
            raise BadItem("candle is not an array of 6 fields")
        open_time = check_ts(integer(item[0], "time") * 1000, "time")
        low, h, o, c, volume = (number(item[i], name) for i, name in enumerate(("l", "h", "o", "c", "v"), 1))
        check_ohlc(o, h, low, c, volume)
        return Candle(
            symbol, interval, open_time, SOURCE, o, h, low, c, volume, None, open_time + step <= now_ms
        )

    parsed = parse_items(items_list(payload, "coinbase candles"), one)
    parsed.rows.sort(key=lambda r: r.open_time)
    return parsed


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CoinbaseCandles:
    """Coinbase Exchange candles as a CandleSource."""

    source = SOURCE
    page_limit = MAX_CANDLES

    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.built: set[str] = set()  # intervals said (once) to be built from finer candles

    async def fetch(self, symbol: str, interval: str, start_ms: int, now_ms: int) -> Parsed[Candle]:
        """Return the candles of one 300-bucket window starting at ``start_ms``."""
        granularity = base_granularity(interval)
        base_interval = {60: "1m", 300: "5m", 900: "15m", 3600: "1h", 21600: "6h", 86400: "1d"}[granularity]
        if base_interval != interval and interval not in self.built:
            self.built.add(interval)
            log.info("coinbase has no %s candles; building them from its %s candles", interval, base_interval)
        # Whole buckets of the wanted interval per page, so none is cut in two at the page's end.
        per_bucket = interval_ms(interval) // (granularity * 1000)
        count = max(1, MAX_CANDLES // per_bucket) * per_bucket
        end_ms = min(now_ms, start_ms + (count - 1) * granularity * 1000)
        payload = await self.http.get_json(
            f"/products/{product_id(symbol)}/candles",
            {"granularity": granularity, "start": _iso(start_ms), "end": _iso(end_ms)},
        )
        parsed = parse_candles(payload, symbol, base_interval, now_ms)
        if base_interval != interval:
            parsed.rows = aggregate(parsed.rows, interval, now_ms, complete_from=start_ms)
        return parsed

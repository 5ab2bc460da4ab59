"""Kraken OHLC, the other spot fallback when Binance answers HTTP 451.

``GET /0/public/OHLC?pair=XBTUSD&interval=<minutes>&since=<unix s>`` answers
``{"error": [], "result": {"<PAIR>": [[time, open, high, low, close, vwap, volume, count], ...],
"last": <s>}}``. Errors come with HTTP 200 and a non-empty ``error`` list. Kraken keeps only the 720
most recent entries per interval, so its backfill reaches back 720 candles at most. Intervals used: 1,
5, 15, 30, 60, 240 and 1440 minutes; the others are built from the largest of those dividing them (3m
from 1m, 2h/6h/8h/12h from 1h, 1w from 1d). Kraken's own 10080-minute candles are not used: where its
weeks start is not documented, and a rule's week must start on Monday 00:00 UTC as Binance's and
TradingView's do. USDT pairs use the USD book.
"""

from __future__ import annotations

from typing import Any

from feeds.candles import aggregate, check_ohlc
from feeds.errors import FeedError, PayloadError
from feeds.http import HttpClient
from feeds.parse import (
    BadItem,
    Parsed,
    check_ts,
    envelope,
    integer,
    items_list,
    number,
    parse_items,
    split_quote,
)
from storage.rows import MINUTE_MS, Candle, interval_ms

SOURCE = "kraken"
MAX_ENTRIES = 720  # documented: the most recent 720 entries
INTERVALS_MIN = (1, 5, 15, 30, 60, 240, 1440)
# Kraken's own names for some bases.
_BASE_NAMES = {"BTC": "XBT", "DOGE": "XDG"}


def pair_name(symbol: str) -> str:
    """Return the Kraken pair for a watched symbol: ``BTCUSDT`` -> ``XBTUSD``."""
    parts = split_quote(symbol)
    if parts is None:
        raise FeedError("http", f"kraken: no USD pair known for {symbol}")
    base, quote = parts
    return f"{_BASE_NAMES.get(base, base)}{'USDC' if quote == 'USDC' else 'USD'}"


def base_minutes(interval: str) -> int:
    """Return the largest Kraken interval (minutes) that divides ``interval``."""
    minutes = interval_ms(interval) // MINUTE_MS
    return max(m for m in INTERVALS_MIN if minutes % m == 0)


def parse_ohlc(payload: Any, symbol: str, interval: str, now_ms: int) -> Parsed[Candle]:
    """Parse Kraken's OHLC envelope; raise FeedError("api") when ``error`` is not empty."""
    errors = envelope(payload, "error", "kraken OHLC")
    if errors:
        raise FeedError("api", f"kraken OHLC: {str(errors)[:120]}")
    result = envelope(payload, "result", "kraken OHLC")
    if not isinstance(result, dict):
        raise PayloadError("kraken OHLC: result is not an object")
    series = [v for k, v in result.items() if k != "last"]
    if len(series) != 1:
        raise PayloadError("kraken OHLC: expected exactly one pair in result")
    step = interval_ms(interval)

    def one(item: Any) -> Candle:
        if not isinstance(item, list) or len(item) < 7:
            raise BadItem("OHLC entry is not an array of 8 fields")
        open_time = check_ts(integer(item[0], "time") * 1000, "time")
        o, h, low, c = (number(item[i], name) for i, name in enumerate(("o", "h", "l", "c"), 1))
        vwap, volume = number(item[5], "vwap"), number(item[6], "volume")
        check_ohlc(o, h, low, c, volume)
        quote = vwap * volume if vwap > 0 else None
        return Candle(
            symbol, interval, open_time, SOURCE, o, h, low, c, volume, quote, open_time + step <= now_ms
        )

    parsed = parse_items(items_list(series[0], "kraken OHLC entries"), one)
    parsed.rows.sort(key=lambda r: r.open_time)
    return parsed


class KrakenCandles:
    """Kraken OHLC as a CandleSource."""

    source = SOURCE
    page_limit = MAX_ENTRIES

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def fetch(self, symbol: str, interval: str, start_ms: int, now_ms: int) -> Parsed[Candle]:
        """Return the candles since ``start_ms`` that Kraken still keeps."""
        minutes = base_minutes(interval)
        base_interval = {1: "1m", 5: "5m", 15: "15m", 30: "30m", 60: "1h", 240: "4h", 1440: "1d"}[minutes]
        # Kraken's `since` is exclusive [unverified]: ask from one second earlier, filter afterwards.
        payload = await self.http.get_json(
            "/0/public/OHLC", {"pair": pair_name(symbol), "interval": minutes, "since": start_ms // 1000 - 1}
        )
        parsed = parse_ohlc(payload, symbol, base_interval, now_ms)
        parsed.rows = [r for r in parsed.rows if r.open_time >= start_ms]
        if base_interval != interval and parsed.rows:
            # Kraken keeps 720 entries: a bucket older than the first one it sent is incomplete.
            parsed.rows = aggregate(parsed.rows, interval, now_ms, complete_from=parsed.rows[0].open_time)
        return parsed

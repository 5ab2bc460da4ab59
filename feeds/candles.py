"""What a spot candle source provides, and rolling finer candles up when a venue lacks an interval."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from detectors.market_history import bucket_start
from feeds.parse import BadItem, Parsed
from storage.rows import Candle, interval_ms


class CandleSource(Protocol):
    """A venue's candle endpoint, answering one page at a time."""

    source: str  # the value stored in candles.source
    page_limit: int  # the most candles one request returns

    async def fetch(self, symbol: str, interval: str, start_ms: int, now_ms: int) -> Parsed[Candle]:
        """Return candles opening at or after ``start_ms`` (at most ``page_limit``), oldest first."""
        ...


def check_ohlc(o: float, h: float, low: float, c: float, volume: float) -> None:
    """Refuse a candle whose prices contradict each other or are not positive."""
    if min(o, h, low, c) <= 0:
        raise BadItem("candle has a price that is not positive")
    if h < max(o, c, low) or low > min(o, c):
        raise BadItem(f"candle high/low do not bound open/close (o={o} h={h} l={low} c={c})")
    if volume < 0:
        raise BadItem("candle volume is negative")


def aggregate(
    rows: Iterable[Candle], interval: str, now_ms: int, *, complete_from: int | None = None
) -> list[Candle]:
    """Roll finer candles up to ``interval`` (UTC-aligned buckets, weeks from Monday), oldest first.

    A bucket is closed once its end has passed; venues omit minutes without trades (Coinbase), so a
    closed bucket is built from whatever finer candles exist in it. A bucket starting before
    ``complete_from`` (where the venue's answer begins) is left out: its first part was never asked for,
    so its open, high and low would be wrong.
    """
    step = interval_ms(interval)
    buckets: dict[int, list[Candle]] = {}
    for row in sorted(rows, key=lambda r: r.open_time):
        buckets.setdefault(bucket_start(row.open_time, step), []).append(row)
    result: list[Candle] = []
    for start, parts in sorted(buckets.items()):
        if complete_from is not None and start < complete_from:
            continue
        first, last = parts[0], parts[-1]
        quotes = [p.quote_volume for p in parts]
        result.append(
            Candle(
                symbol=first.symbol,
                interval=interval,
                open_time=start,
                source=first.source,
                o=first.o,
                h=max(p.h for p in parts),
                l=min(p.l for p in parts),
                c=last.c,
                volume=sum(p.volume for p in parts),
                quote_volume=None
                if any(q is None for q in quotes)
                else sum(q for q in quotes if q is not None),
                closed=start + step <= now_ms,
            )
        )
    return result

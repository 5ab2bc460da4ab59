"""Typed observation rows, in the column order of their tables.

They are NamedTuples on purpose: a batch of them goes straight into ``executemany`` with no conversion,
which is what keeps ingest near SQLite's own speed during a liquidation cascade.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Side = Literal["long", "short"]


class Candle(NamedTuple):
    """One OHLCV candle; ``open_time`` in UTC ms, ``closed`` False while the candle is still forming."""

    symbol: str
    interval: str
    open_time: int
    source: str
    o: float
    h: float
    l: float  # noqa: E741 - the OHLC letter is the clearest name here
    c: float
    volume: float
    quote_volume: float | None = None
    closed: bool = True


class Liquidation(NamedTuple):
    """One forced liquidation; ``side`` is the side of the liquidated position, ``usd`` its notional."""

    symbol: str
    ts: int
    source: str
    side: Side
    price: float
    qty: float
    usd: float


class Funding(NamedTuple):
    """A funding rate (decimal per interval) at ``ts``; ``settled`` False for an estimate."""

    symbol: str
    ts: int
    source: str
    rate: float
    mark_price: float | None = None
    next_funding_time: int | None = None
    settled: bool = True


class OpenInterest(NamedTuple):
    """Open interest at ``ts`` in contracts (base units) and/or USD."""

    symbol: str
    ts: int
    source: str
    contracts: float | None
    usd: float | None


class FearGreed(NamedTuple):
    """One daily Fear & Greed value, dated by its publication day."""

    date: str
    ts: int
    value: int
    classification: str | None
    source: str = "alternative.me"


INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


def interval_ms(interval: str) -> int:
    """Return the length of a candle interval in milliseconds, or raise ValueError naming the choices."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_MS)}") from None

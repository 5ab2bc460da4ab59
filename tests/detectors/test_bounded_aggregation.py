"""A bounded history aggregates a coarser interval's first read as an unbounded one does (issue 24 review).

Its first read of a coarser interval aggregates base candles read back from the database, which holds every
source's: a minute two venues both delivered must be folded in once, the one the history kept, not twice.
SYNTHETIC candles: a fallback venue and Binance both deliver the last five hours of ten, at the same prices
(which of two differing ones wins depends on the order rows are read, as after an unbounded restart).
"""

from __future__ import annotations

from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo
from storage.rows import HOUR_MS, MINUTE_MS, Candle

START = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def candle(minute: int, source: str, price: float) -> Candle:
    """Return a SYNTHETIC closed one-minute candle of BTCUSDT."""
    t = START + minute * MINUTE_MS
    return Candle("BTCUSDT", "1m", t, source, price, price + 1, price - 1, price, 1.0)


def quarter_hours(*, bounded: bool) -> list[tuple[int, float, float, float, float]]:
    """Return the 15m candles a rule added after ten hours reads, the base held for a level rule."""
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(Repo(open_database(":memory:")), history)
    history.require("level", ["BTCUSDT"], {"base": HOUR_MS})
    for minute in range(600):
        if minute >= 300:
            ingest.candles([candle(minute, "fallback", 100.0 + minute % 5)])
        ingest.candles([candle(minute, "binance", 100.0 + minute % 5)])
    history.require("volume", ["BTCUSDT"], {"15m": 2 * HOUR_MS})
    view = history.view("BTCUSDT", START + 600 * MINUTE_MS)
    return [(b.open_time, b.h, b.l, b.c, b.volume) for b in view.candles("15m")]


def test_a_minute_two_sources_delivered_is_aggregated_once() -> None:
    bounded = quarter_hours(bounded=True)
    unbounded = {bar[0]: bar for bar in quarter_hours(bounded=False)}
    assert len(bounded) == 8
    assert bounded == [unbounded[bar[0]] for bar in bounded]
    assert {bar[4] for bar in bounded} == {15.0}  # fifteen one-minute candles of volume 1


def daily_after_restart(*, bounded: bool) -> list[tuple[int, float, float, float, float]]:
    """Return the 1d candles a rule reads first six hours after a restart two days into SYNTHETIC candles."""
    repo = Repo(open_database(":memory:"))
    Ingest(repo, MarketHistory()).candles([candle(m, "binance", 100.0 + m % 11) for m in range(2 * 1440)])
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(repo, history)
    restart = START + 2 * 1440 * MINUTE_MS
    ingest.warm_up(["BTCUSDT"], restart)
    history.require("range", ["BTCUSDT"], {"1d": 4 * 24 * HOUR_MS})
    ingest.candles([candle(m, "binance", 100.0) for m in range(2 * 1440, 2 * 1440 + 360)])
    view = history.view("BTCUSDT", restart + 6 * HOUR_MS)
    return [(b.open_time, b.h, b.l, b.c, b.volume) for b in view.candles("1d")]


def test_a_first_daily_read_after_a_restart_has_the_days_an_unbounded_history_holds() -> None:
    # The unbounded history still holds the first day's first minute (it prunes in chunks): so must this.
    unbounded = daily_after_restart(bounded=False)
    assert [bar[0] for bar in unbounded] == [START, START + 24 * HOUR_MS]
    assert daily_after_restart(bounded=True) == unbounded

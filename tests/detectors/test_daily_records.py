"""DailyRecords and a bounded history's daily_reach against a scan of every daily candle (SYNTHETIC data)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from detectors.base import Bar, DailyReach
from detectors.daily_records import DailyRecords
from detectors.market_history import MarketHistory
from storage.rows import DAY_MS, Candle

T0 = 1_700_006_400_000 // DAY_MS * DAY_MS


def scan(daily: Sequence[Bar], price: float, *, high: bool, before: int) -> DailyReach:
    """Return what range_breakout's full scan of the daily candles returned (its code before the records)."""
    first = daily[0].open_time if daily and daily[0].open_time < before else None
    for bar in reversed(daily):
        if bar.open_time >= before:
            continue
        if (bar.h >= price) if high else (bar.l <= price):
            return DailyReach(bar.open_time, bar.h if high else bar.l, first)
    return DailyReach(None, None, first)


def synthetic_days(rng: random.Random, count: int) -> list[Candle]:
    """Return SYNTHETIC daily candles: a random walk, with a missing day now and then."""
    rows, price, day = [], 100.0, T0
    for _ in range(count):
        day += DAY_MS * (2 if rng.random() < 0.05 else 1)
        o, c = price, price * math.exp(rng.gauss(0, 0.04))
        # Rounded highs and lows: equal ones happen, so ties are checked too.
        h, low = round(max(o, c) * (1 + rng.random() / 50), 0), round(min(o, c) * (1 - rng.random() / 50), 0)
        rows.append(Candle("SYNUSDT", "1d", day, "synthetic", o, h, low, c, 1.0))
        price = c
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_records_answer_as_a_scan_of_every_dropped_day(seed: int) -> None:
    rng = random.Random(seed)
    rows = synthetic_days(rng, 600)
    records = DailyRecords(DAY_MS, 10**15)
    for i, row in enumerate(rows):
        records.add(row.open_time, row.h, row.l)
        if i % 97 == 96:
            records.expire(rows[i - 300].open_time + rng.randrange(DAY_MS))
        kept = [r for r in rows[: i + 1] if records.first is not None and r.open_time >= records.first]
        assert records.count == len(kept)
        bars = [Bar(r.open_time, r.o, r.h, r.l, r.c, r.volume, DAY_MS) for r in kept]
        for _ in range(3):
            price, high = rng.uniform(20, 400), rng.random() < 0.5
            reach = records.last_reaching(price, high=high, before=row.open_time + DAY_MS)
            want = scan(bars, price, high=high, before=row.open_time + DAY_MS)
            assert (reach or (None, None)) == (want.open_time, want.extreme)
    assert len(records.high_t) < 100  # the point: a few records stand for hundreds of days


@pytest.mark.parametrize("seed", range(4))
def test_bounded_daily_reach_equals_the_unbounded_scan(seed: int) -> None:
    """A bounded history keeping 10 days answers as an unbounded one keeping 200 (its chunked pruning too)."""
    rng = random.Random(seed)
    rows = synthetic_days(rng, 700)
    stored: list[Candle] = []
    retention = {"1d": 200 * DAY_MS}
    full, bounded = MarketHistory(retention), MarketHistory(retention, bounded=True)
    bounded.reader = lambda symbol, interval, start, end: [
        r for r in stored if r.interval == interval and start <= r.open_time < end
    ]
    for i, row in enumerate(rows):
        stored.append(row)
        full.add_candles([row])
        bounded.add_candles([row])
        if i == 150:  # a rule loaded once days are stored: the records are read from the database
            bounded.require("range", ["SYNUSDT"], {"1d": 10 * DAY_MS})
        if i == 420:  # and one reading further
            bounded.require("wide", ["SYNUSDT"], {"1d": 40 * DAY_MS})
        if i == 560:
            bounded.release("wide")
        now = row.open_time + DAY_MS + rng.randrange(DAY_MS)
        daily = full.view("SYNUSDT", now).candles("1d")
        for before in (row.open_time, row.open_time + DAY_MS):
            for _ in range(3):
                price, high = rng.uniform(20, 400), rng.random() < 0.5
                got = bounded.view("SYNUSDT", now).daily_reach(price, high=high, before=before)
                assert got == scan(daily, price, high=high, before=before), (i, price, high)
    held = bounded.view("SYNUSDT", rows[-1].open_time + DAY_MS).candles("1d")
    assert len(held) <= 64 < len(daily)  # it did keep fewer days

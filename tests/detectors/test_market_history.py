"""MarketHistory fixes made for the detectors: settled funding kept apart from estimates; column reads."""

from __future__ import annotations

import pytest

from storage.rows import Funding, OpenInterest
from tests.detectors.conftest import HOUR, T0, bars, history_of

# Synthetic funding: a settlement every 8h and an hourly estimate in between, all from one source.
SETTLED = [Funding("BTCUSDT", T0 + k * 8 * HOUR, "binance", 0.0001 * (k + 1)) for k in range(3)]
ESTIMATES = [Funding("BTCUSDT", T0 + h * HOUR, "binance", -0.00005, settled=False) for h in range(17)]


@pytest.mark.parametrize("estimates_first", [True, False])
def test_estimate_never_replaces_a_settled_rate(estimates_first: bool) -> None:
    rows = ESTIMATES + SETTLED if estimates_first else SETTLED + ESTIMATES
    view = history_of(rows).view("BTCUSDT", T0 + 16 * HOUR)
    settled = view.funding(settled_only=True)
    assert [(p.ts, p.rate) for p in settled] == [(r.ts, r.rate) for r in SETTLED]
    everything = view.funding()
    assert len(everything) == 17  # one point per hour, settlements included once
    at_8h = [p for p in everything if p.ts == T0 + 8 * HOUR]
    assert at_8h == [settled[1]]


def test_settled_only_reads_the_first_source_with_settlements() -> None:
    # A venue that only publishes estimates delivered first; it must not hide the settled rates.
    bybit = [Funding("BTCUSDT", T0, "bybit", 0.0002, settled=False)]
    view = history_of(bybit + SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    assert {p.source for p in view.funding(settled_only=True)} == {"binance"}
    assert len(view.funding(settled_only=True)) == 3
    assert view.funding()[0].source == "bybit"  # the preferred source for estimates is unchanged


@pytest.mark.parametrize(
    ("count", "settled_only", "expected"), [(1, True, [16]), (2, True, [8, 16]), (3, False, [14, 15, 16])]
)
def test_count_keeps_the_newest(count: int, settled_only: bool, expected: list[int]) -> None:
    view = history_of(ESTIMATES + SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    points = view.funding(count=count, settled_only=settled_only)
    assert [(p.ts - T0) // HOUR for p in points] == expected


def test_nothing_after_now_is_visible() -> None:
    view = history_of(ESTIMATES + SETTLED).view("BTCUSDT", T0 + 8 * HOUR - 1)
    assert [p.ts for p in view.funding(settled_only=True)] == [T0]
    assert view.funding()[-1].ts == T0 + 7 * HOUR


def test_all_points_come_from_the_source_with_estimates() -> None:
    # Settlements only from one source (delivered first, as a replay plays older files first), hourly
    # estimates from another: a detector asking for every point wants the hourly series.
    coinglass = [
        Funding("BTCUSDT", T0 + h * HOUR, "coinglass", -0.00007 + h * 1e-6, settled=False) for h in range(17)
    ]
    view = history_of(SETTLED + coinglass).view("BTCUSDT", T0 + 16 * HOUR)
    points = view.funding(since=T0 + 10 * HOUR)
    assert [(p.ts - T0) // HOUR for p in points] == [10, 11, 12, 13, 14, 15, 16]
    assert {p.source for p in points} == {"coinglass"}
    assert {p.source for p in view.funding(settled_only=True)} == {"binance"}
    only_settled = history_of(SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    assert len(only_settled.funding()) == 3  # no estimates anywhere: the settlements are all there is


@pytest.mark.parametrize("interval", [None, "1m", "5m", "1h"])
@pytest.mark.parametrize("since", [None, T0, T0 + 7 * 60_000 + 1, T0 + 2 * HOUR])
def test_candle_columns_are_the_candles_as_columns(interval: str | None, since: int | None) -> None:
    # Synthetic one-minute candles over 3.5 hours; 5m and 1h are aggregated from them.
    closes = [100 + (i % 17) - (i % 5) * 0.5 for i in range(210)]
    view = history_of(bars(closes, interval="1m", spread=0.3)).view("BTCUSDT", T0 + 200 * 60_000 + 30_000)
    candles = view.candles(interval, since=since)
    columns = view.candle_columns(interval, since=since)
    assert candles  # every case reads some
    assert list(columns.t) == [b.open_time for b in candles]
    assert list(columns.h) == [b.h for b in candles]
    assert list(columns.l) == [b.l for b in candles]
    assert list(columns.c) == [b.c for b in candles]


def test_candle_columns_of_a_symbol_without_candles_are_empty() -> None:
    assert history_of(SETTLED).view("BTCUSDT", T0 + HOUR).candle_columns().t == ()


# Synthetic open interest: two venues every 5 minutes for two hours, the second starting an hour later.
OI = [
    OpenInterest("BTCUSDT", T0 + m * 60_000, venue, float(m), float(m) * 1e5)
    for m in range(0, 121, 5)
    for venue in ("binance", "bybit")
    if venue == "binance" or m >= 60
]


@pytest.mark.parametrize("count", [1, 3])
def test_open_interest_by_source_count_keeps_each_venues_newest(count: int) -> None:
    view = history_of(OI).view("BTCUSDT", T0 + 2 * HOUR)
    every = view.open_interest_by_source(since=T0 + 50 * 60_000, until=T0 + 70 * 60_000)
    newest = view.open_interest_by_source(since=T0 + 50 * 60_000, until=T0 + 70 * 60_000, count=count)
    assert list(newest) == list(every) == ["binance", "bybit"]
    assert {venue: points[-count:] for venue, points in every.items()} == newest
    assert [p.ts for p in newest["bybit"]] == [T0 + m * 60_000 for m in (60, 65, 70)][-count:]

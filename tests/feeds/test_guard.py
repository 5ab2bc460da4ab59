"""The row guard at Ingest: non-finite, absurd and ill-timed rows refused one by one, the rest stored.

Every row built here is synthetic (labelled so), shaped as the parsers produce them; the overflowing
liquidation is produced by the real Bybit parser from a captured frame with its price and size replaced.
"""

from __future__ import annotations

import copy
import logging
import math

import pytest

from detectors.market_history import MarketHistory
from feeds.bybit import parse_all_liquidation
from feeds.guard import RowGuard
from feeds.ingest import Ingest
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS, Candle, FearGreed, Funding, Liquidation, OpenInterest
from tests.feeds.conftest import ManualClock
from tests.feeds.helpers import live_frames, ms

NOW = ms("2026-01-20T12:00")
YEAR_2099 = ms("2099-06-01T00:00")


@pytest.fixture
def clock() -> ManualClock:
    """Return the test's clock at NOW."""
    return ManualClock(NOW)


@pytest.fixture
def guarded(repo: Repo, clock: ManualClock) -> Ingest:
    """Return an Ingest whose guard reads the clock, with 30 days of liquidations and 7 of candles kept."""
    guard = RowGuard(
        clock, max_age_ms={"liquidations": 30 * DAY_MS, "candles": 7 * DAY_MS}, future_skew_ms=120_000
    )
    return Ingest(repo, MarketHistory(), guard=guard)


def _count(ingest: Ingest, table: str) -> int:
    return int(ingest.repo.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# Synthetic rows (realistic values, made up for these tests).
def liq(ts: int, price: float = 95_000.0, qty: float = 0.5, usd: float | None = None) -> Liquidation:
    return Liquidation("BTCUSDT", ts, "bybit", "short", price, qty, price * qty if usd is None else usd)


def candle(open_time: int, close: float = 95_000.0, volume: float = 10.0) -> Candle:
    return Candle(
        "BTCUSDT", "1m", open_time, "binance", 94_900.0, 95_100.0, 94_800.0, close, volume, 950_000.0
    )


def test_an_overflowing_notional_is_refused_and_the_rest_of_the_batch_stored(
    guarded: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    frame = copy.deepcopy(next(f for f in live_frames() if f.get("topic") == "allLiquidation.ICPUSDT"))
    good = frame["data"][0] | {"s": "BTCUSDT", "T": NOW - 1000, "p": "95000", "v": "0.5"}
    huge = good | {"T": NOW - 500, "p": "1e300", "v": "1e10"}  # each finite, the product is not
    frame["data"] = [good, huge]
    parsed = parse_all_liquidation(frame, None)
    assert [math.isinf(r.usd) for r in parsed.rows] == [False, True]  # the parser lets it through
    with caplog.at_level(logging.WARNING):
        assert guarded.liquidations(parsed.rows) == 1
    assert guarded.repo.conn.execute("SELECT usd FROM liquidations").fetchall() == [(47_500.0,)]
    window = guarded.history.view("BTCUSDT", NOW).liquidations(NOW - HOUR_MS)
    assert (window.long_usd, window.short_usd) in ((47_500.0, 0.0), (0.0, 47_500.0))
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert (
        lines
        and "refused 1 liquidations row(s) (1 of 2 in the batch, 1 from bybit" in lines[0]
        and "usd=inf" in lines[0]
    )
    assert guarded.guard.refused == {"liquidations:bybit:number": 1}


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", math.nan), ("qty", math.inf), ("usd", -1.0), ("usd", 2e12), ("price", 1e10)],
)
def test_non_finite_or_absurd_liquidation_numbers(guarded: Ingest, field: str, value: float) -> None:
    row = liq(NOW - 1000)._replace(**{field: value})
    assert guarded.liquidations([row, liq(NOW - 2000)]) == 1
    assert _count(guarded, "liquidations") == 1


def test_a_future_point_cannot_empty_the_baseline_freeze_the_price_or_hide_the_funding(
    guarded: Ingest,
) -> None:
    # An hour of minute candles and liquidations: the baseline a cascade is measured against.
    guarded.candles([candle(NOW - (60 - i) * MINUTE_MS, 95_000.0 + i) for i in range(60)])
    guarded.liquidations([liq(NOW - (60 - i) * MINUTE_MS) for i in range(60)])
    guarded.funding([Funding("BTCUSDT", NOW - 8 * HOUR_MS, "binance", 0.0001, 95_000.0)])
    before = guarded.history.view("BTCUSDT", NOW)
    price, baseline = before.last_price(), before.liquidations(NOW - HOUR_MS)
    funding = before.funding()

    guarded.candles([candle(YEAR_2099, 1.0)])
    assert guarded.liquidations([liq(YEAR_2099)]) == 0
    guarded.funding([Funding("BTCUSDT", YEAR_2099, "binance", 0.5, 1.0)])
    guarded.open_interest([OpenInterest("BTCUSDT", YEAR_2099, "binance", 1.0, 1.0)])

    after = guarded.history.view("BTCUSDT", NOW)
    assert after.last_price() == price
    assert after.liquidations(NOW - HOUR_MS) == baseline
    assert after.funding() == funding
    assert guarded.repo.last_candle_time("BTCUSDT", "1m", "binance") == NOW - MINUTE_MS
    for table, column in (
        ("candles", "open_time"),
        ("liquidations", "ts"),
        ("funding", "ts"),
        ("open_interest", "ts"),
    ):
        assert (
            guarded.repo.conn.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0] < NOW
        )
    assert sum(guarded.guard.refused.values()) == 4


def test_the_time_window_bounds_are_exact(guarded: Ingest, clock: ManualClock) -> None:
    edge = NOW + 120_000
    assert guarded.liquidations([liq(edge), liq(edge + 1)]) == 1
    oldest = NOW - 30 * DAY_MS
    assert guarded.liquidations([liq(oldest, qty=0.1), liq(oldest - 1, qty=0.2)]) == 1
    guarded.candles([candle(NOW - 7 * DAY_MS), candle(NOW - 7 * DAY_MS - MINUTE_MS)])
    assert _count(guarded, "candles") == 1
    # The window follows the clock.
    clock.advance(3600)
    assert guarded.liquidations([liq(edge + 1)]) == 1


def test_far_past_and_future_funding_open_interest_and_fear_greed(guarded: Ingest) -> None:
    guarded.funding(
        [
            Funding("BTCUSDT", NOW - 1000, "bybit", 0.0001, 95_000.0),
            Funding("BTCUSDT", ms("2001-01-01T00:00"), "bybit", 0.0001, 95_000.0),
            Funding("BTCUSDT", NOW - 2000, "bybit", math.inf, 95_000.0),
            Funding("BTCUSDT", NOW - 3000, "bybit", 0.0001, math.nan),
        ]
    )
    guarded.open_interest(
        [
            OpenInterest("BTCUSDT", NOW - 1000, "bybit", 50_000.0, 4.75e9),
            OpenInterest("BTCUSDT", NOW - 2000, "bybit", math.nan, 4.75e9),
            OpenInterest("BTCUSDT", YEAR_2099, "bybit", 50_000.0, 4.75e9),
        ]
    )
    guarded.fear_greed(
        [
            FearGreed("2018-02-01", ms("2018-02-01T00:00"), 30, "Fear"),  # the index's history is kept
            FearGreed("2099-01-01", ms("2099-01-01T00:00"), 50, "Neutral"),
            FearGreed("2026-01-20", ms("2026-01-20T00:00"), 101, None),
        ]
    )
    assert (_count(guarded, "funding"), _count(guarded, "open_interest"), _count(guarded, "fear_greed")) == (
        1,
        1,
        1,
    )


def test_without_a_clock_only_numbers_are_checked(repo: Repo) -> None:
    # A replay of recorded years has no "now" to compare with; its numbers are still checked.
    ingest = Ingest(repo, MarketHistory())
    assert ingest.liquidations([liq(ms("2020-01-01T00:00")), liq(YEAR_2099, usd=math.inf)]) == 1


def test_a_batch_with_nothing_wrong_is_passed_through_as_it_came() -> None:
    guard = RowGuard(lambda: NOW)
    rows = [liq(NOW - 1000), liq(NOW - 2000)]
    assert guard.liquidations(rows) is rows

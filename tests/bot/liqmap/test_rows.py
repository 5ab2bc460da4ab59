"""The map built and graded from SYNTHETIC rows written for these tests (made-up prices, sizes and ratios).

Flat hourly candles at $100 with open interest rising by $1M in the second hour: what the map opens is
exactly that $1M, so the long/short split can be read off its bins. The grading test stores liquidation
events of two venues around one sweep, some inside its band (widened 1%) and window and some outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.liqmap.build import MapBuild, build_map
from bot.liqmap.grading import grade_build, store_grades
from detectors.liqmap.params import LiqMapParams
from detectors.liqmap.sweeps import Sweep
from feeds.replay import parse_time
from storage.db import open_database
from storage.repo import Repo
from storage.rows import HOUR_MS, Candle, Liquidation, LongShort, LongShortMetric, OpenInterest

T0 = parse_time("2026-02-01T00:00Z")
END = T0 + 4 * HOUR_MS


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    """Return a fresh database holding four flat $100 candles and open interest rising $1M → $2M."""
    db = Repo(open_database(tmp_path / "rows.db"))
    db.upsert_candles(
        Candle("BTCUSDT", "1h", T0 + i * HOUR_MS, "binance", 100.0, 100.05, 99.95, 100.0, 1.0)
        for i in range(4)
    )
    db.upsert_open_interest(
        [
            OpenInterest("BTCUSDT", T0 + HOUR_MS // 2, "binance", None, 1e6),
            OpenInterest("BTCUSDT", T0 + 3 * HOUR_MS // 2, "binance", None, 2e6),
        ]
    )
    yield db
    db.db.conn.close()


def _ratio(metric: LongShortMetric, ratio: float, ts: int = T0) -> LongShort:
    return LongShort("BTCUSDT", ts, "binance", metric, "1h", ratio)


def _split(repo: Repo) -> tuple[float, float]:
    """Return (longs, shorts) opened, as shares of what the map opened."""
    liqmap = build_map(repo, "BTCUSDT", LiqMapParams(), END).maps["binance"]
    assert liqmap.opened == pytest.approx(1e6) and liqmap.consumed == 0 and liqmap.removed == 0
    return sum(liqmap.longs.values()) / liqmap.opened, sum(liqmap.shorts.values()) / liqmap.opened


def test_a_stored_ratio_of_3_opens_three_quarters_longs(repo: Repo) -> None:
    repo.upsert_long_short([_ratio("top_positions", 3.0)])
    assert _split(repo) == pytest.approx((0.75, 0.25))


def test_without_a_stored_ratio_the_configured_share_splits(repo: Repo) -> None:
    assert _split(repo) == pytest.approx((0.5, 0.5))
    # A reading after the hour that opened the positions does not reach back to it.
    repo.upsert_long_short([_ratio("top_positions", 3.0, ts=T0 + 3 * HOUR_MS)])
    assert _split(repo) == pytest.approx((0.5, 0.5))


def test_the_position_ratio_wins_over_the_account_ratio(repo: Repo) -> None:
    repo.upsert_long_short([_ratio("accounts", 1.0 / 3.0)])
    assert _split(repo) == pytest.approx((0.25, 0.75))
    repo.upsert_long_short([_ratio("top_positions", 3.0), _ratio("taker_volume", 9.0)])
    assert _split(repo) == pytest.approx((0.75, 0.25))


def _event(source: str, ts: int, side: str, price: float, usd: float) -> Liquidation:
    return Liquidation("BTCUSDT", ts, source, side, price, usd / price, usd)  # type: ignore[arg-type]


def test_events_in_the_band_and_window_are_counted_per_venue(repo: Repo) -> None:
    start, end = T0, T0 + 2 * HOUR_MS
    sweep = Sweep("BTCUSDT", "binance", "long", 95_000.0, 96_000.0, 5e6, start, end, 2)
    repo.insert_liquidations(
        [
            _event("binance", start, "long", 95_500.0, 100_000),  # in the band, at the first instant
            _event("binance", start + 10, "long", 94_100.0, 50_000),  # under the band, within 1%
            _event("binance", start + 20, "long", 93_000.0, 7_000),  # price: 2% under the band
            _event("binance", start + 30, "short", 95_500.0, 9_000),  # the other side
            _event("binance", end, "long", 95_500.0, 11_000),  # time: the window's end is exclusive
            _event("binance", start - 1, "long", 95_500.0, 13_000),  # time: before the window
            _event("bybit", start + HOUR_MS, "long", 96_900.0, 20_000),  # over the band, within 1%
            _event("bybit", start + HOUR_MS + 1, "long", 95_200.0, 30_000),  # in the band
            _event("bybit", start + HOUR_MS + 2, "long", 97_500.0, 17_000),  # price: 1.6% over
            _event("bybit", end + HOUR_MS, "long", 95_200.0, 19_000),  # time: an hour after
        ]
    )
    build = MapBuild("BTCUSDT", LiqMapParams(), end, [], {}, sweeps=[sweep])
    assert store_grades(repo, grade_build(repo, build, graded_at=end)) == 2
    grades = {g.venue: g for g in repo.liqmap_grades("BTCUSDT")}
    assert sorted(grades) == ["binance", "bybit"]
    assert grades["binance"].realized_usd == pytest.approx(150_000)
    assert grades["bybit"].realized_usd == pytest.approx(50_000)
    for grade in grades.values():
        assert grade.basis == "events in band" and grade.modelled_usd == 5e6
        assert (grade.band_low, grade.band_high, grade.start, grade.end) == (95_000, 96_000, start, end)

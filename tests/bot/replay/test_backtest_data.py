"""Which stored candles a backtest replays and counts: the finest interval, one candle per open time."""

from __future__ import annotations

import pytest

from bot.cli.common import scenario_data_repo
from bot.replay import candles as backtest_data
from bot.replay.candles import CandleSpan, candle_plan, count_candles, read_candles, stored_timeline
from feeds.replay import Batch, parse_time, recorded_from_repo
from storage.repo import Repo
from storage.rows import Candle, interval_ms
from tests.conftest import ROOT

T0 = parse_time("2026-01-01")
HOUR = 3_600_000
MINUTE = 60_000


def candles(interval: str, source: str, first: int, count: int, price: float = 100.0) -> list[Candle]:
    """Return ``count`` made-up candles of ``interval`` from ``first`` (flat prices: only times matter)."""
    step = interval_ms(interval)
    return [
        Candle("BTCUSDT", interval, first + i * step, source, price, price, price, price, 1.0)
        for i in range(count)
    ]


def test_a_live_bots_folded_hours_are_replayed_only_before_its_minutes(repo: Repo) -> None:
    # What a live bot holds after pruning: 1h folded from old minutes, then 1m. The hours overlapping the
    # minutes (a fold keeps an existing 1h candle) must not be replayed, nor counted, a second time.
    repo.upsert_candles(candles("1h", "binance", T0, 48))
    repo.upsert_candles(candles("1m", "binance", T0 + 24 * HOUR, 2 * 1440))
    plan = candle_plan(repo, "BTCUSDT", T0, T0 + 3 * 24 * HOUR)
    assert [(s.interval, s.start, s.end) for s in plan] == [
        ("1h", T0, T0 + 24 * HOUR),
        ("1m", T0 + 24 * HOUR, T0 + 72 * HOUR),
    ]
    assert count_candles(repo, plan, T0, T0 + 72 * HOUR) == 24 + 2 * 1440
    # Stored, the same window holds 48 + 2,880: the count the old limit compared.
    assert sum(c.rows for c in repo.candle_coverage("BTCUSDT", T0, T0 + 72 * HOUR)) == 48 + 2 * 1440
    # Only the part of the plan inside the window counts.
    assert count_candles(repo, plan, T0 + 12 * HOUR, T0 + 25 * HOUR) == 12 + 60


def test_hours_fill_a_long_hole_in_the_minutes_but_never_overlap_them(repo: Repo) -> None:
    # A bot down from 10:17 to 15:42 on day 2, longer than its backfill reached: its minutes have a hole
    # there, its hours (imported or folded) do not. The hours that fit wholly inside the hole are replayed.
    repo.upsert_candles(candles("1h", "binance", T0, 72))
    day2 = T0 + 24 * HOUR
    repo.upsert_candles(candles("1m", "binance", day2, 10 * 60 + 17))
    repo.upsert_candles(candles("1m", "binance", day2 + 15 * HOUR + 42 * MINUTE, 8 * 60 + 18))
    # A hole of under an hour is left as it is (no hour fits there).
    repo.upsert_candles(candles("1m", "binance", day2 + 24 * HOUR, 30))
    repo.upsert_candles(candles("1m", "binance", day2 + 24 * HOUR + 50 * MINUTE, 10))
    plan = candle_plan(repo, "BTCUSDT", T0, T0 + 3 * 24 * HOUR)
    assert [(s.interval, s.start, s.end) for s in plan] == [
        ("1h", T0, day2),
        ("1m", day2, day2 + 10 * HOUR + 17 * MINUTE),
        ("1h", day2 + 10 * HOUR + 17 * MINUTE, day2 + 15 * HOUR),  # 11:00 .. 14:00 open inside the hole
        ("1m", day2 + 15 * HOUR + 42 * MINUTE, day2 + 25 * HOUR),
        ("1h", day2 + 25 * HOUR, T0 + 72 * HOUR),
    ]
    replayed = [c.open_time for span in plan for c in read_candles(repo, span) if c.interval == "1h"]
    inside = [t for t in replayed if day2 <= t < day2 + 25 * HOUR]
    assert inside == [day2 + h * HOUR for h in (11, 12, 13, 14)]


def test_a_coarser_interval_after_the_finest_is_replayed_after_it(repo: Repo) -> None:
    repo.upsert_candles(candles("1m", "binance", T0, 60))
    repo.upsert_candles(candles("5m", "binance", T0, 24))
    plan = candle_plan(repo, "BTCUSDT", T0, T0 + 2 * HOUR)
    assert [(s.interval, s.start, s.end) for s in plan] == [
        ("1m", T0, T0 + HOUR),
        ("5m", T0 + HOUR, T0 + 2 * HOUR),
    ]
    assert count_candles(repo, plan, T0, T0 + 2 * HOUR) == 60 + 12


def test_a_minute_stored_by_two_sources_is_one_candle_of_the_preferred_source(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Binance for minutes 0..99, its fallback Coinbase for 50..199 (more rows: preferred where both are).
    repo.upsert_candles(candles("1m", "binance", T0, 100, price=1.0))
    repo.upsert_candles(candles("1m", "coinbase", T0 + 50 * MINUTE, 150, price=2.0))
    (span,) = candle_plan(repo, "BTCUSDT", T0, T0 + HOUR * 4)
    assert span.sources == ("coinbase", "binance")
    assert count_candles(repo, [span], T0, T0 + 4 * HOUR) == 200
    # Small chunks cut the two sources of one minute apart; each minute still comes once.
    for chunk in (7, 10_000):
        monkeypatch.setattr(backtest_data, "READ_CHUNK", chunk)
        rows = list(read_candles(repo, span))
        assert [r.open_time for r in rows] == [T0 + i * MINUTE for i in range(200)]
        assert {r.source for r in rows[:50]} == {"binance"}
        assert {r.source for r in rows[50:]} == {"coinbase"}


def test_a_candle_still_forming_is_neither_read_nor_counted(repo: Repo) -> None:
    rows = candles("1m", "binance", T0, 10)
    rows[-1] = rows[-1]._replace(closed=False)
    repo.upsert_candles(rows)
    (span,) = candle_plan(repo, "BTCUSDT", T0, T0 + HOUR)
    assert len(list(read_candles(repo, span))) == 9
    assert count_candles(repo, [span], T0, T0 + HOUR) == 9


def test_the_timeline_places_each_candle_at_its_close(repo: Repo) -> None:
    repo.upsert_candles(candles("1h", "binance", T0, 3))
    repo.upsert_candles(candles("1m", "binance", T0 + 3 * HOUR, 5))
    plan = candle_plan(repo, "BTCUSDT", T0, T0 + 4 * HOUR)
    data = stored_timeline(repo, plan, ["BTCUSDT"], T0, T0 + 4 * HOUR, T0)
    placed = [(t, [c.interval for c in b.candles]) for t, b in data.timeline()]
    assert placed == [(T0 + (i + 1) * HOUR, ["1h"]) for i in range(3)] + [
        (T0 + 3 * HOUR + (i + 1) * MINUTE, ["1m"]) for i in range(5)
    ]


def _rows(batch: Batch) -> tuple[object, ...]:
    return (
        sorted(batch.candles),
        batch.liquidations,
        batch.liquidation_buckets,
        batch.funding,
        batch.open_interest,
        batch.fear_greed,
    )


def test_the_compact_timeline_holds_the_same_instants_and_rows_as_the_stored_data() -> None:
    # The bundled data has one interval and one source a symbol: the plan replays all of it, so the compact
    # timeline must be the one recorded_from_repo builds, instant by instant and row by row.
    repo = scenario_data_repo(ROOT / "bot" / "scenario")
    start, end = parse_time("2026-01-01"), parse_time("2026-01-21")
    symbols = ["BTCUSDT", "ETHUSDT"]
    plan = [span for symbol in symbols for span in candle_plan(repo, symbol, start, end)]
    compact = stored_timeline(repo, plan, symbols, start, end, start)
    plain = [(t, b) for t, b in recorded_from_repo(repo, symbols, start, end).timeline() if t <= end]
    repo.close()
    assert len(compact) == len(plain) > 400
    assert [(t, _rows(b)) for t, b in compact] == [(t, _rows(b)) for t, b in plain]
    assert compact[-1][0] == plain[-1][0] and compact[1:3][0][0] == plain[1][0]
    assert compact.span(parse_time("2026-01-13"), parse_time("2026-01-14")) == (
        parse_time("2026-01-13"),
        parse_time("2026-01-14"),
    )
    assert compact.span(end + 1, end + 2) is None


def test_a_quote_volume_not_stored_stays_none(repo: Repo) -> None:
    rows = candles("1m", "binance", T0, 2)
    rows[1] = rows[1]._replace(quote_volume=12.5)
    repo.upsert_candles(rows)
    plan = candle_plan(repo, "BTCUSDT", T0, T0 + HOUR)
    timeline = stored_timeline(repo, plan, ["BTCUSDT"], T0, T0 + HOUR, T0)
    assert [c for _, b in timeline for c in b.candles] == rows


def test_a_span_is_the_part_of_an_interval_no_finer_one_covers() -> None:
    span = CandleSpan("BTCUSDT", "1h", 0, 10, ("binance",))
    assert backtest_data._uncovered((span.start, span.end), [(2, 4), (6, 8)]) == [(0, 2), (4, 6), (8, 10)]
    assert backtest_data._uncovered((0, 10), [(0, 10)]) == []

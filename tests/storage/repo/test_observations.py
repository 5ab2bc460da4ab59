"""Candles, funding, open interest and Fear & Greed: idempotent upserts and range reads."""

from __future__ import annotations

import sqlite3

import pytest

from storage.repo import Repo
from storage.rows import HOUR_MS as H
from storage.rows import Candle, FearGreed, Funding, Liquidation, OpenInterest

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def _candles(n: int, close: float = 100.0) -> list[Candle]:
    return [
        Candle("BTCUSDT", "1h", T0 + i * H, "binance", close, close + 1, close - 1, close + i, 10.0)
        for i in range(n)
    ]


def test_candle_upsert_is_idempotent_and_updates_values(repo: Repo) -> None:
    repo.upsert_candles(_candles(3))
    repo.upsert_candles(_candles(3))
    assert len(repo.candles("BTCUSDT", "1h")) == 3
    # A re-poll of the still-open candle replaces it with the final values.
    repo.upsert_candles([Candle("BTCUSDT", "1h", T0 + 2 * H, "binance", 1, 2, 0.5, 1.5, 99.0, None, True)])
    rows = repo.candles("BTCUSDT", "1h")
    assert len(rows) == 3 and rows[-1].c == 1.5 and rows[-1].volume == 99.0


def test_a_poll_writes_only_the_candles_that_changed(repo: Repo) -> None:
    closed = Candle("BTCUSDT", "1m", T0, "binance", 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, True)
    forming = Candle("BTCUSDT", "1m", T0 + 60_000, "binance", 1.5, 1.6, 1.4, 1.55, 2.0, None, False)
    assert repo.upsert_candles([closed, forming]) == 2
    changes = repo.conn.total_changes
    # The next poll: the closed candle again, unchanged, and the forming one, moved on.
    moved = forming._replace(h=1.7, c=1.65, volume=3.0)
    assert repo.upsert_candles([closed, moved]) == 1, "the unchanged closed candle is not written again"
    assert repo.conn.total_changes - changes == 1
    assert repo.upsert_candles([closed, moved]) == 0, "nothing changed: nothing written"
    assert repo.candles("BTCUSDT", "1m") == [closed, moved]
    # The forming candle closes: its flag changes with its values, and the closed count of its day.
    final = moved._replace(c=1.66, quote_volume=5.0, closed=True)
    assert repo.upsert_candles([final]) == 1
    assert repo.candles("BTCUSDT", "1m") == [closed, final]
    assert repo.closed_candle_count("BTCUSDT", "1m", T0, T0 + 120_000) == 2


def test_writes_fit_a_build_that_allows_only_999_bound_parameters(repo: Repo) -> None:
    # SQLite before 3.32 (e.g. RHEL 8's 3.26) allows 999 parameters a statement: 1,500 candles of 11 columns
    # must still go in (in statements of at most 64 rows there), as must 1,500 liquidations.
    if repo.is_postgres:
        pytest.skip("SQLite's build-time parameter limit; PostgreSQL allows 65,535")
    repo.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # type: ignore[attr-defined]
    repo.upsert_candles(_candles(1500))
    assert len(repo.candles("BTCUSDT", "1h")) == 1500
    events = [Liquidation("BTCUSDT", T0 + i, "binance", "long", 95_000.0, 0.1, 9_500.0) for i in range(1500)]
    assert len(repo.store_liquidations(events)) == 1500


def test_candle_reads_honour_range_source_and_limit(repo: Repo) -> None:
    repo.upsert_candles(_candles(5))
    repo.upsert_candles([c._replace(source="coinbase") for c in _candles(2)])
    assert [c.open_time for c in repo.candles("BTCUSDT", "1h", T0 + H, T0 + 3 * H, source="binance")] == [
        T0 + H,
        T0 + 2 * H,
    ]
    assert len(repo.candles("BTCUSDT", "1h", source="coinbase")) == 2
    assert [c.open_time for c in repo.latest_candles("BTCUSDT", "1h", 2, source="binance")] == [
        T0 + 3 * H,
        T0 + 4 * H,
    ]
    assert repo.last_candle_time("BTCUSDT", "1h", "binance") == T0 + 4 * H
    assert repo.last_candle_time("ETHUSDT", "1h", "binance") is None


def test_funding_oi_and_fear_greed_upserts(repo: Repo) -> None:
    repo.upsert_funding([Funding("BTCUSDT", T0, "binance", -0.0001, 95000.0)])
    repo.upsert_funding([Funding("BTCUSDT", T0, "binance", -0.00005, 95000.0)])
    assert [f.rate for f in repo.funding("BTCUSDT")] == [-0.00005]
    repo.upsert_open_interest([OpenInterest("BTCUSDT", T0, "binance", 95000.0, 9.1e9)] * 2)
    assert len(repo.open_interest("BTCUSDT")) == 1
    repo.upsert_fear_greed([FearGreed("2026-01-15", T0, 61, "Greed")])
    # A source without labels (the long history file) must not erase a known label.
    repo.upsert_fear_greed([FearGreed("2026-01-15", T0, 61, None)])
    latest = repo.latest_fear_greed()
    assert latest is not None and latest.classification == "Greed"


def test_candle_coverage_counts_each_interval_and_source_in_the_window(repo: Repo) -> None:
    repo.upsert_candles(_candles(5))
    repo.upsert_candles([Candle("BTCUSDT", "1m", T0, "coinbase", 1, 2, 0.5, 1.5, 10.0)])
    repo.upsert_candles([Candle("ETHUSDT", "1h", T0, "binance", 1, 2, 0.5, 1.5, 10.0)])
    cover = {
        (c.interval, c.source): (c.rows, c.first_open, c.last_open) for c in repo.candle_coverage("BTCUSDT")
    }
    assert cover == {("1h", "binance"): (5, T0, T0 + 4 * H), ("1m", "coinbase"): (1, T0, T0)}
    window = repo.candle_coverage("BTCUSDT", T0 + H, T0 + 3 * H)
    assert [(c.interval, c.rows, c.first_open, c.last_open) for c in window] == [
        ("1h", 2, T0 + H, T0 + 2 * H)
    ]
    assert repo.candle_symbols() == ["BTCUSDT", "ETHUSDT"]

"""Typed reads and writes: idempotent upserts, range reads, stats."""

from __future__ import annotations

import sqlite3

import pytest

from storage.repo import Repo, RuleRow
from storage.rows import Candle, FearGreed, Funding, Liquidation, OpenInterest

H = 3_600_000
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


def test_writes_fit_a_build_that_allows_only_999_bound_parameters(repo: Repo) -> None:
    # SQLite before 3.32 (e.g. RHEL 8's 3.26) allows 999 parameters a statement: 1,500 candles of 11 columns
    # must still go in (in statements of at most 64 rows there), as must 1,500 liquidations.
    repo.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
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


def test_liquidation_repeats_are_ignored_and_totals_split_by_side(repo: Repo) -> None:
    events = [
        Liquidation("BTCUSDT", T0 + 1, "binance", "short", 95000.0, 0.5, 47500.0),
        Liquidation("BTCUSDT", T0 + 2, "bybit", "short", 95100.0, 1.0, 95100.0),
        Liquidation("BTCUSDT", T0 + 3, "okx", "long", 94000.0, 0.1, 9400.0),
    ]
    repo.insert_liquidations(events)
    repo.insert_liquidations(events)  # a re-poll of the same REST page
    totals = repo.liquidation_totals("BTCUSDT", T0, T0 + H)
    assert totals.count == 3
    assert totals.short_usd == pytest.approx(142600.0)
    assert totals.long_usd == pytest.approx(9400.0)
    assert totals.by_source["bybit"] == (0.0, 95100.0)
    assert [e.source for e in repo.largest_liquidations("BTCUSDT", T0, T0 + H, limit=2)] == [
        "bybit",
        "binance",
    ]


def test_hourly_rollup_matches_raw_rows_for_any_window(repo: Repo) -> None:
    # Synthetic events every 7 minutes over 10 hours, alternating sides and venues.
    events = [
        Liquidation(
            "BTCUSDT",
            T0 + i * 7 * 60_000,
            ("binance", "bybit")[i % 2],
            ("long", "short")[i % 3 == 0],
            1.0,
            1.0 + i,
            100.0 + i,
        )
        for i in range(86)
    ]
    repo.insert_liquidations(events)
    repo.insert_liquidations(events[:10])  # ignored repeats must not reach the hourly totals
    for start, end in [
        (T0, T0 + 10 * H),
        (T0 + 13 * 60_000, T0 + 5 * H + 1),
        (T0 + 61 * 60_000, T0 + 62 * 60_000),
    ]:
        inside = [e for e in events if start <= e.ts < end]
        totals = repo.liquidation_totals("BTCUSDT", start, end)
        assert totals.count == len(inside)
        assert totals.long_usd == pytest.approx(sum(e.usd for e in inside if e.side == "long"))
        assert totals.short_usd == pytest.approx(sum(e.usd for e in inside if e.side == "short"))
        assert repo.liquidation_totals(None, start, end) == totals
    hours = repo.liquidation_hours("BTCUSDT", T0, T0 + 2 * H)
    assert [h for h, _, _ in hours] == [T0, T0 + H]


def test_liquidation_buckets_are_replaced_not_added(repo: Repo) -> None:
    bucket = Liquidation("BTCUSDT", T0, "coinglass", "short", 0.0, 0.0, 100.0)
    repo.upsert_liquidation_buckets([bucket])
    repo.upsert_liquidation_buckets([bucket._replace(usd=109_000_000.0)])
    assert repo.liquidation_totals(None, T0, T0 + H).short_usd == 109_000_000.0


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


def test_transaction_rolls_back_everything_on_error(repo: Repo) -> None:
    with pytest.raises(RuntimeError), repo.transaction():
        repo.upsert_candles(_candles(2))
        repo.save_rule(RuleRow("r1", "config", "level_cross", "BTCUSDT", {"level": 1.0}))
        raise RuntimeError("crash mid-tick")
    assert repo.candles("BTCUSDT", "1h") == []
    assert repo.rule("r1") is None


def test_rules_round_trip_and_quota_count(repo: Repo) -> None:
    rule = RuleRow("r1", "discord", "level_cross", "BTCUSDT", {"level": 95000.0}, guild_id=7, owner_id=9)
    repo.save_rule(rule)
    assert repo.rule("r1") == rule
    assert repo.count_rules(guild_id=7, owner_id=9) == 1
    assert repo.set_rule_enabled("r1", False, "paused by admin", 5)
    stored = repo.rule("r1")
    assert stored is not None and not stored.enabled and stored.status_reason == "paused by admin"
    assert repo.delete_rule("r1") and repo.rule("r1") is None


def test_stats_counts_rows_and_spans(repo: Repo) -> None:
    repo.upsert_candles(_candles(4))
    repo.insert_liquidations([Liquidation("ETHUSDT", T0, "okx", "long", 3000.0, 1.0, 3000.0)])
    stats = repo.stats()
    assert stats.rows_per_table["candles"] == 4
    assert stats.rows_per_table["liquidations"] == 1
    span = next(s for s in stats.spans if s.table == "candles")
    assert (span.source, span.symbol, span.rows, span.first_ts, span.last_ts) == (
        "binance",
        "BTCUSDT 1h",
        4,
        T0,
        T0 + 3 * H,
    )


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


def test_liquidation_buckets_sum_by_side_on_an_aligned_grid(repo: Repo) -> None:
    repo.insert_liquidations(
        [
            Liquidation("BTCUSDT", T0 + 60_000, "binance", "short", 95_000.0, 1.0, 95_000.0),
            Liquidation("BTCUSDT", T0 + 120_000, "bybit", "short", 95_100.0, 2.0, 190_200.0),
            Liquidation("BTCUSDT", T0 + H + 5, "binance", "long", 94_000.0, 1.0, 94_000.0),
            Liquidation("ETHUSDT", T0, "binance", "long", 3_300.0, 1.0, 3_300.0),
        ]
    )
    assert repo.liquidation_buckets("BTCUSDT", T0, T0 + 2 * H, H) == [
        (T0, 0.0, 285_200.0),
        (T0 + H, 94_000.0, 0.0),
    ]
    # On a 4h grid shifted by one hour, buckets open at 01:00, 05:00, ..., 21:00: T0 (22:00) and the
    # 23:00 liquidation both fall in the one opening at 21:00.
    assert repo.liquidation_buckets("BTCUSDT", T0, T0 + 2 * H, 4 * H, phase_ms=H) == [
        (T0 - H, 94_000.0, 285_200.0)
    ]
    # Buckets finer than an hour are summed from the raw rows.
    assert repo.liquidation_buckets("BTCUSDT", T0, T0 + 2 * H, 15 * 60_000) == [
        (T0, 0.0, 285_200.0),
        (T0 + H, 94_000.0, 0.0),
    ]


def test_silences_one_off_and_recurring_windows(repo: Repo) -> None:
    week = 7 * 24 * H
    one_off = repo.add_silence(guild_id=1, starts_at=T0, ends_at=T0 + H, symbol="BTCUSDT", now=T0)
    weekly = repo.add_silence(guild_id=1, starts_at=T0, ends_at=T0 + 2 * H, recurrence="weekly", now=T0)
    other_guild = repo.add_silence(guild_id=2, starts_at=T0, ends_at=T0 + H, now=T0)
    assert {s.id for s in repo.active_silences(T0 + 1, guild_id=1)} == {one_off, weekly}
    assert {s.id for s in repo.active_silences(T0 + 90 * 60_000, guild_id=1)} == {weekly}  # one-off ended
    assert repo.active_silences(T0 + 3 * H, guild_id=1) == []
    # The mute window comes back a week later, for the same two hours.
    assert {s.id for s in repo.active_silences(T0 + week + H, guild_id=1)} == {weekly}
    assert repo.active_silences(T0 + week + 2 * H) == []
    assert {s.id for s in repo.active_silences(T0 + 1)} == {one_off, weekly, other_guild}
    assert [s.id for s in repo.silences(1, T0 + 3 * H)] == [weekly]
    assert repo.delete_silence(weekly, 1) and not repo.delete_silence(other_guild, 1)

"""Retention: what `Repo.prune` deletes, keeps and folds, in chunks, and what `vacuum` gives back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import RetentionConfig
from storage.db import open_database
from storage.repo import DAY_MS, HOUR_MS, AlertStateRow, MeasuredPositionRow, MeasuredSample, Repo, RuleRow
from storage.rows import (
    Candle,
    DepthBand,
    Funding,
    ImpliedVol,
    Liquidation,
    LongShort,
    OpenInterest,
    PredictedFunding,
)

MIN = 60_000
# 2026-01-20 00:30 UTC: half past an hour, so the hour boundaries of the cutoffs matter.
NOW = 1_768_867_200_000 + 30 * MIN
POLICY = RetentionConfig(
    liquidations_days=2,
    liquidations_hourly_days=10,
    candles_1m_days=2,
    candles_other_days=20,
    funding_days=5,
    open_interest_days=3,
    alert_events_days=30,
    delivered_outbox_days=7,
)


def _minute_candles(start: int, count: int, source: str = "binance", symbol: str = "BTCUSDT") -> list[Candle]:
    return [
        Candle(symbol, "1m", start + i * MIN, source, 100.0 + i, 101.0 + i, 99.0 - i, 100.5 + i, 1.0, 2.0)
        for i in range(count)
    ]


def _same_totals(a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]) -> bool:
    return a.keys() == b.keys() and all(a[k] == pytest.approx(b[k]) for k in a)


def _count(repo: Repo, table: str, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> int:
    return int(repo.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])


def _rule(repo: Repo, rule_id: str = "r1") -> None:
    repo.save_rule(
        RuleRow(id=rule_id, origin="config", detector="level_cross", symbol="BTCUSDT", settings={})
    )


def _event(repo: Repo, at: int, key: str = "r1") -> int:
    event_id = repo.insert_event(
        dedupe_key=key,
        rule_id="r1",
        detector="level_cross",
        symbol="BTCUSDT",
        guild_id=None,
        state="firing",
        kind="level_cross",
        severity="info",
        title="BTC above 95k",
        values={},
        rule={},
        at=at,
        recorded_at=at,
    )
    assert event_id is not None
    return event_id


def test_rows_older_than_the_policy_go_and_newer_ones_stay(file_repo: Repo) -> None:
    repo = file_repo
    funding_cut = NOW - 5 * DAY_MS
    oi_cut = NOW - 3 * DAY_MS
    repo.upsert_funding(
        [
            Funding("BTCUSDT", funding_cut - 1, "binance", 0.0001),
            Funding("BTCUSDT", funding_cut, "binance", 0.0002),
        ]
    )
    repo.upsert_open_interest(
        [
            OpenInterest("ETHUSDT", oi_cut - 1, "bybit", 1.0, 3000.0),
            OpenInterest("ETHUSDT", oi_cut, "bybit", 2.0, 6000.0),
        ]
    )
    other_cut = NOW - 20 * DAY_MS
    repo.upsert_candles(
        [
            Candle("BTCUSDT", "1h", other_cut - HOUR_MS, "binance", 1, 2, 0.5, 1.5, 10.0),
            Candle("BTCUSDT", "1h", other_cut + HOUR_MS, "binance", 1, 2, 0.5, 1.5, 10.0),
            Candle("BTCUSDT", "5m", other_cut - 5 * MIN, "binance", 1, 2, 0.5, 1.5, 10.0),
        ]
    )
    # An aggregated source's hourly buckets: the rows go after liquidations_days (2), their totals in the
    # rollup after liquidations_hourly_days (10).
    hourly_cut = NOW - 10 * DAY_MS - 30 * MIN
    buckets = [
        Liquidation("BTCUSDT", hourly_cut - HOUR_MS, "coinglass", "short", 0, 0, 1e6),
        Liquidation("BTCUSDT", hourly_cut, "coinglass", "short", 0, 0, 2e6),
        Liquidation("BTCUSDT", NOW - DAY_MS, "coinglass", "long", 0, 0, 3e6),
    ]
    repo.upsert_liquidation_buckets(buckets)
    result = repo.prune(POLICY, NOW)
    assert [r.ts for r in repo.funding("BTCUSDT")] == [funding_cut]
    assert [r.ts for r in repo.open_interest("ETHUSDT")] == [oi_cut]
    assert [c.open_time for c in repo.candles("BTCUSDT", "1h")] == [other_cut + HOUR_MS]
    assert repo.candles("BTCUSDT", "5m") == []
    assert repo.liquidations("BTCUSDT", 0, NOW) == [buckets[2]]
    assert repo.liquidation_hours("BTCUSDT", 0, NOW) == [
        (hourly_cut, 0.0, 2e6),
        (NOW - DAY_MS - 30 * MIN, 3e6, 0.0),
    ]
    assert result.deleted == {
        "candles": 2,
        "liquidations": 2,
        "liquidation_hourly": 1,
        "funding": 1,
        "open_interest": 1,
        "measured_positions": 0,
        "measured_samples": 0,
        "long_short": 0,
        "implied_vol": 0,
        "depth_bands": 0,
        "predicted_funding": 0,
        "outbox": 0,
        "message_groups": 0,
        "alert_events": 0,
    }
    assert not result.dry_run and result.total_deleted == 7


def test_outbox_keeps_pending_rows_of_any_age_and_open_alerts_messages(file_repo: Repo) -> None:
    repo = file_repo
    _rule(repo)
    old = NOW - 100 * DAY_MS
    firing_event = _event(repo, old, key="r1:open")
    done_event = _event(repo, old + 1, key="r1:done")
    ids = {
        name: repo.enqueue(event_id=ev, sink="discord", target="1", kind="alert", payload={}, now=created)
        for name, ev, created in (
            ("pending_old", None, old),
            ("delivered_old", done_event, old),
            ("failed_old", None, old),
            ("dropped_old", None, old),
            ("delivered_recent", None, NOW - DAY_MS),
            ("open_alert_message", firing_event, old),
        )
    }
    repo.mark_delivered(ids["delivered_old"], old + 1000, "m1")
    repo.mark_failed(ids["failed_old"], "channel gone")
    repo.mark_failed(ids["dropped_old"], "muted", status="dropped")
    repo.mark_delivered(ids["delivered_recent"], NOW - DAY_MS, "m2")
    repo.mark_delivered(ids["open_alert_message"], old + 1000, "m3")
    repo.save_alert_state(
        AlertStateRow("r1:open", "r1", "firing", old, fired_at=old, last_event_id=firing_event)
    )
    result = repo.prune(POLICY, NOW)
    left = {name for name, outbox_id in ids.items() if repo.outbox_row(outbox_id) is not None}
    assert left == {"pending_old", "delivered_recent", "open_alert_message"}
    assert result.deleted["outbox"] == 3
    assert repo.outbox_depth() == 1


def test_alert_events_keep_each_alerts_last_event_and_undelivered_ones(file_repo: Repo) -> None:
    repo = file_repo
    _rule(repo)
    old = NOW - 40 * DAY_MS
    plain = _event(repo, old, key="r1:a")
    last_of_alert = _event(repo, old + 1, key="r1:b")
    undelivered = _event(repo, old + 2, key="r1:c")
    recent = _event(repo, NOW - DAY_MS, key="r1:d")
    repo.save_alert_state(AlertStateRow("r1:b", "r1", "resolved", old, last_event_id=last_of_alert))
    repo.enqueue(event_id=undelivered, sink="discord", target="1", kind="alert", payload={}, now=old)
    result = repo.prune(POLICY, NOW)
    assert repo.event(plain) is None
    assert {e for e in (last_of_alert, undelivered, recent) if repo.event(e) is not None} == {
        last_of_alert,
        undelivered,
        recent,
    }
    assert result.deleted["alert_events"] == 1
    # Rules and alert state are never pruned.
    assert repo.rule("r1") is not None and repo.alert_state("r1:b") is not None


def test_one_minute_candles_fold_into_hourly_candles_before_they_go(file_repo: Repo) -> None:
    repo = file_repo
    cutoff = NOW - 2 * DAY_MS - 30 * MIN  # 2 days before NOW, floored to the hour
    first_hour = cutoff - 3 * HOUR_MS
    # Three hours before the cutoff and one after it; the third hour lacks its last 30 minutes.
    minutes = [
        c for c in _minute_candles(first_hour, 4 * 60) if not (cutoff - 30 * MIN <= c.open_time < cutoff)
    ]
    repo.upsert_candles(minutes)
    repo.upsert_candles(_minute_candles(first_hour, 60, source="coinbase"))
    exchange_bar = Candle("BTCUSDT", "1h", first_hour + HOUR_MS, "binance", 7, 8, 6, 7.5, 42.0, None)
    repo.upsert_candles([exchange_bar])
    result = repo.prune(POLICY, NOW)

    hourly = {(c.source, c.open_time): c for c in repo.candles("BTCUSDT", "1h")}
    assert set(hourly) == {
        ("binance", first_hour),
        ("binance", first_hour + HOUR_MS),
        ("binance", first_hour + 2 * HOUR_MS),
        ("coinbase", first_hour),
    }
    first = hourly[("binance", first_hour)]
    assert (first.o, first.h, first.l, first.c) == (100.0, 160.0, 40.0, 159.5)
    assert (first.volume, first.quote_volume, first.closed) == (60.0, 120.0, True)
    # The exchange's own hourly bar is better than one rebuilt from minutes: it is kept as it was.
    assert hourly[("binance", first_hour + HOUR_MS)] == exchange_bar
    partial = hourly[("binance", first_hour + 2 * HOUR_MS)]
    assert (partial.o, partial.c, partial.volume) == (220.0, 249.5, 30.0)
    # Minutes at or after the cutoff stay; none before it.
    remaining = repo.candles("BTCUSDT", "1m")
    assert remaining and min(c.open_time for c in remaining) == cutoff
    assert len(remaining) == 60
    assert result.deleted["candles"] == 150 + 60
    assert result.downsampled["candles"] == 3


def test_raw_liquidations_go_and_their_hourly_totals_stay(file_repo: Repo) -> None:
    repo = file_repo
    cutoff = NOW - 2 * DAY_MS - 30 * MIN
    hour = cutoff - HOUR_MS
    repo.insert_liquidations(
        [
            Liquidation("BTCUSDT", hour + 1000, "binance", "short", 95000.0, 1.0, 95000.0),
            Liquidation("BTCUSDT", hour + 2000, "binance", "short", 95100.0, 2.0, 190200.0),
            Liquidation("BTCUSDT", hour + 3000, "binance", "long", 94000.0, 1.0, 94000.0),
            Liquidation("BTCUSDT", hour + 4000, "bybit", "short", 95000.0, 0.5, 47500.0),
            Liquidation("BTCUSDT", cutoff + 5, "binance", "short", 96000.0, 1.0, 96000.0),
        ]
    )
    before = repo.liquidation_totals("BTCUSDT", hour, NOW)
    result = repo.prune(POLICY, NOW)
    assert [r.ts for r in repo.liquidations("BTCUSDT", 0, NOW)] == [cutoff + 5]
    # Whole hours are read from the rollup, which pruning the raw rows leaves alone.
    after = repo.liquidation_totals("BTCUSDT", hour, NOW)
    assert _same_totals(after.by_source, before.by_source)
    assert after.count == before.count == 5
    assert repo.liquidation_hours("BTCUSDT", hour, cutoff) == [(hour, 94000.0, 332700.0)]
    assert result.deleted["liquidations"] == 4 and result.deleted["liquidation_hourly"] == 0
    assert result.downsampled == {"candles": 0}


def test_without_downsampling_old_detail_is_just_deleted(file_repo: Repo) -> None:
    repo = file_repo
    cutoff = NOW - 2 * DAY_MS - 30 * MIN
    repo.upsert_candles(_minute_candles(cutoff - HOUR_MS, 120))
    result = repo.prune(POLICY.model_copy(update={"downsample": False}), NOW)
    assert repo.candles("BTCUSDT", "1h") == []
    assert len(repo.candles("BTCUSDT", "1m")) == 60
    assert result.downsampled == {"candles": 0} and result.deleted["candles"] == 60


def _fill_everything(repo: Repo) -> None:
    _rule(repo)
    cutoff = NOW - 2 * DAY_MS - 30 * MIN
    repo.upsert_candles(_minute_candles(cutoff - 5 * HOUR_MS, 6 * 60))
    repo.upsert_candles(_minute_candles(cutoff - 5 * HOUR_MS, 6 * 60, symbol="ETHUSDT"))
    repo.insert_liquidations(
        [Liquidation("BTCUSDT", cutoff - i * MIN, "binance", "short", 1.0, 1.0, 1.0) for i in range(1, 500)]
    )
    # 11 days old: past the rollup's retention too, one hourly row each.
    repo.insert_liquidations(
        [
            Liquidation("ETHUSDT", NOW - 11 * DAY_MS - i * HOUR_MS, "okx", "long", 1.0, 1.0, 1.0)
            for i in range(300)
        ]
    )
    repo.upsert_funding(
        [Funding("BTCUSDT", NOW - 6 * DAY_MS - i * HOUR_MS, "binance", 0.0001) for i in range(300)]
    )
    repo.upsert_open_interest(
        [OpenInterest("BTCUSDT", NOW - 4 * DAY_MS - i * MIN, "binance", 1.0, 1.0) for i in range(700)]
    )
    for i in range(300):
        ev = _event(repo, NOW - 31 * DAY_MS - i, key=f"r1:{i}")
        row = repo.enqueue(
            event_id=ev, sink="console", target="-", kind="alert", payload={}, now=NOW - 8 * DAY_MS
        )
        repo.mark_delivered(row, NOW - 8 * DAY_MS)


def test_dry_run_deletes_nothing_and_predicts_the_real_run(file_repo: Repo) -> None:
    repo = file_repo
    _fill_everything(repo)
    before = {t: _count(repo, t) for t in ("candles", "liquidations", "funding", "open_interest", "outbox")}
    dry = repo.prune(POLICY, NOW, dry_run=True)
    assert {t: _count(repo, t) for t in before} == before
    assert dry.dry_run and dry.chunks == 0 and dry.total_deleted > 0
    real = repo.prune(POLICY, NOW)
    assert real.deleted == dry.deleted
    assert real.downsampled == dry.downsampled


def test_each_chunk_is_its_own_short_transaction(file_repo: Repo, tmp_path: Path) -> None:
    repo = file_repo
    if repo.is_postgres:
        pytest.skip("SQLite's database-wide write lock; PostgreSQL writers lock only the rows they change")
    _fill_everything(repo)
    # A second connection, like the live bot's, that refuses to wait for the lock at all.
    other = sqlite3.connect(tmp_path / "tripwire.db", timeout=0, isolation_level=None)
    chunks: list[tuple[str, int]] = []

    def between_chunks(table: str, rows: int) -> None:
        assert not repo.conn.in_transaction
        chunks.append((table, rows))
        # Succeeds only because the write lock was released after the chunk.
        other.execute(
            "INSERT INTO fear_greed (date, ts, value) VALUES (?, ?, 50)", (f"d{len(chunks)}", len(chunks))
        )

    result = repo.prune(POLICY, NOW, chunk_rows=120, on_chunk=between_chunks)
    other.close()
    assert result.chunks == len(chunks) > 10
    # Minute candles are folded two hours (120 rows of one source) per transaction; the rest by LIMIT.
    assert max(rows for _, rows in chunks) <= 120
    assert sum(rows for _, rows in chunks) == result.total_deleted
    assert {table for table, _ in chunks} == {
        "candles",
        "liquidations",
        "liquidation_hourly",
        "funding",
        "open_interest",
        "outbox",
        "alert_events",
    }
    assert _count(repo, "fear_greed") == len(chunks)


def test_a_writer_holding_the_lock_at_the_statistics_step_does_not_fail_the_prune(
    file_repo: Repo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = file_repo
    if repo.is_postgres:
        pytest.skip("SQLite's database-wide write lock; PostgreSQL's ANALYZE does not wait for row writers")
    _fill_everything(repo)
    predicted = repo.prune(POLICY, NOW, dry_run=True)
    repo.set_busy_timeout(50)
    # The live bot's connection takes the write lock just as the prune refreshes its statistics (seen in
    # CI: a bot committing between PRAGMA optimize's read and its write of sqlite_stat1).
    other = sqlite3.connect(tmp_path / "tripwire.db", timeout=0, isolation_level=None)

    def on_statement(sql: str) -> None:
        if sql.startswith("PRAGMA optimize") and not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")

    repo.conn.set_trace_callback(on_statement)
    try:
        with caplog.at_level("INFO", logger="storage.repo.maintenance"):
            result = repo.prune(POLICY, NOW, chunk_rows=500)
    finally:
        repo.conn.set_trace_callback(None)
        other.execute("ROLLBACK")
        other.close()
    # The deletions stand, all of them, and the prune says what it did instead of failing.
    assert result.chunks > 0 and result.total_deleted > 0 and result.deleted == predicted.deleted
    assert "planner statistics not refreshed" in caplog.text


def test_prune_refuses_to_run_inside_a_transaction(repo: Repo) -> None:
    with repo.transaction(), pytest.raises(RuntimeError, match="outside transaction"):
        repo.prune(POLICY, NOW)


def test_vacuum_returns_freed_space_to_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    db = open_database(path)
    repo = Repo(db)
    start = NOW - 30 * DAY_MS
    repo.upsert_candles(_minute_candles(start, 20_000))
    repo.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = path.stat().st_size
    repo.prune(POLICY, NOW)
    repo.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # Deleting frees pages inside the file but does not shrink it.
    assert path.stat().st_size >= full
    assert repo.free_bytes() > full / 2
    before, after = repo.vacuum()
    assert after < before / 2
    assert path.stat().st_size < full / 2
    assert Path(f"{path}-wal").stat().st_size == 0
    assert repo.free_bytes() == 0
    db.conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 5 * 24 * 60),  # minutes before NOW
            st.sampled_from(["binance", "bybit"]),
            st.sampled_from(["long", "short"]),
            st.integers(1, 10_000),
        ),
        max_size=60,
    ),
    days=st.integers(1, 4),
)
def test_pruning_raw_liquidations_keeps_every_dollar_and_every_recent_event(
    events: list[tuple[int, str, str, int]], days: int
) -> None:
    db = open_database(":memory:")
    repo = Repo(db)
    rows = [
        Liquidation("BTCUSDT", NOW - m * MIN, src, side, 1.0, float(i + 1), float(usd))  # type: ignore[arg-type]
        for i, (m, src, side, usd) in enumerate(events)
    ]
    repo.insert_liquidations(rows)
    before = repo.liquidation_totals("BTCUSDT", 0, NOW + 1)
    policy = POLICY.model_copy(update={"liquidations_days": days})
    repo.prune(policy, NOW, chunk_rows=61)
    after = repo.liquidation_totals("BTCUSDT", 0, NOW + 1)
    assert _same_totals(after.by_source, before.by_source)
    cutoff = NOW - days * DAY_MS
    cutoff -= cutoff % HOUR_MS
    raw_left = {r for r in repo.liquidations("BTCUSDT", 0, NOW + 1) if r.qty > 0}
    assert raw_left == {r for r in rows if r.ts >= cutoff}
    db.conn.close()


def test_measured_rounds_are_kept_as_long_as_open_interest(file_repo: Repo) -> None:
    """SYNTHETIC rounds of the Hyperliquid sample, one 4 days old and one 2 days old (open interest: 3)."""

    def round_at(ts: int) -> tuple[MeasuredSample, list[MeasuredPositionRow]]:
        hour = ts - ts % HOUR_MS
        position = MeasuredPositionRow(
            "hyperliquid", "BTCUSDT", hour, "0x01", "short", 1.0, 95_000.0, 94_000.0, 96_000.0, 20.0,
            "isolated", ts,
        )  # fmt: skip
        return MeasuredSample("hyperliquid", "BTCUSDT", hour, ts, 1, 1, 95_000.0, 1e9, 95_000.0), [position]

    old, recent = NOW - 4 * DAY_MS, NOW - 2 * DAY_MS
    file_repo.store_measured([round_at(old), round_at(recent)])
    result = file_repo.prune(POLICY, NOW)
    assert result.deleted["measured_positions"] == 1 and result.deleted["measured_samples"] == 1
    [kept] = file_repo.measured_samples("hyperliquid", "BTCUSDT", 0, 2**62)
    assert kept.ts == recent and len(file_repo.measured_positions("hyperliquid", "BTCUSDT", kept.hour)) == 1


def test_positioning_tables_keep_their_own_days(file_repo: Repo) -> None:
    """SYNTHETIC rows one millisecond either side of each positioning table's cutoff, on both backends."""
    policy = RetentionConfig(long_short_days=40, implied_vol_days=60, depth_days=5, predicted_funding_days=2)
    cuts = {"long_short": 40, "implied_vol": 60, "depth_bands": 5, "predicted_funding": 2}
    rows: dict[str, list[int]] = {t: [NOW - d * DAY_MS - 1, NOW - d * DAY_MS] for t, d in cuts.items()}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        file_repo.upsert_long_short(
            LongShort(symbol, ts, "binance", "accounts", "1h", 1.2, 0.55) for ts in rows["long_short"]
        )
        file_repo.upsert_depth(
            DepthBand(symbol, ts, "bybit", 100, 1e6, 1e6, True, True) for ts in rows["depth_bands"]
        )
        file_repo.upsert_predicted_funding(
            PredictedFunding(symbol, ts, "hyperliquid", "binance", 0.0001, ts + HOUR_MS, 8.0)
            for ts in rows["predicted_funding"]
        )
    file_repo.upsert_implied_vol(
        ImpliedVol("BTC", ts, "deribit", "1h", 50.0, 51.0, 49.0, 50.0) for ts in rows["implied_vol"]
    )
    dry = file_repo.prune(policy, NOW, dry_run=True)
    result = file_repo.prune(policy, NOW, chunk_rows=1)
    for table in cuts:
        expected = 1 if table == "implied_vol" else 2  # one old row per symbol (per currency: BTC only)
        assert dry.deleted[table] == result.deleted[table] == expected, table
        kept = {int(r[0]) for r in file_repo.conn.execute(f"SELECT ts FROM {table}").fetchall()}
        assert kept == {rows[table][1]}, table
    # The other tables' defaults are untouched by these (nothing else was stored).
    assert result.deleted["funding"] == result.deleted["open_interest"] == 0


def test_positioning_retention_refuses_less_than_the_detectors_read() -> None:
    with pytest.raises(ValueError, match="long_short_days"):
        RetentionConfig(long_short_days=10)
    with pytest.raises(ValueError, match="depth_days"):
        RetentionConfig(depth_days=1)

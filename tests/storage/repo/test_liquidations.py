"""Liquidations: repeats ignored, buckets replaced, totals and buckets from the hourly rollup."""

from __future__ import annotations

import pytest

from storage.repo import Repo
from storage.rows import HOUR_MS as H
from storage.rows import Liquidation

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


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

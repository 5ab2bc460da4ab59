"""Positioning rows (long/short ratios, implied volatility, order-book depth) on both backends.

SYNTHETIC values: the rows only need the shapes the tables store.
"""

from __future__ import annotations

from storage.repo import Repo
from storage.rows import DepthBand, ImpliedVol, LongShort

T = 1_768_341_600_000


def test_positioning_rows_upsert_and_read_back_alike(repo: Repo) -> None:
    repo.upsert_long_short(
        [
            LongShort("BTCUSDT", T, "binance", "accounts", "5m", 1.5, 0.6),
            LongShort("BTCUSDT", T, "binance", "accounts", "5m", 1.6, 0.61),  # revised: the last one stays
        ]
    )
    repo.upsert_implied_vol([ImpliedVol("BTC", T, "deribit", "60", 50.0, 52.0, 49.0, 51.0)])
    repo.upsert_depth(
        [
            DepthBand("BTCUSDT", T, "binance", 50, 1e6, 2e6, True, False),
            DepthBand("BTCUSDT", T + 60_000, "binance", 50, 1.1e6, 2.1e6, True, True),
            DepthBand("BTCUSDT", T, "okx", 50, 3e6, 4e6, False, False),
        ]
    )
    assert [(r.ratio, r.long_share) for r in repo.long_short("BTCUSDT")] == [(1.6, 0.61)]
    assert [r.close for r in repo.implied_vol("BTC")] == [51.0]
    latest = sorted(repo.latest_depth("BTCUSDT", T), key=lambda d: d.source)
    assert [(d.source, d.ts, d.bid_complete, d.ask_complete) for d in latest] == [
        ("binance", T + 60_000, True, True),
        ("okx", T, False, False),
    ]
    assert len(repo.depth("BTCUSDT")) == 3

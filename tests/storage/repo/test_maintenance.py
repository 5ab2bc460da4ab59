"""Statistics of the database (retention is in test_retention.py)."""

from __future__ import annotations

from storage.repo import Repo
from storage.rows import HOUR_MS as H
from storage.rows import Candle, Liquidation

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def _candles(n: int, close: float = 100.0) -> list[Candle]:
    return [
        Candle("BTCUSDT", "1h", T0 + i * H, "binance", close, close + 1, close - 1, close + i, 10.0)
        for i in range(n)
    ]


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

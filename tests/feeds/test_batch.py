"""Liquidation batching: flushed by size or by time, repeats dropped by Ingest."""

from __future__ import annotations

from feeds.batch import LiquidationBuffer
from feeds.ingest import Ingest
from storage.rows import Liquidation

# SYNTHETIC liquidation rows (only their count and keys matter here).
ROWS = [
    Liquidation("BTCUSDT", 1_768_953_000_000 + i, "binance", "short", 95_000.0, 0.1, 9_500.0)
    for i in range(7)
]


def test_flush_by_size_and_by_time(ingest: Ingest) -> None:
    now = [0.0]
    buffer = LiquidationBuffer(ingest, interval_s=0.2, max_events=5, clock=lambda: now[0])
    buffer.add(ROWS[:3])
    assert len(buffer) == 3 and buffer.due() == 0.2
    buffer.flush_if_due()
    assert len(buffer) == 3  # not yet
    buffer.add(ROWS[3:6])  # 6 >= 5: written at once
    assert len(buffer) == 0 and buffer.flushed_batches == 1 and buffer.due() is None
    buffer.add(ROWS[6:])
    now[0] = 0.25
    buffer.flush_if_due()
    assert buffer.flushed_batches == 2 and buffer.written == 7
    buffer.add(ROWS[:2])  # a websocket replaying after a reconnect
    assert buffer.flush() == 0 and len(ingest.repo.liquidations("BTCUSDT", 0, 2**62)) == 7

"""An indicator rule still in its warm-up uses older candles that arrive after it started (a backfill).

The spot feed fetches the venue's candles of a rule's interval after the rule was added, so they land in
the history *before* the candles the rule has already read. Synthetic candles (closes from a fixed list).
"""

from __future__ import annotations

import numpy as np
import talib

from detectors.market_history import MarketHistory
from detectors.rsi import Rsi, RsiSettings
from storage.rows import HOUR_MS, Candle

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
# Synthetic closes, up and down, so the RSI is neither 0 nor 100.
CLOSES = [100 + (i * 7) % 11 - (i * 3) % 5 for i in range(24)]


def candle(i: int) -> Candle:
    """Return the i-th hourly candle (synthetic)."""
    c = float(CLOSES[i])
    return Candle("BTCUSDT", "1h", T0 + i * HOUR_MS, "binance", c, c + 1, c - 1, c, 1.0, c, True)


def test_a_rule_warming_up_reads_the_older_candles_backfilled_since() -> None:
    history = MarketHistory()
    history.add_candles([candle(i) for i in range(20, 23)])  # the rule starts with three hours
    rule = Rsi("btc-rsi", "BTCUSDT", RsiSettings(interval="1h", period=5, above=70, hysteresis=0))
    state: dict[str, object] = {}
    rule.evaluate(history.view("BTCUSDT", T0 + 23 * HOUR_MS), state)
    assert state.get("t") == T0 + 22 * HOUR_MS and rule._feed().count == 3
    history.add_candles([candle(i) for i in range(20)])  # the backfill: twenty older hours
    history.add_candles([candle(23)])  # and the next hour closes
    rule.evaluate(history.view("BTCUSDT", T0 + 24 * HOUR_MS), state)
    feed = rule._feed()
    assert feed.count == 24 and state["t"] == T0 + 23 * HOUR_MS
    expected = talib.RSI(np.array(CLOSES, dtype=float), 5)[-1]
    value = feed.tracker.indicators[0].value()
    assert value is not None and abs(value - expected) < 1e-6

"""A combo rule through the alert engine: one alert per start, none while it holds, none after a restart.

SYNTHETIC one-minute candles (source "synthetic"); the rule reads hourly values aggregated from them, as
a live bot on one-minute data does.
"""

from __future__ import annotations

from bot.alerts.engine import Engine
from detectors.market_history import MarketHistory
from storage.repo import Repo, RuleRow
from storage.rows import HOUR_MS, MINUTE_MS, Candle
from tests.conftest import ConsoleRouter

T0 = 1_768_262_400_000  # 2026-01-13 00:00 UTC
WHEN = "close > sma(3) and close(4h) > 100"


class Market:
    """SYNTHETIC one-minute candles, an hour at a time, each hour's minutes all at one price."""

    def __init__(self) -> None:
        self.history = MarketHistory()
        self.hour = 0

    def hour_at(self, price: float) -> int:
        """Add an hour of one-minute candles closing at ``price``; return the time the hour closed."""
        start = T0 + self.hour * HOUR_MS
        self.hour += 1
        self.history.add_candles(
            Candle("BTCUSDT", "1m", start + i * MINUTE_MS, "synthetic", price, price, price, price, 1.0)
            for i in range(60)
        )
        return start + HOUR_MS


def engine_for(repo: Repo, market: Market) -> Engine:
    engine = Engine(repo, market.history, ConsoleRouter())
    engine.load()
    return engine


def outbox_titles(repo: Repo) -> list[str]:
    return [row.payload["title"] for row in repo.due_outbox("console", 2**62)]


def test_a_combo_fires_once_per_start_and_a_restart_neither_repeats_nor_loses(repo: Repo) -> None:
    repo.save_rule(RuleRow("btc-combo", "config", "combo", "BTCUSDT", {"when": WHEN}, created_at=T0))
    market = Market()
    engine = engine_for(repo, market)
    # 00:00-03:00 at 101: the 4h candle closes at 04:00, so nothing is known before; the first check with
    # every value known (04:00: close 101 = SMA 101) only learns that it does not hold.
    for _ in range(4):
        assert engine.evaluate(market.hour_at(101)) == []
    fired = engine.evaluate(market.hour_at(103))  # 04:00-05:00 closes at 103 > SMA(3) 101.67, 4h close 101
    assert [(e.state, e.title) for e in fired] == [
        ("firing", "BTC combo: close 103 > SMA(3, 1h) 101.67 and 4h close 101 > 100")
    ]
    assert engine.evaluate(market.hour_at(104)) == []  # still holds: no repeat
    # A restart: a new engine (new detector instance, indicators fed again from memory) on the same state.
    engine = engine_for(repo, market)
    assert engine.evaluate(market.hour_at(105)) == []
    resolved = engine.evaluate(market.hour_at(99))  # 99 < SMA(3) 102.67: re-armed
    assert [e.state for e in resolved] == ["resolved"]
    assert engine.evaluate(market.hour_at(99)) == []
    # 09:00-10:00 at 104 > SMA(3) 100.67, but the 4h candle closed at 08:00 is 99: it does not hold, until
    # the next 4h candle closes at 12:00 at 106.
    for price in (104, 106):
        assert engine.evaluate(market.hour_at(price)) == []
    second = engine.evaluate(market.hour_at(106))
    assert [(e.state, e.title) for e in second] == [
        ("firing", "BTC combo: close 106 > SMA(3, 1h) 105.33 and 4h close 106 > 100")
    ]
    assert len(outbox_titles(repo)) == 2  # a combo's end is not announced

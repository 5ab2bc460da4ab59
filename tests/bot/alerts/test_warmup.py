"""What the loaded rules need (for the feeds) and how far a rule is from warm (for the commands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.alerts.rules import ActiveRule
from bot.alerts.warmup import WarmUp, candle_needs, warming
from bot.discord.render.warmup import warm_up_line
from detectors.base import DetectorSettings
from detectors.level_cross import LevelCross, LevelCrossSettings
from detectors.market_history import MarketHistory
from detectors.rsi import Rsi, RsiSettings
from storage.repo import RuleRow
from storage.rows import HOUR_MS, Candle

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def hours(count: int, symbol: str = "BTCUSDT") -> list[Candle]:
    """Return ``count`` closed synthetic hourly candles from T0 (prices made up: only their count matters)."""
    return [
        Candle(symbol, "1h", T0 + i * HOUR_MS, "binance", 100.0, 101.0, 99.0, 100.5, 1.0, 100.0, True)
        for i in range(count)
    ]


def active(rule_id: str, detector: Any, symbol: str, settings: DetectorSettings) -> ActiveRule:
    """Return a loaded rule of ``detector`` (only the detector matters here)."""
    row = RuleRow(id=rule_id, origin="config", detector=detector.name, symbol=symbol, settings={})
    return ActiveRule(row, detector(rule_id, symbol, settings))


class BrokenSettings(LevelCrossSettings):
    """A plugin whose history_needed raises."""

    def history_needed(self) -> Mapping[str, int]:
        """Fail."""
        raise RuntimeError("plugin bug")


def test_candle_needs_keeps_the_most_each_symbol_and_interval_needs(caplog: pytest.LogCaptureFixture) -> None:
    rules = [
        active("a", Rsi, "BTCUSDT", RsiSettings(interval="4h", period=14, above=70)),
        active("b", Rsi, "BTCUSDT", RsiSettings(interval="4h", period=30, above=70)),
        active("c", Rsi, "BTCUSDT", RsiSettings(interval="1d", period=14, below=30)),
        active("d", Rsi, "ETHUSDT", RsiSettings(interval="4h", period=7, above=80)),
        active("e", LevelCross, "ETHUSDT", LevelCrossSettings(level=3000)),
        active("f", LevelCross, "SOLUSDT", BrokenSettings(level=100)),
    ]
    assert candle_needs(rules) == {"BTCUSDT": {"4h": 32, "1d": 16}, "ETHUSDT": {"4h": 9}}
    assert "history_needed of BrokenSettings failed" in caplog.text


def test_warming_counts_closed_candles_and_dates_the_last_missing_one() -> None:
    history = MarketHistory()
    history.add_candles(hours(30))  # 2026-01-01 00:00 to 2026-01-02 05:00
    now = T0 + 30 * HOUR_MS + 10 * 60_000  # 06:10 on the 2nd: the 04:00 4h candle is the last closed
    four_hourly = RsiSettings(interval="4h", period=14, above=70)
    [short] = warming(four_hourly, history, "BTCUSDT", now)
    # 4h candles closed by 06:10: 00-04, 04-08, 08-12, 12-16, 16-20, 20-24, 00-04 of the 2nd = 7 of 16.
    assert short == WarmUp("4h", 7, 16, T0 + 28 * HOUR_MS + 9 * 4 * HOUR_MS, fetched=False)
    fetched = warming(four_hourly, history, "BTCUSDT", now, lambda interval, need: interval == "4h")
    assert fetched[0].fetched
    assert warming(RsiSettings(interval="1h", period=14, above=70), history, "BTCUSDT", now) == ()
    assert warming(LevelCrossSettings(level=100), history, "BTCUSDT", now) == ()
    assert warming(four_hourly, history, "ETHUSDT", now)[0].have == 0  # no data at all


def test_the_line_says_have_need_and_when() -> None:
    ready = 1_768_521_600_000
    live = warm_up_line(WarmUp("1d", 13, 16, ready, fetched=False))
    assert live == "13 of 16 closed 1d candles; warm <t:1768521600:R> (<t:1768521600:f>) as new candles close"
    fetched = warm_up_line(WarmUp("4h", 0, 16, ready, fetched=True))
    assert fetched.startswith("0 of 16 closed 4h candles; fetching the rest from the exchange now")

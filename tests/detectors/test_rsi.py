"""rsi: Wilder's RSI of an interval crossing a level, with hysteresis for re-arming."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from pydantic import ValidationError

from tests.detectors.conftest import HOUR, JANUARY, iso, make, ms, real_history, run
from tests.detectors.test_indicators_talib import closes, real_bars


def test_a_rule_names_a_level_and_below_is_under_above() -> None:
    assert make("rsi").settings.above == 70 and make("rsi").settings.below is None  # TradingView's level
    with pytest.raises(ValidationError, match="set above, below or both"):
        make("rsi", above=None)
    with pytest.raises(ValidationError, match=r"below \(70\) must be lower than above \(30\)"):
        make("rsi", above=30, below=70)
    with pytest.raises(ValidationError, match="less than 100"):
        make("rsi", above=100)
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        make("rsi", above=70, period=1)


def test_hysteresis_rearms_only_after_rsi_comes_back_past_the_band() -> None:
    rsi = talib.RSI(closes("BTCUSDT", "1h"), 14)
    bars = real_bars("BTCUSDT", "1h")
    # TA-Lib's series through the documented rule: fire on a crossing above 65 while armed; re-arm once
    # RSI is at or below 65 - 5.
    expected, armed = [], True
    for i in range(15, len(rsi)):
        if armed and rsi[i - 1] <= 65 < rsi[i]:
            expected.append(iso(bars[i].close_time))
            armed = False
        elif not armed and rsi[i] <= 60:
            armed = True
    every = run(make("rsi", above=65, hysteresis=0), real_history(), *JANUARY)
    banded = run(make("rsi", above=65, hysteresis=5), real_history(), *JANUARY)
    assert [iso(now) for now, _ in banded.activations] == expected
    assert len(every.activations) > len(expected) >= 5, "the band holds back re-crossings"


def test_the_alert_says_the_interval_and_the_value() -> None:
    result = run(make("rsi", above=70, below=30, interval="4h"), real_history(), *JANUARY)
    assert result.fired() == [
        ("2026-01-06 12:00", "above", "BTC RSI(14, 4h) crossed above 70: 72.1"),
        ("2026-01-13 20:00", "above", "BTC RSI(14, 4h) crossed above 70: 71.9"),
        ("2026-01-14 16:00", "above", "BTC RSI(14, 4h) crossed above 70: 75.2"),
        ("2026-01-20 08:00", "below", "BTC RSI(14, 4h) crossed below 30: 26.6"),
    ]
    (_, signal) = result.activations[1]
    values = signal.values
    assert values["previous_rsi"] <= 70 < values["rsi"] and values["interval"] == "4h"
    assert values["candle_open_time"] == ms("2026-01-13 16:00") and signal.at == ms("2026-01-13 20:00")
    assert len(values["last_closes"]) == 5 and values["last_closes"][-1] == values["close"]
    assert values["warmup"] == 15 and "RMA" in make("rsi", above=70).formula
    assert signal.direction == "up" and result.activations[3][1].direction == "down"


def test_a_rule_created_on_a_crossing_candle_does_not_fire_on_it() -> None:
    # 2026-01-13 16:00-20:00 is a 4h crossing; a rule whose first evaluation is at its close only learns.
    late = run(make("rsi", above=70, interval="4h"), real_history(), ms("2026-01-13 20:00"), JANUARY[1])
    assert [t for t, _, _ in late.fired()] == ["2026-01-14 16:00"]


def test_values_match_talib_in_the_alert() -> None:
    rsi = talib.RSI(closes("ETHUSDT", "1h"), 14)
    bars = real_bars("ETHUSDT", "1h")
    result = run(make("rsi", symbol="ETHUSDT", above=70, hysteresis=0), real_history(), *JANUARY)
    assert result.activations
    for now, signal in result.activations:
        i = next(j for j, b in enumerate(bars) if b.close_time == now)
        assert signal.values["rsi"] == pytest.approx(rsi[i], abs=1e-4)
        assert signal.values["previous_rsi"] == pytest.approx(rsi[i - 1], abs=1e-4)
        assert not np.isnan(rsi[i - 1])
    assert all(now % HOUR == 0 for now, _ in result.activations)

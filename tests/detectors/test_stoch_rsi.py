"""stoch_rsi: %K crossing %D, from the oversold or overbought zone by default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.detectors.conftest import HOUR, JANUARY, history_of, iso, make, real_history, real_rows, run


def test_lower_must_be_below_upper() -> None:
    with pytest.raises(ValidationError, match=r"lower \(80\) must be below upper \(20\)"):
        make("stoch_rsi", lower=80, upper=20)


def test_zone_crosses_are_a_subset_of_every_cross() -> None:
    zoned = run(make("stoch_rsi", interval="4h"), real_history(), *JANUARY)
    every = run(make("stoch_rsi", interval="4h", zones=False), real_history(), *JANUARY)
    zoned_times = {(t, k) for t, k, _ in zoned.fired()}
    assert zoned_times < {(t, k) for t, k, _ in every.fired()}
    assert zoned.fired()[0] == (
        "2026-01-07 00:00",
        "up",
        "BTC Stoch RSI(14, 14, 3, 3, 4h) %K crossed above %D from oversold (<20): 12.3 vs 9.8",
    )
    for _, signal in zoned.activations:
        values = signal.values
        if signal.key == "up":
            assert values["previous_d"] <= 20 and values["k"] > values["d"]
        else:
            assert values["previous_d"] >= 80 and values["k"] < values["d"]


def test_direction_down_keeps_the_overbought_crosses() -> None:
    down = run(make("stoch_rsi", interval="4h", direction="down"), real_history(), *JANUARY)
    assert [k for _, k, _ in down.fired()] == ["down"] * 3
    assert down.fired()[1][2] == (
        "BTC Stoch RSI(14, 14, 3, 3, 4h) %K crossed below %D from overbought (>80): 94 vs 98"
    )


def test_a_market_that_stops_moving_crosses_once_as_the_oscillator_goes_flat_not_on_rounding_noise() -> None:
    # Real BTC hourly candles to January 20, then SYNTHETIC ones: 60 hours without a trade at the last close
    # (an illiquid pair's 1m candles do this). The RSI keeps its level to rounding only; its stochastic is
    # flat (100, docs/indicators.md) once its window holds no move: one bullish cross as %K rises to it,
    # then nothing, where the noise divided by itself crossed %D nine times.
    rows = [c for c in real_rows()["candles"] if c.symbol == "BTCUSDT"]
    last = rows[-1]
    flat = [
        last._replace(open_time=last.open_time + (i + 1) * HOUR, o=last.c, h=last.c, l=last.c, volume=0.0)
        for i in range(60)
    ]
    result = run(
        make("stoch_rsi", interval="1h", zones=False),
        history_of(rows + flat),
        last.open_time + HOUR,
        flat[-1].open_time + HOUR,
    )
    assert [(iso(signal.at), signal.key) for _, signal in result.activations] == [("2026-01-21 13:00", "up")]

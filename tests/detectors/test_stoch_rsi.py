"""stoch_rsi: %K crossing %D, from the oversold or overbought zone by default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.detectors.conftest import JANUARY, make, real_history, run


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

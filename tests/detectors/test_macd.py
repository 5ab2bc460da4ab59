"""macd: the MACD line crossing its signal line (histogram sign change) or zero."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.detectors.conftest import JANUARY, make, real_history, run


def test_fast_must_be_shorter_than_slow() -> None:
    with pytest.raises(ValidationError, match=r"fast \(26\) must be shorter than slow \(12\)"):
        make("macd", fast=26, slow=12)
    assert make("macd").settings.model_dump() == {
        "interval": "1h",
        "fast": 12,
        "slow": 26,
        "signal": 9,
        "watch": "signal",
        "direction": "either",
    }


def test_signal_and_zero_crosses_on_the_real_4h_candles() -> None:
    result = run(make("macd", interval="4h", watch="both"), real_history(), *JANUARY)
    assert result.fired()[:3] == [
        ("2026-01-08 12:00", "zero_down", "BTC MACD(12, 26, 9, 4h) crossed below zero: -41.63"),
        (
            "2026-01-11 08:00",
            "signal_up",
            "BTC MACD(12, 26, 9, 4h) crossed above its signal line: histogram +2.77 (MACD -214)",
        ),
        ("2026-01-12 08:00", "zero_up", "BTC MACD(12, 26, 9, 4h) crossed above zero: +0.581"),
    ]
    (_, signal) = result.activations[1]
    values = signal.values
    assert values["previous_histogram"] <= 0 < values["histogram"]
    assert values["histogram"] == pytest.approx(values["macd"] - values["signal"], abs=1e-6)


def test_watch_and_direction_choose_the_crosses() -> None:
    signal_only = run(make("macd", interval="4h"), real_history(), *JANUARY)
    assert {k for _, k, _ in signal_only.fired()} == {"signal_up", "signal_down"}
    zero_down = run(make("macd", interval="4h", watch="zero", direction="down"), real_history(), *JANUARY)
    both = run(make("macd", interval="4h", watch="both"), real_history(), *JANUARY)
    assert zero_down.fired() == [f for f in both.fired() if f[1] == "zero_down"]
    assert len(zero_down.fired()) == 3

"""ma_cross: golden and death crosses, price crossing an MA, and MA alignment formed or lost."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import talib
from pydantic import ValidationError

from tests.detectors.conftest import JANUARY, iso, make, real_history, run
from tests.detectors.test_indicators_talib import closes, real_bars


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"fast \(200\) must be shorter than slow \(50\)"):
        make("ma_cross", fast=200, slow=50)
    with pytest.raises(ValidationError, match="nothing to watch"):
        make("ma_cross", crosses=False)
    with pytest.raises(ValidationError, match="shortest first"):
        make("ma_cross", crosses=False, alignment=[50, 20])
    with pytest.raises(ValidationError, match="at least two"):
        make("ma_cross", crosses=False, alignment=[20])
    # Without crosses, fast and slow do not matter.
    assert make("ma_cross", crosses=False, price_vs=200, fast=300, slow=200).settings.periods() == [200]


def test_golden_and_death_crosses_name_both_averages() -> None:
    result = run(make("ma_cross", fast=20, slow=50, kind="ema"), real_history(), *JANUARY)
    assert result.fired()[:2] == [
        (
            "2026-01-07 10:00",
            "death",
            "BTC death cross (1h): EMA(20) crossed below EMA(50): $92,782.01 vs $92,803.86",
        ),
        (
            "2026-01-11 15:00",
            "golden",
            "BTC golden cross (1h): EMA(20) crossed above EMA(50): $90,770.05 vs $90,766.86",
        ),
    ]
    up = run(make("ma_cross", fast=20, slow=50, kind="ema", direction="up"), real_history(), *JANUARY)
    assert {key for _, key, _ in up.fired()} == {"golden"}
    assert [t for t, k, _ in result.fired() if k == "golden"] == [t for t, _, _ in up.fired()]


def test_price_crossing_the_ma_of_price_vs() -> None:
    result = run(make("ma_cross", crosses=False, price_vs=50, interval="4h"), real_history(), *JANUARY)
    assert result.fired()[0] == (
        "2026-01-12 04:00",
        "price_above",
        "BTC closed above its SMA(50), 4h: $91,808.12 vs $91,615.94",
    )


def _aligned(chain: list[float], up: bool) -> bool:
    return all((a > b) if up else (a < b) for a, b in itertools.pairwise(chain))


def test_alignment_formed_and_lost_as_talibs_averages_say() -> None:
    c = closes("ETHUSDT", "1h")
    bars = real_bars("ETHUSDT", "1h")
    mas = [talib.SMA(c, p) for p in (20, 50, 100)]
    expected = []
    for i in range(100, len(c)):
        for up, side in ((True, "up"), (False, "down")):
            was = _aligned([c[i - 1], *(m[i - 1] for m in mas)], up)
            now = _aligned([c[i], *(m[i] for m in mas)], up)
            if now and not was:
                expected.append((iso(bars[i].close_time), f"aligned_{side}"))
            if was and not now:
                expected.append((iso(bars[i].close_time), f"lost_{side}"))
    assert not np.isnan(mas[2][99])
    rule = make("ma_cross", symbol="ETHUSDT", crosses=False, alignment=[20, 50, 100])
    result = run(rule, real_history(), *JANUARY)
    assert [(t, k) for t, k, _ in result.fired()] == expected
    assert len(expected) >= 4
    formed = next(s for _, s in result.activations if s.key == "aligned_up")
    assert formed.title.startswith("ETH 1h MAs aligned bullish: price $") and " > SMA(20) $" in formed.title
    lost = next(s for _, s in result.activations if s.key == "lost_up")
    assert lost.title.startswith("ETH lost its bullish 1h MA alignment: close $") and lost.direction == "down"

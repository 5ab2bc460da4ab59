"""dvol: implied volatility (Deribit DVOL) jumps or is crushed by X% within a window.

The rows are SYNTHETIC hourly DVOL closes; the real Deribit answer shape is covered in tests/feeds.
"""

from __future__ import annotations

import pytest

from storage.rows import MINUTE_MS as MINUTE
from storage.rows import ImpliedVol
from tests.detectors.conftest import HOUR, T0, history_of, make, run


def dvol(closes: list[float], currency: str = "BTC") -> list[ImpliedVol]:
    """Return hourly DVOL candles (open = high = low = close) from T0."""
    return [ImpliedVol(currency, T0 + h * HOUR, "deribit", "1h", c, c, c, c) for h, c in enumerate(closes)]


def test_jump_fires_once_with_its_figures_and_the_fall_back_a_day_later_is_a_crush() -> None:
    closes = [40.0] * 30 + [48.0] * 3 + [40.0] * 30
    history = history_of(dvol(closes))
    result = run(make("dvol", window_hours=24, pct=15), history, T0 + 25 * HOUR, T0 + 62 * HOUR)
    ((now, signal), (later, crush)) = result.activations
    # The first 48 is the close of the candle opened at T0+30h: the index's value at its end, T0+31h.
    assert now == T0 + 31 * HOUR and signal.key == "jump"
    # 48 -> 40 is -16.7% once the 48s are a window old: the options market priced the move out again.
    assert later == T0 + 55 * HOUR
    assert crush.key == "crush" and crush.values["change_pct"] == pytest.approx(-100 / 6, abs=0.001)
    assert signal.values["change_pct"] == pytest.approx(20.0)
    assert (signal.values["from"], signal.values["to"]) == (40.0, 48.0)
    assert signal.title == "BTC implied volatility jumped: DVOL 40.0 → 48.0 (+20.0% in 24h)"


def test_crush_and_direction_filter() -> None:
    closes = [60.0] * 30 + [45.0] * 5
    history = history_of(dvol(closes))
    crushed = run(make("dvol", pct=20), history, T0 + 25 * HOUR, T0 + 34 * HOUR)
    assert [s.key for _, s in crushed.activations] == ["crush"]
    assert (
        run(make("dvol", pct=20, direction="jump"), history, T0 + 25 * HOUR, T0 + 34 * HOUR).activations == []
    )


def test_reads_its_base_currency_only() -> None:
    history = history_of(dvol([40.0] * 30 + [60.0] * 3, currency="ETH"))
    assert run(make("dvol"), history, T0 + 25 * HOUR, T0 + 32 * HOUR).activations == []
    eth = run(make("dvol", symbol="ETHUSDT"), history, T0 + 25 * HOUR, T0 + 32 * HOUR)
    assert [s.title for _, s in eth.activations] == [
        "ETH implied volatility jumped: DVOL 40.0 → 60.0 (+50.0% in 24h)"
    ]


def test_hourly_and_minute_candles_are_compared_at_the_times_their_closes_hold() -> None:
    # The backfill's hourly candles, then the live poll's minute ones. The hour opened at T0+5h closed at
    # 50 (the index at T0+6h); at T0+5h the index was 40, the close of the hour before. A minute candle
    # opened at T0+29h closes at 47 at T0+29h+1m, so 24 h earlier the index stood at 40: +17.5%.
    hourly = dvol([40.0] * 5 + [50.0] + [40.0] * 23)
    minute = [ImpliedVol("BTC", T0 + 29 * HOUR, "deribit", "1m", 47.0, 47.0, 47.0, 47.0)]
    result = run(make("dvol", pct=15), history_of(hourly + minute), T0 + 25 * HOUR, T0 + 30 * HOUR)
    ((_, signal),) = result.activations
    assert signal.key == "jump" and (signal.values["from"], signal.values["to"]) == (40.0, 47.0)
    assert signal.values["from_time"] == T0 + 5 * HOUR and signal.at == T0 + 29 * HOUR + MINUTE

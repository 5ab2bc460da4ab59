"""level_cross: edge-triggered crossings with hysteresis, close confirmation and wicks."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import level_cross
from detectors.base import format_price
from detectors.market_history import MarketHistory
from storage.rows import Candle
from tests.detectors.conftest import DAY, HOUR, T0, Run, bars, history_of, make, ms, run


def hourly_run(closes: list[float], **options: Any) -> Run:
    """Step a level_cross rule at every close of synthetic hourly candles (the first evaluation learns)."""
    history = history_of(bars(closes))
    return run(make("level_cross", **options), history, T0 + HOUR, T0 + len(closes) * HOUR)


# Synthetic closes around a level of 100 with a 1% band (re-arm below 99 / above 101).
CASES = [
    pytest.param([99, 99.5, 100.5, 101], "either", [(3, "up")], id="crosses-up-once"),
    pytest.param([99, 99.9, 100.0, 99.5], "either", [], id="touching-the-level-is-not-crossing"),
    pytest.param([101, 102, 103], "either", [], id="first-evaluation-above-never-fires"),
    pytest.param([99, 100.5, 99.5, 100.5, 99.2], "either", [(2, "up")], id="inside-the-band-no-re-arm"),
    pytest.param([99, 100.5, 98.5, 100.5], "either", [(2, "up"), (4, "up")], id="re-armed-below-the-band"),
    pytest.param([101.5, 99.5, 100.5, 99.5], "either", [(2, "down")], id="down-once-inside-the-band"),
    pytest.param([101.5, 99.5, 102, 99.5], "down", [(2, "down"), (4, "down")], id="down-re-armed-above"),
    pytest.param([99, 100.5, 98, 102], "down", [], id="direction-filters-up"),
    pytest.param([99, 102, 98, 102], "either", [(2, "up"), (3, "down"), (4, "up")], id="both-ways"),
]


@pytest.mark.parametrize(("closes", "direction", "expected"), CASES)
def test_crossings_table(closes: list[float], direction: str, expected: list[tuple[int, str]]) -> None:
    result = hourly_run(closes, level=100, hysteresis_pct=1.0, direction=direction)
    assert [((now - T0) // HOUR, s.key) for now, s in result.activations] == expected
    for now, signal in result.activations:
        assert signal.at == now  # the close of the crossing candle, evaluated right at that close
        assert signal.direction == signal.key
        assert (signal.values["price"] > 100) == (signal.key == "up")


def test_signal_stays_active_until_re_armed() -> None:
    result = hourly_run([99, 100.5, 100.2, 99.5, 98.9, 99.5], level=100, hysteresis_pct=1.0)
    active = [[s.key for s in signals] for _, signals in result.steps]
    assert active == [[], ["up"], ["up"], ["up"], [], []]


def test_title_and_values() -> None:
    signal = hourly_run([94000, 95500], level=95000, direction="up").activations[0][1]
    assert signal.title == "BTC broke above $95,000"
    assert signal.kind == "cross_up"
    assert signal.severity == "warning"
    assert dict(signal.values) == {
        "level": 95000,
        "price": 95500,
        "direction": "up",
        "basis": "1h close",
        "hysteresis_pct": 0.5,
    }


def test_catch_up_after_a_gap_reports_once_late() -> None:
    # Synthetic: crosses up at the 3rd candle and falls back below the band before anyone looks again.
    history = history_of(bars([99, 99.5, 100.5, 99.5, 98.5, 98.7]))
    detector = make("level_cross", level=100, hysteresis_pct=1.0)
    result = Run(detector)
    result.at(history, T0 + HOUR)  # learns: below the level
    late = result.at(history, T0 + 6 * HOUR)
    assert [(s.key, s.at) for s in late] == [("up", T0 + 3 * HOUR)]
    assert result.at(history, T0 + 7 * HOUR) == []  # reported once, then dropped (it re-armed)


def test_daily_close_confirmation() -> None:
    # Synthetic hourly candles over three UTC days: day 1 closes below 100, day 2 trades above 100 all
    # afternoon but closes below, day 3 closes above.
    closes = [99.0] * 24 + [99.0] * 12 + [101.0] * 11 + [99.5] + [99.0] * 23 + [100.5]
    result = hourly_run(closes, level=100, confirm="1d", direction="up")
    assert [(now, s.at, s.title) for now, s in result.activations] == [
        (T0 + 3 * DAY, T0 + 3 * DAY, f"BTC closed the day above {format_price(100)}")
    ]
    assert result.activations[0][1].values["basis"] == "1d close"


def test_weekly_close_uses_monday_weeks() -> None:
    # Synthetic daily candles from Monday T0: the week closes above on Sunday's close, not before.
    closes = [99.0] * 7 + [99.0, 99.0, 101.0, 101.0, 99.0, 99.0, 100.5]
    rows = bars(closes, interval="1d")
    result = run(make("level_cross", level=100, confirm="1w"), history_of(rows), T0 + DAY, T0 + 14 * DAY, DAY)
    assert [(now, s.title) for now, s in result.activations] == [
        (T0 + 14 * DAY, f"BTC closed the week above {format_price(100)}")
    ]


def test_wicks_fire_on_the_high_and_say_so() -> None:
    rows = bars([99.0, 99.0, 99.2], spread=0.3)  # the 3rd candle's high is 99.5: no cross
    rows.append(Candle("BTCUSDT", "1h", T0 + 3 * HOUR, "synthetic", 99.2, 100.4, 99.0, 99.6, 100.0))
    result = run(make("level_cross", level=100, use_wicks=True), history_of(rows), T0 + HOUR, T0 + 4 * HOUR)
    assert [(now, s.values["price"], s.values["basis"]) for now, s in result.activations] == [
        (T0 + 4 * HOUR, 100.4, "wick (high/low)")
    ]
    closes_only = run(make("level_cross", level=100), history_of(rows), T0 + HOUR, T0 + 4 * HOUR)
    assert closes_only.activations == []


def test_wicks_fire_on_the_forming_candle_before_it_closes() -> None:
    rows = bars([99.0, 99.2])
    forming = Candle("BTCUSDT", "1h", T0 + 2 * HOUR, "synthetic", 99.2, 100.3, 99.1, 100.1, 5.0, closed=False)
    history = history_of([*rows, forming])
    result = Run(make("level_cross", level=100, use_wicks=True))
    result.at(history, T0 + 2 * HOUR)
    fired = result.at(history, T0 + 2 * HOUR + 20 * 60_000)
    assert [(s.key, s.at) for s in fired] == [("up", T0 + 2 * HOUR + 20 * 60_000)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(96, 104, allow_nan=False), min_size=2, max_size=60))
def test_never_fires_twice_without_re_arming(closes: list[float]) -> None:
    result = hourly_run(closes, level=100, hysteresis_pct=1.0)
    rearms: dict[str, Callable[[float], bool]] = {"up": lambda c: c < 99, "down": lambda c: c > 101}
    for direction, rearm in rearms.items():
        fired = [(now - T0) // HOUR for now, s in result.activations if s.key == direction]
        for first, second in itertools.pairwise(fired):
            between = closes[first : second - 1]  # closes after the first crossing, before the second
            assert any(rearm(c) for c in between), (direction, first, second)
        for i in fired:
            crossed = closes[i - 1] > 100 if direction == "up" else closes[i - 1] < 100
            assert crossed


def test_real_btc_crosses_95k_once(january: dict[str, Run]) -> None:
    result = january["btc-95k"]
    assert [(now, s.at, s.values["price"]) for now, s in result.activations] == [
        (ms("2026-01-13 23:00"), ms("2026-01-13 23:00"), 95757.21)
    ]
    # The failed approach of 2026-01-05/06 (high 94,789) never fired it.
    assert not any(signals for now, signals in result.steps if now < ms("2026-01-13 23:00"))


def test_real_btc_daily_close_above_95k(january: dict[str, Run]) -> None:
    assert [
        (now, s.at, s.values["price"], s.title) for now, s in january["btc-95k-daily-close"].activations
    ] == [(ms("2026-01-14 00:00"), ms("2026-01-14 00:00"), 95414.0, "BTC closed the day above $95,000")]


def test_real_eth_never_closes_above_3500(january: dict[str, Run]) -> None:
    result = january["eth-3500-close"]
    assert result.activations == []
    assert result.state["armed_up"] is True  # it did evaluate ETH candles, and stayed armed below


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(98.5, 101.5, allow_nan=False), min_size=3, max_size=80),
    st.booleans(),
    st.integers(1, 79),
    st.integers(1, 40),
)
def test_passing_over_closes_inside_the_band_decides_as_stepping_each(
    closes: list[float], wicks: bool, first: int, every: int
) -> None:
    # An evaluation reading many candles passes over those inside the band its flags cannot move in as
    # columns (pass_closes_inside). Stepping every candle through cross_state_step instead (the band
    # withheld) must leave the same state and return the same signals at every evaluation.
    history = history_of(bars(closes, spread=0.2 if wicks else 0.0))
    times = range(T0 + min(first, len(closes)) * HOUR, T0 + len(closes) * HOUR + 1, every * HOUR)
    options: dict[str, Any] = {"level": 100, "hysteresis_pct": 0.5, "use_wicks": wicks}
    passing = run_at(Run(make("level_cross", **options)), history, times)
    with patch.object(level_cross, "quiet_closes", lambda *_: None):
        stepping = run_at(Run(make("level_cross", **options)), history, times)
    assert passing.state == stepping.state
    assert passing.steps == stepping.steps


def run_at(rule: Run, history: MarketHistory, times: Iterable[int]) -> Run:
    """Evaluate ``rule`` at each of ``times``."""
    for now in times:
        rule.at(history, now)
    return rule

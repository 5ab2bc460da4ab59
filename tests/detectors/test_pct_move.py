"""pct_move: at least X% close to close within a window, up, down or either, with re-arming."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from detectors.pct_move import PctMoveSettings
from tests.detectors.conftest import HOUR, T0, Run, bars, history_of, make, ms, run


def hourly_run(closes: list[float], **options: Any) -> Run:
    """Step a pct_move rule at every close of synthetic hourly candles."""
    return run(make("pct_move", **options), history_of(bars(closes)), T0 + HOUR, T0 + len(closes) * HOUR)


# Synthetic closes, a 3-hour window and a 5% threshold (re-arm below 2.5%).
CASES = [
    pytest.param([100, 100, 100, 100, 101, 103, 105.5], "either", [(7, "up", 5.5)], id="up-5.5pct"),
    pytest.param([100, 100, 100, 100, 101, 103, 104.9], "either", [], id="4.9pct-is-not-enough"),
    pytest.param([100, 100, 100, 100, 98, 96, 94], "either", [(7, "down", -6.0)], id="down"),
    pytest.param([100, 100, 100, 100, 98, 96, 94], "up", [], id="up-only-ignores-down"),
    pytest.param(
        [100, 100, 100, 100, 106, 107, 108, 109, 110], "either", [(5, "up", 6.0)], id="one-alert-per-run"
    ),
    pytest.param(
        [100, 100, 100, 100, 106, 106, 106, 106, 112],
        "either",
        [(5, "up", 6.0), (9, "up", 5.66)],
        id="re-armed-after-flat",
    ),
    pytest.param(
        [100, 100, 100, 100, 106, 105, 104, 105, 109],
        "either",
        [(5, "up", 6.0)],
        id="not-re-armed-above-half",
    ),
]


@pytest.mark.parametrize(("closes", "direction", "expected"), CASES)
def test_moves_table(closes: list[float], direction: str, expected: list[tuple[int, str, float]]) -> None:
    result = hourly_run(closes, pct=5, window_hours=3, direction=direction)
    got = [((now - T0) // HOUR, s.key, round(s.values["change_pct"], 2)) for now, s in result.activations]
    assert got == expected
    for now, signal in result.activations:
        assert signal.at == now and signal.direction == signal.key


def test_title_values_and_severity() -> None:
    signal = hourly_run([3100, 3100, 3340], pct=5, window_hours=1).activations[0][1]
    assert signal.title == "BTC +7.7% in 1h (to $3,340)"
    assert (signal.kind, signal.severity) == ("move_up", "warning")
    assert signal.values["from_price"] == 3100 and signal.values["price"] == 3340
    assert signal.values["from_time"] == T0 + 2 * HOUR
    big = hourly_run([100, 100, 111], pct=5, window_hours=1).activations[0][1]
    assert big.severity == "critical"  # at least twice the threshold


def test_first_evaluation_inside_a_move_does_not_fire() -> None:
    history = history_of(bars([100, 100, 100, 100, 106, 107, 108]))
    result = run(make("pct_move", pct=5, window_hours=3), history, T0 + 5 * HOUR, T0 + 7 * HOUR)
    assert result.activations == []


def test_learns_once_enough_history_exists() -> None:
    # The first evaluations have less than a window of history: the rule stays un-initialised, then learns
    # the move it finds (already +6%) instead of firing on it.
    history = history_of(bars([100, 100, 104, 106, 106.5]))
    result = run(make("pct_move", pct=5, window_hours=3), history, T0 + HOUR, T0 + 5 * HOUR)
    assert result.activations == []
    assert "up" in result.state["off"]


def test_catch_up_after_a_gap_reports_once() -> None:
    history = history_of(bars([100, 100, 100, 100, 106, 103, 102, 102]))
    result = Run(make("pct_move", pct=5, window_hours=3))
    result.at(history, T0 + 4 * HOUR)
    late = result.at(history, T0 + 8 * HOUR)  # +6%, then back under +2.5% (re-armed), meanwhile
    assert [(s.key, s.at) for s in late] == [("up", T0 + 5 * HOUR)]
    assert result.at(history, T0 + 9 * HOUR) == []


def test_one_minute_data_agrees_with_hourly() -> None:
    # Synthetic: the same price path as one-minute candles; the rule measures 1h closes either way.
    hourly = [100, 100, 100, 100, 101, 103, 105.5, 105.5]
    minutes = [hourly[i // 60] for i in range(len(hourly) * 60)]
    live = run(
        make("pct_move", pct=5, window_hours=3),
        history_of(bars(minutes, interval="1m")),
        T0 + HOUR,
        T0 + 8 * HOUR,
        60_000,
    )
    replay = hourly_run(hourly, pct=5, window_hours=3)
    assert [(s.key, s.at, s.values["change_pct"]) for _, s in live.activations] == [
        (s.key, s.at, s.values["change_pct"]) for _, s in replay.activations
    ]
    assert len(live.activations) == 1


def test_window_must_be_whole_candles() -> None:
    with pytest.raises(ValidationError, match="whole number of 4h candles"):
        PctMoveSettings(window_hours=6, interval="4h")


walks = st.lists(st.floats(-4, 4, allow_nan=False), min_size=2, max_size=40)


def prices(steps: list[float], scale: float = 100.0) -> list[float]:
    """Return a price path from percentage steps."""
    path = [scale]
    for step in steps:
        path.append(path[-1] * (1 + step / 100))
    return path


def events(result: Run) -> set[tuple[int, str, int]]:
    """Return (evaluation time, key, market time) of each activation."""
    return {(now, s.key, s.at) for now, s in result.activations}


@settings(max_examples=120, deadline=None)
@given(walks)
def test_either_is_up_and_down_together(steps: list[float]) -> None:
    closes = prices(steps)
    either = hourly_run(closes, pct=5, window_hours=4)
    up = hourly_run(closes, pct=5, window_hours=4, direction="up")
    down = hourly_run(closes, pct=5, window_hours=4, direction="down")
    assert events(either) == events(up) | events(down)


@settings(max_examples=120, deadline=None)
@given(walks, st.sampled_from([0.01, 7.0, 3000.0]))
def test_scale_invariant_and_never_twice_without_re_arm(steps: list[float], scale: float) -> None:
    closes = prices(steps)
    base = hourly_run(closes, pct=5, window_hours=4)
    scaled = hourly_run(prices(steps, scale), pct=5, window_hours=4)
    assert [(n, s.key) for n, s in base.activations] == [(n, s.key) for n, s in scaled.activations]
    # The 4h change at each close (index i is the candle closing at T0 + (i + 1)h).
    change = {i: (closes[i] / closes[i - 4] - 1) * 100 for i in range(4, len(closes))}
    for direction, sign in (("up", 1), ("down", -1)):
        fired = [(now - T0) // HOUR - 1 for now, s in base.activations if s.key == direction]
        for i in fired:
            assert sign * change[i] >= 5
        for first, second in itertools.pairwise(fired):
            assert any(sign * change[i] < 2.5 for i in range(first + 1, second)), (direction, first, second)


def test_real_eth_moves_on_the_13th(january: dict[str, Run]) -> None:
    fired = [(now, s) for now, s in january["eth-move-24h"].activations]
    assert fired, "ETH's +7.6% of 2026-01-13 did not fire"
    now, signal = fired[0]
    assert now == signal.at == ms("2026-01-13 23:00")
    assert signal.key == "up" and signal.title == "ETH +7.6% in 24h (to $3,331.18)"
    assert signal.values["from_price"] == 3095.42  # the close of the 2026-01-12 22:00 candle
    assert all(ms("2026-01-13 00:00") <= n < ms("2026-01-15 00:00") for n, s in fired if s.key == "up")

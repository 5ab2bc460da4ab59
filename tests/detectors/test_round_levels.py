"""round_levels: level_cross for every multiple of a step, with state only for levels near price."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import format_price
from tests.detectors.conftest import HOUR, T0, Run, bars, history_of, make, ms, run


def hourly_run(closes: Sequence[float], **options: Any) -> Run:
    """Step a round_levels rule at every close of synthetic hourly candles."""
    return run(make("round_levels", **options), history_of(bars(closes)), T0 + HOUR, T0 + len(closes) * HOUR)


CASES = [
    pytest.param([98, 101], [(2, "up:100")], id="one-level"),
    pytest.param([98, 121], [(2, "up:100"), (2, "up:110"), (2, "up:120")], id="a-jump-crosses-each-level"),
    pytest.param([101, 99, 101, 99], [(2, "down:100")], id="hysteresis-per-level"),
    pytest.param([101, 99, 101, 97, 101], [(2, "down:100"), (5, "up:100")], id="re-armed-beyond-band"),
    pytest.param([105, 106, 104], [], id="between-levels-nothing"),
    pytest.param([111, 108, 101, 99], [(2, "down:110"), (4, "down:100")], id="a-fall-through-two-levels"),
]


@pytest.mark.parametrize(("closes", "expected"), CASES)
def test_crossings_table(closes: list[float], expected: list[tuple[int, str]]) -> None:
    result = hourly_run(closes, step=10, hysteresis_pct=2.0)
    assert [((now - T0) // HOUR, s.key) for now, s in result.activations] == expected


def test_title_values_and_severity() -> None:
    signal = hourly_run([3240, 3260], step=250, direction="up").activations[0][1]
    assert signal.title == "BTC broke above $3,250 (round level)"
    assert (signal.kind, signal.severity, signal.direction) == ("cross_up", "info", "up")
    assert signal.values["level"] == 3250 and signal.values["step"] == 250 and signal.values["price"] == 3260


def test_state_holds_only_levels_near_price() -> None:
    # Synthetic: a rally from 10,000 to 60,000 through 50 levels of 1,000.
    closes = [10_000 + 500 * i for i in range(101)]
    result = hourly_run(closes, step=1000, hysteresis_pct=0.5)
    assert len(result.activations) == 50
    # Only the level price sits on and the one just crossed (its alert is active until price is a step on).
    assert set(result.state["levels"]) == {"59000", "60000"}
    assert len(str(result.state)) < 600


def test_crossing_stays_active_until_price_moves_a_step_on() -> None:
    result = hourly_run([95, 101, 103, 112], step=10, hysteresis_pct=1.0)
    assert [[s.key for s in signals] for _, signals in result.steps] == [
        [],
        ["up:100"],
        ["up:100"],
        ["up:110"],
    ]


def test_confirm_uses_the_close_of_the_interval() -> None:
    closes = [99.0] * 12 + [101.0] * 11 + [99.5] + [99.0] * 23 + [100.5]  # synthetic, two UTC days
    result = hourly_run(closes, step=10, confirm="1d")
    assert [(s.key, s.title) for _, s in result.activations] == [
        ("up:100", f"BTC closed the day above {format_price(100)} (round level)")
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(85, 125, allow_nan=False), min_size=2, max_size=50))
def test_same_crossings_as_one_level_cross_rule_per_level(closes: list[float]) -> None:
    rounds = hourly_run(closes, step=10, hysteresis_pct=1.5)
    expected = set()
    for level in (90, 100, 110, 120):
        single = run(
            make("level_cross", level=level, hysteresis_pct=1.5),
            history_of(bars(closes)),
            T0 + HOUR,
            T0 + len(closes) * HOUR,
        )
        expected |= {(now, f"{s.key}:{level}") for now, s in single.activations}
    assert {(now, s.key) for now, s in rounds.activations} == expected


def test_real_round_levels(january: dict[str, Run]) -> None:
    eth = january["eth-round-250"].fired()
    assert ("2026-01-13 23:00", "up:3250", "ETH broke above $3,250 (round level)") in eth
    btc_ups = [(now, s.key) for now, s in january["btc-round-5k"].activations if s.direction == "up"]
    assert (ms("2026-01-13 23:00"), "up:95000") in btc_ups
    assert all(key != "up:95000" for now, key in btc_ups if now < ms("2026-01-13 23:00"))


def test_first_evaluation_never_fires() -> None:
    history = history_of(bars([98, 121, 122]))
    detector = make("round_levels", step=10)
    assert run(detector, history, T0 + 2 * HOUR, T0 + 3 * HOUR).activations == []  # created after the jump
    assert len(run(detector, history, T0 + HOUR, T0 + 3 * HOUR).activations) == 3  # watching before it


def test_catch_up_reports_each_level_crossed_meanwhile_once() -> None:
    history = history_of(bars([98, 99, 112, 113, 114]))
    result = Run(make("round_levels", step=10, hysteresis_pct=1.0))
    result.at(history, T0 + HOUR)
    late = result.at(history, T0 + 5 * HOUR)
    assert sorted((s.key, s.at) for s in late) == [("up:100", T0 + 3 * HOUR), ("up:110", T0 + 3 * HOUR)]
    assert [s.key for s in result.at(history, T0 + 6 * HOUR)] == ["up:110"]  # 100 is a step behind now

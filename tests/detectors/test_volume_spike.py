"""volume_spike: a candle's volume against the average of the candles before it."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.base import format_price
from tests.detectors.conftest import HOUR, T0, Run, bars, history_of, make, ms, run


def hourly_run(volumes: list[float], closes: list[float] | None = None, **options: Any) -> Run:
    """Step a volume_spike rule over synthetic hourly candles with the given volumes."""
    closes = closes or [100.0] * len(volumes)
    history = history_of(bars(closes, volumes=volumes))
    return run(make("volume_spike", **options), history, T0 + HOUR, T0 + len(volumes) * HOUR)


# Synthetic: five quiet candles; with a window of four, the fifth is the first the rule can judge (and
# only learns from: the first evaluation never fires).
BASE = [10.0] * 5
CASES = [
    pytest.param([*BASE, 40], [(6, 4.0)], id="exactly-4x"),
    pytest.param([*BASE, 39], [], id="just-under"),
    pytest.param([*BASE, 50, 80, 10], [(6, 5.0)], id="a-burst-is-one-alert"),
    pytest.param([*BASE, 50, 10, 10, 10, 80], [(6, 5.0), (10, 4.0)], id="two-bursts"),
    pytest.param([10, 10, 10, 60], [], id="too-little-history"),
    pytest.param([*BASE, 0.0, 0.0, 0.0, 0.0, 0.0], [], id="zero-volume-never-divides"),
]


@pytest.mark.parametrize(("volumes", "expected"), CASES)
def test_spikes_table(volumes: list[float], expected: list[tuple[int, float]]) -> None:
    result = hourly_run(volumes, multiple=4, window=4)
    assert [((now - T0) // HOUR, s.values["ratio"]) for now, s in result.activations] == expected


def test_direction_title_and_values() -> None:
    result = hourly_run([*BASE, 50], closes=[100, 100, 100, 100, 100, 98], multiple=4, window=4)
    (now, signal), *_ = result.activations
    assert signal.direction == "down" and signal.at == now == T0 + 6 * HOUR
    assert signal.title == (
        f"BTC volume spike: 50.00 BTC in 1h, 5.0× the 4h average (price -2.0% to {format_price(98)})"
    )
    assert signal.values["candle_open_time"] == T0 + 5 * HOUR
    assert signal.values["average_volume"] == 10.0
    assert signal.severity == "info"


def test_first_evaluation_on_a_spike_does_not_fire() -> None:
    history = history_of(bars([100.0] * 7, volumes=[*BASE, 50, 60]))
    result = run(make("volume_spike", multiple=4, window=4), history, T0 + 6 * HOUR, T0 + 7 * HOUR)
    assert result.activations == []


def test_catch_up_reports_a_missed_spike_once() -> None:
    history = history_of(bars([100.0] * 9, volumes=[*BASE, 90, 10, 10, 10]))
    result = Run(make("volume_spike", multiple=4, window=4))
    result.at(history, T0 + 5 * HOUR)
    assert [s.at for s in result.at(history, T0 + 8 * HOUR)] == [T0 + 6 * HOUR]
    assert result.at(history, T0 + 9 * HOUR) == []


def test_one_minute_data_is_compared_as_hourly_candles() -> None:
    # Synthetic one-minute candles: hour 6 trades 5x the volume of the four hours before it.
    volumes = [1.0] * 300 + [5.0] * 60 + [1.0] * 60
    history = history_of(bars([100.0] * len(volumes), volumes=volumes, interval="1m"))
    result = run(make("volume_spike", multiple=4, window=4), history, T0 + HOUR, T0 + 7 * HOUR, 60_000)
    assert [(now, s.values["volume"], s.values["ratio"]) for now, s in result.activations] == [
        (T0 + 6 * HOUR, 300.0, 5.0)
    ]


@pytest.mark.parametrize(
    ("rule", "symbol", "volume", "ratio"),
    [("btc-volume", "BTC", 3452.32, 4.38), ("eth-volume", "ETH", 119773.0, 9.28)],
)
def test_real_spike_of_the_13th_22h(
    january: dict[str, Run], rule: str, symbol: str, volume: float, ratio: float
) -> None:
    fired = {now: s for now, s in january[rule].activations}
    signal = fired.get(ms("2026-01-13 23:00"))
    assert signal is not None, january[rule].fired()
    assert signal.values["candle_open_time"] == ms("2026-01-13 22:00")
    assert signal.values["volume"] == pytest.approx(volume, rel=1e-4)
    assert signal.values["ratio"] == pytest.approx(ratio, abs=0.01)
    assert signal.direction == "up" and signal.title.startswith(f"{symbol} volume spike")


# Synthetic: with a window of four and runs of two, the sixth candle is the first the rule can judge.
SUSTAINED = [
    pytest.param([*BASE, 40, 40], [(7, 4.0)], id="two-in-a-row"),
    pytest.param([*BASE, 80, 39], [], id="the-second-falls-short"),
    pytest.param([*BASE, 80, 10, 80], [], id="not-in-a-row"),
    # Each candle of the run is measured against the four before the run, not against the run itself:
    # against its own trailing average the third (200 after 60, 60) would be under 4x.
    pytest.param([*BASE, 60, 60, 200, 10], [(7, 6.0)], id="the-baseline-is-before-the-run"),
    pytest.param([*BASE, 50, 50, 50, 10, 10, 10, 10, 50, 50], [(7, 5.0), (14, 5.0)], id="two-runs"),
]


@pytest.mark.parametrize(("volumes", "expected"), SUSTAINED)
def test_sustained_volume_table(volumes: list[float], expected: list[tuple[int, float]]) -> None:
    result = hourly_run(volumes, multiple=4, window=4, consecutive=2)
    assert [((now - T0) // HOUR, s.values["ratio"]) for now, s in result.activations] == expected


def test_sustained_title_and_values() -> None:
    closes = [100.0] * 5 + [101, 103]
    result = hourly_run([*BASE, 50, 45], closes=closes, multiple=4, window=4, consecutive=2)
    ((now, signal),) = result.activations
    assert now == signal.at == T0 + 7 * HOUR
    assert signal.title == (
        "BTC sustained volume: 2 1h candles in a row at 4.5×+ the 4h average before them "
        f"(95.00 BTC in 2h, price +3.0% to {format_price(103)})"
    )
    assert (signal.kind, signal.direction, signal.severity) == ("volume_sustained", "up", "info")
    assert signal.values["ratios"] == [5.0, 4.5] and signal.values["run_started_at"] == T0 + 5 * HOUR


def test_consecutive_one_is_the_single_candle_spike() -> None:
    volumes = [*BASE, 50, 80, 10, 10, 10, 10, 45]
    plain, one = (
        hourly_run(volumes, multiple=4, window=4),
        hourly_run(volumes, multiple=4, window=4, consecutive=1),
    )
    assert [(now, s) for now, s in plain.activations] == [(now, s) for now, s in one.activations]
    assert plain.state == one.state


def test_real_sustained_volume_before_and_after_the_break(january: dict[str, Run]) -> None:
    fired = [(now, round(s.values["ratio"], 2)) for now, s in january["eth-volume-sustained"].activations]
    # Three hours at 2.5x+ the three-day average as ETH climbed to $3,184 hours before the squeeze, three
    # more as it pushed to $3,370 on the 14th, and the sell-off of the 19th.
    assert fired == [
        (ms("2026-01-13 16:00"), 3.5),
        (ms("2026-01-14 17:00"), 2.67),
        (ms("2026-01-19 02:00"), 4.7),
    ]

"""funding: settled rates beyond a threshold (while they last) and sign flips, at settlement times."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from pydantic import ValidationError

from detectors.funding import FundingSettings
from storage.rows import Funding, funding_interval_ms
from tests.conftest import DATA
from tests.detectors.conftest import HOUR, T0, Run, history_of, iso, make, ms, real_history, run

EIGHT = 8 * HOUR


def market(rates_pct: list[float]) -> list[Funding]:
    """Return SYNTHETIC funding: a settlement every 8h at these rates (percent), and wild hourly estimates."""
    rows = [Funding("BTCUSDT", T0 + k * EIGHT, "binance", pct / 100) for k, pct in enumerate(rates_pct)]
    # Estimates between settlements swing far beyond every threshold: the detector must ignore them.
    rows += [
        Funding("BTCUSDT", T0 + h * HOUR, "binance", (0.2 if h % 2 else -0.2) / 100, settled=False)
        for h in range(len(rates_pct) * 8)
        if h % 8
    ]
    return rows


def stepped(rates_pct: list[float], **options: Any) -> Run:
    """Step a funding rule hourly from the first settlement to the last."""
    return run(
        make("funding", **options), history_of(market(rates_pct)), T0, T0 + (len(rates_pct) - 1) * EIGHT
    )


CASES = [
    pytest.param([0.01, 0.01, 0.06, 0.07, 0.02], [(2, "high")], id="extreme-high-once-while-it-lasts"),
    pytest.param([0.01, -0.01, 0.01], [(1, "flip_negative"), (2, "flip_positive")], id="flips"),
    pytest.param([0.01, -0.003, 0.004, -0.004], [], id="hovering-near-zero-is-no-flip"),
    pytest.param(
        [0.01, -0.04, -0.035, 0.01],
        [(1, "flip_negative"), (1, "low"), (3, "flip_positive")],
        id="deep-negative",
    ),
    pytest.param([0.06, 0.07, 0.01, 0.05], [(3, "high")], id="first-evaluation-at-an-extreme-learns"),
    pytest.param([-0.01, -0.01, 0.01], [(2, "flip_positive")], id="learns-the-negative-regime"),
]


@pytest.mark.parametrize(("rates", "expected"), CASES)
def test_settlements_table(rates: list[float], expected: list[tuple[int, str]]) -> None:
    result = stepped(rates)
    got = sorted(((now - T0) // EIGHT, s.key) for now, s in result.activations)
    assert got == sorted(expected)
    for now, signal in result.activations:
        assert signal.at == now  # reported at the settlement, evaluated right then


def test_extreme_is_stateful_and_flip_lasts_one_period() -> None:
    result = stepped([0.01, -0.04, -0.035, 0.01])
    active = {n: sorted(s.key for s in signals) for n, signals in result.steps}
    assert active[T0 + EIGHT] == ["flip_negative", "low"]
    assert active[T0 + 2 * EIGHT - HOUR] == ["flip_negative", "low"]
    assert active[T0 + 2 * EIGHT] == ["low"]  # the flip was news for one period
    assert active[T0 + 3 * EIGHT] == ["flip_positive"]  # the extreme ended: resolved
    low = next(s for _, s in result.activations if s.key == "low")
    assert low.stateful and low.direction == "down" and low.severity == "warning"
    assert low.title == "BTC funding at -0.0400% per 8h (shorts paying longs)"


def test_flip_title_and_values() -> None:
    signal = next(s for _, s in stepped([0.01, -0.01]).activations)
    assert signal.title == "BTC funding flipped negative: -0.0100% per 8h (was +0.0100%)"
    assert signal.values["rate_pct"] == -0.01 and signal.values["previous_rate_pct"] == 0.01
    assert signal.values["period_hours"] == 8


def test_late_stamped_settlements_read_as_the_whole_hour_interval() -> None:
    # SYNTHETIC: settlements stamped 3 ms late, 4 h apart; the raw spacing was shown as "239m" / "479m".
    rows = [
        Funding("PEPEUSDT", T0 + 3 + k * 4 * HOUR, "binance", pct / 100)
        for k, pct in enumerate([0.01, -0.01])
    ]
    rows[0] = Funding("PEPEUSDT", T0, "binance", 0.0001)  # the settlement before, on time
    result = run(make("funding", symbol="PEPEUSDT"), history_of(rows), T0 + 3, T0 + 4 * HOUR + 3)
    signal = next(s for _, s in result.activations)
    assert signal.title == "PEPE funding flipped negative: -0.0100% per 4h (was +0.0100%)"
    assert signal.values["period_hours"] == 4


@pytest.mark.parametrize(
    ("spacing", "interval"),
    [(8 * HOUR - 5_000, 8 * HOUR), (8 * HOUR + 3, 8 * HOUR), (HOUR + 40_000, HOUR), (60_000, 60_000)],
)
def test_funding_interval_rounds_to_the_hour(spacing: int, interval: int) -> None:
    assert funding_interval_ms(spacing) == interval


def test_flips_can_be_turned_off_and_thresholds_removed() -> None:
    assert stepped([0.01, -0.01, 0.01], flips=False).activations == []
    assert stepped([0.01, 0.2], high_pct=None).activations == []
    with pytest.raises(ValidationError, match="watches nothing"):
        FundingSettings(high_pct=None, low_pct=None, flips=False)


def test_catch_up_reports_each_missed_settlement_once() -> None:
    history = history_of(market([0.01, -0.01, 0.01, 0.01]))
    result = Run(make("funding"))
    result.at(history, T0)
    late = result.at(history, T0 + 3 * EIGHT)
    assert sorted((s.key, s.at) for s in late) == [
        ("flip_negative", T0 + EIGHT),
        ("flip_positive", T0 + 2 * EIGHT),
    ]
    assert result.at(history, T0 + 3 * EIGHT + HOUR) == []


def test_real_january_funding_is_quiet_with_the_defaults(january: dict[str, Run]) -> None:
    # Settled BTC funding stayed between -0.0028% and +0.0100% per 8h all month.
    assert january["btc-funding"].activations == []
    assert iso(january["btc-funding"].state["ts"]) == "2026-01-20 16:00"  # it did read every settlement


def test_real_flips_at_the_settlements_where_the_sign_changed() -> None:
    with (DATA / "binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv").open() as f:
        settled = [(int(r["fundingTime"]), float(r["fundingRate"])) for r in csv.DictReader(f)]
    start, end = ms("2026-01-01 00:00"), ms("2026-01-21 00:00")
    # Independent oracle: the sign regime changes at a rate at least 0.001% on the other side of zero.
    expected, sign = [], 1
    for ts, rate in settled:
        new = 1 if rate * 100 >= 0.001 else -1 if rate * 100 <= -0.001 else 0
        if new and new != sign:
            if ts > start:
                expected.append((iso(ts), "flip_positive" if new > 0 else "flip_negative"))
            sign = new
    result = run(make("funding", flip_min_pct=0.001), real_history(), start, end)
    assert [(iso(s.at), s.key) for _, s in result.activations] == expected
    assert ("2026-01-09 00:00", "flip_negative") in expected  # -0.0028%: the oracle is not vacuous

"""fear_greed: regime changes of the published classification and N-day highs/lows, market-wide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from detectors.base import MARKET_SYMBOL
from storage.rows import FearGreed
from tests.detectors.conftest import DAY, T0, Run, history_of, iso, make, ms, run

LABELS = [(24, "Extreme Fear"), (45, "Fear"), (54, "Neutral"), (74, "Greed"), (100, "Extreme Greed")]


def label(value: int) -> str:
    """Return the synthetic tests' classification of a value (the real bands are taken as published)."""
    return next(name for top, name in LABELS if value <= top)


def days(values: Sequence[int | None], *, labelled: bool = True) -> list[FearGreed]:
    """Return SYNTHETIC daily values from T0 (None: a day not published)."""
    return [
        FearGreed(iso(T0 + d * DAY)[:10], T0 + d * DAY, v, label(v) if labelled else None)
        for d, v in enumerate(values)
        if v is not None
    ]


def daily_run(values: Sequence[int | None], *, labelled: bool = True, **options: Any) -> Run:
    """Step a fear_greed rule every 6 hours over the synthetic days."""
    options.setdefault("record_days", 0)
    history = history_of(days(values, labelled=labelled))
    return run(make("fear_greed", **options), history, T0, T0 + len(values) * DAY, DAY // 4)


CASES = [
    pytest.param([40, 42, 50], {}, [(2, "regime_change")], id="fear-to-neutral"),
    pytest.param([44, 46, 44], {}, [], id="a-2-point-move-over-a-band-edge-is-noise"),
    pytest.param(
        [44, 46, 44], {"min_change": 0}, [(1, "regime_change"), (2, "regime_change")], id="every-change"
    ),
    pytest.param([44, 46, 52], {}, [(2, "regime_change")], id="confirmed-from-the-old-regime"),
    pytest.param([50, 50, 50], {}, [], id="steady"),
    pytest.param(
        [60, 80, 90, 60], {}, [(1, "regime_change"), (3, "regime_change")], id="into-and-out-of-extreme"
    ),
    pytest.param(
        [20, 30, 35, 38, 39],
        {"record_days": 3},
        [(1, "regime_change"), (3, "record_high"), (4, "record_high")],
        id="records",
    ),
    pytest.param(
        [50, 30, 29, 28],
        {"record_days": 2},
        [(1, "regime_change"), (2, "record_low"), (3, "record_low")],
        id="record-lows",
    ),
]


@pytest.mark.parametrize(("values", "options", "expected"), CASES)
def test_days_table(values: list[int], options: dict[str, Any], expected: list[tuple[int, str]]) -> None:
    result = daily_run(values, **options)
    got = [((now - T0) // DAY, s.kind) for now, s in result.activations]
    assert got == expected
    for now, signal in result.activations:
        assert signal.at == now and signal.symbol == MARKET_SYMBOL
        assert signal.key == f"{signal.kind}:{iso(now)[:10]}"


def test_a_day_is_active_until_the_next_is_published() -> None:
    result = daily_run([40, 50, 51])
    active = [(iso(now), [s.kind for s in signals]) for now, signals in result.steps]
    assert active[4:9] == [(iso(T0 + DAY + k * DAY // 4), ["regime_change"]) for k in range(4)] + [
        (iso(T0 + 2 * DAY), [])
    ]


def test_title_states_the_highest_since_and_the_date() -> None:
    # Synthetic: 70 two months ago, lower since, then a jump to 61.
    values = [70] + [30] * 60 + [48, 61]
    result = daily_run(values, record_days=30)
    _, signal = result.activations[-1]
    assert signal.title == f"Fear & Greed now Greed (61), up from 48: highest since {iso(T0)[:10]}"
    assert signal.values["highest_since"] == iso(T0)[:10] and signal.values["highest_since_value"] == 70
    assert signal.values["days_since"] == 62
    assert signal.values["previous_regime"] == "Neutral" and signal.severity == "info"


def test_never_this_high_on_record() -> None:
    result = daily_run([20] * 40 + [60], record_days=30)
    _, signal = result.activations[-1]
    assert signal.values["highest_since"] is None and signal.values["days_since"] == 40
    assert signal.title.endswith(f"highest since records began here ({iso(T0)[:10]})")


def test_extreme_regime_is_a_warning() -> None:
    _, signal = daily_run([40, 20]).activations[0]
    assert signal.values["classification"] == "Extreme Fear" and signal.severity == "warning"
    assert signal.direction == "down"


def test_unlabelled_history_still_reports_records_but_no_regimes() -> None:
    result = daily_run([20, 50, 25, 70], labelled=False, record_days=3)
    assert [s.kind for _, s in result.activations] == ["record_high"]


def test_first_evaluation_and_catch_up() -> None:
    history = history_of(days([40, 50, 20, 20]))
    result = Run(make("fear_greed", record_days=0))
    assert result.at(history, T0 + DAY) == []  # learns the Neutral regime of day 1
    late = result.at(history, T0 + 3 * DAY)  # day 2 (Extreme Fear) and day 3 came while it was down
    assert [(s.kind, s.at) for s in late] == [("regime_change", T0 + 2 * DAY)]
    assert result.at(history, T0 + 3 * DAY + 1) == []


def test_real_greed_of_2026_01_15(january: dict[str, Run]) -> None:
    fired = {iso(now): s for now, s in january["fear-greed"].activations}
    signal = fired["2026-01-15 00:00"]
    assert signal.at == ms("2026-01-15 00:00") and signal.kind == "regime_change"
    assert signal.title == "Fear & Greed now Greed (61), up from 48: highest since 2025-10-10"
    v = signal.values
    assert (v["value"], v["classification"], v["previous_value"], v["previous_regime"]) == (
        61,
        "Greed",
        48,
        "Neutral",
    )
    assert (v["highest_since"], v["highest_since_value"], v["days_since"]) == ("2025-10-10", 64, 97)
    # 2026-01-10 was published as Extreme Fear (25) after Fear (27): a band edge, not a regime change.
    assert not any(key.startswith("2026-01-1") and key < "2026-01-14" for key in fired)

"""range_breakout: a new N-day high or low, saying how long it had been since price was there."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.text import format_age, with_article
from tests.detectors.conftest import DAY, HOUR, T0, Run, bars, history_of, iso, make, ms, run


def path(*segments: tuple[int, float]) -> list[float]:
    """Return SYNTHETIC hourly closes: (hours, price) segments, flat within each."""
    return [price for hours, price in segments for _ in range(hours)]


def stepped(closes: list[float], start_hour: int = 1, **options: Any) -> Run:
    """Step a range_breakout rule at every hourly close (candles wick 0.1 beyond open/close)."""
    options.setdefault("days", 3)
    history = history_of(bars(closes, spread=0.1))
    return run(make("range_breakout", **options), history, T0 + start_hour * HOUR, T0 + len(closes) * HOUR)


# Day 0 peaks at 110, days 1-4 sit at 100; on day 5 price breaks out (hour 131 is day 5, 11:00).
HISTORY = [(5, 100.0), (1, 110.0), (18, 100.0), (4 * 24, 100.0)]
CASES = [
    pytest.param(path(*HISTORY, (10, 100), (1, 105), (5, 104)), {}, [(131, "high")], id="new-3-day-high"),
    pytest.param(
        path(*HISTORY, (10, 100), (1, 105), (3, 107), (3, 109)),
        {},
        [(131, "high")],
        id="extending-is-one-alert",
    ),
    pytest.param(
        path(*HISTORY, (10, 100), (1, 105), (3, 98), (3, 106)),
        {"direction": "up"},  # (98 is also a new 3-day low)
        [(131, "high"), (135, "high")],
        id="failed-breakout-re-arms",
    ),
    pytest.param(
        path(*HISTORY, (10, 100), (1, 105), (3, 99.5), (3, 106)),
        {"direction": "up"},
        [(131, "high")],
        id="within-1pct-no-re-arm",
    ),
    pytest.param(path(*HISTORY, (10, 100), (1, 95), (5, 96)), {}, [(131, "low")], id="new-low"),
    pytest.param(path(*HISTORY, (10, 100), (1, 95), (5, 96)), {"direction": "up"}, [], id="lows-filtered"),
    pytest.param(path((5, 100.0), (1, 110.0), (30, 100.0), (1, 105)), {}, [], id="too-little-history"),
]


@pytest.mark.parametrize(("closes", "options", "expected"), CASES)
def test_breakouts_table(
    closes: list[float], options: dict[str, Any], expected: list[tuple[int, str]]
) -> None:
    result = stepped(closes, **options)
    assert [((now - T0) // HOUR, s.key) for now, s in result.activations] == expected


def test_title_says_how_long_it_had_been() -> None:
    result = stepped(path(*HISTORY, (10, 100), (1, 105)))
    ((now, signal),) = result.activations
    assert now == signal.at == T0 + 5 * DAY + 11 * HOUR
    assert signal.values["since_date"] == iso(T0)[:10] and signal.values["since_price"] == 110.1
    assert signal.values["previous_extreme"] == 100.1 and signal.values["price"] == 105.1
    age = with_article(format_age(signal.values["days_since"]))
    assert signal.title == f"BTC at {age} high: $105.10 (highest since {iso(T0)[:10]})"
    assert age == "a 5-day" and signal.direction == "up" and signal.kind == "new_high"


def test_highest_on_record() -> None:
    ((_, signal),) = stepped(path((4 * 24, 100.0), (1, 103))).activations
    assert signal.values["since_date"] is None and signal.values["history_from"] == iso(T0)[:10]
    assert signal.title == "BTC at its highest in the 4 days on record: $103.10"


def test_close_beyond_needs_a_close() -> None:
    wick_only = path(*HISTORY, (10, 100.05))  # closes at 100.05, wicks to 100.15 > the 3-day high 100.1
    assert [s.key for _, s in stepped(wick_only).activations] == ["high"]
    assert stepped(wick_only, close_beyond=True).activations == []


def test_re_arms_after_rearm_days_without_a_new_high() -> None:
    closes = path(*HISTORY, (10, 100), (1, 105), (2 * 24, 104.5), (1, 106))
    result = stepped(closes, rearm_days=1)
    assert [(now - T0) // HOUR for now, _ in result.activations] == [5 * 24 + 11, 7 * 24 + 12]


def test_first_evaluation_at_a_breakout_does_not_fire() -> None:
    closes = path(*HISTORY, (10, 100), (1, 105), (2, 107))
    assert stepped(closes, start_hour=5 * 24 + 11).activations == []


def test_real_btc_week_high(january: dict[str, Run]) -> None:
    fired = january["btc-7d-range"].activations
    assert [(now, s.key) for now, s in fired] == [(ms("2026-01-13 21:00"), "high")]
    signal = fired[0][1]
    # The 20:00 hour's high of 94,500 beat everything since the failed approach of 2026-01-05 (94,789.08).
    assert signal.values["price"] == 94500.0
    assert (signal.values["since_date"], signal.values["since_price"]) == ("2026-01-05", 94789.08)
    assert signal.title == "BTC at an 8-day high: $94,500 (highest since 2026-01-05)"
    # The 30-day rule needs 30 days of candles; the data starts on 2026-01-01.
    assert january["btc-30d-range"].activations == []

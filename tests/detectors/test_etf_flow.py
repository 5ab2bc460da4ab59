"""etf_flow: a day's US spot ETF net flow beyond a threshold, or a streak of same-sign days.

The rows are SYNTHETIC daily flows; the source's real answer shape is covered in tests/feeds.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from detectors.etf_flow import EtfFlowSettings, streak
from storage.rows import EtfFlow
from tests.detectors.conftest import DAY, HOUR, T0, Run, history_of, make, run

# T0 is a Monday (2026-01-05): weekdays are trading days.
MONDAY = T0


def days(flows_musd: list[float | None], asset: str = "BTC") -> list[EtfFlow]:
    """Return one row per weekday from MONDAY (None: a day the source did not report), in USD."""
    rows, day = [], MONDAY
    for flow in flows_musd:
        while (day // DAY + 3) % 7 >= 5:  # skip Saturday and Sunday (the epoch was a Thursday)
            day += DAY
        if flow is not None:
            date = f"2026-01-{5 + (day - MONDAY) // DAY:02d}"
            rows.append(EtfFlow(asset, date, day, "sosovalue", flow * 1e6, None, None, None, day + DAY))
        day += DAY
    return rows


def fired(
    flows: list[float | None], asset: str = "BTC", symbol: str = "BTCUSDT", **settings: object
) -> list[str]:
    history = history_of(days(flows, asset))
    result = run(make("etf_flow", symbol=symbol, **settings), history, MONDAY, MONDAY + 20 * DAY, step=HOUR)
    return [s.title for _, s in result.activations]


def test_a_day_above_the_threshold_fires_once_when_its_figure_is_known() -> None:
    history = history_of(days([100, 50, 646, 20]))
    result = run(make("etf_flow", above_usd=500e6), history, MONDAY, MONDAY + 7 * DAY)
    ((at, signal),) = result.activations
    assert at == MONDAY + 3 * DAY  # Wednesday's flow is known at the end of Wednesday (UTC), not before
    assert signal.title == "BTC ETFs: +$646.0M on 2026-01-07, third inflow day in a row"
    assert signal.values == {
        "net_usd": 646e6,
        "day": "2026-01-07",
        "days_in_a_row": 3,
        "threshold_usd": 500e6,
        "source": "sosovalue",
    }
    assert signal.direction == "up" and signal.severity == "info" and signal.sources == ("etf_flow",)
    # It lasts until Thursday's figure ends it.
    assert [now for now, sigs in result.steps if sigs] == list(
        range(MONDAY + 3 * DAY, MONDAY + 4 * DAY, HOUR)
    )


def test_an_outflow_below_the_threshold_and_twice_it_is_a_warning() -> None:
    assert fired([10, -700, -200, 5], below_usd=-300e6) == ["BTC ETFs: -$700.0M on 2026-01-06, net outflow"]
    history = history_of(days([10, -700]))
    ((_, signal),) = run(make("etf_flow", below_usd=-300e6), history, MONDAY, MONDAY + 3 * DAY).activations
    assert signal.severity == "warning" and signal.direction == "down" and signal.kind == "etf_outflow"


def test_each_day_beyond_the_threshold_is_an_alert_of_its_own() -> None:
    assert fired([600, 700, 10], above_usd=500e6) == [
        "BTC ETFs: +$600.0M on 2026-01-05, net inflow",
        "BTC ETFs: +$700.0M on 2026-01-06, second inflow day in a row",
    ]


def test_a_streak_fires_on_reaching_its_length_across_a_weekend() -> None:
    # Thursday, Friday, Monday: three inflow days in a row (the weekend has no trading day).
    flows = [-5, -5, -5, 1, 2, 3, 4, -1]
    assert fired(flows, streak_days=3) == [
        "BTC ETFs: -$5.0M on 2026-01-07, third outflow day in a row",
        "BTC ETFs: +$3.0M on 2026-01-12, third inflow day in a row",
    ]
    assert fired(flows, streak_days=3, streak_direction="inflow") == [
        "BTC ETFs: +$3.0M on 2026-01-12, third inflow day in a row"
    ]


def test_a_missing_week_breaks_a_streak_and_a_flat_day_has_no_sign() -> None:
    assert fired([1, 2, None, None, None, None, None, 3], streak_days=3) == []
    assert fired([1, 0, 2, 3], streak_days=3) == []
    rows = days([1, 2, 3])
    points = history_of(rows).view("BTCUSDT", MONDAY + 10 * DAY).etf_flows()
    assert [streak(points, i) for i in range(3)] == [1, 2, 3]


def test_a_rule_never_fires_on_a_day_it_was_made_after() -> None:
    history = history_of(days([900, 10]))
    # Created on Tuesday evening: Monday's +$900M was known already, so it only learns it.
    assert (
        run(make("etf_flow", above_usd=500e6), history, MONDAY + 2 * DAY - HOUR, MONDAY + 5 * DAY).activations
        == []
    )


def test_reads_its_base_currency_only() -> None:
    assert fired([900], asset="ETH", above_usd=500e6) == []
    assert fired([900], asset="ETH", symbol="ETHUSDT", above_usd=500e6) == [
        "ETH ETFs: +$900.0M on 2026-01-05, net inflow"
    ]


def test_settings_need_something_that_can_fire() -> None:
    with pytest.raises(ValidationError, match="above_usd, below_usd or streak_days"):
        EtfFlowSettings()
    with pytest.raises(ValidationError, match="below_usd must be below above_usd"):
        EtfFlowSettings(above_usd=100e6, below_usd=200e6)
    with pytest.raises(ValidationError):
        EtfFlowSettings(streak_days=1)
    assert EtfFlowSettings(streak_days=20).lookback_ms()["etf_flow"] == 47 * DAY


def test_a_first_backfill_of_old_days_is_not_news() -> None:
    rule = Run(make("etf_flow", above_usd=1e6))
    rule.at(history_of(), MONDAY)  # made before any flow was read
    # The feed's first read brings seven days at once, the newest known five days ago: none fires.
    rule.at(history_of(days([900] * 7)), MONDAY + 14 * DAY)
    assert rule.activations == []
    # A day read while it is news still fires.
    rule.at(history_of(days([900] * 7 + [None] * 3 + [950])), MONDAY + 15 * DAY + HOUR)
    assert [s.values["day"] for _, s in rule.activations] == ["2026-01-19"]

"""MarketHistory fixes made for the detectors: settled funding kept apart from estimates."""

from __future__ import annotations

import pytest

from storage.rows import Funding
from tests.detectors.conftest import HOUR, T0, history_of

# Synthetic funding: a settlement every 8h and an hourly estimate in between, all from one source.
SETTLED = [Funding("BTCUSDT", T0 + k * 8 * HOUR, "binance", 0.0001 * (k + 1)) for k in range(3)]
ESTIMATES = [Funding("BTCUSDT", T0 + h * HOUR, "binance", -0.00005, settled=False) for h in range(17)]


@pytest.mark.parametrize("estimates_first", [True, False])
def test_estimate_never_replaces_a_settled_rate(estimates_first: bool) -> None:
    rows = ESTIMATES + SETTLED if estimates_first else SETTLED + ESTIMATES
    view = history_of(rows).view("BTCUSDT", T0 + 16 * HOUR)
    settled = view.funding(settled_only=True)
    assert [(p.ts, p.rate) for p in settled] == [(r.ts, r.rate) for r in SETTLED]
    everything = view.funding()
    assert len(everything) == 17  # one point per hour, settlements included once
    at_8h = [p for p in everything if p.ts == T0 + 8 * HOUR]
    assert at_8h == [settled[1]]


def test_settled_only_reads_the_first_source_with_settlements() -> None:
    # A venue that only publishes estimates delivered first; it must not hide the settled rates.
    bybit = [Funding("BTCUSDT", T0, "bybit", 0.0002, settled=False)]
    view = history_of(bybit + SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    assert {p.source for p in view.funding(settled_only=True)} == {"binance"}
    assert len(view.funding(settled_only=True)) == 3
    assert view.funding()[0].source == "bybit"  # the preferred source for estimates is unchanged


@pytest.mark.parametrize(
    ("count", "settled_only", "expected"), [(1, True, [16]), (2, True, [8, 16]), (3, False, [14, 15, 16])]
)
def test_count_keeps_the_newest(count: int, settled_only: bool, expected: list[int]) -> None:
    view = history_of(ESTIMATES + SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    points = view.funding(count=count, settled_only=settled_only)
    assert [(p.ts - T0) // HOUR for p in points] == expected


def test_nothing_after_now_is_visible() -> None:
    view = history_of(ESTIMATES + SETTLED).view("BTCUSDT", T0 + 8 * HOUR - 1)
    assert [p.ts for p in view.funding(settled_only=True)] == [T0]
    assert view.funding()[-1].ts == T0 + 7 * HOUR


def test_all_points_come_from_the_source_with_estimates() -> None:
    # Settlements only from one source (delivered first, as a replay plays older files first), hourly
    # estimates from another: a detector asking for every point wants the hourly series.
    coinglass = [
        Funding("BTCUSDT", T0 + h * HOUR, "coinglass", -0.00007 + h * 1e-6, settled=False) for h in range(17)
    ]
    view = history_of(SETTLED + coinglass).view("BTCUSDT", T0 + 16 * HOUR)
    points = view.funding(since=T0 + 10 * HOUR)
    assert [(p.ts - T0) // HOUR for p in points] == [10, 11, 12, 13, 14, 15, 16]
    assert {p.source for p in points} == {"coinglass"}
    assert {p.source for p in view.funding(settled_only=True)} == {"binance"}
    only_settled = history_of(SETTLED).view("BTCUSDT", T0 + 16 * HOUR)
    assert len(only_settled.funding()) == 3  # no estimates anywhere: the settlements are all there is

"""crowding: funding z-score against its month, open-interest build-up and a long/short extreme together.

Every row here is SYNTHETIC, written to put each condition just inside or outside its threshold.
"""

from __future__ import annotations

import pytest

from detectors.base import FundingPoint, Signal
from detectors.crowding import Crowding, funding_history, long_short_mean
from detectors.positioning import zscore
from storage.rows import Funding, LongShort, OpenInterest
from tests.detectors.conftest import DAY, HOUR, T0, Run, history_of, make

NOW = T0 + 31 * DAY
VENUES = {"binance": 6e9, "bybit": 3e9}


def month_of_funding(last_rate: float) -> list[Funding]:
    """Settlements every 8 h for 31 days alternating 0.0001/0.0002 per venue, the newest at ``last_rate``."""
    rows = []
    for venue in VENUES:
        for k in range(31 * 3):
            ts = T0 + k * 8 * HOUR
            rows.append(Funding("BTCUSDT", ts, venue, 0.0001 if k % 2 else 0.0002, settled=True))
        rows.append(Funding("BTCUSDT", NOW - HOUR, venue, last_rate, settled=False))
    return rows


def open_interest(build_pct: float) -> list[OpenInterest]:
    """Both venues' open interest a day ago and now, the sum up ``build_pct``%."""
    rows = []
    for venue, usd in VENUES.items():
        rows.append(OpenInterest("BTCUSDT", NOW - DAY, venue, None, usd))
        rows.append(OpenInterest("BTCUSDT", NOW - 10 * 60_000, venue, None, usd * (1 + build_pct / 100)))
    return sorted(rows, key=lambda r: r.ts)


def ratios(ratio: float) -> list[LongShort]:
    """Binance's top-trader position ratio half an hour ago."""
    share = ratio / (1 + ratio)
    return [LongShort("BTCUSDT", NOW - 30 * 60_000, "binance", "top_positions", "5m", ratio, share)]


def fire(last_rate: float, build_pct: float, ratio: float) -> list[Signal]:
    """Learn on a calm market an hour before, then evaluate the given one: return what fired."""
    calm = history_of(month_of_funding(0.0001), open_interest(0.0), ratios(1.0))
    crowded = history_of(month_of_funding(last_rate), open_interest(build_pct), ratios(ratio))
    result = Run(make("crowding"))
    result.at(calm, NOW - HOUR)
    result.at(crowded, NOW)
    return [signal for _, signal in result.activations]


def test_longs_crowded_when_all_three_hold_and_the_figures_recompute_from_the_rows() -> None:
    (signal,) = fire(0.0006, 8.0, 2.4)
    v = signal.values
    assert signal.key == "longs"
    # Recompute the z-score from the rows: the month of settlements weighted by today's OI, per 8 h.
    rows = month_of_funding(0.0006)
    by_source: dict[str, list[FundingPoint]] = {venue: [] for venue in VENUES}
    for r in rows:
        by_source[r.source].append(FundingPoint(r.ts, r.rate, r.settled, r.source))
    weights = {venue: usd * 1.08 for venue, usd in VENUES.items()}
    history = funding_history(by_source, weights, NOW - 30 * DAY, NOW)
    assert v["funding_z"] == round(zscore(0.0006, history) or 0.0, 2)
    assert v["oi_change_pct"] == pytest.approx(8.0)
    assert v["long_short"] == 2.4
    assert signal.title.startswith("BTC longs crowded: funding ")
    assert "above its month, OI +8.0% in 24h, top traders 2.4 long per short" in signal.title


@pytest.mark.parametrize(
    ("rate", "build", "ratio"),
    [
        pytest.param(0.00016, 8.0, 2.4, id="funding-within-its-month"),
        pytest.param(0.0006, 3.0, 2.4, id="oi-not-building"),
        pytest.param(0.0006, 8.0, 1.5, id="long-short-not-extreme"),
    ],
)
def test_two_of_three_is_not_crowding(rate: float, build: float, ratio: float) -> None:
    assert fire(rate, build, ratio) == []


def test_shorts_crowded_mirror() -> None:
    (signal,) = fire(-0.0006, 8.0, 0.4)
    assert signal.key == "shorts"
    assert "below its month" in signal.title and "2.5 short per long" in signal.title


def test_registered() -> None:
    assert isinstance(make("crowding"), Crowding)


def test_long_short_ratios_average_geometrically() -> None:
    assert long_short_mean([2.0, 0.5]) == pytest.approx(1.0)  # arithmetically 1.25: longs ahead
    assert long_short_mean([4.0, 1.0]) == pytest.approx(2.0)
    assert long_short_mean([3.0, 0.0]) == pytest.approx(3.0)  # no logarithm of 0: left out
    assert long_short_mean([]) is None


def test_venues_disagreeing_symmetrically_are_not_an_extreme() -> None:
    # Binance 2.5 longs per short, Bybit 2.5 shorts per long: balanced, not longs crowded. The arithmetic
    # mean (1.45) would not fire either at 2.0, so the threshold is lowered to 1.4 to tell them apart.
    calm = history_of(month_of_funding(0.0001), open_interest(0.0), ratios(1.0))
    bybit = LongShort("BTCUSDT", NOW - 30 * 60_000, "bybit", "top_positions", "5m", 0.4, 0.4 / 1.4)
    split = [*ratios(2.5), bybit]
    crowded = history_of(month_of_funding(0.0006), open_interest(8.0), split)
    result = Run(make("crowding", long_short_ratio=1.4))
    result.at(calm, NOW - HOUR)
    result.at(crowded, NOW)
    assert result.activations == []


def test_the_month_of_funding_is_put_per_8h_at_the_interval_the_list_states() -> None:
    # Gate's running rates (no settlements): 8 h assumed without a list, 4 h as its list states.
    points = [FundingPoint(NOW - 30 * DAY + k * 8 * HOUR, 0.0001, False, "gate") for k in range(90)]
    start, end = NOW - 30 * DAY, NOW
    assumed = funding_history({"gate": points}, {"gate": 1.0}, start, end)
    stated = funding_history({"gate": points}, {"gate": 1.0}, start, end, {"gate": 4.0})
    assert assumed[0] == pytest.approx(0.0001) and stated[0] == pytest.approx(0.0002)

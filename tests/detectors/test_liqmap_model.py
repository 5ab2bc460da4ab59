"""The liquidation map's model from rows: positions opened, consumed, removed; mass is conserved.

Candles and open interest here are synthetic (written for these tests), except where a test says so.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import Bar
from detectors.liqmap.clusters import find_clusters, nearest
from detectors.liqmap.model import LiqMap
from detectors.liqmap.params import LiqMapParams
from detectors.liqmap.sweeps import SweepTracker
from detectors.liqmap.tiers import BINANCE_TIERS, liquidation_price, solve
from storage.rows import HOUR_MS

T0 = 1_768_000_000_000 - 1_768_000_000_000 % HOUR_MS


def bar(i: int, o: float, h: float, low: float, c: float) -> Bar:
    """Return the i-th synthetic hourly candle."""
    return Bar(T0 + i * HOUR_MS, o, h, low, c, 1.0, HOUR_MS)


def one_leverage(leverage: float = 10.0, **changes: object) -> LiqMapParams:
    """Return map settings with a single leverage (and the given changes)."""
    return LiqMapParams(leverage={leverage: 1.0}, **changes)  # type: ignore[arg-type]


def test_an_open_interest_rise_opens_longs_and_shorts_at_their_tiered_liquidation_prices() -> None:
    m = LiqMap(one_leverage(10.0, entry="close"), "BTCUSDT", "binance")
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)  # first point: nothing to compare
    assert m.opened == 0 and not m.longs and not m.shorts
    # +1% of open interest in BTC terms at a flat price: $10M opened, half each side.
    step = m.step(bar(1, 100_000, 100_000, 100_000, 100_000), 1_010_000_000)
    assert step.opened == pytest.approx(10_000_000)
    # Binance BTCUSDT, a $100,000 position is in tier 2 (0.5%, cum 50): /liqprice's formula.
    long_price, _ = solve("long", 100_000, 10, 100_000, BINANCE_TIERS["BTCUSDT"])
    short_price, _ = solve("short", 100_000, 10, 100_000, BINANCE_TIERS["BTCUSDT"])
    assert long_price == pytest.approx(100_000 * (1 - 0.1 - 50 / 100_000) / (1 - 0.005))
    assert m.longs == {m.bin_of(long_price): pytest.approx(5_000_000)}
    assert m.shorts == {m.bin_of(short_price): pytest.approx(5_000_000)}


def test_a_rise_in_usd_from_price_alone_opens_nothing() -> None:
    m = LiqMap(one_leverage(), "BTCUSDT", "binance")
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)
    step = m.step(bar(1, 100_000, 101_000, 100_000, 101_000), 1_010_000_000)  # +1% price, +1% USD
    assert step.opened == pytest.approx(0, abs=1e-3) and m.open_usd == pytest.approx(0, abs=1e-3)


def test_a_candle_reaching_a_liquidation_price_consumes_that_bin() -> None:
    m = LiqMap(one_leverage(25.0, long_share=0.0, entry="close"), "BTCUSDT", "binance")
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)
    m.step(bar(1, 100_000, 100_000, 100_000, 100_000), 1_020_000_000)  # $20M of 25x shorts at 100k
    [(key, usd)] = m.shorts.items()
    level = m.bin_center(key)
    assert 103_000 < level < 104_000 and usd == pytest.approx(20_000_000)
    base = 1_020_000_000 / 100_000  # open interest unchanged in BTC from here on
    below = m.step(bar(2, 100_000, level - 10, 99_500, 101_000), base * 101_000)
    assert not below.consumed_short and m.shorts
    swept = m.step(bar(3, 101_000, level + 10, 100_500, 103_500), base * 103_500)
    assert swept.consumed_short == {key: pytest.approx(20_000_000)} and not m.shorts
    assert m.consumed == pytest.approx(20_000_000)


def test_a_fall_of_open_interest_beyond_the_liquidations_removes_the_rest_proportionally() -> None:
    m = LiqMap(one_leverage(10.0, entry="close"), "BTCUSDT", "binance")
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)
    m.step(bar(1, 100_000, 100_000, 100_000, 100_000), 1_100_000_000)  # $100M opened
    before = dict(m.longs), dict(m.shorts)
    # Open interest falls 10% with no liquidation: 10% of every bin is closed by its owners.
    step = m.step(bar(2, 100_000, 100_000, 100_000, 100_000), 990_000_000)
    assert step.removed == pytest.approx(10_000_000)
    for now, was in zip((m.longs, m.shorts), before, strict=True):
        assert now == {k: pytest.approx(v * 0.9) for k, v in was.items()}


def test_liquidations_explain_part_of_a_fall_and_are_not_removed_twice() -> None:
    m = LiqMap(one_leverage(100.0, long_share=0.0, entry="close"), "BTCUSDT", "binance")
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)
    m.step(bar(1, 100_000, 100_000, 100_000, 100_000), 1_050_000_000)  # $50M of 100x shorts
    # The candle runs through them and open interest falls by $50M: all of it liquidations.
    step = m.step(bar(2, 100_000, 101_500, 100_000, 100_000), 1_000_000_000)
    assert sum(step.consumed_short.values()) == pytest.approx(50_000_000)
    assert step.removed == 0 and m.removed == 0


def test_clusters_are_bands_of_equal_width_around_the_fullest_bins() -> None:
    params = LiqMapParams(bin_pct=0.2, cluster_width_pct=1.0, min_cluster_usd=1_000_000, max_clusters=3)
    m = LiqMap(params, "BTCUSDT", "binance")
    peak = m.bin_of(95_500)
    m.shorts.update({peak: 30e6, peak + 1: 10e6, peak - 2: 5e6, peak + 20: 8e6, peak + 40: 0.5e6})
    m.longs.update({m.bin_of(90_000): 12e6})
    first, second = find_clusters(m, "short")
    assert first.usd == pytest.approx(45e6) and first.low < 95_500 < first.high
    assert first.high / first.low == pytest.approx(1.002**5)  # five 0.2% bins: 1%
    assert second.usd == pytest.approx(8e6)  # the $0.5M bin alone is below min_cluster_usd
    above, below = nearest([first, second, *find_clusters(m, "long")], 93_000)
    assert above == first and below is not None and below.side == "long"
    assert first.distance_pct(93_000) == pytest.approx((first.low - 93_000) / 930)


def test_a_sweep_joins_the_candles_that_keep_consuming_one_side() -> None:
    m = LiqMap(one_leverage(50.0, long_share=0.0, entry="close"), "BTCUSDT", "binance")
    tracker = SweepTracker(m)
    m.step(bar(0, 100_000, 100_000, 100_000, 100_000), 1_000_000_000)
    for i, price in enumerate((100_000, 100_500, 101_000), start=1):  # shorts opened at three prices
        m.step(bar(i, price, price, price, price), 1_000_000_000 + i * 10_000_000 * price / 100_000)
    steps = [
        m.step(bar(4, 101_000, 102_200, 101_000, 102_000), None),
        m.step(bar(5, 102_000, 103_500, 102_000, 103_000), None),
        m.step(bar(6, 103_000, 103_100, 102_500, 103_000), None),
    ]
    assert tracker.add(steps[0]) == [] and tracker.add(steps[1]) == []
    [sweep] = tracker.add(steps[2])
    assert sweep.side == "short" and sweep.candles == 2
    assert sweep.start == T0 + 4 * HOUR_MS and sweep.end == T0 + 6 * HOUR_MS
    # 50x shorts from 100,000-101,000 are liquidated near 101,500-102,500: the band covers them all.
    assert (
        sweep.modelled_usd == pytest.approx(m.consumed)
        and 101_000 < sweep.low < 101_600 < 102_500 < sweep.high
    )


def test_the_leverage_distribution_is_validated() -> None:
    with pytest.raises(ValueError, match=r"outside 1\.5\.\.125"):
        LiqMapParams(leverage={200.0: 1.0})
    with pytest.raises(ValueError, match="sum to 0"):
        LiqMapParams(leverage={10.0: 0.0})
    with pytest.raises(ValueError, match="at least bin_pct"):
        LiqMapParams(bin_pct=1.0, cluster_width_pct=0.5)
    assert sum(w for _, w in LiqMapParams().leverage_weights()) == pytest.approx(1.0)


def test_a_symbol_without_a_table_uses_the_default_rate() -> None:
    m = LiqMap(one_leverage(20.0, default_mmr=0.01), "DOGEUSDT", "binance")
    factors = {side: f for side, f, _ in m.factors(1.0)}
    assert factors["long"] == pytest.approx(liquidation_price("long", 1.0, 20.0, 0.01))


candles = st.lists(
    st.tuples(
        st.floats(min_value=-0.04, max_value=0.04),  # close-to-close move
        st.floats(min_value=0, max_value=0.03),  # wick above
        st.floats(min_value=0, max_value=0.03),  # wick below
        st.floats(min_value=-0.05, max_value=0.05),  # open interest change (base units)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(candles, st.floats(min_value=0, max_value=1))
def test_mass_is_conserved(moves: list[tuple[float, float, float, float]], long_share: float) -> None:
    """What is open plus what was consumed plus what was removed equals what was opened."""
    m = LiqMap(LiqMapParams(long_share=long_share), "BTCUSDT", "binance")
    price, oi_base = 95_000.0, 100_000.0
    for i, (move, up, down, oi_change) in enumerate(moves):
        close = price * (1 + move)
        high, low = max(price, close) * (1 + up), min(price, close) * (1 - down)
        oi_base *= 1 + oi_change
        m.step(bar(i, price, high, low, close), oi_base * close)
        price = close
        assert all(v >= 0 and math.isfinite(v) for v in (*m.longs.values(), *m.shorts.values()))
    assert m.open_usd + m.consumed + m.removed == pytest.approx(m.opened, rel=1e-9, abs=1e-3)

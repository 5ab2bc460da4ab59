"""The liquidation-price calculator against worked examples done by hand, and its properties.

Every worked example assumes isolated margin, the initial margin (size / leverage) as the position's
whole margin, and no fees or funding. Its maintenance margin rate (MMR) and maintenance amount (cum) are
written out: Binance's BTCUSDT/ETHUSDT first tier is 0.40% with cum 0 for positions up to $50,000.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.services.liqprice import BINANCE_TIERS, DEFAULT_MMR, MarginTier, estimate, liquidation_price, solve

NOW = 1_768_392_000_000
BTC_NOW = (96_000.0, NOW, "binance")


def equity_minus_maintenance(
    side: str, entry: float, leverage: float, size: float, price: float, tier: MarginTier
) -> float:
    """Return margin plus unrealised PnL minus maintenance margin at ``price`` (zero at liquidation)."""
    quantity = size / entry
    pnl = quantity * (price - entry) if side == "long" else quantity * (entry - price)
    return size / leverage + pnl - (quantity * price * tier.mmr - tier.cum)


# --- worked examples ----------------------------------------------------------------------------------


def test_long_btc_at_10x_first_tier() -> None:
    # Margin is 10% of the position; the long is liquidated when the loss leaves only 0.4% of the position
    # (valued at the liquidation price): EP(1 - 0.1) = LP(1 - 0.004), so LP = 85,500 / 0.996.
    view = estimate("BTCUSDT", "long", 95_000, 10, current=BTC_NOW)
    assert view.liquidation_price == pytest.approx(85_843.373494, abs=1e-3)
    assert view.mmr == 0.004 and view.cum == 0
    assert view.move_from_entry_pct == pytest.approx((85_843.373494 - 95_000) / 95_000 * 100)
    # From the current $96,000: a fall of $10,156.63, 10.58%.
    assert view.distance_usd == pytest.approx(85_843.373494 - 96_000, abs=1e-3)
    assert view.distance_pct == pytest.approx(-10.5798, abs=1e-4)
    assert "first tier" in view.basis and not view.already_past


def test_short_btc_at_10x_first_tier() -> None:
    # EP(1 + 0.1) = LP(1 + 0.004): LP = 104,500 / 1.004.
    view = estimate("BTCUSDT", "short", 95_000, 10, current=BTC_NOW)
    assert view.liquidation_price == pytest.approx(104_083.665339, abs=1e-3)
    assert view.distance_pct == pytest.approx((104_083.665339 - 96_000) / 96_000 * 100)


def test_long_btc_at_50x_is_much_closer() -> None:
    # Margin 2%: LP = 95,000 × 0.98 / 0.996 = 93,100 / 0.996.
    view = estimate("BTCUSDT", "long", 95_000, 50)
    assert view.liquidation_price == pytest.approx(93_473.895582, abs=1e-3)
    assert view.current_price is None and view.distance_pct is None


def test_eth_with_a_given_maintenance_margin_rate() -> None:
    # Short at 25x, MMR 0.5% given: LP = 3,300 × 1.04 / 1.005 = 3,432 / 1.005.
    short = estimate("ETHUSDT", "short", 3_300, 25, mmr_pct=0.5)
    assert short.liquidation_price == pytest.approx(3_414.925373, abs=1e-5)
    assert short.basis == "the rate you gave" and short.mmr == 0.005
    # Long at 100x, same rate: LP = 3,300 × 0.99 / 0.995 = 3,267 / 0.995.
    long = estimate("ETHUSDT", "long", 3_300, 100, mmr_pct=0.5)
    assert long.liquidation_price == pytest.approx(3_283.417085, abs=1e-5)


def test_a_1x_long_is_never_liquidated_above_zero() -> None:
    # Margin = the whole position: LP = EP × (1 - 1) / (1 - MMR) = 0.
    view = estimate("BTCUSDT", "long", 95_000, 1)
    assert view.liquidation_price is None and view.move_from_entry_pct is None
    # A 1x short still is: EP × 2 / 1.004.
    assert estimate("BTCUSDT", "short", 95_000, 1).liquidation_price == pytest.approx(190_000 / 1.004)


def test_a_larger_position_uses_its_tier_and_maintenance_amount() -> None:
    # $200,000 long at 20x is in tier 2 (MMR 0.5%, cum $50): margin $10,000, quantity 200,000/95,000 BTC.
    # LP = 95,000 × (1 - 0.05 - 50/200,000) / (1 - 0.005) = 90,226.25 / 0.995.
    view = estimate("BTCUSDT", "long", 95_000, 20, size_usd=200_000)
    assert view.liquidation_price == pytest.approx(90_679.648241, abs=1e-3)
    assert (view.mmr, view.cum) == (0.005, 50) and "tier 2" in view.basis
    tier = BINANCE_TIERS["BTCUSDT"][1]
    assert equity_minus_maintenance("long", 95_000, 20, 200_000, 90_679.648241, tier) == pytest.approx(
        0, abs=1e-3
    )


def test_the_tier_is_the_one_at_the_liquidation_price() -> None:
    # $590,000 short at 10x opens in tier 2 (up to $600,000). With tier 2's rate the liquidation price
    # would be 95,000 × (1.1 + 50/590,000) / 1.005 = 103,988.11, where the position is worth
    # 590,000 × 103,988.11 / 95,000 = $645,822: tier 3. Binance's FAQ says to recalculate with that tier
    # (MMR 0.65%, cum $950): LP = 95,000 × (1.1 + 950/590,000) / 1.0065 = 103,977.11, still in tier 3.
    view = estimate("BTCUSDT", "short", 95_000, 10, size_usd=590_000)
    assert view.liquidation_price == pytest.approx(103_977.114855, abs=1e-3)
    assert (view.mmr, view.cum) == (0.0065, 950) and "tier 3" in view.basis
    assert view.liquidation_price != pytest.approx(103_988.110296, abs=1)


def test_a_symbol_without_a_table_uses_the_stated_default() -> None:
    # DEFAULT_MMR 1%: LP = 150 × 0.9 / 0.99.
    view = estimate("SOLUSDT", "long", 150, 10, tiers={})
    assert view.mmr == DEFAULT_MMR == 0.01
    assert view.liquidation_price == pytest.approx(136.363636, abs=1e-5)
    assert view.basis.startswith("assumed") and "MMR 1.00%" in view.assumptions


def test_the_footer_states_formula_and_assumptions() -> None:
    text = estimate("BTCUSDT", "long", 95_000, 10).assumptions
    for needed in (
        "Isolated margin",
        "fees",
        "funding",
        "MMR 0.40%",
        "2024-10-24",
        "1/leverage",
        "mark price",
    ):
        assert needed in text, needed


def test_a_current_price_past_the_liquidation_price_is_flagged() -> None:
    view = estimate("BTCUSDT", "long", 95_000, 10, current=(85_000.0, NOW, "binance"))
    assert view.already_past
    assert not estimate("BTCUSDT", "short", 95_000, 10, current=(85_000.0, NOW, "binance")).already_past


def test_binance_tables_follow_the_maintenance_amount_rule() -> None:
    # cum_n = floor_n × (mmr_n - mmr_(n-1)) + cum_(n-1) (Binance's FAQ): a transcription error breaks it,
    # and with it the continuity of the maintenance margin that makes the tier search well defined.
    for symbol, tiers in BINANCE_TIERS.items():
        assert tiers[0].floor == 0 and tiers[0].cum == 0, symbol
        for before, tier in itertools.pairwise(tiers):
            assert tier.floor == before.cap, symbol
            assert tier.cum == pytest.approx(tier.floor * (tier.mmr - before.mmr) + before.cum), symbol
            assert tier.mmr > before.mmr and tier.max_leverage < before.max_leverage, symbol


# --- refused input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leverage": 0.5}, "Leverage must be between 1x and 125x; you gave `0.5`."),
        ({"leverage": 126}, "Leverage must be between 1x and 125x; you gave `126`."),
        ({"entry": 0}, "The entry price must be a positive number"),
        ({"entry": -95_000}, "The entry price must be a positive number"),
        ({"entry": math.nan}, "The entry price must be a positive number"),
        ({"entry": 950_000}, "An entry of $950,000 is 9.9× away from BTCUSDT's current price ($96,000)"),
        ({"entry": 9_500}, "An entry of $9,500 is 10.1× away"),
        ({"margin_mode": "cross"}, "Cross margin is not supported"),
        ({"mmr_pct": 0}, "The maintenance margin rate is a percentage above 0 and below 100"),
        ({"mmr_pct": 100}, "The maintenance margin rate is a percentage above 0 and below 100"),
        ({"size_usd": -1}, "The position size is its notional in USD"),
        ({"size_usd": 2e9}, "The position size is its notional in USD"),
        # Tier 2 ($50k-$600k) allows 100x at most.
        (
            {"leverage": 125, "size_usd": 100_000},
            "Binance allows at most 100x on a BTCUSDT position of $100.0k",
        ),
        # 1/50 = 2% margin against a 3% maintenance rate.
        (
            {"leverage": 50, "mmr_pct": 3},
            "At 50x the margin (2.00% of the position) does not cover the 3.00%",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"entry": 95_000, "leverage": 10, "current": BTC_NOW} | kwargs
    with pytest.raises(UserError) as caught:
        estimate("BTCUSDT", "long", **arguments)  # type: ignore[arg-type]
    assert caught.value.message.startswith(message), caught.value.message


# --- properties -----------------------------------------------------------------------------------------

entries = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)
leverages = st.floats(min_value=1.5, max_value=125)
# Below 1/125, the margin at the highest leverage: every position here opens alive.
rates = st.floats(min_value=0.0005, max_value=0.0075)


@given(entries, leverages, leverages, rates)
def test_a_long_liquidates_below_entry_and_closer_with_more_leverage(
    entry: float, low: float, high: float, mmr: float
) -> None:
    low, high = sorted((low, high))
    lower = liquidation_price("long", entry, low, mmr)
    higher = liquidation_price("long", entry, high, mmr)
    assert 0 < lower < entry and higher < entry
    if high > low * 1.0001:
        assert higher > lower


@given(entries, leverages, leverages, rates)
def test_a_short_liquidates_above_entry_and_closer_with_more_leverage(
    entry: float, low: float, high: float, mmr: float
) -> None:
    low, high = sorted((low, high))
    lower = liquidation_price("short", entry, low, mmr)
    higher = liquidation_price("short", entry, high, mmr)
    assert lower > entry and higher > entry
    if high > low * 1.0001:
        assert higher < lower


@given(entries, leverages, rates, rates)
def test_a_higher_maintenance_rate_moves_liquidation_closer_to_entry(
    entry: float, leverage: float, a: float, b: float
) -> None:
    small, large = sorted((a, b))
    if large <= small * 1.0001:
        return
    for side in ("long", "short"):
        near = liquidation_price(side, entry, leverage, large)  # type: ignore[arg-type]
        far = liquidation_price(side, entry, leverage, small)  # type: ignore[arg-type]
        assert abs(near - entry) < abs(far - entry)


@given(
    st.sampled_from(sorted(BINANCE_TIERS)),
    st.sampled_from(["long", "short"]),
    st.floats(min_value=100, max_value=100_000),
    st.floats(min_value=1_000, max_value=5e8),
    st.floats(min_value=1, max_value=125),
)
def test_the_tier_search_finds_where_equity_meets_maintenance(
    symbol: str, side: str, entry: float, size: float, leverage: float
) -> None:
    tiers = BINANCE_TIERS[symbol]
    allowed = next(t for t in tiers if size <= t.cap).max_leverage
    leverage = min(leverage, allowed)
    price, tier = solve(side, entry, leverage, size, tiers)  # type: ignore[arg-type]
    if price <= 0:
        assert side == "long"  # only a long's margin can cover a fall to zero
        return
    at = size / entry * price
    assert tier.floor <= at <= tier.cap * (1 + 1e-9)
    assert equity_minus_maintenance(side, entry, leverage, size, price, tier) == pytest.approx(
        0, abs=1e-6 * size
    )
    assert (price < entry) if side == "long" else (price > entry)

"""Hyperliquid's measured map on recorded payloads: positions with liquidationPx, discovery, the budget."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from feeds.hyperliquid_positions import (
    AccountBook,
    HyperliquidSample,
    measured_map,
    parse_clearinghouse_state,
)
from tests.conftest import DATA

FIXTURES = DATA / "fixtures"
USER = "0x5e9ee1089755c3435139848e47e6635505d5a13a"


def test_positions_carry_the_venues_own_liquidation_price() -> None:
    payload = json.loads((FIXTURES / "hyperliquid_info_clearinghouseState_mainnet_20230327.json").read_text())
    positions = parse_clearinghouse_state(USER, payload)
    assert len(positions) == 12
    btc = next(p for p in positions if p.coin == "BTC")
    assert (btc.side, btc.size, btc.value_usd, btc.entry) == ("short", 0.00785, 211.64542, 26951.0)
    assert btc.liquidation_px == 173198.69592357 and (btc.leverage, btc.margin) == (20.0, "cross")
    eth = next(p for p in positions if p.coin == "ETH")
    assert eth.side == "long" and eth.liquidation_px is None  # the account's margin covers any fall


def test_the_sample_is_binned_by_real_liquidation_price_with_its_coverage() -> None:
    payload = json.loads((FIXTURES / "hyperliquid_info_clearinghouseState_mainnet_20230327.json").read_text())
    positions = parse_clearinghouse_state(USER, payload)
    btc = measured_map("BTC", positions, bin_pct=0.2)
    [(low, usd)] = btc.shorts.items()
    assert low <= 173198.69592357 < low * 1.002 and usd == 211.64542 and btc.longs == {}
    eth = measured_map("ETH", positions, bin_pct=0.2)
    assert eth.longs == {} and eth.sampled_usd == 227.675114  # sampled, but no liquidation price to bin
    assert btc.coverage(1_000_000) == pytest.approx(211.64542 / 1e6) and btc.accounts == 1


def test_accounts_are_discovered_from_public_trades() -> None:
    frame = json.loads((FIXTURES / "hyperliquid_ws_trades_BTC_first_two_20260728.json").read_text())
    book = AccountBook(limit=2)
    assert book.add_trades(frame) == 3  # one buyer twice, two sellers
    # The limit keeps the two seen last; the account seen in both fills is the most recent.
    assert book.accounts() == [
        "0x4547b9e33f07965711f67d0be2423939a4e33af5",
        "0x1260b8f7e0c4caa2ef3a51b6c08507ecc104641d",
    ]
    assert book.add_trades({"channel": "pong"}) == 0


def test_the_polling_plan_must_fit_the_budget() -> None:
    default = HyperliquidSample()
    assert not default.enabled and default.weight_per_minute == 120  # 300 accounts every 5 minutes
    with pytest.raises(ValidationError, match="1000 accounts every 5 min use 400 weight a minute"):
        HyperliquidSample(max_accounts=1000)
    assert HyperliquidSample(max_accounts=1000, poll_minutes=20).weight_per_minute == 100

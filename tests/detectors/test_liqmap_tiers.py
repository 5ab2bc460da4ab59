"""The venues' tier tables the map uses equal the recorded payloads they come from (tests/data/tiers)."""

from __future__ import annotations

import json

import pytest

from detectors.liqmap.tiers import (
    BINANCE_TIERS,
    BYBIT_TIERS,
    OKX_TIERS_BASE,
    MarginTier,
    parse_bybit_risk_limit,
    parse_okx_position_tiers,
    venue_tiers,
)
from tests.conftest import ROOT

TIERS = ROOT / "tests" / "data" / "tiers"
# OKX BTC-USDT-SWAP: one contract is 0.01 BTC (tests/data/corpus/okx_public_instruments_swap_*.json).
OKX_BTC_CONTRACT = 0.01


def test_bybit_table_is_the_recorded_risk_limit_payload() -> None:
    payload = json.loads((TIERS / "bybit_docs_v5_market_risk_limit_linear_BTCUSDT.json").read_text())
    assert parse_bybit_risk_limit(payload) == BYBIT_TIERS


def test_okx_table_is_the_recorded_position_tiers_payload() -> None:
    rows = json.loads((TIERS / "okx_docs_v5_public_position_tiers_BTC-USDT.json").read_text())
    assert parse_okx_position_tiers(rows, OKX_BTC_CONTRACT) == OKX_TIERS_BASE["BTCUSDT"]


def test_okx_contract_value_is_the_recorded_instrument() -> None:
    raw = json.loads(
        (ROOT / "tests/data/corpus/okx_public_instruments_swap_cryptofeed_20220513.json").read_text()
    )
    rows = raw["data"] if isinstance(raw, dict) else raw
    [btc] = [r for r in rows if r.get("instId") == "BTC-USDT-SWAP"]
    assert float(btc["ctVal"]) == OKX_BTC_CONTRACT


def test_a_refused_bybit_answer_is_an_error() -> None:
    with pytest.raises(ValueError, match="retCode 10001"):
        parse_bybit_risk_limit({"retCode": 10001, "retMsg": "params error", "result": {}})


def test_venue_tiers_are_usd_notional_at_the_price() -> None:
    assert venue_tiers("binance", "BTCUSDT", 95_000) == BINANCE_TIERS["BTCUSDT"]
    [okx] = venue_tiers("okx", "BTCUSDT", 95_000) or ()
    assert okx == MarginTier(0, 190_000, 0.004, 0, 125)
    assert venue_tiers("coinglass", "BTCUSDT", 95_000) is None  # a source, not a venue: params map it

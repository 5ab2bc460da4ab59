"""The instrument registry: venue lists parsed as documented, markets resolved across venues' names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feeds.errors import FeedError
from feeds.instrument_lists import (
    parse_binance_funding_info,
    parse_binance_futures,
    parse_binance_spot,
    parse_bybit,
    parse_okx,
)
from feeds.instruments import Instrument, InstrumentRegistry, split_symbol, strip_multiplier
from tests.conftest import DATA

LISTS = DATA / "instruments"


def load(name: str) -> Any:
    return json.loads((LISTS / name).read_text())


# --- parsers on the venues' own payloads --------------------------------------------------------------------


def test_bybit_linear_doc_example_funding_interval_is_in_minutes() -> None:
    parsed, cursor = parse_bybit(load("bybit_v5_instruments_info_linear_doc_example.json"), "linear")
    assert parsed.skipped == [] and cursor == ""
    (btc,) = parsed.rows
    assert (btc.venue, btc.kind, btc.symbol, btc.base, btc.quote) == (
        "bybit",
        "perp",
        "BTCUSDT",
        "BTC",
        "USDT",
    )
    assert btc.funding_interval_h == 8 and btc.multiplier == 1 and btc.listed  # fundingInterval 480 minutes


def test_bybit_spot_doc_example() -> None:
    parsed, _ = parse_bybit(load("bybit_v5_instruments_info_spot_doc_example.json"), "spot")
    (btc,) = parsed.rows
    assert (btc.kind, btc.symbol, btc.base, btc.quote, btc.listed) == ("spot", "BTCUSDT", "BTC", "USDT", True)


def test_bybit_error_envelope_is_an_api_error() -> None:
    with pytest.raises(FeedError) as info:
        parse_bybit({"retCode": 10001, "retMsg": "Illegal category", "result": {}, "time": 1}, "linear")
    assert info.value.kind == "api"


def test_binance_futures_doc_example_with_live_funding_info() -> None:
    hours = parse_binance_funding_info(load("binance_fapi_v1_fundingInfo_live_excerpt.json"))
    assert hours == {"BLZUSDT": 4, "GTCUSDT": 8, "LPTUSDT": 4, "UNFIUSDT": 4}
    parsed = parse_binance_futures(load("binance_fapi_v1_exchangeInfo_doc_example.json"), hours)
    (blz,) = parsed.rows
    assert (blz.venue, blz.kind, blz.symbol, blz.base, blz.quote) == (
        "binance_futures",
        "perp",
        "BLZUSDT",
        "BLZ",
        "USDT",
    )
    assert blz.funding_interval_h == 4 and blz.listed  # from fundingInfo, not the 8 h default
    plain = parse_binance_futures(load("binance_fapi_v1_exchangeInfo_doc_example.json"))
    assert plain.rows[0].funding_interval_h == 8  # not in fundingInfo: never adjusted, the 8 h default


def test_binance_spot_doc_example() -> None:
    parsed = parse_binance_spot(load("binance_api_v3_exchangeInfo_doc_example.json"))
    (eth,) = parsed.rows
    assert (eth.venue, eth.kind, eth.symbol, eth.base, eth.quote, eth.listed) == (
        "binance",
        "spot",
        "ETHBTC",
        "ETH",
        "BTC",
        True,
    )


def test_okx_captured_excerpt_keeps_spot_and_swap_and_leaves_dated_futures_out() -> None:
    parsed = parse_okx(load("okx_api_v5_public_instruments_captured_excerpt.json"))
    assert [(i.kind, i.symbol, i.base, i.quote) for i in parsed.rows] == [
        ("spot", "BTC-USDT", "BTC", "USDT"),
        ("perp", "BTC-USDT-SWAP", "BTC", "USDT"),
    ]
    swap = parsed.rows[1]
    assert swap.contract_size == 0.01 and swap.canonical == "BTCUSDT"
    assert swap.size(3, contracts=True) == pytest.approx(0.03)


# --- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "split"),
    [
        ("BTCFDUSD", ("BTC", "FDUSD")),
        ("BTCTUSD", ("BTC", "TUSD")),
        ("ETHUSDC", ("ETH", "USDC")),
        ("1000PEPEUSDT", ("1000PEPE", "USDT")),
        ("PEPE-USDT-SWAP", ("PEPE", "USDT")),
        ("BNBBUSD", ("BNB", "BUSD")),
    ],
)
def test_split_symbol_takes_the_longest_quote(symbol: str, split: tuple[str, str]) -> None:
    assert split_symbol(symbol) == split


@pytest.mark.parametrize(
    ("base", "coin"),
    [
        ("1000PEPE", ("PEPE", 1000)),
        ("SHIB1000", ("SHIB", 1000)),
        ("1000000MOG", ("MOG", 1_000_000)),
        ("1INCH", ("1INCH", 1)),
        ("BTC", ("BTC", 1)),
    ],
)
def test_strip_multiplier_reads_both_spellings(base: str, coin: tuple[str, int]) -> None:
    assert strip_multiplier(base) == coin


# --- resolution --------------------------------------------------------------------------------------------


def bybit_linear(symbol: str, base: str, minutes: int, status: str = "Trading") -> dict[str, Any]:
    """Return a SYNTHETIC Bybit linear instrument row in the documented shape (only the fields read)."""
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": status,
        "baseCoin": base,
        "quoteCoin": "USDT",
        "fundingInterval": minutes,
    }


def binance_perp(symbol: str, base: str, status: str = "TRADING") -> dict[str, Any]:
    """Return a SYNTHETIC Binance USD-M symbol row in the documented shape (only the fields read)."""
    return {
        "symbol": symbol,
        "contractType": "PERPETUAL",
        "status": status,
        "baseAsset": base,
        "quoteAsset": "USDT",
    }


def binance_spot(symbol: str, base: str, quote: str, status: str = "TRADING") -> dict[str, Any]:
    """Return a SYNTHETIC Binance spot symbol row in the documented shape (only the fields read)."""
    return {"symbol": symbol, "status": status, "baseAsset": base, "quoteAsset": quote}


def okx_swap(base: str, ct_val: str) -> dict[str, Any]:
    """Return a SYNTHETIC OKX swap row in the documented shape (only the fields read)."""
    return {
        "instId": f"{base}-USDT-SWAP",
        "instType": "SWAP",
        "instFamily": f"{base}-USDT",
        "ctType": "linear",
        "ctVal": ct_val,
        "ctMult": "1",
        "state": "live",
    }


COINS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "TRX", "SUI", "APT"]


def registry() -> InstrumentRegistry:
    """Return a registry of SYNTHETIC lists in the venues' shapes: 1000x names, a 4 h symbol, a delisting."""
    spot = [binance_spot(f"{c}USDT", c, "USDT") for c in [*COINS, "PEPE", "SHIB", "BONK"]]
    spot += [
        binance_spot("BTCFDUSD", "BTC", "FDUSD"),
        binance_spot("LUNAUSDT", "LUNA", "USDT", status="BREAK"),
    ]
    perps = [binance_perp(f"{c}USDT", c) for c in COINS]
    perps += [binance_perp("1000PEPEUSDT", "1000PEPE"), binance_perp("1000SHIBUSDT", "1000SHIB")]
    perps += [binance_perp("1000BONKUSDT", "1000BONK"), binance_perp("LUNAUSDT", "LUNA", status="SETTLING")]
    linear = [bybit_linear(f"{c}USDT", c, 480) for c in COINS if c != "APT"] + [
        bybit_linear("APTUSDT", "APT", 240),
        bybit_linear("1000PEPEUSDT", "1000PEPE", 240),
        bybit_linear("SHIB1000USDT", "SHIB1000", 480),
        bybit_linear("1000BONKUSDT", "1000BONK", 240),
    ]
    okx = [okx_swap(c, "0.01") for c in COINS] + [okx_swap("PEPE", "10000000"), okx_swap("SHIB", "1000000")]
    reg = InstrumentRegistry()
    reg.replace("binance", parse_binance_spot({"symbols": spot}).rows, 1)
    reg.replace("binance_futures", parse_binance_futures({"symbols": perps}, {"APTUSDT": 4}).rows, 1)
    reg.replace("bybit", parse_bybit({"retCode": 0, "result": {"list": linear}}, "linear")[0].rows, 1)
    reg.replace("okx", parse_okx({"code": "0", "data": okx}).rows, 1)
    return reg


def venues(instruments: tuple[Instrument, ...]) -> dict[str, str]:
    return {f"{i.venue}:{i.kind}": i.symbol for i in instruments}


def test_pepe_resolves_to_each_venues_own_name_with_its_multiplier() -> None:
    res = registry().resolve("PEPE")
    assert res.ok and res.canonical == "PEPEUSDT"
    assert venues(res.instruments) == {
        "binance:spot": "PEPEUSDT",
        "binance_futures:perp": "1000PEPEUSDT",
        "bybit:perp": "1000PEPEUSDT",
        "okx:perp": "PEPE-USDT-SWAP",
    }
    by = {i.venue: i for i in res.instruments if i.kind == "perp"}
    # 1000PEPEUSDT at 0.0123 is 0.0000123 per PEPE; 5 units are 5,000 PEPE; OKX contracts are 10M PEPE.
    assert by["bybit"].price(0.0123) == pytest.approx(0.0000123)
    assert by["binance_futures"].size(5) == 5000
    assert by["okx"].size(2, contracts=True) == 20_000_000
    assert by["bybit"].funding_interval_h == 4 and by["binance_futures"].funding_interval_h == 8


@pytest.mark.parametrize("name", ["SHIB", "1000SHIBUSDT", "SHIB1000USDT", "shibusdt", "SHIB-USDT-SWAP"])
def test_every_spelling_of_shib_is_the_same_market(name: str) -> None:
    res = registry().resolve(name)
    assert res.canonical == "SHIBUSDT"
    assert venues(res.instruments)["bybit:perp"] == "SHIB1000USDT"
    assert venues(res.instruments)["binance_futures:perp"] == "1000SHIBUSDT"


def test_an_fdusd_pair_is_its_own_market_on_the_venue_that_lists_it() -> None:
    res = registry().resolve("BTCFDUSD")
    assert (res.base, res.quote, res.canonical) == ("BTC", "FDUSD", "BTCFDUSD")
    assert venues(res.instruments) == {"binance:spot": "BTCFDUSD"}
    assert "BTC/FDUSD" in res.message()


def test_a_delisted_symbol_is_refused_with_what_the_venues_say() -> None:
    res = registry().resolve("LUNAUSDT")
    assert not res.ok
    assert res.message() == (
        "LUNAUSDT is not trading on any venue: binance spot LUNAUSDT, not trading (BREAK);"
        " binance_futures perp LUNAUSDT, funding every 8h, not trading (SETTLING)."
    )


def test_a_typo_is_refused_with_the_closest_markets() -> None:
    res = registry().resolve("ETHUSTD")
    assert not res.ok and res.canonical is None
    assert res.suggestions[0] == "ETHUSDT"
    assert res.message().startswith("ETHUSTD is not a market any venue lists. Did you mean ETHUSDT")


def test_twenty_markets_resolve_or_refuse_each_with_a_clear_message() -> None:
    reg = registry()
    names = [f"{c}USDT" for c in COINS] + [
        "1000PEPEUSDT",
        "SHIB",
        "BTCFDUSD",
        "BONK",
        "LUNAUSDT",
        "SOLUSTD",
        "WIF",
    ]
    assert len(names) == 20
    results = {name: reg.resolve(name) for name in names}
    refused = sorted(n for n, r in results.items() if not r.ok)
    assert refused == ["LUNAUSDT", "SOLUSTD", "WIF"]
    assert results["SOLUSTD"].suggestions[0] == "SOLUSDT"
    assert all(r.message().startswith(f"{n} -> ") for n, r in results.items() if r.ok)
    # Every listed market is on every venue the lists say trade it.
    assert venues(results["APTUSDT"].instruments).keys() == {
        "binance:spot",
        "binance_futures:perp",
        "bybit:perp",
        "okx:perp",
    }
    assert results["1000PEPEUSDT"].canonical == "PEPEUSDT"


def test_instrument_lookup_for_a_feed_prefers_the_perpetual() -> None:
    reg = registry()
    inst = reg.instrument("bybit", "PEPEUSDT")
    assert inst is not None and inst.symbol == "1000PEPEUSDT" and inst.multiplier == 1000
    assert reg.instrument("bybit", "BTCFDUSD") is None
    assert reg.instrument("binance_futures", "LUNAUSDT") is None  # settling: not a listed instrument


def test_data_readme_names_every_file() -> None:
    readme = (LISTS / "README.md").read_text()
    files = sorted(p.name for p in Path(LISTS).glob("*.json"))
    assert files and all(f"`{name}`" in readme for name in files)

"""Instrument lists of the emulated venues, their refusals of unlisted symbols, and stand-in series.

Each refusal here is the venue's own: Binance HTTP 400 {"code":-1121,"msg":"Invalid symbol."}; Bybit
HTTP 200 retCode 10001 ("Not supported symbols" for tickers, "Illegal category", limit out of [1, 1000]);
a Bybit subscribe to an unlisted symbol's topic answered success:false.
"""

from __future__ import annotations

import itertools
import json

import aiohttp

from feeds.instrument_lists import (
    parse_binance_funding_info,
    parse_binance_futures,
    parse_binance_spot,
    parse_bybit,
)
from feeds.instruments import InstrumentRegistry
from tests.conftest import DATA
from tests.emulators._helpers import get, recv_json
from tests.emulators.exchanges import ExchangeEmulator

PREMIUM = DATA / "fixtures" / "binance_fapi_v1_premiumIndex_all_symbols_20250617.json"
H = 3_600_000


async def test_binance_futures_list_is_the_recorded_symbols_with_their_intervals(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, headers, info = await get(http, exchange_emu.base_url + "/fapi/v1/exchangeInfo")
    assert status == 200 and "X-MBX-USED-WEIGHT-1M" in headers
    recorded = {i["symbol"] for i in json.loads(PREMIUM.read_text())}
    listed = {s["symbol"] for s in info["symbols"]}
    assert recorded <= listed and len(listed) == len(recorded) + 1  # plus LUNAUSDT, settling
    pepe = next(s for s in info["symbols"] if s["symbol"] == "1000PEPEUSDT")
    assert (pepe["baseAsset"], pepe["quoteAsset"], pepe["contractType"]) == ("1000PEPE", "USDT", "PERPETUAL")
    _, _, funding_info = await get(http, exchange_emu.base_url + "/fapi/v1/fundingInfo")
    hours = parse_binance_funding_info(funding_info)
    assert set(hours.values()) <= {1, 2, 4} and len(hours) > 100  # 8 h ones are not listed, as on Binance
    parsed = parse_binance_futures(info, hours)
    assert parsed.skipped == []
    by = {i.symbol: i for i in parsed.rows}
    assert by["1000PEPEUSDT"].base == "PEPE" and by["1000PEPEUSDT"].multiplier == 1000
    assert by["BTCUSDT"].funding_interval_h == 8
    assert not by["LUNAUSDT"].listed and by["LUNAUSDT"].status == "SETTLING"
    assert "BTCUSDT_250627" not in by  # quarterly contracts are not perpetuals


async def test_binance_spot_list_has_stablecoin_pairs_and_a_delisted_one(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, info = await get(http, exchange_emu.base_url + "/api/v3/exchangeInfo")
    by = {i.symbol: i for i in parse_binance_spot(info).rows}
    assert (by["BTCFDUSD"].base, by["BTCFDUSD"].quote) == ("BTC", "FDUSD")
    assert "PEPEUSDT" in by and "1000PEPEUSDT" not in by  # the 1000x name is a futures one
    assert by["1000SATSUSDT"].base == "1000SATS"  # a coin whose own name starts with 1000
    assert not by["LUNAUSDT"].listed and by["LUNAUSDT"].status == "BREAK"


async def test_binance_refuses_unlisted_and_delisted_symbols_with_minus_1121(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    base = exchange_emu.base_url
    for path, symbol in [
        ("/api/v3/klines", "1000PEPEUSDT"),  # a futures-only name on spot
        ("/api/v3/klines", "LUNAUSDT"),  # BREAK: not trading
        ("/api/v3/klines", "BTCFDUS"),  # a typo
        ("/fapi/v1/fundingRate", "PEPEUSDT"),  # the spot name on USD-M
        ("/fapi/v1/openInterest", "BTCFDUSD"),  # a spot-only pair on USD-M
    ]:
        status, _, body = await get(http, base + path, symbol=symbol, interval="1h")
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."}), (path, symbol)


async def test_a_listed_symbol_without_a_recording_gets_stand_in_series(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    base = exchange_emu.base_url
    status, _, klines = await get(http, base + "/api/v3/klines", symbol="PEPEUSDT", interval="1h", limit=2)
    assert status == 200 and len(klines) == 2
    recorded = {i["symbol"]: i for i in json.loads(PREMIUM.read_text())}
    last = exchange_emu.data.spot["PEPEUSDT"][-1]
    assert last.synthetic and float(last.close) * 1000 == float(recorded["1000PEPEUSDT"]["markPrice"])
    # A 4 h perpetual settles every 4 h in its history, an 8 h one every 8 h.
    four = next(s for s, i in recorded.items() if s.endswith("USDT") and _interval(i) == 4 * H)
    _, _, rows = await get(http, base + "/fapi/v1/fundingRate", symbol=four, limit=5)
    times = [r["fundingTime"] for r in rows]
    assert len(times) == 5 and {b - a for a, b in itertools.pairwise(times)} == {4 * H}
    status, _, oi = await get(http, base + "/fapi/v1/openInterest", symbol="1000PEPEUSDT")
    assert status == 200 and float(oi["openInterest"]) > 0


def _interval(item: dict[str, int]) -> int:
    from tests.emulators.exchanges.instruments import funding_interval_ms

    return funding_interval_ms(item)


async def test_bybit_instruments_page_through_the_linear_list(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/v5/market/instruments-info"
    _, _, whole = await get(http, url, category="linear")
    assert whole["retCode"] == 0 and len(whole["result"]["list"]) == 480  # fits the default 500
    assert whole["result"]["nextPageCursor"] == ""
    _, _, first = await get(http, url, category="linear", limit=300)
    cursor = first["result"]["nextPageCursor"]
    _, _, second = await get(http, url, category="linear", limit=300, cursor=cursor)
    assert len(first["result"]["list"]) == 300 and len(second["result"]["list"]) == 180
    assert second["result"]["nextPageCursor"] == ""
    reg = InstrumentRegistry()
    rows = [*parse_bybit(first, "linear")[0].rows, *parse_bybit(second, "linear")[0].rows]
    reg.replace("bybit", rows, 1)
    shib = reg.instrument("bybit", "SHIBUSDT")
    assert shib is not None and shib.symbol == "SHIB1000USDT" and shib.multiplier == 1000
    assert reg.instrument("bybit", "LUNAUSDT") is None  # Closed: not in the default (Trading) list
    _, _, closed = await get(http, url, category="linear", status="Closed")
    assert [i["symbol"] for i in closed["result"]["list"]] == ["LUNAUSDT"]
    _, _, inverse = await get(http, url, category="inverse")
    assert {i["contractType"] for i in inverse["result"]["list"]} == {"InversePerpetual"}


async def test_bybit_refuses_bad_instrument_queries_as_bybit_does(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/v5/market/instruments-info"
    status, _, bad = await get(http, url, category="futures")
    assert status == 200 and (bad["retCode"], bad["retMsg"]) == (10001, "Illegal category")
    _, _, too_many = await get(http, url, category="linear", limit=1001)
    assert too_many["retCode"] == 10001
    tickers = exchange_emu.base_url + "/v5/market/tickers"
    _, _, closed = await get(http, tickers, category="linear", symbol="LUNAUSDT")
    assert (closed["retCode"], closed["retMsg"], closed["result"]) == (10001, "Not supported symbols", {})


async def test_bybit_ticker_of_a_4h_symbol_says_4h(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    recorded = json.loads(PREMIUM.read_text())
    four = next(i["symbol"] for i in recorded if i["symbol"].endswith("USDT") and _interval(i) == 4 * H)
    _, _, body = await get(http, exchange_emu.base_url + "/v5/market/tickers", category="linear", symbol=four)
    (item,) = body["result"]["list"]
    assert item["fundingIntervalHour"] == "4" and int(item["nextFundingTime"]) % (4 * H) == 0


async def test_bybit_refuses_the_topic_of_an_unlisted_symbol_only(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.NOPEUSDT"], "req_id": "x"})
        refused = await recv_json(ws)
        assert refused["success"] is False and refused["req_id"] == "x" and refused["op"] == "subscribe"
        assert "allLiquidation.NOPEUSDT" in refused["ret_msg"]
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.SHIB1000USDT"], "req_id": "y"})
        accepted = await recv_json(ws)
        assert accepted["success"] is True and accepted["req_id"] == "y"

"""Binance spot and USD-M emulation, checked with plain aiohttp clients against the recorded files."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pytest

from tests.emulators._helpers import DATA, assert_quiet, get, ms, recv, recv_json, rows
from tests.emulators.conftest import EmulatorFactory
from tests.emulators.exchanges import Dataset, ExchangeEmulator
from tests.emulators.exchanges.data import Candle

BREAKOUT = ms("2026-01-13T22:00")
SPOT_ETH = "binance_spot_ETHUSDT_1h_2026-01-09_2026-01-20.csv"
GEO_MSG = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received this "
    "message in error."
)


# -- spot klines -------------------------------------------------------------------------------------------
async def test_spot_kline_of_the_breakout_hour_has_the_recorded_values(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await get(
        http,
        exchange_emu.base_url + "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1h",
        startTime=BREAKOUT,
        limit=1,
    )
    assert status == 200
    assert body == [
        [
            BREAKOUT,
            "94087.23000000",
            "96495.00000000",
            "94087.23000000",
            "95757.21000000",
            "3452.31954000",
            BREAKOUT + 3_600_000 - 1,
            "329266760.02268270",
            510671,
            "0.00000000",
            "0.00000000",
            "0",
        ]
    ]
    assert headers["X-MBX-USED-WEIGHT-1M"] == "2"


async def test_spot_klines_time_range_is_inclusive_and_ascending(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    start, end = ms("2026-01-13T20:00"), ms("2026-01-14T00:00")
    _, _, body = await get(
        http,
        exchange_emu.base_url + "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1h",
        startTime=start,
        endTime=end,
    )
    assert [k[0] for k in body] == [start + i * 3_600_000 for i in range(5)]
    recorded = {r["timestamp"][:16]: r for r in rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv")}
    for kline in body:
        row = recorded[time.strftime("%Y-%m-%d %H:%M", time.gmtime(kline[0] / 1000))]
        assert [Decimal(v) for v in kline[1:6]] == [
            Decimal(row[f]) for f in ("open", "high", "low", "close", "volume")
        ]


async def test_spot_klines_limit_defaults_to_500_and_stops_at_1000(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/api/v3/klines"
    _, _, default = await get(http, url, symbol="BTCUSDT", interval="1m")
    _, _, most = await get(http, url, symbol="BTCUSDT", interval="1m", limit=1000)
    assert len(default) == 500 and len(most) == 1000
    # Without a range, the newest candles: the last recorded minute is 2026-01-20 23:59.
    assert default[-1][0] == most[-1][0] == ms("2026-01-20T23:59")
    for bad in (1001, 5000, 0):
        status, _, err = await get(http, url, symbol="BTCUSDT", interval="1m", limit=bad)
        assert (status, err) == (400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."})
    for interval in ("4H", "2d", "1y", "60m"):  # case-sensitive enum: 4h is valid, 4H is not
        status, _, err = await get(http, url, symbol="BTCUSDT", interval=interval)
        assert (status, err) == (400, {"code": -1120, "msg": "Invalid interval."})


async def test_synthetic_minutes_aggregate_back_to_the_real_hour(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, minutes = await get(
        http,
        exchange_emu.base_url + "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1m",
        startTime=BREAKOUT,
        limit=60,
    )
    assert len(minutes) == 60 and minutes[-1][0] == BREAKOUT + 59 * 60_000
    assert Decimal(minutes[0][1]) == Decimal("94087.23")
    assert max(Decimal(m[2]) for m in minutes) == Decimal("96495.00")
    assert min(Decimal(m[3]) for m in minutes) == Decimal("94087.23")
    assert Decimal(minutes[-1][4]) == Decimal("95757.21")
    assert sum(Decimal(m[5]) for m in minutes) == Decimal("3452.31954")
    assert sum(m[8] for m in minutes) == 510671


async def test_daily_klines_aggregate_the_recorded_hours(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, days = await get(
        http,
        exchange_emu.base_url + "/api/v3/klines",
        symbol="BTCUSDT",
        interval="1d",
        startTime=ms("2026-01-13T00:00"),
        limit=2,
    )
    # The README's daily figures: 01-13 O 91,296.20 H 96,495.00 C 95,414.00; 01-14 H 97,924.49 C 96,951.78.
    assert [d[1:5:3] for d in days] == [
        ["91296.20000000", "95414.00000000"],
        ["95413.99000000", "96951.78000000"],
    ]
    assert [d[2] for d in days] == ["96495.00000000", "97924.49000000"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "FOOUSDT", "interval": "1h"}, -1121),
        ({"interval": "1h"}, -1102),
        ({"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1h", "startTime": "yesterday"}, -1100),
    ],
)
async def test_spot_klines_errors_use_binance_codes(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession, params: dict[str, str], code: int
) -> None:
    status, headers, body = await get(http, exchange_emu.base_url + "/api/v3/klines", **params)
    assert status == 400 and body["code"] == code and isinstance(body["msg"], str)
    assert headers["X-MBX-USED-WEIGHT-1M"] == "2"  # a rejected request still costs weight
    if code == -1121:
        assert body == {"code": -1121, "msg": "Invalid symbol."}


async def test_candles_set_explicitly_are_served_and_derived(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(dataset=Dataset())
    hour = Candle(
        BREAKOUT, Decimal(100), Decimal(130), Decimal(90), Decimal(120), Decimal(60), Decimal(6600), 600
    )
    emu.data.set_candles("SOLUSDT", [hour])
    url = emu.base_url + "/api/v3/klines"
    _, _, hourly = await get(http, url, symbol="SOLUSDT", interval="1h")
    assert hourly[0][:6] == [
        BREAKOUT,
        "100.00000000",
        "130.00000000",
        "90.00000000",
        "120.00000000",
        "60.00000000",
    ]
    _, _, minutes = await get(http, url, symbol="SOLUSDT", interval="1m")
    assert len(minutes) == 60 and sum(Decimal(m[5]) for m in minutes) == 60


# -- weight, 429/418, 451 ----------------------------------------------------------------------------------
async def test_used_weight_header_accumulates_then_429_then_418(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(spot_weight_limit=6, ban_seconds=7)
    url = emu.base_url + "/api/v3/klines"
    seen = []
    for _ in range(3):
        status, headers, _ = await get(http, url, symbol="BTCUSDT", interval="1h", limit=1)
        seen.append((status, headers["X-MBX-USED-WEIGHT-1M"]))
    assert seen == [(200, "2"), (200, "4"), (200, "6")]

    status, headers, body = await get(http, url, symbol="BTCUSDT", interval="1h", limit=1)
    assert status == 429 and body["code"] == -1003
    assert 1 <= int(headers["Retry-After"]) <= 60 and headers["X-MBX-USED-WEIGHT-1M"] == "6"

    status, headers, body = await get(http, url, symbol="BTCUSDT", interval="1h", limit=1)
    assert status == 418 and headers["Retry-After"] == "7" and "IP banned until" in body["msg"]
    status, headers, _ = await get(http, url, symbol="BTCUSDT", interval="1h", limit=1)
    assert status == 418 and int(headers["Retry-After"]) <= 7


async def test_weight_window_resets_and_a_client_that_waits_is_not_banned(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(spot_weight_limit=4, weight_window=0.4)
    url = emu.base_url + "/api/v3/klines"
    statuses = [(await get(http, url, symbol="BTCUSDT", interval="1h", limit=1))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    await asyncio.sleep(0.45)
    status, headers, _ = await get(http, url, symbol="BTCUSDT", interval="1h", limit=1)
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "2"


async def test_futures_weight_follows_kline_limit_and_is_separate_from_spot(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/fapi/v1/klines"
    used = []
    for limit in (50, 200, 600, 1200):
        _, headers, body = await get(http, url, symbol="BTCUSDT", interval="1m", limit=limit)
        used.append(headers["X-MBX-USED-WEIGHT-1M"])
        assert len(body) == limit
    assert used == ["1", "3", "8", "18"]
    _, headers, _ = await get(http, exchange_emu.base_url + "/api/v3/klines", symbol="BTCUSDT", interval="1h")
    assert headers["X-MBX-USED-WEIGHT-1M"] == "2"


async def test_futures_klines_use_futures_precision(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(
        http,
        exchange_emu.base_url + "/fapi/v1/klines",
        symbol="BTCUSDT",
        interval="1h",
        startTime=BREAKOUT,
        limit=1,
    )
    assert body[0][:7] == [
        BREAKOUT,
        "94087.23",
        "96495.00",
        "94087.23",
        "95757.21",
        "3452.320",
        BREAKOUT + 3_599_999,
    ]


async def test_geo_block_answers_451_with_binances_body_everywhere(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(geo_block=True)
    for path in ("/api/v3/klines?symbol=BTCUSDT&interval=1h", "/fapi/v1/premiumIndex"):
        async with http.get(emu.base_url + path) as resp:
            assert resp.status == 451
            assert await resp.json() == {"code": 0, "msg": GEO_MSG}
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(emu.ws_url + "/market/ws/!forceOrder@arr")
    assert err.value.status == 451
    emu.set_geo_block(False)
    async with http.get(emu.base_url + "/fapi/v1/premiumIndex?symbol=BTCUSDT") as resp:
        assert resp.status == 200


# -- USD-M REST --------------------------------------------------------------------------------------------
async def test_funding_rate_rows_equal_the_csv_and_end_time_is_inclusive(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    start, end = ms("2026-01-13T00:00"), ms("2026-01-15T00:00")
    _, _, body = await get(
        http, exchange_emu.base_url + "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=start, endTime=end
    )
    expected = [
        {
            "symbol": "BTCUSDT",
            "fundingRate": r["fundingRate"],
            "fundingTime": int(r["fundingTime"]),
            "markPrice": r["markPrice"],
        }
        for r in rows("binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv")
        if start <= int(r["fundingTime"]) <= end
    ]
    assert body == expected and len(body) == 7 and body[-1]["fundingTime"] == end


async def test_funding_rate_default_and_max_limit(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/fapi/v1/fundingRate"
    _, _, latest = await get(http, url, symbol="BTCUSDT")
    _, _, everything = await get(http, url, symbol="BTCUSDT", limit=5000)
    recorded = rows("binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv")
    assert len(latest) == 100 and latest[-1]["fundingTime"] == int(recorded[-1]["fundingTime"])
    assert len(everything) == len(recorded) == 336
    times = [r["fundingTime"] for r in everything]
    assert times == sorted(times)


async def test_premium_index_for_btc_is_built_from_the_recorded_hour(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await get(http, exchange_emu.base_url + "/fapi/v1/premiumIndex", symbol="BTCUSDT")
    last = rows("coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv")[-1]
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert list(body) == [
        "symbol", "markPrice", "indexPrice", "estimatedSettlePrice", "lastFundingRate", "interestRate",
        "nextFundingTime", "time",
    ]  # fmt: skip
    assert body["markPrice"] == f"{Decimal(last['price_close']):.8f}"
    assert body["lastFundingRate"] == f"{Decimal(last['funding_close']) / 100:.8f}"
    assert body["time"] == exchange_emu.clock.now_ms() == ms("2026-01-20T23:59:59.999")
    assert body["nextFundingTime"] == ms("2026-01-21T00:00")


async def test_premium_index_without_symbol_lists_every_recorded_symbol(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, headers, body = await get(http, exchange_emu.base_url + "/fapi/v1/premiumIndex")
    fixture = json.loads(
        (
            exchange_emu.data.data_dir / "fixtures/binance_fapi_v1_premiumIndex_all_symbols_20250617.json"
        ).read_text()
    )
    assert headers["X-MBX-USED-WEIGHT-1M"] == "10"
    assert [i["symbol"] for i in body] == [i["symbol"] for i in fixture] and len(body) == 521
    eth = next(i for i in body if i["symbol"] == "ETHUSDT")
    assert eth["markPrice"] == "2575.46000000" and eth["time"] == exchange_emu.clock.now_ms()
    assert all(set(i) == set(fixture[0]) for i in body)


async def test_open_interest_converts_recorded_usd_to_contracts(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, exchange_emu.base_url + "/fapi/v1/openInterest", symbol="BTCUSDT")
    last = rows("coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv")[-1]
    assert list(body) == ["symbol", "openInterest", "time"]
    assert body["openInterest"] == f"{Decimal(last['oi_close']) / Decimal(last['price_close']):.3f}"
    status, _, err = await get(http, exchange_emu.base_url + "/fapi/v1/openInterest", symbol="NOPEUSDT")
    assert (status, err["code"], err["msg"]) == (400, -1121, "Invalid symbol.")


async def test_open_interest_hist_rows_and_the_30_day_window(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/futures/data/openInterestHist"
    _, _, body = await get(http, url, symbol="BTCUSDT", period="1h", limit=3)
    recorded = {
        int(r["timestamp"]): r
        for r in rows("coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv")
    }
    assert [r["timestamp"] for r in body] == [str(ms(f"2026-01-20T{h}:00")) for h in (21, 22, 23)]
    for item in body:
        row = recorded[int(item["timestamp"])]
        assert Decimal(item["sumOpenInterestValue"]) == Decimal(row["oi_open"])
        assert Decimal(item["sumOpenInterest"]) == pytest.approx(
            Decimal(row["oi_open"]) / Decimal(row["price_open"])
        )
    _, _, old = await get(
        http, url, symbol="BTCUSDT", period="1d", startTime=ms("2025-12-01T00:00"), limit=500
    )
    assert int(old[0]["timestamp"]) == ms("2025-12-22T00:00")  # 30 days before 2026-01-20 23:59
    _, _, default = await get(http, url, symbol="BTCUSDT", period="5m")
    assert len(default) == 30
    status, _, err = await get(http, url, symbol="BTCUSDT", period="3m")
    assert (status, err["code"]) == (400, -1130)


async def test_eth_funding_history_is_btcs_recorded_rate_at_eths_price(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    # ETHUSDT's funding is SYNTHETIC (no ETH funding was recorded): BTC's rate, ETH's real candle open.
    start, end = ms("2026-01-13T00:00"), ms("2026-01-15T00:00")
    url = exchange_emu.base_url + "/fapi/v1/fundingRate"
    _, _, eth = await get(http, url, symbol="ETHUSDT", startTime=start, endTime=end)
    _, _, btc = await get(http, url, symbol="BTCUSDT", startTime=start, endTime=end)
    candles = {ms(r["timestamp"].replace(" ", "T")): r for r in rows(SPOT_ETH)}
    assert [(r["fundingTime"], r["fundingRate"]) for r in eth] == [
        (r["fundingTime"], r["fundingRate"]) for r in btc
    ]
    assert all(r["symbol"] == "ETHUSDT" for r in eth) and len(eth) == 7
    for item in eth:
        hour = item["fundingTime"] - item["fundingTime"] % 3_600_000
        assert item["markPrice"] == f"{Decimal(candles[hour]['open']):.8f}"
    _, _, everything = await get(http, url, symbol="ETHUSDT", limit=1000)
    assert everything[0]["fundingTime"] >= ms("2026-01-09T13:00")  # only inside the ETH recording


async def test_eth_open_interest_is_synthetic_from_btcs_at_eths_price(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    # ETHUSDT's open interest is SYNTHETIC: BTC's recorded USD value times ETH/BTC spot turnover.
    url = exchange_emu.base_url + "/futures/data/openInterestHist"
    _, _, btc = await get(http, url, symbol="BTCUSDT", period="1h", endTime=ms("2026-01-14T12:00"), limit=3)
    _, _, eth = await get(http, url, symbol="ETHUSDT", period="1h", endTime=ms("2026-01-14T12:00"), limit=3)
    assert [r["timestamp"] for r in eth] == [r["timestamp"] for r in btc]
    ratios = {
        round(Decimal(e["sumOpenInterestValue"]) / Decimal(b["sumOpenInterestValue"]), 3)
        for e, b in zip(eth, btc, strict=True)
    }
    assert ratios == {Decimal("0.749")}
    candles = {ms(r["timestamp"].replace(" ", "T")): r for r in rows(SPOT_ETH)}
    for item in eth:
        price = Decimal(candles[int(item["timestamp"])]["open"])
        value = Decimal(item["sumOpenInterestValue"])
        assert Decimal(item["sumOpenInterest"]) == pytest.approx(value / price)
    _, _, now = await get(http, exchange_emu.base_url + "/fapi/v1/openInterest", symbol="ETHUSDT")
    assert now["symbol"] == "ETHUSDT" and 1_000_000 < Decimal(now["openInterest"]) < 3_000_000


# -- !forceOrder@arr websocket ---------------------------------------------------------------------------
async def test_raw_and_combined_streams_get_pushed_events_in_their_shapes(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    event = exchange_emu.data.live_frames["binance"][-1]  # the mainnet ILVUSDT frame's payload
    async with (
        http.ws_connect(exchange_emu.ws_url + "/market/ws/!forceOrder@arr") as raw,
        http.ws_connect(exchange_emu.ws_url + "/market/stream?streams=!forceOrder@arr") as combined,
    ):
        await exchange_emu.wait_ws("binance", 2, subscribed="!forceOrder@arr")
        assert await exchange_emu.push_ws("binance", event) == 2
        assert await recv_json(raw) == event
        assert await recv_json(combined) == {"stream": "!forceOrder@arr", "data": event}
    recorded = json.loads(
        (
            exchange_emu.data.data_dir
            / "fixtures"
            / "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl"
        ).read_text()
    )
    assert recorded == {"stream": "!forceOrder@arr", "data": event}


async def test_symbol_stream_and_subscribe_method(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    btc = {
        "e": "forceOrder",
        "E": 1,
        "o": {"s": "BTCUSDT", "S": "BUY", "q": "0.010", "ap": "95000.00", "T": 1},
    }
    eth = {
        "e": "forceOrder",
        "E": 2,
        "o": {"s": "ETHUSDT", "S": "SELL", "q": "1.000", "ap": "3300.00", "T": 2},
    }
    async with (
        http.ws_connect(exchange_emu.ws_url + "/market/ws/btcusdt@forceOrder") as only_btc,
        http.ws_connect(exchange_emu.ws_url + "/market/ws") as bare,
    ):
        await bare.send_json({"method": "SUBSCRIBE", "params": ["!forceOrder@arr"], "id": 7})
        assert await recv_json(bare) == {"result": None, "id": 7}
        await bare.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
        assert await recv_json(bare) == {"result": ["!forceOrder@arr"], "id": 8}
        await exchange_emu.wait_ws("binance", 2)
        assert await exchange_emu.push_ws("binance", eth) == 1
        assert await exchange_emu.push_ws("binance", btc) == 2
        assert await recv_json(only_btc) == btc
        assert [await recv_json(bare), await recv_json(bare)] == [eth, btc]


async def test_legacy_ws_path_connects_but_never_carries_liquidations(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/ws/!forceOrder@arr") as legacy:
        await exchange_emu.wait_ws("binance-legacy")
        assert await exchange_emu.push_ws("binance", exchange_emu.data.live_frames["binance"][0]) == 0
        await legacy.send_json({"method": "SUBSCRIBE", "params": ["!forceOrder@arr"], "id": 1})
        assert await recv_json(legacy) == {"result": None, "id": 1}
        await assert_quiet(legacy, 0.2)


async def test_server_pings_and_a_client_that_pongs_stays_connected(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    policy = exchange_emu.ws_policy("binance")
    policy.ping_interval, policy.pong_timeout = 0.05, 0.15
    policy.max_incoming_per_s = None  # 20 pongs/s here: far above Binance's real ping rate
    async with http.ws_connect(exchange_emu.ws_url + "/market/ws/!forceOrder@arr", autoping=False) as ws:
        deadline = time.monotonic() + 0.4  # well past the pong timeout, answering every ping
        while time.monotonic() < deadline:
            msg = await recv(ws, 0.2)
            assert msg.type == aiohttp.WSMsgType.PING
            await ws.pong(msg.data)
        await asyncio.sleep(0.01)
        assert not ws.closed and exchange_emu.ws_connections("binance")[0].pongs >= 5


async def test_a_client_that_never_pongs_is_disconnected(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    policy = exchange_emu.ws_policy("binance")
    policy.ping_interval, policy.pong_timeout = 0.05, 0.15
    async with http.ws_connect(exchange_emu.ws_url + "/market/ws/!forceOrder@arr", autoping=False) as ws:
        started = time.monotonic()
        while (msg := await recv(ws)).type == aiohttp.WSMsgType.PING:
            pass
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
        assert 0.15 <= time.monotonic() - started < 1.0


async def test_connection_is_dropped_at_its_max_lifetime(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("binance").max_lifetime = 0.3
    url = exchange_emu.ws_url + "/market/stream?streams=!forceOrder@arr"
    async with http.ws_connect(url) as ws:
        started = time.monotonic()
        msg = await recv(ws)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1000)
        assert 0.25 <= time.monotonic() - started < 1.0
    async with http.ws_connect(url) as again:  # a client reconnects and is served again
        await exchange_emu.wait_ws("binance")
        assert await exchange_emu.push_ws("binance", exchange_emu.data.live_frames["binance"][0]) == 1
        assert (await recv_json(again))["stream"] == "!forceOrder@arr"
    assert exchange_emu.ws_venue("binance").total_connections == 2


async def test_more_than_ten_incoming_messages_a_second_disconnects(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/market/ws") as ws:
        for i in range(10):
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": i})
            assert (await recv_json(ws))["id"] == i
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 10})
        msg = await recv(ws)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR) and ws.close_code == 1006


async def test_replay_streams_the_recorded_force_orders(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(liq_rate=100)
    recorded = {
        (r["symbol"], r["side"], Decimal(r["avg_price"]), Decimal(r["filled_qty"]), ms(r["timestamp"]))
        for r in rows("binance_forceOrder_liquidations_allsymbols_20251022_excerpt.csv")
    }
    async with http.ws_connect(emu.ws_url + "/market/stream?streams=!forceOrder@arr") as ws:
        frames = [await recv_json(ws) for _ in range(5)]
    for frame in frames:
        assert frame["stream"] == "!forceOrder@arr" and frame["data"]["e"] == "forceOrder"
        o = frame["data"]["o"]
        assert (o["s"], o["S"], Decimal(o["ap"]), Decimal(o["z"]), o["T"]) in recorded
        assert "e" not in o["ap"] and o["X"] == "FILLED"


async def test_spot_weekly_klines_open_on_monday_and_hold_the_weeks_hours(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator()  # recorded times: 2026-01-05 and 2026-01-12 are Mondays
    url = emu.base_url + "/api/v3/klines"
    _, _, weeks = await get(http, url, symbol="BTCUSDT", interval="1w")
    hours = rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv")
    # 2026-01-01 (a Thursday) starts mid-week: that week is left out, as a venue never has half a week.
    assert [w[0] for w in weeks] == [ms("2026-01-05T00:00"), ms("2026-01-12T00:00"), ms("2026-01-19T00:00")]
    first = [h for h in hours if "2026-01-05" <= h["timestamp"][:10] <= "2026-01-11"]
    assert len(first) == 168 and weeks[0][6] == ms("2026-01-12T00:00") - 1
    assert Decimal(weeks[0][1]) == Decimal(first[0]["open"]) and Decimal(weeks[0][4]) == Decimal(
        first[-1]["close"]
    )
    assert Decimal(weeks[0][2]) == max(Decimal(h["high"]) for h in first)
    # Served with the clock shifted by whole days, weeks still open on a Monday of the served timeline.
    shifted = await make_emulator(shift_to=ms("2026-03-04T12:00"))  # a Wednesday
    _, _, moved = await get(http, shifted.base_url + "/api/v3/klines", symbol="BTCUSDT", interval="1w")
    assert moved and all(time.gmtime(w[0] / 1000).tm_wday == 0 and w[0] % 86_400_000 == 0 for w in moved)


@pytest.mark.parametrize("interval", ["4h", "1d", "1w"])
async def test_spot_higher_interval_klines_have_the_recorded_payloads_shape(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession, interval: str
) -> None:
    # A real /api/v3/klines answer (tests/data/fixtures, see its README): 12 fields per candle, times as
    # integers, prices and volumes as strings, the trade count an integer.
    recorded = json.loads(
        (DATA / "fixtures" / "binance_api_v3_klines_1m_20241116_symbol_unrecorded.json").read_text()
    )
    _, _, served = await get(
        http, exchange_emu.base_url + "/api/v3/klines", symbol="BTCUSDT", interval=interval
    )
    assert served
    shape = [type(v) for v in recorded[0]]
    assert all([type(v) for v in row] == shape for row in served)
    step = {"4h": 4 * 3_600_000, "1d": 86_400_000, "1w": 7 * 86_400_000}[interval]
    assert all(row[6] == row[0] + step - 1 for row in served)  # close time: the last millisecond

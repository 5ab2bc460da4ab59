"""Bybit v5 and OKX v5 emulation: websockets (subscribe, ping, pushes, idle close) and REST."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.emulators._helpers import assert_quiet, get, ms, recv, recv_json, rows
from tests.emulators.conftest import EmulatorFactory
from tests.emulators.exchanges import ExchangeEmulator


def plain(value: Decimal) -> str:
    """Write a decimal as Bybit does: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


OKX_LIQ = {"channel": "liquidation-orders", "instType": "SWAP"}
COINGLASS = "coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv"


# -- Bybit websocket ---------------------------------------------------------------------------------------
async def test_bybit_subscribe_ping_and_topic_pushes(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    icp, mars = exchange_emu.data.live_frames["bybit"]  # two live captured allLiquidation frames
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.ICPUSDT", "allLiquidation.BTCUSDT"]})
        reply = await recv_json(ws)
        conn_id = reply.pop("conn_id")
        assert reply == {"success": True, "ret_msg": "", "req_id": "", "op": "subscribe"} and conn_id
        await ws.send_json({"req_id": "100001", "op": "ping"})
        assert await recv_json(ws) == {
            "success": True,
            "ret_msg": "pong",
            "conn_id": conn_id,
            "req_id": "100001",
            "op": "ping",
        }
        assert await exchange_emu.push_ws("bybit", mars) == 0  # not subscribed to MARSCOINUSDT
        assert await exchange_emu.push_ws("bybit", icp) == 1
        frame = await recv_json(ws)
    assert frame == icp
    assert frame["topic"] == "allLiquidation.ICPUSDT" and frame["type"] == "snapshot"
    # Bybit's S is the position side: Buy means a long position was liquidated.
    assert frame["data"] == [{"T": 1789670094099, "s": "ICPUSDT", "S": "Buy", "v": "19.7", "p": "2.585"}]


async def test_bybit_rejects_unknown_and_repeated_topics(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": ["liquidation.BTCUSDT"], "req_id": "a"})
        failed = await recv_json(ws)
        assert (
            failed["success"] is False
            and "liquidation.BTCUSDT" in failed["ret_msg"]
            and failed["req_id"] == "a"
        )
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]})
        assert (await recv_json(ws))["success"] is True
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]})
        assert (await recv_json(ws))["success"] is False


async def test_bybit_replays_btc_and_eth_frames_made_from_okxs_recorded_events(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(liq_rate=200)
    topics = ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"]
    frames: dict[str, dict[str, Any]] = {}
    async with http.ws_connect(emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": topics})
        assert (await recv_json(ws))["success"] is True
        while set(frames) != set(topics):
            frame = await recv_json(ws)
            frames.setdefault(frame["topic"], frame)
    okx = rows("okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv")
    # A stand-in: the first BTC and ETH events of the OKX excerpt, in the live Bybit frame's shape.
    for topic, family, ct_val in ((topics[0], "BTC-USDT", "0.01"), (topics[1], "ETH-USDT", "0.1")):
        frame = frames[topic]
        assert set(frame) == {"topic", "type", "ts", "data"} and frame["type"] == "snapshot"
        first = next(r for r in okx if r["uly"] == family)
        same = [r for r in okx if r["uly"] == family and r["datetime"] == first["datetime"]]
        assert frame["data"] == [
            {
                "T": ms(first["datetime"].replace(" ", "T")),
                "s": family.replace("-", ""),
                "S": "Buy" if r["pos_side"] == "long" else "Sell",  # Bybit's S is the position side
                "v": plain(Decimal(r["size"]) * Decimal(ct_val)),
                "p": plain(Decimal(r["price"])),
            }
            for r in same
        ]
        assert frame["ts"] == frame["data"][0]["T"]


async def test_bybit_idle_connection_is_cut(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("bybit").idle_timeout = 0.2
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        started = time.monotonic()
        msg = await recv(ws)
        assert msg.type == aiohttp.WSMsgType.CLOSE and 0.15 <= time.monotonic() - started < 1.0


async def test_bybit_replay_restamps_frames_when_shifted(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(shift_to="now", liq_rate=50)
    async with http.ws_connect(emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": ["allLiquidation.ICPUSDT"]})
        assert (await recv_json(ws))["success"] is True
        frame = await recv_json(ws)
    now = time.time() * 1000
    assert frame["topic"] == "allLiquidation.ICPUSDT" and abs(frame["ts"] - now) < 5000
    assert frame["ts"] - frame["data"][0]["T"] == 1789670094412 - 1789670094099
    assert {k: frame["data"][0][k] for k in ("s", "S", "v", "p")} == {
        "s": "ICPUSDT",
        "S": "Buy",
        "v": "19.7",
        "p": "2.585",
    }


# -- Bybit REST --------------------------------------------------------------------------------------------
async def test_bybit_tickers_envelope_and_string_values(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        http, exchange_emu.base_url + "/v5/market/tickers", category="linear", symbol="BTCUSDT"
    )
    assert status == 200
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert (body["retCode"], body["retMsg"], body["retExtInfo"]) == (0, "OK", {})
    assert body["time"] == exchange_emu.clock.now_ms()
    (item,) = body["result"]["list"]
    assert body["result"]["category"] == "linear" and item["symbol"] == "BTCUSDT"
    assert all(isinstance(v, str) for v in item.values())
    last = rows("coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv")[-1]
    assert Decimal(item["openInterestValue"]) == Decimal(last["oi_close"])
    assert Decimal(item["openInterest"]) == (
        Decimal(last["oi_close"]) / Decimal(last["price_close"])
    ).quantize(Decimal("0.001"))
    assert Decimal(item["fundingRate"]) == Decimal(last["funding_close"]) / 100
    assert item["lastPrice"] == "88427.66" and item["prevPrice1h"] == "88509.18"
    assert item["nextFundingTime"] == str(ms("2026-01-21T00:00"))
    assert item["highPrice24h"] == "92870.00"  # the highest hourly high of the last 24 recorded hours


async def test_bybit_tickers_errors(exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession) -> None:
    url = exchange_emu.base_url + "/v5/market/tickers"
    status, _, bad_category = await get(http, url, category="futures")
    assert status == 200 and (bad_category["retCode"], bad_category["retMsg"]) == (10001, "Illegal category")
    _, _, bad_symbol = await get(http, url, category="linear", symbol="NOPEUSDT")
    assert bad_symbol["retCode"] == 10001 and bad_symbol["result"] == {}
    _, _, everything = await get(http, url, category="linear")
    assert [i["symbol"] for i in everything["result"]["list"]] == ["BTCUSDT", "ETHUSDT"]


async def test_bybit_eth_ticker_has_eths_price_and_synthetic_funding_and_oi(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/v5/market/tickers"
    _, _, eth = await get(http, url, category="linear", symbol="ETHUSDT")
    _, _, btc = await get(http, url, category="linear", symbol="BTCUSDT")
    (item,) = eth["result"]["list"]
    assert eth["retCode"] == 0 and item["symbol"] == "ETHUSDT" and set(item) == set(btc["result"]["list"][0])
    last = rows("binance_spot_ETHUSDT_1h_2026-01-09_2026-01-20.csv")[-1]  # the recording ends 01-20 06:00
    assert item["lastPrice"] == f"{Decimal(last['close']):.2f}"
    # SYNTHETIC (no ETH funding or OI was recorded): BTC's funding rate of that hour, and BTC's open
    # interest in USD times ETH/BTC spot turnover, in ETH at ETH's price.
    hour = {int(r["timestamp"]): r for r in rows(COINGLASS)}[ms(last["timestamp"].replace(" ", "T"))]
    assert Decimal(item["fundingRate"]) == Decimal(hour["funding_close"]) / 100
    assert round(Decimal(item["openInterestValue"]) / Decimal(hour["oi_close"]), 3) == Decimal("0.749")
    assert Decimal(item["openInterest"]) == pytest.approx(
        Decimal(item["openInterestValue"]) / Decimal(last["close"]), rel=Decimal("1e-6")
    )


# -- OKX websocket -----------------------------------------------------------------------------------------
async def test_okx_subscribe_ping_and_push(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    live = exchange_emu.data.live_frames["okx"][0]
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        await ws.send_json({"id": "1512", "op": "subscribe", "args": [OKX_LIQ]})
        reply = await recv_json(ws)
        assert reply.pop("connId") and reply == {"id": "1512", "event": "subscribe", "arg": OKX_LIQ}
        await ws.send_str("ping")
        msg = await recv(ws)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "pong")
        assert await exchange_emu.push_ws("okx", live) == 1
        frame = await recv_json(ws)
    assert frame == live
    (detail,) = frame["data"][0]["details"]
    # OKX's side is the order side: a buy closes a short, matching posSide "short".
    assert (detail["side"], detail["posSide"], detail["sz"], detail["bkPx"]) == (
        "buy",
        "short",
        "2137",
        "0.4162",
    )
    assert isinstance(detail["ts"], str)


async def test_okx_errors_for_bad_channel_and_bad_json(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        await ws.send_json({"op": "subscribe", "args": [{"channel": "liquidations", "instType": "SWAP"}]})
        error = await recv_json(ws)
        assert (error["event"], error["code"]) == ("error", "60018")
        await ws.send_str("{not json")
        assert (await recv_json(ws))["code"] == "60012"
        assert await exchange_emu.push_ws("okx", exchange_emu.data.live_frames["okx"][0]) == 0


async def test_okx_closes_an_idle_connection_with_4004(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("okx").idle_timeout = 0.2
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        started = time.monotonic()
        msg = await recv(ws)
        assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4004, "No data received in 30s")
        assert 0.15 <= time.monotonic() - started < 1.0


async def test_okx_text_pings_keep_an_idle_connection_open(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("okx").idle_timeout = 0.2
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        for _ in range(4):  # 4 x 0.1 s: twice the idle timeout
            await ws.send_str("ping")
            assert (await recv(ws)).data == "pong"
            await assert_quiet(ws, 0.1)
        assert not ws.closed


async def test_okx_replay_sends_the_recorded_excerpt(
    make_emulator: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(liq_rate=100)
    recorded = {
        (r["uly"], r["pos_side"], Decimal(r["size"]), Decimal(r["price"]), ms(r["datetime"]))
        for r in rows("okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv")
    }
    async with http.ws_connect(emu.ws_url + "/ws/v5/public") as ws:
        await ws.send_json({"op": "subscribe", "args": [OKX_LIQ]})
        assert (await recv_json(ws))["event"] == "subscribe"
        frames = [await recv_json(ws) for _ in range(5)]
    for frame in frames:
        assert frame["arg"] == OKX_LIQ
        (item,) = frame["data"]
        if item["instId"] == "CNPY-USDT-SWAP":  # the live captured frame ends each replay cycle
            continue
        assert item["instId"] == item["uly"] + "-SWAP" and item["instFamily"] == item["uly"]
        for d in item["details"]:
            assert d["side"] == {"long": "sell", "short": "buy"}[d["posSide"]]
            key = (item["uly"], d["posSide"], Decimal(d["sz"]), Decimal(d["bkPx"]), int(d["ts"]))
            assert key in recorded


# -- OKX REST ----------------------------------------------------------------------------------------------
async def test_okx_liquidation_orders_filters_and_pages(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/api/v5/public/liquidation-orders"
    status, _, body = await get(http, url, instType="SWAP", instFamily="BTC-USDT", state="filled", limit=100)
    btc = [r for r in rows("okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv") if r["uly"] == "BTC-USDT"]
    assert status == 200 and (body["code"], body["msg"]) == ("0", "")
    (item,) = body["data"]
    assert {k: item[k] for k in ("instFamily", "instId", "instType", "uly")} == {
        "instFamily": "BTC-USDT",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "uly": "BTC-USDT",
    }
    details = item["details"]
    assert len(details) == 100 and len(btc) == 113
    times = [int(d["ts"]) for d in details]
    assert times == sorted(times, reverse=True) and times[0] == ms(btc[-1]["datetime"])
    assert set(details[0]) == {"bkLoss", "bkPx", "ccy", "posSide", "side", "sz", "ts"}
    newest = btc[-1]  # the recorded row of the newest detail
    assert (details[0]["posSide"], details[0]["sz"], details[0]["bkPx"]) == (
        "long",
        newest["size"],
        newest["price"],
    )
    assert details[0]["side"] == "sell"  # the forced order that closes a long is a sell

    _, _, older = await get(http, url, instType="SWAP", uly="BTC-USDT", after=times[-1])
    assert all(int(d["ts"]) < times[-1] for d in older["data"][0]["details"])
    _, _, newer = await get(http, url, instType="SWAP", uly="BTC-USDT", before=times[-1], limit=5)
    assert [int(d["ts"]) for d in newer["data"][0]["details"]] == [t for t in times if t > times[-1]][:5]


async def test_okx_liquidation_orders_param_errors(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/api/v5/public/liquidation-orders"
    status, _, body = await get(http, url, instFamily="BTC-USDT")
    assert (status, body["code"], body["data"]) == (400, "50014", [])
    status, _, body = await get(http, url, instType="SWAP", instFamily="BTC-USDT", limit=101)
    assert (status, body["code"]) == (400, "51000")
    _, _, unfilled = await get(http, url, instType="SWAP", instFamily="BTC-USDT", state="unfilled")
    assert unfilled == {"code": "0", "msg": "", "data": []}


async def test_okx_instruments_give_contract_values(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    _, _, body = await get(http, exchange_emu.base_url + "/api/v5/public/instruments", instType="SWAP")
    by_id = {i["instId"]: i for i in body["data"]}
    assert body["code"] == "0" and set(by_id) == {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}
    assert (by_id["BTC-USDT-SWAP"]["ctVal"], by_id["BTC-USDT-SWAP"]["ctValCcy"]) == ("0.01", "BTC")
    assert (by_id["ETH-USDT-SWAP"]["ctVal"], by_id["ETH-USDT-SWAP"]["ctValCcy"]) == ("0.1", "ETH")
    assert {i["ctMult"] for i in by_id.values()} == {"1"}
    _, _, one = await get(
        http, exchange_emu.base_url + "/api/v5/public/instruments", instType="SWAP", instId="ETH-USDT-SWAP"
    )
    assert [i["instId"] for i in one["data"]] == ["ETH-USDT-SWAP"]

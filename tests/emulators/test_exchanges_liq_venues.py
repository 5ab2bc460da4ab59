"""Gate, HTX, Deribit and Hyperliquid emulation: what each accepts, refuses and pushes."""

from __future__ import annotations

import gzip
import json

import aiohttp

from tests.emulators._helpers import get, recv, recv_json
from tests.emulators.exchanges import ExchangeEmulator


async def test_gate_contracts_subscribe_ping_and_array_updates(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    status, _, contracts = await get(http, f"{exchange_emu.base_url}/api/v4/futures/usdt/contracts")
    assert status == 200 and {c["name"]: c["quanto_multiplier"] for c in contracts} == {
        "BTC_USDT": "0.0001",
        "ETH_USDT": "0.01",
    }
    async with http.ws_connect(f"{exchange_emu.ws_url}/v4/ws/usdt") as ws:
        await ws.send_str(json.dumps({"time": 1, "channel": "futures.ping"}))
        assert (await recv_json(ws))["channel"] == "futures.pong"
        sub = {
            "time": 1,
            "channel": "futures.public_liquidates",
            "event": "subscribe",
            "payload": ["BTC_USDT"],
        }
        await ws.send_str(json.dumps(sub))
        assert (await recv_json(ws))["result"] == {"status": "success"}
        items = [{"price": 1.0, "size": -1, "time_ms": 1, "contract": "BTC_USDT"}]
        assert await exchange_emu.gate.push(items) == 1
        update = await recv_json(ws)
        assert update["event"] == "update" and update["result"] == items[0]  # live: a bare object
        exchange_emu.gate.arrays = True
        assert await exchange_emu.gate.push(items) == 1
        assert (await recv_json(ws))["result"] == items  # the documented shape: an array


async def test_htx_frames_are_gzip_pings_are_sent_and_bad_topics_refused(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{exchange_emu.ws_url}/linear-swap-notification") as ws:
        await ws.send_str(json.dumps({"op": "sub", "cid": "t", "topic": "market.BTC-USDT.trade"}))
        refused = await recv(ws)
        assert refused.type is aiohttp.WSMsgType.BINARY
        assert json.loads(gzip.decompress(refused.data))["err-code"] == 4000
        await ws.send_str(json.dumps({"op": "sub", "cid": "t", "topic": "public.*.liquidation_orders"}))
        ack = json.loads(gzip.decompress((await recv(ws)).data))
        assert (ack["op"], ack["err-code"]) == ("sub", 0)
        ping = json.loads(gzip.decompress((await recv(ws, within=7.0)).data))  # every 5 s
        assert ping["op"] == "ping" and ping["ts"].isdigit()


async def test_htx_cuts_every_connection_after_its_lifetime(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("htx").max_lifetime = 0.2
    async with http.ws_connect(f"{exchange_emu.ws_url}/linear-swap-notification") as ws:
        msg = await recv(ws, within=3.0)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)


async def test_deribit_json_rpc_subscribe_test_and_unknown_method(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{exchange_emu.ws_url}/ws/api/v2") as ws:
        channels = ["trades.BTC-PERPETUAL.100ms", "trades.NOPE-PERPETUAL.100ms"]
        request = {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe", "params": {"channels": channels}}
        await ws.send_str(json.dumps(request))
        assert (await recv_json(ws))["result"] == ["trades.BTC-PERPETUAL.100ms"]  # the unknown one left out
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "public/test", "params": {}}))
        assert (await recv_json(ws))["result"]["version"]
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "private/buy", "params": {}}))
        assert (await recv_json(ws))["error"]["code"] == -32601


async def test_hyperliquid_subscribe_ping_and_invalid_subscription(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{exchange_emu.ws_url}/hyperliquid/ws") as ws:
        await ws.send_str(json.dumps({"method": "ping"}))
        assert await recv_json(ws) == {"channel": "pong"}
        await ws.send_str(
            json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "NOPE"}})
        )
        error = await recv_json(ws)
        assert error["channel"] == "error" and '"coin": "NOPE"' in error["data"]
        await ws.send_str(
            json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}})
        )
        assert (await recv_json(ws))["channel"] == "subscriptionResponse"
        trade = {"coin": "BTC", "side": "A", "px": "1.0", "sz": "1.0", "time": 1, "hash": "0x0", "tid": 1}
        assert await exchange_emu.hyperliquid.push([{**trade, "users": ["0xa", "0xb"]}]) == 1
        assert (await recv_json(ws))["data"][0]["coin"] == "BTC"


async def test_the_replay_reaches_every_new_venue(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with (
        http.ws_connect(f"{exchange_emu.ws_url}/v4/ws/usdt") as gate,
        http.ws_connect(f"{exchange_emu.ws_url}/linear-swap-notification") as htx,
        http.ws_connect(f"{exchange_emu.ws_url}/ws/api/v2") as deribit,
        http.ws_connect(f"{exchange_emu.ws_url}/hyperliquid/ws") as hyperliquid,
    ):
        await gate.send_str(
            json.dumps(
                {"time": 1, "channel": "futures.public_liquidates", "event": "subscribe", "payload": ["!all"]}
            )
        )
        await htx.send_str(json.dumps({"op": "sub", "cid": "t", "topic": "public.*.liquidation_orders"}))
        channels = ["trades.BTC-PERPETUAL.100ms", "trades.ETH-PERPETUAL.100ms"]
        await deribit.send_str(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe", "params": {"channels": channels}}
            )
        )
        for coin in ("BTC", "ETH"):
            sub = {"method": "subscribe", "subscription": {"type": "trades", "coin": coin}}
            await hyperliquid.send_str(json.dumps(sub))
        for ws in (gate, deribit, hyperliquid, hyperliquid):
            await recv_json(ws)  # the acknowledgements (two for Hyperliquid: one per coin)
        await recv(htx)
        await exchange_emu.wait_ws("hyperliquid", subscribed="ETH")
        exchange_emu.start_replay(200.0)
        try:
            update = await recv_json(gate)
            assert update["event"] == "update" and update["result"]["contract"] in ("BTC_USDT", "ETH_USDT")
            first = json.loads(gzip.decompress((await recv(htx)).data))
            assert first["topic"] == "public.ETH-USDT.liquidation_orders"  # the live captured frame first
            trades = (await recv_json(deribit))["params"]["data"]
            assert trades[0]["liquidation"] == "T"
            fills = (await recv_json(hyperliquid))["data"]
            assert "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14" in fills[0]["users"]
        finally:
            await exchange_emu.stop_replay()

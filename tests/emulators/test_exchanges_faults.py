"""Every fault the emulator injects must be observable by a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.emulators._helpers import assert_quiet, get, recv, recv_json
from tests.emulators.exchanges import ExchangeEmulator, free_port

KLINES = "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=3"
FUNDING = "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=4"


# -- HTTP status faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 418, 451, 500, 502, 503])
async def test_status_fault_with_retry_after_then_normal_again(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession, status: int
) -> None:
    exchange_emu.fail("/api/v3/klines", status, retry_after=3, body='{"code":-1003,"msg":"injected"}')
    async with http.get(exchange_emu.base_url + KLINES) as resp:
        assert resp.status == status and resp.headers["Retry-After"] == "3"
        assert await resp.json() == {"code": -1003, "msg": "injected"}
    async with http.get(exchange_emu.base_url + KLINES) as resp:
        assert resp.status == 200 and len(await resp.json()) == 3


async def test_fault_counts_query_filters_and_clearing(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.fail("/fapi/*", 503, times=2, query={"symbol": "BTCUSDT"})
    exchange_emu.fail("/fng/", 500, times=None)

    async def status(path: str) -> int:
        async with http.get(exchange_emu.base_url + path) as resp:
            return resp.status

    assert [await status(FUNDING) for _ in range(3)] == [503, 503, 200]
    assert await status("/fapi/v1/fundingRate?symbol=ETHUSDT") == 200  # other query: no fault
    assert [await status("/fng/") for _ in range(3)] == [500] * 3
    exchange_emu.clear_faults()
    assert await status("/fng/") == 200


# -- timing ------------------------------------------------------------------------------------------------
async def test_delay_longer_than_the_client_timeout(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.delay("/fng/", 5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with http.get(exchange_emu.base_url + "/fng/", timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    assert time.monotonic() - started < 1.0
    # The next request is served normally: the delayed handler was cancelled, not queued.
    assert (await get(http, exchange_emu.base_url + "/fng/"))[0] == 200


async def test_request_log_measures_a_clients_backoff(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.fail("/api/v3/klines", 429, retry_after=1, times=1)
    async with http.get(exchange_emu.base_url + KLINES) as resp:
        retry_after = float(resp.headers["Retry-After"])
    await asyncio.sleep(retry_after / 4)  # a client honouring a quarter of it, for the test's speed
    async with http.get(exchange_emu.base_url + KLINES) as resp:
        used = resp.headers["X-MBX-USED-WEIGHT-1M"]
    first, second = exchange_emu.requests("/api/v3/klines")
    assert (first.status, first.fault, second.status, second.fault) == (429, "status", 200, None)
    assert second.time - first.time >= 0.25
    assert first.query == {"symbol": "BTCUSDT", "interval": "1h", "limit": "3"} and used == "2"


# -- bodies ------------------------------------------------------------------------------------------------
async def test_malformed_body(exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession) -> None:
    exchange_emu.malformed("/fapi/v1/premiumIndex", '{"symbol":"BTCUSDT","markPrice":')
    async with http.get(exchange_emu.base_url + "/fapi/v1/premiumIndex?symbol=BTCUSDT") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            await resp.json()


async def test_truncated_body_under_a_longer_content_length(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.truncate("/api/v3/klines")
    async with http.get(exchange_emu.base_url + KLINES) as resp:
        assert resp.status == 200 and resp.content_length is not None
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert exchange_emu.requests("/api/v3/klines")[0].fault == "truncate"


async def test_cut_json_is_a_complete_response_with_half_a_document(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.cut_json("/v5/market/tickers")
    async with http.get(exchange_emu.base_url + "/v5/market/tickers?category=linear") as resp:
        raw = await resp.read()
        assert resp.status == 200 and len(raw) == resp.content_length
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_mangle_drops_and_retypes_fields_in_some_items(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.mangle("/fapi/v1/fundingRate", drop=["markPrice"], retype={"fundingRate": 0.0001}, every=2)
    _, _, bad = await get(http, exchange_emu.base_url + FUNDING)
    _, _, clean = await get(http, exchange_emu.base_url + FUNDING)
    assert [("markPrice" in i, type(i["fundingRate"])) for i in bad] == [(True, str), (False, float)] * 2
    assert [("markPrice" in i, type(i["fundingRate"])) for i in clean] == [(True, str)] * 4
    assert bad[0] == clean[0] and [i["fundingTime"] for i in bad] == [i["fundingTime"] for i in clean]


async def test_mangle_kline_arrays_by_index(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.mangle("/api/v3/klines", retype={1: 94087.23}, drop=[11], every=3)
    _, _, body = await get(http, exchange_emu.base_url + KLINES)
    assert [(len(k), type(k[1])) for k in body] == [(12, str), (12, str), (11, float)]


async def test_set_rest_overrides_one_query_until_cleared(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    # NOPEUSDT: a symbol the emulator does not list (no open interest) until one is set.
    payload = {"symbol": "NOPEUSDT", "openInterest": "1234567.890", "time": 1768953599999}
    exchange_emu.set_rest("/fapi/v1/openInterest", payload, query={"symbol": "NOPEUSDT"})
    for _ in range(2):
        assert (await get(http, exchange_emu.base_url + "/fapi/v1/openInterest?symbol=NOPEUSDT"))[
            2
        ] == payload
    assert (await get(http, exchange_emu.base_url + "/fapi/v1/openInterest?symbol=BTCUSDT"))[2][
        "symbol"
    ] == "BTCUSDT"
    exchange_emu.clear_faults("/fapi/v1/openInterest")
    assert (await get(http, exchange_emu.base_url + "/fapi/v1/openInterest?symbol=NOPEUSDT"))[0] == 400


# -- connections -------------------------------------------------------------------------------------------
async def test_drop_closes_without_a_response(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    url = exchange_emu.base_url + "/api/v5/public/instruments?instType=SWAP"
    # aiohttp retries an idempotent request once after a disconnect, so drop both attempts.
    exchange_emu.drop("/api/v5/public/instruments", times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(http, url)
    assert [(r.status, r.fault) for r in exchange_emu.requests("/api/v5/public/instruments")] == [
        (None, "drop")
    ] * 2
    # One dropped attempt is hidden by that retry: only the request log shows it.
    exchange_emu.log.clear()
    exchange_emu.drop("/api/v5/public/instruments", times=1)
    assert (await get(http, url))[0] == 200
    assert [r.fault for r in exchange_emu.requests("/api/v5/public/instruments")] == ["drop", None]


async def test_connection_refused_on_a_free_port_and_after_stop(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(http, f"http://127.0.0.1:{free_port()}/fng/")
    url = exchange_emu.base_url + "/fng/"
    await exchange_emu.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(http, url)


# -- websocket faults --------------------------------------------------------------------------------------
async def test_ws_close_now_with_a_code(exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        await exchange_emu.wait_ws("bybit")
        assert await exchange_emu.ws_close("bybit", 1011, "maintenance") == 1
        msg = await recv(ws)
    assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1011, "maintenance")


async def test_ws_drop_without_close_frame(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        await exchange_emu.wait_ws("okx")
        await exchange_emu.ws_drop("okx")
        msg = await recv(ws)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code == 1006  # abnormal closure: no close frame was received


async def test_ws_silence_stops_pongs_replies_and_pushes(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    frame = exchange_emu.data.live_frames["bybit"][0]
    async with http.ws_connect(exchange_emu.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "args": [frame["topic"]]})
        assert (await recv_json(ws))["success"] is True
        exchange_emu.ws_silence("bybit")
        await ws.ping(b"are you there")
        await ws.send_json({"op": "ping"})
        assert await exchange_emu.push_ws("bybit", frame) == 0
        await assert_quiet(ws, 0.3)
        assert not ws.closed
        exchange_emu.ws_silence("bybit", False)
        await ws.send_json({"op": "ping"})
        assert (await recv_json(ws))["ret_msg"] == "pong"


async def test_ws_silence_stops_binance_server_pings(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_policy("binance").ping_interval = 0.05
    async with http.ws_connect(exchange_emu.ws_url + "/market/ws/!forceOrder@arr", autoping=False) as ws:
        assert (await recv(ws)).type == aiohttp.WSMsgType.PING
        exchange_emu.ws_silence("binance")
        await asyncio.sleep(0.06)  # a ping already on its way may still land
        while True:
            try:
                async with asyncio.timeout(0.2):
                    msg = await ws.receive()
            except TimeoutError:
                break
            assert msg.type == aiohttp.WSMsgType.PING
        await assert_quiet(ws, 0.2)


async def test_ws_refuse_next_connections(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.ws_refuse("okx", times=2, status=503)
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(exchange_emu.ws_url + "/ws/v5/public")
        assert err.value.status == 503
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        await ws.send_str("ping")
        assert (await recv(ws)).data == "pong"


async def test_ws_refuse_is_per_venue(exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession) -> None:
    exchange_emu.ws_refuse("binance-legacy", times=1, status=429)
    async with http.ws_connect(
        exchange_emu.ws_url + "/ws/v5/public"
    ) as okx:  # OKX's path starts with /ws too
        await okx.send_str("ping")
        assert (await recv(okx)).data == "pong"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(exchange_emu.ws_url + "/ws/!forceOrder@arr")
    assert err.value.status == 429


async def test_raw_text_push_reaches_every_connection(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/market/ws/!forceOrder@arr") as ws:
        await exchange_emu.wait_ws("binance")
        assert await exchange_emu.push_ws("binance", '{"e":"forceOrder","E":') == 1
        msg = await recv(ws)
    assert msg.data == '{"e":"forceOrder","E":'


# -- control endpoint --------------------------------------------------------------------------------------
async def test_control_endpoint_drives_faults_and_reads_the_log(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    base = exchange_emu.base_url
    async with http.post(
        base + "/_control/faults", json={"route": "/fng/", "kind": "status", "status": 429, "retry_after": 2}
    ) as resp:
        fault = await resp.json()
        assert resp.status == 200 and fault["status"] == 429
    async with http.get(base + "/fng/") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "2")
    async with http.post(base + "/_control/faults", json={"route": "/fng/", "kind": "explode"}) as resp:
        assert resp.status == 400
    async with http.post(base + "/_control/binance/geo_block", json={"on": True}) as resp:
        assert await resp.json() == {"geo_block": True}
    assert (await get(http, base + KLINES))[0] == 451
    async with http.get(base + "/_control/requests", params={"route": "/fng/"}) as resp:
        log = await resp.json()
    assert [(r["path"], r["status"], r["fault"]) for r in log] == [("/fng/", 429, "status")]
    async with http.ws_connect(exchange_emu.ws_url + "/ws/v5/public") as ws:
        await ws.send_json(
            {"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}
        )
        await recv_json(ws)
        push = {"payload": exchange_emu.data.live_frames["okx"][0]}
        async with http.post(base + "/_control/ws/okx/push", json=push) as resp:
            assert await resp.json() == {"result": 1}
        assert await recv_json(ws) == push["payload"]
        async with http.post(base + "/_control/ws/okx/close", json={"code": 4004}) as resp:
            assert await resp.json() == {"result": 1}
        assert (await recv(ws)).data == 4004
    async with http.get(base + "/_control/state") as resp:
        state = await resp.json()
    assert state["base_url"] == base and state["geo_block"] is True
    assert all(not r.path.startswith("/_control") for r in exchange_emu.requests())

"""Binance spot kline streams in the emulator: the events, and each documented limit as Binance has it."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp

from tests.emulators._helpers import get, ms, recv, recv_json
from tests.emulators.exchanges import ExchangeEmulator

T0 = ms("2026-01-20T06:00")
MINUTE = 60_000


def _kline(frame: dict[str, object]) -> dict[str, object]:
    data = frame["data"]
    assert isinstance(data, dict) and data["e"] == "kline"
    k = data["k"]
    assert isinstance(k, dict)
    return k


async def minute_klines(
    emu: ExchangeEmulator, http: aiohttp.ClientSession, start: int, limit: int
) -> list[list[object]]:
    """GET the emulator's spot BTCUSDT 1m klines from ``start`` (REST), ``limit`` of them."""
    _, _, body = await get(
        http, emu.base_url + "/api/v3/klines", symbol="BTCUSDT", interval="1m", startTime=start, limit=limit
    )
    assert isinstance(body, list)
    return body


async def test_a_subscribed_stream_gets_the_forming_candle_then_its_close_as_rest_serves_it(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.clock.anchor_ms = T0 + 30_000
    exchange_emu.binance.klines.push_s = 0.02
    async with http.ws_connect(exchange_emu.ws_url + "/stream") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1})
        assert await recv_json(ws) == {"result": None, "id": 1}
        frame = await recv_json(ws)
        assert frame["stream"] == "btcusdt@kline_1m"
        forming = _kline(frame)
        assert (forming["t"], forming["T"], forming["i"], forming["x"]) == (T0, T0 + MINUTE - 1, "1m", False)
        # The same candle as REST's, field for field.
        body = await minute_klines(exchange_emu, http, T0, 1)
        (row,) = body
        assert [forming[k] for k in ("o", "h", "l", "c", "v", "q")] == [row[i] for i in (1, 2, 3, 4, 5, 7)]
        # A trade moves the forming candle on both.
        exchange_emu.binance.klines.set_price("BTCUSDT", Decimal("99999.5"))
        while (k := _kline(await recv_json(ws)))["c"] != "99999.50000000":
            pass
        assert k["h"] == "99999.50000000" and k["x"] is False
        body = await minute_klines(exchange_emu, http, T0, 1)
        assert body[0][4] == "99999.50000000"
        # The minute ends: its close comes once, with x true, then the next minute forms.
        exchange_emu.clock.anchor_ms = T0 + MINUTE + 500
        while (k := _kline(await recv_json(ws)))["t"] == T0 and k["x"] is False:
            pass
        assert (k["t"], k["x"], k["c"]) == (T0, True, "99999.50000000")
        assert _kline(await recv_json(ws))["t"] == T0 + MINUTE


async def test_raw_connections_get_the_bare_event(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    exchange_emu.clock.anchor_ms = T0 + 30_000
    exchange_emu.binance.klines.push_s = 0.02
    async with http.ws_connect(exchange_emu.ws_url + "/ws/ethusdt@kline_5m") as ws:
        event = await recv_json(ws)
        assert event["e"] == "kline" and event["s"] == "ETHUSDT" and event["k"]["i"] == "5m"


async def test_more_than_1024_streams_in_a_subscription_are_refused_and_the_others_kept(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    names = [f"s{i}usdt@kline_1m" for i in range(1024)]
    async with http.ws_connect(exchange_emu.ws_url + "/stream") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": names, "id": 1})
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 2})
        reply = await recv_json(ws)
        assert reply["id"] == 2 and "more than 1024 streams" in reply["error"]["msg"]
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
        listed = await recv_json(ws)
        while "result" not in listed or listed.get("id") != 3:
            listed = await recv_json(ws)
        assert len(listed["result"]) == 1024 and "btcusdt@kline_1m" not in listed["result"]


async def test_a_url_with_more_than_1024_streams_is_refused_at_the_handshake(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    names = "/".join(f"s{i}usdt@kline_1m" for i in range(1025))
    try:
        async with http.ws_connect(exchange_emu.ws_url + "/stream?streams=" + names):
            raise AssertionError("connected")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 400


async def test_more_than_5_incoming_messages_a_second_disconnect(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(exchange_emu.ws_url + "/stream", autoping=False) as ws:
        for _ in range(5):  # five a second are allowed, pings included
            await ws.ping()
        for _ in range(5):
            assert (await recv(ws)).type == aiohttp.WSMsgType.PONG
        await asyncio.sleep(1.05)
        for i in range(6):
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": i})
        kinds = set()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            msg = await recv(ws, 2)
            kinds.add(msg.type)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
        assert kinds & {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}


async def test_a_connection_lives_24_hours_and_is_pinged_every_20_seconds(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    policy = exchange_emu.ws_policy("binance-spot")
    assert (policy.ping_interval, policy.pong_timeout, policy.max_lifetime) == (20.0, 60.0, 86_400.0)
    assert (policy.max_incoming_per_s, policy.max_streams, policy.max_connects) == (5, 1024, 300)
    policy.ping_interval, policy.max_lifetime = 0.05, 0.3  # the same rules, on a shorter clock
    async with http.ws_connect(exchange_emu.ws_url + "/stream", autoping=False) as ws:
        msg = await recv(ws, 1)
        assert msg.type == aiohttp.WSMsgType.PING
        await ws.pong(msg.data)
        while (msg := await recv(ws, 1)).type == aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
        assert msg.type == aiohttp.WSMsgType.CLOSE  # the lifetime is up


async def test_no_pong_within_the_timeout_drops_the_connection(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    policy = exchange_emu.ws_policy("binance-spot")
    policy.ping_interval, policy.pong_timeout = 0.05, 0.15
    async with http.ws_connect(exchange_emu.ws_url + "/stream", autoping=False) as ws:
        while (msg := await recv(ws, 1)).type == aiohttp.WSMsgType.PING:
            pass  # never answered
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_more_than_300_connection_attempts_in_5_minutes_are_refused(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    policy = exchange_emu.ws_policy("binance-spot")
    policy.max_connects = 2  # 300 on Binance: the rule, not the count, is under test
    for _ in range(2):
        async with http.ws_connect(exchange_emu.ws_url + "/stream"):
            pass
    try:
        async with http.ws_connect(exchange_emu.ws_url + "/stream"):
            raise AssertionError("connected")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 429


async def test_a_scripted_market_makes_its_candles_of_the_scripted_trades_alone(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    klines = exchange_emu.binance.klines

    recorded = (await minute_klines(exchange_emu, http, T0 - MINUTE, 1))[0]
    exchange_emu.clock.anchor_ms = T0 + 10_000
    klines.script_price("BTCUSDT", Decimal("100000"))
    exchange_emu.clock.anchor_ms = T0 + 20_000
    klines.script_price("BTCUSDT", Decimal("100500"))
    exchange_emu.clock.anchor_ms = T0 + MINUTE + 5_000  # the next minute: no trade in it yet
    before, first, second = await minute_klines(exchange_emu, http, T0 - MINUTE, 3)
    assert before == recorded  # a candle before the first scripted trade stays as recorded
    # open, high, low, close: the trades alone, not the recorded minute's walk around them.
    assert first[1:5] == ["100000.00000000", "100500.00000000", "100000.00000000", "100500.00000000"]
    # A candle with no trade yet opens, and stays, where the last one traded (a recorded walk would be
    # a fall back to the recorded price).
    assert second[1:5] == ["100500.00000000"] * 4
    exchange_emu.binance.klines.push_s = 0.02
    async with http.ws_connect(exchange_emu.ws_url + "/stream") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1})
        assert await recv_json(ws) == {"result": None, "id": 1}
        k = _kline(await recv_json(ws))
        assert (k["t"], k["o"], k["c"]) == (T0 + MINUTE, "100500.00000000", "100500.00000000")

"""Gate, HTX, Deribit and Hyperliquid against the exchange emulator: subscribe, parse, store, survive.

Frames pushed are the corpus payloads' shapes (tests/data/corpus, the live HTX frame in
tests/data/fixtures), restamped to the test clock so the ingest's time window accepts them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from feeds.deribit import DeribitFeed
from feeds.errors import FeedError
from feeds.gate import GateFeed
from feeds.health import FeedState, HealthRegistry
from feeds.htx import HtxFeed, gunzip
from feeds.hyperliquid import HyperliquidFeed
from feeds.ingest import Ingest
from feeds.instrument_lists import parse_gate
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.liq_venues import GATE_CONTRACTS
from tests.feeds.conftest import FAST, FeedFactory, ManualClock
from tests.feeds.helpers import live_frames, running, wait_for

VAULT = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"


def stored(ingest: Ingest, source: str) -> list[tuple[str, str, float, float]]:
    cur = ingest.repo.conn.execute(
        "SELECT symbol, side, qty, usd FROM liquidations WHERE source = ? ORDER BY symbol, side", (source,)
    )
    return [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]


# --- Gate ---------------------------------------------------------------------------------------------------


def test_gate_contract_list_gives_coins_per_contract() -> None:
    parsed = parse_gate(GATE_CONTRACTS)
    by_name = {i.symbol: i for i in parsed.rows}
    assert by_name["BTC_USDT"].canonical == "BTCUSDT" and by_name["BTC_USDT"].contract_size == 0.0001
    assert by_name["ETH_USDT"].funding_interval_h == 8.0 and parsed.skipped == []
    bad = parse_gate([{"name": "NOPE", "quanto_multiplier": "1"}, {"name": "X_USDT"}])
    assert bad.rows == [] and len(bad.skipped) == 2


async def test_gate_subscribes_all_and_stores_an_array_of_contracts(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: GateFeed = build("gate")
    emu.gate.arrays = True  # the documented shape: one update, an array of every contract's item
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("gate", subscribed="!all")
        now = clock()
        # One update, one item per contract, an unwatched contract among them.
        sent = await emu.gate.push(
            [
                {"price": 95000.0, "size": -2500, "time_ms": now, "contract": "BTC_USDT"},
                {"price": 3300.0, "size": 40, "time_ms": now, "contract": "ETH_USDT"},
                {"price": 1.0, "size": 7, "time_ms": now, "contract": "DOGE_USDT"},
            ]
        )
        assert sent == 1
        await wait_for(lambda: len(stored(ingest, "gate")) == 2, what="Gate's two watched rows")
        await wait_for(lambda: any("futures.ping" in m for m in conn.received), what="an application ping")
    # -2500 contracts x 0.0001 BTC: a sell, so a long of 0.25 BTC; +40 x 0.01 ETH: a short of 0.4 ETH.
    assert stored(ingest, "gate") == [
        ("BTCUSDT", "long", pytest.approx(0.25), pytest.approx(0.25 * 95000)),
        ("ETHUSDT", "short", pytest.approx(0.4), pytest.approx(0.4 * 3300)),
    ]
    assert registry.get("gate.liquidations").state() is FeedState.OK


async def test_gate_emulator_refuses_an_unknown_contract(emu: ExchangeEmulator, session: object) -> None:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    async with session.ws_connect(f"{emu.ws_url}/v4/ws/usdt") as ws:
        await ws.send_str(
            json.dumps(
                {"time": 1, "channel": "futures.public_liquidates", "event": "subscribe", "payload": ["NOPE"]}
            )
        )
        answer = json.loads((await ws.receive()).data)
    assert answer["error"] == {"code": 2, "message": "unknown contract NOPE"}


# --- HTX ----------------------------------------------------------------------------------------------------


def htx_frame(now: int) -> dict[str, object]:
    (frame,) = [f for f in live_frames() if str(f.get("topic", "")).startswith("public.")]
    frame = copy.deepcopy(frame)
    frame["ts"] = now
    for item in frame["data"]:  # type: ignore[attr-defined]
        item["created_at"] = now
    return frame


async def test_htx_gzip_frames_pings_and_the_live_frame(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: HtxFeed = build("htx")
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("htx", subscribed="*")
        assert await emu.htx.push(htx_frame(clock())) == 1
        await wait_for(lambda: len(stored(ingest, "htx")) == 1, what="the HTX row")
        # HTX pings every 5 s (gzip); the answer is {"op": "pong"} with the same ts.
        await wait_for(lambda: any('"pong"' in m for m in conn.received), within=8.0, what="a pong")
    # direction buy closes a short; amount 5 ETH, turnover 12231.3 USDT as HTX sent them.
    assert stored(ingest, "htx") == [("ETHUSDT", "short", 5.0, 12231.3)]
    assert registry.get("htx.liquidations").state() is FeedState.OK


async def test_htx_drops_every_connection_and_the_stream_keeps_storing(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    emu.ws_policy("htx").max_lifetime = 0.3  # the venue's ~30 s drops, shrunk
    feed: HtxFeed = build("htx")
    async with running(feed.stream):
        await wait_for(lambda: feed.stream.connections >= 3, within=5.0, what="three connections")
        await emu.wait_ws("htx", subscribed="*")
        frame = htx_frame(clock())
        frame["data"][0]["price"] = 2500.0  # type: ignore[index]
        assert await emu.htx.push(frame) == 1
        await wait_for(lambda: len(stored(ingest, "htx")) == 1, what="a row after the drops")
    # Each drop was a reconnect with the same subscription; nothing was left half-written.
    assert all(
        "closed" in r or "connection lost" in r or "websocket" in r for r in feed.stream.reconnect_reasons
    )


def test_htx_gunzip_refuses_garbage_and_bombs() -> None:
    import gzip

    with pytest.raises(FeedError):
        gunzip(b"not gzip", 1000)
    with pytest.raises(FeedError, match="inflates beyond"):
        gunzip(gzip.compress(b"x" * 10_000), 1000)
    assert gunzip(gzip.compress(b'{"op":"ping"}'), 1000) == '{"op":"ping"}'


# --- Deribit ------------------------------------------------------------------------------------------------


async def test_deribit_subscribes_100ms_and_stores_flagged_trades_only(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: DeribitFeed = build("deribit")
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("deribit", subscribed="trades.ETH_USDC-PERPETUAL.100ms")
        assert conn.subscriptions == {
            "trades.BTC-PERPETUAL.100ms",
            "trades.BTC_USDC-PERPETUAL.100ms",
            "trades.ETH-PERPETUAL.100ms",
            "trades.ETH_USDC-PERPETUAL.100ms",
        }
        now = clock()
        trade = {"trade_seq": 1, "trade_id": "1", "timestamp": now, "tick_direction": 1, "index_price": 1.0}
        await emu.deribit.push(
            "BTC-PERPETUAL",
            [
                {
                    **trade,
                    "price": 95000.0,
                    "amount": 9500.0,
                    "direction": "sell",
                    "liquidation": "MT",
                    "instrument_name": "BTC-PERPETUAL",
                },
                {
                    **trade,
                    "price": 95000.0,
                    "amount": 10.0,
                    "direction": "buy",
                    "instrument_name": "BTC-PERPETUAL",
                },
            ],
        )
        await emu.deribit.push(
            "ETH_USDC-PERPETUAL",
            [
                {
                    **trade,
                    "price": 3300.0,
                    "amount": 2.0,
                    "direction": "buy",
                    "liquidation": "T",
                    "instrument_name": "ETH_USDC-PERPETUAL",
                }
            ],
        )
        await wait_for(lambda: len(stored(ingest, "deribit")) == 3, what="three Deribit rows")
    # MT: the selling taker was long, the buying maker short, $9,500 each (inverse: USD amounts);
    # linear ETH: the buying taker was short, 2 ETH.
    assert stored(ingest, "deribit") == [
        ("BTCUSDT", "long", pytest.approx(0.1), 9500.0),
        ("BTCUSDT", "short", pytest.approx(0.1), 9500.0),
        ("ETHUSDT", "short", 2.0, 6600.0),
    ]
    assert registry.get("deribit.liquidations").state() is FeedState.OK


async def test_deribit_emulator_refuses_raw_without_authorisation(
    emu: ExchangeEmulator, session: object
) -> None:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    async with session.ws_connect(f"{emu.ws_url}/ws/api/v2") as ws:
        request = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "public/subscribe",
            "params": {"channels": ["trades.BTC-PERPETUAL.raw"]},
        }
        await ws.send_str(json.dumps(request))
        answer = json.loads((await ws.receive()).data)
    assert answer["id"] == 7 and answer["error"]["code"] == 13778


# --- Hyperliquid --------------------------------------------------------------------------------------------


async def test_hyperliquid_keeps_fills_against_the_liquidator_vault(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: HyperliquidFeed = build("hyperliquid")
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("hyperliquid", subscribed="ETH")
        assert conn.subscriptions == {"BTC", "ETH"}
        now = clock()
        base = {"coin": "BTC", "side": "A", "hash": "0x0", "tid": 1, "time": now}
        await emu.hyperliquid.push(
            [
                {**base, "px": "95000.0", "sz": "2.0", "users": [VAULT, "0xaaa"]},  # the vault took a long
                {**base, "px": "95001.0", "sz": "1.0", "users": ["0xbbb", "0xccc"]},  # an ordinary trade
            ]
        )
        await emu.hyperliquid.push(
            [{**base, "coin": "ETH", "px": "3300.0", "sz": "10.0", "users": ["0xddd", VAULT]}]
        )
        await wait_for(lambda: len(stored(ingest, "hyperliquid")) == 2, what="two backstop liquidations")
        await wait_for(lambda: any('"ping"' in m for m in conn.received), what="a ping")
    assert stored(ingest, "hyperliquid") == [
        ("BTCUSDT", "long", 2.0, 190000.0),
        ("ETHUSDT", "short", 10.0, 33000.0),
    ]
    assert registry.get("hyperliquid.liquidations").state() is FeedState.OK


async def test_gate_reads_contract_sizes_from_the_instrument_registry(
    emu: ExchangeEmulator,
    session: object,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
) -> None:
    import logging

    import aiohttp

    from feeds.instrument_fetch import InstrumentLists
    from feeds.logonce import FailureLog
    from feeds.scheduler import build_feeds
    from tests.feeds.helpers import emulator_feeds_config

    assert isinstance(session, aiohttp.ClientSession)
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"gate"})
    failures = FailureLog(logging.getLogger("tests.gate"), clock)
    lists = InstrumentLists(config, session, clock, failures, None, FAST)
    assert await lists.refresh() == ["gate"]
    (feed,) = build_feeds(
        config, ["BTCUSDT"], ingest, session, clock, registry, failures, FAST, lists.registry
    )
    assert isinstance(feed, GateFeed) and feed.names is not None
    assert feed.names.venue_symbols() == frozenset({"BTC_USDT"})
    before = len(emu.requests("/api/v4/futures/usdt/contracts"))
    await feed.ensure_contracts()  # the registry already had Gate's list: nothing is asked again
    assert len(emu.requests("/api/v4/futures/usdt/contracts")) == before


async def test_hyperliquid_drops_a_refused_coin_and_streams_the_others(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: HyperliquidFeed = build("hyperliquid", symbols=["BTCUSDT", "DOGEUSDT"])  # no DOGE on the emulator
    async with running(feed.stream):
        await emu.wait_ws("hyperliquid", subscribed="BTC")
        await wait_for(lambda: "DOGE" not in feed.stream.coins, what="DOGE dropped")
        base = {"coin": "BTC", "side": "B", "hash": "0x0", "tid": 1, "time": clock()}
        await emu.hyperliquid.push([{**base, "px": "95000.0", "sz": "1.0", "users": ["0xabc", VAULT]}])
        await wait_for(lambda: len(stored(ingest, "hyperliquid")) == 1, what="the BTC row")
    assert feed.stream.connections == 1  # one refused coin did not cost the connection
    (rejection,) = registry.rejections.all()
    assert (rejection.venue, rejection.symbol) == ("hyperliquid", "DOGEUSDT")
    assert "subscribe refused" in rejection.reason


async def test_deribit_rejects_a_market_it_lists_no_perpetual_for(
    emu: ExchangeEmulator, build: FeedFactory, registry: HealthRegistry
) -> None:
    feed: DeribitFeed = build("deribit", symbols=["BTCUSDT", "DOGEUSDT"])
    async with running(feed.stream):
        await emu.wait_ws("deribit", subscribed="trades.BTC-PERPETUAL.100ms")
        await wait_for(lambda: bool(registry.rejections.all()), what="DOGEUSDT rejected")
    (rejection,) = registry.rejections.all()
    assert (rejection.venue, rejection.symbol) == ("deribit", "DOGEUSDT")
    assert set(feed.stream.instruments) == {"BTC-PERPETUAL", "BTC_USDC-PERPETUAL"}


async def test_htx_replaces_its_connection_before_the_venue_drops_it(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    emu.ws_policy("htx").max_lifetime = 2.0  # the venue's drop, shrunk from ~30 s
    feed: HtxFeed = build("htx", tuning=replace(FAST, htx_max_lifetime_s=0.4))  # ours, from 25 s
    async with running(feed.stream):
        await wait_for(lambda: feed.stream.connections >= 4, within=5.0, what="three replacements")
        frame = htx_frame(clock())
        assert await emu.htx.push(frame) >= 1
        await wait_for(lambda: len(stored(ingest, "htx")) == 1, what="a row")
    # Every switch was a planned replacement (new connection first), never a loss.
    assert set(feed.stream.reconnect_reasons) == {"lifetime"}
    assert registry.get("htx.liquidations").snapshot().consecutive_failures == 0


async def test_gate_reads_the_live_shape_a_bare_object_with_time(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    feed: GateFeed = build("gate")
    assert emu.gate.arrays is False  # as Gate sent it live on 2026-08-10 (gateio/WebSocket-API#132)
    async with running(feed.stream):
        await emu.wait_ws("gate", subscribed="!all")
        items = [
            {"contract": "BTC_USDT", "price": "95000.5", "time": clock(), "size": 300},
            {"contract": "ETH_USDT", "price": "3300.25", "time": clock(), "size": -7},
        ]
        assert await emu.gate.push(items) == 2  # one frame each
        await wait_for(lambda: len(stored(ingest, "gate")) == 2, what="both live-shaped rows")
    assert stored(ingest, "gate") == [
        ("BTCUSDT", "short", pytest.approx(0.03), pytest.approx(0.03 * 95000.5)),
        ("ETHUSDT", "long", pytest.approx(0.07), pytest.approx(0.07 * 3300.25)),
    ]

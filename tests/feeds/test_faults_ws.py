"""Websocket faults on all three liquidation streams: closed, cut, silent, quiet, refused, garbage, 24 h.

Every test runs the real stream against the emulator with the fast tuning (pings every 0.2 s, reconnect
backoff 20..100 ms), checks the reason the stream gives for reconnecting, the health states it passes
through, and that liquidations arriving after the fault are stored.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from feeds.base import Tuning
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.stream import WebSocketStream
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.server import WS_ROUTES
from tests.feeds.conftest import FAST, FeedFactory
from tests.feeds.helpers import FIXTURES, StateTrail, jsonl, live_frames, running, wait_for

_ts = itertools.count(1_768_953_000_000)


# Frames below are the real captured frames with the symbol changed to BTCUSDT and a fresh time, so that
# each push is a new event; the values (price, size) are the captured ones.


def binance_frame(bad: bool = False) -> dict[str, Any]:
    (frame,) = jsonl(FIXTURES / "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl")
    event = copy.deepcopy(frame["data"])
    t = next(_ts)
    event["E"] = event["o"]["T"] = t
    event["o"]["s"] = "BTCUSDT"
    if bad:
        del event["o"]["ap"], event["o"]["p"]
    return event


def bybit_frame(bad: bool = False) -> dict[str, Any]:
    frame = copy.deepcopy(next(f for f in live_frames() if f.get("topic") == "allLiquidation.ICPUSDT"))
    frame["topic"] = "allLiquidation.BTCUSDT"
    item = frame["data"][0] | {"s": "BTCUSDT", "T": next(_ts)}
    frame["data"] = [item | {"S": None}, item | {"T": next(_ts)}] if bad else [item]
    return frame


def okx_frame(bad: bool = False) -> dict[str, Any]:
    frame = copy.deepcopy(
        next(f for f in live_frames() if f.get("arg", {}).get("channel") == "liquidation-orders")
    )
    item = frame["data"][0] | {"instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT"}
    detail = item["details"][0] | {"ts": str(next(_ts))}
    item["details"] = [detail | {"sz": "lots"}, detail | {"ts": str(next(_ts))}] if bad else [detail]
    frame["data"] = [item]
    return frame


@dataclass(frozen=True)
class Venue:
    """One liquidation stream as the tests drive it."""

    name: str  # the emulator's websocket venue
    feed: str  # the config section
    source: str  # liquidations.source
    frame: Callable[[bool], dict[str, Any]]
    subscribed: str  # what the emulator lists once the stream is subscribed
    health: str

    def build(self, build: FeedFactory, tuning: Tuning = FAST, **options: Any) -> WebSocketStream:
        """Build the feed (liquidations only) and return its stream."""
        feed = build(self.feed, symbols=["BTCUSDT"], tuning=tuning, **options)
        (stream,) = feed.streams()
        assert isinstance(stream, WebSocketStream)
        return stream


VENUES = [
    Venue(
        "binance",
        "binance_futures",
        "binance",
        binance_frame,
        "!forceOrder@arr",
        "binance_futures.liquidations",
    ),
    Venue("bybit", "bybit", "bybit", bybit_frame, "allLiquidation.BTCUSDT", "bybit.liquidations"),
    Venue("okx", "okx", "okx", okx_frame, "liquidation-orders:SWAP", "okx.liquidations"),
]


@pytest.fixture(params=VENUES, ids=[v.name for v in VENUES])
def venue(request: pytest.FixtureRequest) -> Venue:
    """Return one liquidation stream."""
    param: Venue = request.param
    return param


def stored(ingest: Ingest, source: str) -> int:
    """Count stored liquidations of a source."""
    return int(
        ingest.repo.conn.execute("SELECT COUNT(*) FROM liquidations WHERE source = ?", (source,)).fetchone()[
            0
        ]
    )


async def push_and_store(emu: ExchangeEmulator, venue: Venue, ingest: Ingest, *, bad: bool = False) -> None:
    """Push one frame and wait until its (good) liquidation is in SQLite."""
    before = stored(ingest, venue.source)
    assert await emu.push_ws(venue.name, venue.frame(bad)) == 1
    await wait_for(
        lambda: stored(ingest, venue.source) == before + 1, what=f"{venue.name} liquidation stored"
    )


async def test_server_closes_the_socket(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    stream = venue.build(build)
    async with running(stream), StateTrail(registry.get(venue.health)) as trail:
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
        assert await emu.ws_close(venue.name, 1001, "going away") == 1
        await wait_for(lambda: stream.connections == 2, what="a reconnect")
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
    assert "closed by the server (code 1001" in stream.reconnect_reasons[0]
    assert trail.states == ["stale", "ok", "degraded", "ok"]


async def test_connection_cut_without_a_close_frame(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    stream = venue.build(build)
    async with running(stream), StateTrail(registry.get(venue.health)) as trail:
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
        assert await emu.ws_drop(venue.name) == 1
        await wait_for(lambda: stream.connections == 2, what="a reconnect")
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
    assert trail.states == ["stale", "ok", "degraded", "ok"]


async def test_silent_socket_is_caught_by_ping_pong(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    # The reconnect happens while the server is still mute, so that connection's subscription is lost
    # too (Bybit, OKX): the data-silence timer (0.8 s here) replaces it once the server talks again.
    stream = venue.build(build, tuning=dataclasses.replace(FAST, data_silence_s=0.8))
    async with running(stream), StateTrail(registry.get(venue.health)) as trail:
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
        emu.ws_silence(venue.name)  # open, but no frames and no pongs
        await wait_for(lambda: stream.connections == 2, what="a reconnect after the pong timeout")
        emu.ws_silence(venue.name, on=False)
        await emu.wait_ws(venue.name, subscribed=venue.subscribed, within=3.0)
        await push_and_store(emu, venue, ingest)
    assert "not even a pong (silent socket)" in stream.reconnect_reasons[0]
    assert trail.states[:3] == ["stale", "ok", "degraded"] and trail.states[-1] == "ok"


async def test_no_data_for_too_long_replaces_the_connection(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    # Pongs keep coming, but no liquidation: a lost subscription looks like this (and so does a quiet
    # market), so the connection is replaced gap-free, new one first, without counting a failure.
    stream = venue.build(build, tuning=dataclasses.replace(FAST, data_silence_s=0.3))
    async with running(stream), StateTrail(registry.get(venue.health)) as trail:
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await wait_for(lambda: stream.connections == 2, what="a replacement after 0.3 s without data")
        await wait_for(lambda: len(emu.ws_connections(venue.name)) == 1, what="the old connection closed")
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
    assert stream.reconnect_reasons[0].startswith("no data for")
    assert trail.states == ["stale", "ok"]  # never degraded


async def test_refused_handshakes_are_retried_with_backoff(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    emu.ws_refuse(venue.name, times=3, status=503)
    stream = venue.build(build)
    async with running(stream), StateTrail(registry.get(venue.health)) as trail:
        await emu.wait_ws(venue.name, subscribed=venue.subscribed, within=5.0)
        await push_and_store(emu, venue, ingest)
    assert [r.split(": ", 1)[1] for r in stream.reconnect_reasons] == ["handshake HTTP 503"] * 3
    assert stream.backoff.failures == 3
    assert trail.states == ["stale", "ok"]


async def test_garbled_frame_costs_only_that_frame(
    venue: Venue,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = venue.build(build)
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        assert await emu.push_ws(venue.name, '{"topic":"allLiquidation.BTCUSDT","data":[{"T":') == 1
        assert await emu.push_ws(venue.name, "\x00\xff not json") == 1
        await push_and_store(emu, venue, ingest)
    assert stream.connections == 1 and stream.reconnect_reasons == []
    assert sum("invalid JSON frame" in r.getMessage() for r in caplog.records) == 1  # said once


async def test_bad_item_in_a_frame_is_skipped_and_the_rest_kept(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    stream = venue.build(build)
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        if venue.name == "binance":  # one event per frame: a bad frame, then a good one
            assert await emu.push_ws(venue.name, venue.frame(True)) == 1
            await push_and_store(emu, venue, ingest)
        else:  # one bad and one good item in the same frame
            await push_and_store(emu, venue, ingest, bad=True)
    assert stored(ingest, venue.source) == 1 and stream.connections == 1
    assert registry.get(venue.health).state() is FeedState.OK


# --- Binance: 24 h lifetime, geo-block ------------------------------------------------------------------


BINANCE = VENUES[0]


async def test_binance_24h_limit_replaced_before_it_without_losing_events(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    # Binance ends a connection after 24 h; the stream opens the next one first (here after 0.3 s).
    stream = BINANCE.build(build, tuning=dataclasses.replace(FAST, binance_max_lifetime_s=0.3))
    health = registry.get(BINANCE.health)
    async with running(stream), StateTrail(health) as trail:
        await emu.wait_ws("binance", subscribed=BINANCE.subscribed)
        sent = 0
        while stream.connections < 3:  # two replacements while events keep coming
            # Every event reaches at least one connection: the new one is up before the old one closes.
            assert await emu.push_ws("binance", binance_frame()) >= 1
            sent += 1
            await asyncio.sleep(0.01)
        await wait_for(lambda: stored(ingest, "binance") == sent, what="every event pushed stored")
    assert stream.reconnect_reasons == ["lifetime", "lifetime"]
    assert emu.binance.ws.total_connections == 3
    assert health.consecutive_failures == 0 and trail.states == ["stale", "ok"]  # never degraded


async def test_binance_server_side_24h_close_is_survived(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    emu.ws_policy("binance").max_lifetime = 0.3  # the server's own 24 h cut, shortened
    stream = BINANCE.build(build)
    async with running(stream):
        await wait_for(lambda: stream.connections >= 2, what="a reconnect after the server's cut")
        await emu.wait_ws("binance", subscribed=BINANCE.subscribed)
        await push_and_store(emu, BINANCE, ingest)
    assert "closed by the server (code 1000" in stream.reconnect_reasons[0]


async def test_binance_geo_block_on_the_stream_is_said_once_and_retried(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    emu.set_geo_block(True)
    stream = BINANCE.build(build)
    async with running(stream):
        await wait_for(lambda: len(stream.reconnect_reasons) >= 3, what="three refused handshakes")
        emu.set_geo_block(False)
        await emu.wait_ws("binance", subscribed=BINANCE.subscribed)
        await push_and_store(emu, BINANCE, ingest)
    said = [r for r in caplog.records if "HTTP 451" in r.getMessage() and r.levelno == logging.WARNING]
    assert sum("refuses connections from this region" in r.getMessage() for r in said) == 1


# --- OKX: 30 s idle rule ----------------------------------------------------------------------------------


async def test_okx_text_ping_keeps_an_idle_connection_open(emu: ExchangeEmulator, build: FeedFactory) -> None:
    emu.ws_policy("okx").idle_timeout = 0.5  # OKX: 30 s without data closes with 4004, shortened
    stream = VENUES[2].build(build)
    async with running(stream):
        (conn,) = await emu.wait_ws("okx", subscribed="liquidation-orders:SWAP")
        await asyncio.sleep(1.2)
        assert conn.received.count("ping") >= 3
    assert stream.connections == 1 and stream.reconnect_reasons == []


async def test_okx_idle_close_without_pings_is_survived(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    emu.ws_policy("okx").idle_timeout = 0.3
    stream = VENUES[2].build(
        build, tuning=dataclasses.replace(FAST, okx_ping_interval_s=5.0, pong_timeout_s=5.0)
    )
    async with running(stream):
        await wait_for(lambda: stream.connections >= 2, what="a reconnect after OKX's idle close")
        await emu.wait_ws("okx", subscribed="liquidation-orders:SWAP")
        await push_and_store(emu, VENUES[2], ingest)
    assert "code 4004" in stream.reconnect_reasons[0]


async def test_handshake_429_waits_for_retry_after(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    route = WS_ROUTES[venue.name]
    emu.fail(route, 429, retry_after=0.5)  # the reconnect backoff alone would retry within 20 ms
    stream = venue.build(build)
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed, within=3.0)
        await push_and_store(emu, venue, ingest)
    refused, accepted = emu.requests(route)[:2]
    assert refused.status == 429 and accepted.time - refused.time >= 0.5
    assert stream.reconnect_reasons[0].startswith("rate_limited: handshake HTTP 429")


async def test_handshake_timeout_is_retried(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    emu.delay(WS_ROUTES[venue.name], 2.0)  # the first handshake hangs
    stream = venue.build(build, tuning=dataclasses.replace(FAST, connect_timeout_s=0.2))
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed, within=3.0)
        await push_and_store(emu, venue, ingest)
    assert stream.reconnect_reasons[0] == "timeout: no connection within 0.2s"

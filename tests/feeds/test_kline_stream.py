"""Spot candles from Binance's kline websockets: live forming and closed candles, reconnects, gap repair."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from feeds.binance_spot import SpotCandleFeed
from feeds.errors import FeedError
from feeds.ingest import Ingest
from feeds.kline_stream import KlineStream, parse_kline_event, split_symbols, stream_name
from feeds.logonce import FailureLog
from feeds.parse import BadItem
from feeds.poller import each_symbol
from storage.rows import MINUTE_MS, Candle
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, FeedFactory, ManualClock
from tests.feeds.helpers import ms, running, wait_for

# The payload example of binance-spot-api-docs web-socket-streams.md, "Kline/Candlestick Streams for UTC"
# (a third-party document, kept verbatim), wrapped as a combined stream delivers it.
DOC_EXAMPLE = {
    "stream": "bnbbtc@kline_1m",
    "data": {
        "e": "kline", "E": 1672515782136, "s": "BNBBTC",
        "k": {"t": 1672515780000, "T": 1672515839999, "s": "BNBBTC", "i": "1m", "f": 100, "L": 200,
              "o": "0.0010", "c": "0.0020", "h": "0.0025", "l": "0.0015", "v": "1000", "n": 100,
              "x": False, "q": "1.0000", "V": "500", "Q": "0.500", "B": "123456"},
    },
}  # fmt: skip

# SYNTHETIC: the documented example with its low moved to the open (the documented one contradicts itself).
CONSISTENT = {
    **DOC_EXAMPLE,
    "data": {**DOC_EXAMPLE["data"], "k": {**DOC_EXAMPLE["data"]["k"], "l": "0.0010"}},
}  # type: ignore[dict-item]

# Both BTCUSDT and ETHUSDT have recorded candles then (ETH's recording ends at 07:00 that day).
T0 = ms("2026-01-20T06:00")


def test_the_documented_example_is_refused_because_its_low_is_above_its_open() -> None:
    # Binance's own example has o=0.0010 and l=0.0015: such a candle must never reach storage.
    with pytest.raises(BadItem, match="high/low do not bound"):
        parse_kline_event(DOC_EXAMPLE)


def test_a_kline_event_is_a_forming_candle_until_x_says_closed() -> None:
    candle = parse_kline_event(CONSISTENT)
    assert candle == Candle(
        "BNBBTC", "1m", 1672515780000, "binance", 0.001, 0.0025, 0.001, 0.002, 1000.0, 1.0, False
    )
    data = CONSISTENT["data"]
    closed = {**data, "k": {**data["k"], "x": True}}  # type: ignore[dict-item]
    assert parse_kline_event(closed).closed is True  # a raw (unwrapped) closing event


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x": "false"}, "'x' is not a boolean"),
        ({"h": "0.0001"}, "high/low do not bound"),
        ({"c": "-1"}, "c"),
    ],
)
def test_a_bad_kline_event_is_refused_with_the_reason(change: dict[str, object], reason: str) -> None:
    data = CONSISTENT["data"]
    bad = {**data, "k": {**data["k"], **change}}  # type: ignore[dict-item]
    with pytest.raises(BadItem, match=reason):
        parse_kline_event(bad)


def test_symbols_are_split_at_binances_1024_streams_per_connection() -> None:
    symbols = [f"S{i}USDT" for i in range(2050)]
    assert [len(g) for g in split_symbols(symbols)] == [1024, 1024, 2]
    assert stream_name("BTCUSDT", "1m") == "btcusdt@kline_1m"


# FAST pings every 0.2 s: with the SUBSCRIBE that is over spot's 5 incoming messages a second, and the
# emulator cuts the connection as Binance does. One ping a second keeps the test quick and within it.
SPOT_FAST = dataclasses.replace(FAST, binance_ping_interval_s=1.0, pong_timeout_s=0.5)


def _feed(build: FeedFactory, **options: object) -> SpotCandleFeed:
    spot = {"interval": "1m", "backfill_days": 0.01, **options}
    feed: SpotCandleFeed = build(
        "binance_spot", symbols=["BTCUSDT", "ETHUSDT"], binance_spot=spot, tuning=SPOT_FAST
    )
    return feed


def _stored(ingest: Ingest, symbol: str, open_time: int) -> Candle | None:
    rows = ingest.repo.candles(symbol, "1m", open_time, open_time + 1, source="binance")
    return rows[0] if rows else None


async def test_forming_candles_arrive_as_the_price_moves_and_the_close_follows(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    emu.binance.klines.push_s = 0.02  # Binance pushes every 2 s; the test need not wait for that
    clock.ms = T0 + 30_000
    feed = _feed(build)
    await feed.backfill()
    (stream,) = feed.streams()
    assert isinstance(stream, KlineStream)
    async with running(stream):
        await emu.wait_ws("binance-spot", subscribed="ethusdt@kline_1m", within=3)
        await wait_for(lambda: stream.events > 0, what="the first kline event")
        forming = _stored(ingest, "BTCUSDT", T0)
        assert forming is not None and not forming.closed
        # A trade far above the minute's range: the next push carries it as the forming candle's close.
        high = Decimal(forming.h * 1.1).quantize(Decimal("0.01"))
        emu.binance.klines.set_price("BTCUSDT", high)

        def moved() -> bool:
            row = _stored(ingest, "BTCUSDT", T0)
            return row is not None and row.c == float(high) and not row.closed

        await wait_for(moved, what="the forming candle at the new price")
        # The minute ends: the closing event stores it closed (what a `confirm` rule waits for).
        clock.ms = T0 + MINUTE_MS + 1_000

        def closed() -> bool:
            row = _stored(ingest, "BTCUSDT", T0)
            return row is not None and row.closed and row.h == float(high)

        await wait_for(closed, what="the closed candle")
        assert feed.last_closed["BTCUSDT"] == T0
        await wait_for(lambda: _stored(ingest, "BTCUSDT", T0 + MINUTE_MS) is not None, what="next minute")
    # Nothing was polled by REST after the start-up backfill and the first gap check.
    assert stream.events > 0


async def test_after_a_reconnect_the_missed_minutes_are_fetched_by_rest(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    emu.binance.klines.push_s = 0.02  # Binance pushes every 2 s; the test need not wait for that
    clock.ms = T0 + 30_000
    feed = _feed(build)
    await feed.backfill()
    (stream,) = feed.streams()
    async with running(stream):
        await emu.wait_ws("binance-spot", subscribed="btcusdt@kline_1m", within=3)
        await wait_for(lambda: _stored(ingest, "BTCUSDT", T0) is not None, what="the forming candle")
        # The connection is cut while five minutes pass: the stream itself only ever sends the minute that
        # just closed and the forming one, so 06:01 to 06:03 can only come from the REST repair.
        emu.ws_silence("binance-spot")
        clock.ms = T0 + 5 * MINUTE_MS + 30_000
        emu.log.clear()
        await emu.ws_drop("binance-spot")
        emu.ws_silence("binance-spot", False)
        await wait_for(lambda: stream.connections >= 2, what="the reconnection")
        for minute in range(5):
            await wait_for(
                lambda m=minute: (
                    (row := _stored(ingest, "BTCUSDT", T0 + m * MINUTE_MS)) is not None  # type: ignore[misc]
                    and row.closed
                ),
                what=f"06:0{minute} closed",
            )
    asked = [r for r in emu.requests("/api/v3/klines") if r.query["symbol"] == "BTCUSDT"]
    assert asked and int(asked[0].query["startTime"]) <= T0 + MINUTE_MS
    assert feed.last_closed["BTCUSDT"] == T0 + 4 * MINUTE_MS


async def test_the_gap_check_asks_rest_only_for_a_symbol_whose_close_did_not_arrive(
    emu: ExchangeEmulator, build: FeedFactory, clock: ManualClock
) -> None:
    clock.ms = T0 + 30_000
    feed = _feed(build)
    await feed.backfill()
    emu.log.clear()
    assert not feed.behind("BTCUSDT", clock())
    assert await feed.poller.run()  # the scheduled check: everything is up to date
    assert emu.requests("/api/v3/klines") == []
    # 06:00 closed, its closing event never came (no stream here): after the grace, REST is asked.
    clock.ms = T0 + MINUTE_MS + 2_000
    assert not feed.behind("BTCUSDT", clock())  # still within the grace for the closing event
    clock.ms = T0 + MINUTE_MS + 10_000
    assert feed.behind("BTCUSDT", clock())
    assert await feed.poller.run()
    assert {r.query["symbol"] for r in emu.requests("/api/v3/klines")} == {"BTCUSDT", "ETHUSDT"}
    assert feed.last_closed == {"BTCUSDT": T0, "ETHUSDT": T0}


async def test_poll_mode_remains_selectable_and_has_no_stream(
    emu: ExchangeEmulator, build: FeedFactory, clock: ManualClock
) -> None:
    clock.ms = T0 + 30_000
    feed = _feed(build, candles="poll")
    assert feed.streams() == []
    await feed.backfill()
    emu.log.clear()
    assert await feed.poller.run()  # every symbol polled, up to date or not
    assert len(emu.requests("/api/v3/klines")) == 2


async def test_an_error_reply_to_the_subscription_drops_the_connection(
    build: FeedFactory, clock: ManualClock
) -> None:
    clock.ms = T0 + 30_000
    (stream,) = _feed(build).streams()
    assert isinstance(stream, KlineStream)
    with pytest.raises(FeedError, match="subscription refused"):
        stream.on_text('{"error":{"code":2,"msg":"Invalid request: more than 1024 streams"},"id":1}')
    assert stream.on_text('{"result":null,"id":1}') is False  # an acknowledgement is not data


async def test_each_symbol_keeps_to_its_concurrency_and_asks_the_first_symbol_alone() -> None:
    in_flight, most, order = 0, 0, []

    async def call(symbol: str) -> str:
        nonlocal in_flight, most
        order.append((symbol, in_flight))
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return symbol

    failures = FailureLog(__import__("logging").getLogger("t"), lambda: 0)
    symbols = [f"S{i}" for i in range(10)]
    assert await each_symbol(symbols, call, failures, "k", concurrency=3) == symbols
    assert most == 3
    assert order[0] == ("S0", 0) and order[1][1] == 0  # S0 alone, then the rest three at a time


async def test_a_push_equal_to_the_last_one_is_not_written_again(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    clock.ms = T0 + 30_000
    feed = _feed(build)
    written: list[str] = []
    ingest.subscribe(lambda kind, symbols: written.append(kind))
    candle = Candle("BTCUSDT", "1m", T0, "binance", 1.0, 2.0, 0.5, 1.5, 3.0, 4.5, False)
    for _ in range(3):  # Binance pushes the forming candle every 2 s, traded or not
        feed.on_stream_candle(candle)
        feed.flush_stream()
    feed.on_stream_candle(candle._replace(c=1.6))
    await feed.aclose()  # writes what is buffered
    assert written == ["candles", "candles"]
    assert _stored(ingest, "BTCUSDT", T0) == candle._replace(c=1.6)


async def test_candles_arriving_together_are_written_in_one_batch(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    clock.ms = T0 + 30_000
    feed = _feed(build)
    batches: list[frozenset[str]] = []
    ingest.subscribe(lambda kind, symbols: batches.append(symbols))
    for symbol in ("BTCUSDT", "ETHUSDT"):  # a close: each symbol's candle at once
        feed.on_stream_candle(Candle(symbol, "1m", T0, "binance", 1.0, 2.0, 0.5, 1.5, 3.0, 4.5, True))
    assert batches == []  # not yet: within the flush interval
    await wait_for(lambda: len(batches) == 1, what="the batch")
    assert batches == [frozenset({"BTCUSDT", "ETHUSDT"})]
    assert feed.last_closed == {"BTCUSDT": T0, "ETHUSDT": T0}

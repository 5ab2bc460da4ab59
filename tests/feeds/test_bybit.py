"""Bybit: allLiquidation side convention (the reverse of Binance) on live frames, tickers, integration."""

from __future__ import annotations

import pytest

from feeds.bybit import BybitFeed, parse_all_liquidation, parse_tickers
from feeds.errors import FeedError, PayloadError
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock
from tests.feeds.helpers import live_frames, running, wait_for


def _bybit_frames() -> list[dict[str, object]]:
    return [f for f in live_frames() if str(f.get("topic", "")).startswith("allLiquidation.")]


def test_live_frames_buy_means_a_long_position_was_liquidated() -> None:
    rows = [row for frame in _bybit_frames() for row in parse_all_liquidation(frame, None).rows]
    assert [(r.symbol, r.side, r.ts) for r in rows] == [
        ("ICPUSDT", "long", 1789670094099),  # S=Buy: Bybit reports the position side
        ("MARSCOINUSDT", "short", 1789670278053),  # S=Sell
    ]
    assert rows[0].qty == 19.7 and rows[0].price == 2.585 and rows[0].usd == pytest.approx(19.7 * 2.585)
    assert {r.source for r in rows} == {"bybit"}


def test_unwatched_and_bad_items_are_dropped_the_rest_kept() -> None:
    frame = dict(_bybit_frames()[0])
    good = frame["data"][0]  # type: ignore[index]
    frame["data"] = [good, {**good, "S": "Long"}, {**good, "v": None}, {**good, "s": "BTCUSDT"}, 7]
    parsed = parse_all_liquidation(frame, frozenset({"ICPUSDT"}))
    assert len(parsed.rows) == 1 and len(parsed.skipped) == 3
    with pytest.raises(PayloadError):
        parse_all_liquidation({"topic": "allLiquidation.X"}, None)


async def test_tickers_from_the_emulator_give_funding_and_open_interest(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: BybitFeed = build("bybit")
    assert await feed.poller.run()  # ETHUSDT: "Not supported symbols" on the emulator, skipped
    (funding,) = ingest.repo.funding("BTCUSDT")
    (oi,) = ingest.repo.open_interest("BTCUSDT")
    assert funding.source == oi.source == "bybit" and funding.ts == oi.ts == clock()
    assert not funding.settled and funding.next_funding_time is not None and funding.mark_price
    assert oi.contracts and oi.usd and oi.usd / oi.contracts == pytest.approx(funding.mark_price, rel=0.01)
    assert registry.get("bybit.tickers").state() is FeedState.OK


def test_tickers_error_envelope_is_an_api_error() -> None:
    with pytest.raises(FeedError) as info:
        parse_tickers({"retCode": 10001, "retMsg": "Illegal category", "result": {}, "time": 1}, None)
    assert info.value.kind == "api"


async def test_stream_subscribes_per_symbol_and_stores_replayed_frames(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: BybitFeed = build("bybit", symbols=["ICPUSDT", "MARSCOINUSDT", "BTCUSDT"])
    assert feed.stream is not None
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("bybit", subscribed="allLiquidation.MARSCOINUSDT")
        assert conn.subscriptions == {
            "allLiquidation.BTCUSDT",
            "allLiquidation.ICPUSDT",
            "allLiquidation.MARSCOINUSDT",
        }
        emu.start_replay(50.0)  # the two captured frames, alternating

        def stored() -> list[tuple[str, str]]:
            cur = ingest.repo.conn.execute("SELECT symbol, side FROM liquidations WHERE source = 'bybit'")
            return sorted(cur.fetchall())

        await wait_for(lambda: len(stored()) == 2, what="both Bybit liquidations stored")
        await emu.stop_replay()
        # Pings go out as {"op":"ping"} and are answered; that keeps the connection healthy.
        await wait_for(lambda: any('"op":"ping"' in m for m in conn.received), what="a ping")
    assert stored() == [("ICPUSDT", "long"), ("MARSCOINUSDT", "short")]
    assert registry.get("bybit.liquidations").state() is FeedState.OK


async def test_a_refused_subscription_drops_the_connection_and_retries(
    emu: ExchangeEmulator, build: FeedFactory, registry: HealthRegistry
) -> None:
    feed: BybitFeed = build("bybit", symbols=["BTCUSDT"])
    assert feed.stream is not None
    feed.stream.topics = ["liquidation.BTCUSDT"]  # the retired topic: Bybit (and the emulator) refuse it
    async with running(feed.stream):
        await wait_for(lambda: feed.stream is not None and feed.stream.connections >= 2, what="a retry")
    assert any("refused" in reason for reason in feed.stream.reconnect_reasons)
    snap = registry.get("bybit.liquidations").snapshot()
    assert snap.consecutive_failures >= 1 and snap.state is not FeedState.OK

"""A symbol one venue does not list is skipped there and reported once; it never stops another symbol.

One test per venue against the exchange emulator, which refuses such a symbol as the venue does
(Binance HTTP 400 -1121 "Invalid symbol.", Bybit retCode 10001 "Not supported symbols" and a refused
allLiquidation subscription, OKX no USDT swap for it). NOPEUSDT is a made-up typo; it sits between the
good symbols so that a feed stopping at it would lose the one after it.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from feeds.binance_futures import BinanceFuturesFeed
from feeds.bybit import BybitFeed
from feeds.errors import FeedError
from feeds.health import FeedState, HealthRegistry
from feeds.http import HttpClient
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from feeds.okx import OkxFeed
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock
from tests.feeds.helpers import running, wait_for
from tests.feeds.test_binance_spot import make_spot

SYMBOLS = ("BTCUSDT", "NOPEUSDT", "ETHUSDT")


def _rejected(registry: HealthRegistry) -> list[tuple[str, str]]:
    return [(r.venue, r.symbol) for r in registry.rejections.all()]


async def test_binance_answers_an_unknown_spot_symbol_with_400_minus_1121(
    emu: ExchangeEmulator, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    http = HttpClient(session, "binance_spot", emu.base_url, timeout_s=5.0, now_ms=clock)
    with pytest.raises(FeedError) as info:
        await http.get_json("/api/v3/klines", {"symbol": "NOPEUSDT", "interval": "1h"})
    assert info.value.kind == "unknown_symbol" and "Invalid symbol." in info.value.message


async def test_spot_candles_skip_a_refused_symbol_and_keep_the_next(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, symbols=SYMBOLS)
    with caplog.at_level(logging.WARNING):
        await feed.backfill()
        assert await feed.poller.run()
    assert ingest.repo.candles("BTCUSDT", "1h", source="binance")
    assert ingest.repo.candles("ETHUSDT", "1h", source="binance")  # after the refused one
    assert _rejected(registry) == [("binance", "NOPEUSDT")]
    assert sum("refuses NOPEUSDT" in r.getMessage() for r in caplog.records) == 1  # said once
    asked = [r.query["symbol"] for r in emu.requests("/api/v3/klines")]
    assert asked.count("NOPEUSDT") == 1  # not asked again
    assert registry.get("binance_spot").state() is FeedState.OK


async def test_binance_futures_skip_a_refused_symbol_for_funding_and_open_interest(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=SYMBOLS)
    assert await feed.funding_poller.run()
    assert await feed.oi_poller.run()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert ingest.repo.funding(symbol) and ingest.repo.open_interest(symbol)
    assert _rejected(registry) == [("binance_futures", "NOPEUSDT")]
    assert registry.get("binance_futures.funding").state() is FeedState.OK


async def test_bybit_tickers_skip_a_refused_symbol(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: BybitFeed = build("bybit", symbols=["NOPEUSDT", "BTCUSDT"])
    assert await feed.poller.run()
    assert await feed.poller.run()
    assert ingest.repo.funding("BTCUSDT") and ingest.repo.open_interest("BTCUSDT")
    assert _rejected(registry) == [("bybit", "NOPEUSDT")]
    asked = [r.query.get("symbol") for r in emu.requests("/v5/market/tickers")]
    assert asked == ["NOPEUSDT", "BTCUSDT", "BTCUSDT"]


async def test_bybit_refused_subscription_drops_that_topic_only(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: BybitFeed = build("bybit", symbols=["ICPUSDT", "NOPEUSDT", "MARSCOINUSDT"])
    assert feed.stream is not None
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("bybit", subscribed="allLiquidation.MARSCOINUSDT")
        await wait_for(lambda: bool(registry.rejections.all()), what="the refusal")
        assert conn.subscriptions == {"allLiquidation.ICPUSDT", "allLiquidation.MARSCOINUSDT"}
        emu.start_replay(50.0)

        def stored() -> int:
            cur = ingest.repo.conn.execute("SELECT count(*) FROM liquidations WHERE source = 'bybit'")
            return int(cur.fetchone()[0])

        await wait_for(lambda: stored() == 2, what="both liquidations stored")
        await emu.stop_replay()
    assert feed.stream.connections == 1  # the refusal did not drop the connection
    assert _rejected(registry) == [("bybit", "NOPEUSDT")]
    assert "allLiquidation.NOPEUSDT" not in feed.stream.topics  # not resubscribed on a reconnect


async def test_okx_rest_skips_a_symbol_without_a_swap(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: OkxFeed = build("okx", symbols=SYMBOLS, okx={"mode": "rest"})
    await feed.backfill()
    symbols = {r[0] for r in ingest.repo.conn.execute("SELECT symbol FROM liquidations WHERE source = 'okx'")}
    assert symbols == {"BTCUSDT", "ETHUSDT"}
    assert _rejected(registry) == [("okx", "NOPEUSDT")]
    assert registry.get("okx.liquidations").state() is FeedState.OK

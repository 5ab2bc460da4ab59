"""The positioning feed against the emulator, and its parsers on the venues' documented payloads."""

from __future__ import annotations

import pytest

from feeds.errors import FeedError, PayloadError
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.positioning import PositioningFeed, RequestCount, parse_bybit_ratio, parse_dvol, parse_hyperliquid
from storage.rows import DAY_MS
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock


def test_bybit_error_envelope_and_deribit_error_are_feed_errors() -> None:
    """The documented payloads themselves are checked in tests/feeds/test_corpus.py."""
    with pytest.raises(FeedError) as info:
        parse_bybit_ratio({"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}, "X", "1h")
    assert info.value.kind == "unknown_symbol"
    error = {"jsonrpc": "2.0", "error": {"message": "Invalid params", "code": -32602}}
    with pytest.raises(FeedError) as dvol:
        parse_dvol(error, "BTC", "1m")
    assert dvol.value.kind == "api"


def test_hyperliquid_refuses_a_misaligned_answer() -> None:
    with pytest.raises(PayloadError, match="2 coins but 1 asset contexts"):
        parse_hyperliquid([{"universe": [{"name": "BTC"}, {"name": "ETH"}]}, [{}]], {"BTC": "BTCUSDT"}, 1)


async def test_feed_stores_every_kind_for_btc_and_eth(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: PositioningFeed = build("positioning", positioning={"backfill_days": 2})
    await feed.backfill()
    for poller, _ in feed.pollers:
        assert await poller.run(), poller.name
        assert registry.get(poller.name).state() is FeedState.OK
    now = clock()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        rows = ingest.repo.long_short(symbol, now - 3 * DAY_MS, now + 1)
        kinds = {(r.source, r.metric) for r in rows}
        assert kinds == {
            ("binance", "accounts"),
            ("binance", "top_accounts"),
            ("binance", "top_positions"),
            ("binance", "taker_volume"),
            ("bybit", "accounts"),
        }, symbol
        # Two days of hourly backfill, then the polled 5-minute readings; the emulator's ETHUSDT series
        # (derived from recorded ETH candles) ends 18 hours before BTC's, so it has no recent 5 minutes.
        assert {r.period for r in rows} == ({"1h", "5m"} if symbol == "BTCUSDT" else {"1h"})
        hourly = [r for r in rows if r.period == "1h" and r.source == "binance" and r.metric == "accounts"]
        assert len(hourly) >= 30
        assert all(r.ratio > 0 and 0 < (r.long_share or 0) < 1 for r in rows)
        currency = symbol.removesuffix("USDT")
        vol = ingest.repo.implied_vol(currency, now - 3 * DAY_MS, now + 1)
        assert {v.resolution for v in vol} == ({"1h", "1m"} if symbol == "BTCUSDT" else {"1h"})
        assert all(v.close > 10 for v in vol)
        hyper_oi = [r for r in ingest.repo.open_interest(symbol) if r.source == "hyperliquid"]
        hyper_funding = [r for r in ingest.repo.funding(symbol) if r.source == "hyperliquid"]
        assert len(hyper_oi) == len(hyper_funding) == 1
        assert hyper_oi[0].usd == pytest.approx(hyper_oi[0].contracts * hyper_funding[0].mark_price)
        # Depth: Binance's 1000 synthetic levels reach ±2 %, Bybit's 200 stop at ±1 % (said, not filled in).
        depth = {(b.source, b.band_bp): b for b in ingest.repo.latest_depth(symbol, 0)}
        assert set(depth) == {(v, bp) for v in ("binance", "bybit") for bp in (50, 100, 200)}
        assert all(
            depth["binance", bp].bid_complete and depth["binance", bp].ask_complete for bp in (50, 100, 200)
        )
        assert depth["bybit", 50].bid_complete and not depth["bybit", 200].bid_complete
        assert depth["binance", 50].bid_usd < depth["binance", 100].bid_usd < depth["binance", 200].bid_usd
        okx_oi = [r for r in ingest.repo.open_interest(symbol) if r.source == "okx"]
        okx_funding = [r for r in ingest.repo.funding(symbol) if r.source == "okx"]
        assert len(okx_oi) == len(okx_funding) == 1 and okx_oi[0].usd and okx_oi[0].contracts
        assert okx_funding[0].next_funding_time is not None and not okx_funding[0].settled


async def test_emulator_refuses_what_the_venues_refuse(emu: ExchangeEmulator) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        base = emu.base_url
        async with http.get(
            f"{base}/futures/data/globalLongShortAccountRatio", params={"symbol": "BTCUSDT", "period": "3m"}
        ) as r:
            assert r.status == 400 and (await r.json())["code"] == -1130
        async with http.get(
            f"{base}/futures/data/topLongShortPositionRatio", params={"symbol": "NOPEUSDT", "period": "5m"}
        ) as r:
            assert r.status == 400 and (await r.json())["code"] == -1121
        params = {"category": "linear", "symbol": "BTCUSDT", "period": "5m"}  # Bybit spells it 5min
        async with http.get(f"{base}/v5/market/account-ratio", params=params) as r:
            assert r.status == 200 and (await r.json())["retCode"] == 10001
        dvol = {"currency": "DOGE", "start_timestamp": "1", "end_timestamp": "2", "resolution": "60"}
        async with http.get(f"{base}/api/v2/public/get_volatility_index_data", params=dvol) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == -32602
        async with http.post(f"{base}/info", json={"type": "nope"}) as r:
            assert r.status == 422
        async with http.get(f"{base}/api/v5/public/open-interest") as r:
            assert (await r.json())["code"] == "50014"
        async with http.get(f"{base}/api/v5/public/funding-rate", params={"instId": "NOPE-USDT-SWAP"}) as r:
            assert (await r.json())["code"] == "51001"


def test_ratio_requests_are_counted_against_binances_own_limit() -> None:
    """1000 requests per 5 minutes on /futures/data, apart from fapi's weight (whose header is ignored)."""
    now = [0]
    budget = RequestCount(2, lambda: now[0], 300.0)
    budget.reserve(1)
    budget.observe("0")  # fapi's X-MBX-USED-WEIGHT-1M counts another limit
    budget.reserve(1)
    with pytest.raises(FeedError) as info:
        budget.reserve(1)
    assert info.value.kind == "budget" and info.value.retry_after == 300.0
    now[0] = 300_000
    budget.reserve(1)  # a new window

"""The positioning feed against the emulator, and its parsers on the venues' documented payloads."""

from __future__ import annotations

import pytest

from feeds.errors import FeedError, PayloadError
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.positioning import (
    Pacer,
    PositioningFeed,
    RequestCount,
    parse_bybit_ratio,
    parse_dvol,
    parse_hyperliquid,
)
from feeds.positioning_venues import (
    parse_deribit_book_summary,
    parse_gate_tickers,
    parse_okx_long_short,
    parse_okx_taker_volume,
    parse_predicted_fundings,
)
from storage.rows import DAY_MS
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.faults import Fault
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
            ("okx", "accounts"),
            ("okx", "taker_volume"),
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
        # OKX rubik: hourly backfill (its 1H period) and the newest 5-minute readings, per coin.
        okx_ratios = [r for r in rows if r.source == "okx"]
        assert {r.period for r in okx_ratios} == ({"1h", "5m"} if symbol == "BTCUSDT" else {"1h"})
        # Gate (contracts x quanto_multiplier) and Deribit (USD over the mark) join the venues summed.
        for venue in ("gate", "deribit"):
            (oi,) = [r for r in ingest.repo.open_interest(symbol) if r.source == venue]
            (rate,) = [r for r in ingest.repo.funding(symbol) if r.source == venue]
            assert oi.usd == pytest.approx(oi.contracts * rate.mark_price), venue
            assert not rate.settled, venue
        gate_oi = next(r for r in ingest.repo.open_interest(symbol) if r.source == "gate")
        # The emulator's Gate holds 15 % of Binance's coins and Hyperliquid 12 %: contracts read without
        # their quanto_multiplier (0.0001 BTC, 0.01 ETH) would be 100 to 10,000 times off.
        assert gate_oi.contracts / hyper_oi[0].contracts == pytest.approx(0.15 / 0.12, rel=0.01)
        predicted = ingest.repo.latest_predicted_funding(symbol, 0)
        assert {(p.source, p.venue) for p in predicted} == {
            ("hyperliquid", "hyperliquid"),
            ("hyperliquid", "binance"),
            ("hyperliquid", "bybit"),
        }
        assert {p.interval_h for p in predicted} == {1.0, 8.0}


async def test_one_venue_down_never_stops_the_others(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    """Gate's tickers answer 503 and OKX's rubik a garbled body: their polls fail, every other one stores."""
    emu.faults.add(Fault("/api/v4/futures/usdt/tickers", "status", times=None, status=503))
    emu.faults.add(Fault("/api/v5/rubik/stat/*", "body", times=None, body=b'{"code":"0","data":"nope"}'))
    feed: PositioningFeed = build("positioning", positioning={"backfill_days": 0})
    failed = set()
    for poller, _ in feed.pollers:
        if not await poller.run():
            failed.add(poller.name)
    assert failed == {"positioning.gate", "positioning.okx_rubik"}
    assert registry.get("positioning.gate").last_error
    sources = {r.source for r in ingest.repo.funding("BTCUSDT")}
    assert sources == {"hyperliquid", "okx", "deribit"}  # Gate's missing, nobody else's
    assert {r.source for r in ingest.repo.long_short("BTCUSDT")} == {"binance", "bybit"}
    assert ingest.repo.latest_predicted_funding("BTCUSDT", 0)


async def test_one_deribit_currency_failing_never_costs_the_other(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    """Deribit refuses BTC's book summary and DVOL only (its JSON-RPC error, HTTP 400): ETH's are stored.

    A 5xx stays a venue-wide failure (``feeds.poller.each_symbol``); an error about one request is not.
    """
    refusal = b'{"jsonrpc":"2.0","error":{"message":"Invalid params","code":-32602},"testnet":false}'
    for path in ("/api/v2/public/get_book_summary_by_currency", "/api/v2/public/get_volatility_index_data"):
        emu.faults.add(Fault(path, "body", times=None, query={"currency": "BTC"}, status=400, body=refusal))
    feed: PositioningFeed = build("positioning", positioning={"backfill_days": 2})
    await feed.backfill()  # DVOL's hourly history (the emulator's ETH series ends before the last hour)
    for poller, _ in feed.pollers:
        if poller.name == "positioning.deribit_book":
            await poller.run()
    assert [r.source for r in ingest.repo.open_interest("ETHUSDT")] == ["deribit"]
    assert ingest.repo.implied_vol("ETH")
    assert not ingest.repo.open_interest("BTCUSDT") and not ingest.repo.implied_vol("BTC")
    for key in ("positioning.deribit_book:BTCUSDT", "positioning.dvol:BTCUSDT"):
        assert key in caplog.text  # the failing currency is said, once, with its poll's name


async def test_a_coin_okx_keeps_no_statistics_of_is_skipped_not_fatal(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    """OKX answers 51000 "Parameter ccy error" for SOL here: SOL is set aside, BTC's readings stored."""
    feed: PositioningFeed = build(
        "positioning", symbols=("SOLUSDT", "BTCUSDT"), positioning={"backfill_days": 0}
    )
    (rubik,) = [p for p, _ in feed.pollers if p.name == "positioning.okx_rubik"]
    assert await rubik.run()
    assert {r.source for r in ingest.repo.long_short("BTCUSDT")} == {"okx"}
    assert ingest.repo.long_short("SOLUSDT") == []
    assert registry.rejections.refused("positioning.okx_rubik", "SOLUSDT")


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
        async with http.get(f"{base}/api/v4/futures/eur/tickers") as r:
            assert r.status == 400 and (await r.json())["label"] == "INVALID_PARAM_VALUE"
        async with http.get(f"{base}/api/v4/futures/usdt/tickers", params={"contract": "NOPE_USDT"}) as r:
            assert r.status == 400 and (await r.json())["label"] == "CONTRACT_NOT_FOUND"
        book = f"{base}/api/v2/public/get_book_summary_by_currency"
        async with http.get(book, params={"currency": "DOGE", "kind": "future"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == -32602
        async with http.get(book, params={"currency": "BTC", "kind": "perpetual"}) as r:
            assert r.status == 400 and (await r.json())["error"]["data"]["param"] == "kind"
        rubik = f"{base}/api/v5/rubik/stat/contracts/long-short-account-ratio"
        async with http.get(rubik) as r:
            assert (await r.json())["code"] == "50014"
        async with http.get(rubik, params={"ccy": "BTC", "period": "15m"}) as r:
            assert (await r.json())["code"] == "51000"
        taker = f"{base}/api/v5/rubik/stat/taker-volume"
        async with http.get(taker, params={"ccy": "BTC", "instType": "SWAP"}) as r:
            assert (await r.json())["code"] == "51000"


async def test_emulator_enforces_okx_rubik_and_gate_rate_limits(emu: ExchangeEmulator) -> None:
    """OKX rubik: 5 requests per 2 s per endpoint (then 429, code 50011); Gate: 200 per 10 s per endpoint."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        rubik = f"{emu.base_url}/api/v5/rubik/stat/contracts/long-short-account-ratio"
        codes = []
        for _ in range(6):
            async with http.get(rubik, params={"ccy": "BTC"}) as r:
                codes.append((r.status, (await r.json())["code"]))
        assert codes[:5] == [(200, "0")] * 5 and codes[5] == (429, "50011")
        # The taker-volume endpoint counts apart.
        async with http.get(
            f"{emu.base_url}/api/v5/rubik/stat/taker-volume", params={"ccy": "BTC", "instType": "CONTRACTS"}
        ) as r:
            assert r.status == 200
        statuses = []
        for _ in range(201):
            async with http.get(f"{emu.base_url}/api/v4/futures/usdt/tickers") as r:
                statuses.append(r.status)
        assert statuses[:200] == [200] * 200 and statuses[200] == 429


async def test_pacer_spreads_requests_over_the_window() -> None:
    """Past the limit a request waits for the oldest to leave the window instead of being refused."""
    now = [0.0]
    slept: list[float] = []
    pacer = Pacer(2, 2.0, clock=lambda: now[0])

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    import feeds.positioning as module

    original = module.asyncio.sleep
    module.asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        await pacer.turn()
        now[0] = 0.5
        await pacer.turn()
        await pacer.turn()  # third in the window [0, 2): waits until the first leaves at t=2
    finally:
        module.asyncio.sleep = original  # type: ignore[assignment]
    assert slept == [1.5] and now[0] == 2.0


async def test_emulator_spends_deribits_credits_across_both_routes(emu: ExchangeEmulator) -> None:
    """100 requests drain the 50,000 credits (500 each) of one IP, DVOL and book summaries alike."""
    import aiohttp

    clock = [0.0]
    credits = emu.positioning.deribit_credits
    credits.now, credits.at, credits.credits = (lambda: clock[0]), 0.0, float(credits.most)
    book = f"{emu.base_url}/api/v2/public/get_book_summary_by_currency"
    dvol = f"{emu.base_url}/api/v2/public/get_volatility_index_data"
    window = {"currency": "BTC", "start_timestamp": "1", "end_timestamp": "2", "resolution": "60"}
    async with aiohttp.ClientSession() as http:
        for i in range(100):
            url, params = (book, {"currency": "BTC", "kind": "future"}) if i % 2 else (dvol, window)
            async with http.get(url, params=params) as r:
                assert r.status == 200, i
        async with http.get(book, params={"currency": "ETH", "kind": "future"}) as r:
            assert r.status == 429 and (await r.json())["error"]["code"] == 10028
        clock[0] = 0.05  # 500 credits back
        async with http.get(dvol, params=window) as r:
            assert r.status == 200


def test_gate_and_okx_refusals_are_feed_errors() -> None:
    with pytest.raises(FeedError) as gate:
        parse_gate_tickers({"label": "CONTRACT_NOT_FOUND", "message": "x"}, {}, 1)
    assert gate.value.kind == "api"
    with pytest.raises(FeedError) as ccy:
        parse_okx_long_short({"code": "51000", "msg": "Parameter ccy error", "data": []}, "XUSDT", "5m")
    assert ccy.value.kind == "unknown_symbol"  # a coin OKX keeps no statistics of: skipped, not fatal
    with pytest.raises(FeedError) as limit:
        parse_okx_taker_volume({"code": "50011", "msg": "Too Many Requests", "data": []}, "BTCUSDT", "5m")
    assert limit.value.kind == "api"
    with pytest.raises(FeedError):
        parse_deribit_book_summary({"jsonrpc": "2.0", "error": {"code": -32602}}, {})
    with pytest.raises(PayloadError, match="not \\[coin, venues\\]"):
        parse_predicted_fundings([["BTC"]], {"BTC": "BTCUSDT"}, 1)


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

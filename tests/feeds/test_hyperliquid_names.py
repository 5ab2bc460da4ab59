"""Hyperliquid's 1000-unit coins (``kPEPE`` = 1,000 PEPE) under the canonical symbol, per coin.

No recorded Hyperliquid payload with a ``k`` coin is in the corpus: the ``kPEPE`` rows below are
SYNTHETIC, in the shape of the recorded BTC ones (tests/data/corpus/hyperliquid_trades_BTC_live_probe_
20260904.json, hyperliquid_docs_metaAndAssetCtxs.json, hyperliquid_predictedFundings_BTC_ETH_live_
20260903.json) with the name Hyperliquid's ``meta`` lists PEPE under (``kPEPE``: Hyperliquid docs,
"Info endpoint > Perpetuals", the universe's names).
"""

from __future__ import annotations

import logging

import pytest

from feeds.hyperliquid import HyperliquidFeed, parse_trades
from feeds.hyperliquid_names import hyperliquid_coin, listed_names, subscription_name
from feeds.ingest import Ingest
from feeds.instrument_lists import parse_hyperliquid_meta
from feeds.instruments import InstrumentRegistry
from feeds.positioning import parse_hyperliquid
from feeds.positioning_venues import parse_predicted_fundings
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, ManualClock

VAULT = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"
# SYNTHETIC: Hyperliquid's meta with a 1000-unit coin, a coin whose name starts with K, a delisted one.
META = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
        {"name": "kPEPE", "szDecimals": 0, "maxLeverage": 10},
        {"name": "KAVA", "szDecimals": 1, "maxLeverage": 10},
        {"name": "kSHIB", "szDecimals": 0, "maxLeverage": 10, "isDelisted": True},
    ]
}


def test_a_lower_case_k_means_a_thousand_coins_and_nothing_else_does() -> None:
    assert hyperliquid_coin("kPEPE") == ("PEPE", 1000)
    assert hyperliquid_coin("kBONK") == ("BONK", 1000)
    assert hyperliquid_coin("KAVA") == ("KAVA", 1)  # the coin KAVA: the name is case-sensitive
    assert hyperliquid_coin("BTC") == ("BTC", 1)


def test_the_meta_list_gives_kpepe_as_pepe_times_a_thousand() -> None:
    parsed = parse_hyperliquid_meta(META)
    by_name = {i.symbol: i for i in parsed.rows}
    pepe = by_name["kPEPE"]
    assert (pepe.base, pepe.multiplier, pepe.funding_interval_h, pepe.listed) == ("PEPE", 1000, 1.0, True)
    assert pepe.price(12.3) == pytest.approx(0.0123) and pepe.size(5.0) == 5000.0
    assert (by_name["KAVA"].base, by_name["KAVA"].multiplier) == ("KAVA", 1)
    assert by_name["kSHIB"].listed is False and parsed.skipped == []


def test_watched_markets_are_subscribed_under_the_listed_name() -> None:
    registry = InstrumentRegistry()
    assert subscription_name("PEPEUSDT", listed_names(registry)) == "PEPE"  # no list: the plain coin
    registry.replace("hyperliquid", parse_hyperliquid_meta(META).rows, 1)
    listed = listed_names(registry)
    assert subscription_name("PEPEUSDT", listed) == "kPEPE"
    assert subscription_name("BTCUSDT", listed) == "BTC"
    assert subscription_name("SHIBUSDT", listed) == "SHIB"  # kSHIB is delisted: asked plainly, refused


def test_a_kpepe_backstop_fill_is_stored_per_pepe() -> None:
    frame = {
        "channel": "trades",
        "data": [
            {  # SYNTHETIC: 5,000 kPEPE at 0.0123 = 5,000,000 PEPE at 0.0000123
                "coin": "kPEPE",
                "side": "A",
                "px": "0.0123",
                "sz": "5000",
                "time": 1788490042052,
                "hash": "0x0",
                "tid": 1,
                "users": [VAULT, "0xa62b923a112d50d03e1e096bbd53422490dac104"],
            }
        ],
    }
    (row,) = parse_trades(frame, {"kPEPE": "PEPEUSDT"}, frozenset({VAULT})).rows
    assert (row.symbol, row.side) == ("PEPEUSDT", "long")
    assert row.price == pytest.approx(0.0000123) and row.qty == pytest.approx(5_000_000)
    assert row.usd == pytest.approx(61.5)  # unchanged by the units


def test_positioning_reads_kpepe_open_interest_in_pepe() -> None:
    ctx = {"funding": "0.0000125", "markPx": "0.0123", "openInterest": "2000000"}  # SYNTHETIC
    btc = {"funding": "0.0000125", "markPx": "95000", "openInterest": "10"}
    payload = [{"universe": META["universe"][:2]}, [btc, ctx]]
    funding, interest = parse_hyperliquid(payload, {"BTC": "BTCUSDT", "PEPE": "PEPEUSDT"}, 1)
    pepe_oi = next(r for r in interest.rows if r.symbol == "PEPEUSDT")
    assert pepe_oi.contracts == pytest.approx(2_000_000_000) and pepe_oi.usd == pytest.approx(24_600)
    pepe_rate = next(r for r in funding.rows if r.symbol == "PEPEUSDT")
    assert pepe_rate.mark_price == pytest.approx(0.0000123) and pepe_rate.rate == pytest.approx(0.0000125)


def test_predicted_funding_of_kpepe_counts_for_pepe() -> None:
    payload = [  # SYNTHETIC kPEPE row in the recorded rows' shape
        ["kPEPE", [["HlPerp", {"fundingRate": "0.0000125", "nextFundingTime": 1788462000000}]]],
        ["KAVA", [["HlPerp", {"fundingRate": "0.00001", "nextFundingTime": 1788462000000}]]],
    ]
    rows = parse_predicted_fundings(payload, {"PEPE": "PEPEUSDT"}, 1).rows
    assert [(r.symbol, r.venue) for r in rows] == [("PEPEUSDT", "hyperliquid")]


async def test_the_feed_subscribes_kpepe_from_the_emulators_list_and_stores_pepe(
    emu: ExchangeEmulator, session: object, ingest: Ingest, clock: ManualClock
) -> None:
    import aiohttp

    from feeds.health import HealthRegistry
    from feeds.instrument_fetch import InstrumentLists
    from feeds.logonce import FailureLog
    from feeds.scheduler import build_feeds
    from tests.feeds.helpers import emulator_feeds_config

    assert isinstance(session, aiohttp.ClientSession)
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"hyperliquid"})
    failures = FailureLog(logging.getLogger("tests.hyperliquid"), clock)
    lists = InstrumentLists(config, session, clock, failures, None, FAST)
    assert await lists.refresh() == ["hyperliquid"]  # POST /info {"type":"meta"} on the emulator
    assert {i.symbol for i in lists.registry.instruments} >= {"BTC", "ETH"}
    # The emulator lists BTC and ETH only; PEPE's listing is added as Hyperliquid's meta has it.
    listed = lists.registry.instruments + parse_hyperliquid_meta(META).rows[1:2]
    lists.registry.replace("hyperliquid", listed, clock())
    registry = HealthRegistry(clock)
    (feed,) = build_feeds(
        config, ["BTCUSDT", "PEPEUSDT"], ingest, session, clock, registry, failures, FAST, lists.registry
    )
    assert isinstance(feed, HyperliquidFeed)
    assert feed.stream.coins == {"BTC": "BTCUSDT", "kPEPE": "PEPEUSDT"}
    trade = {"side": "B", "hash": "0x0", "tid": 1, "time": clock(), "users": ["0xabc", VAULT]}
    frame = {"channel": "trades", "data": [{**trade, "coin": "kPEPE", "px": "0.0123", "sz": "5000"}]}
    import json

    assert feed.stream.on_text(json.dumps(frame))
    feed.buffer.flush()
    cur = ingest.repo.conn.execute("SELECT symbol, side, qty, price FROM liquidations")
    (stored,) = cur.fetchall()
    assert tuple(stored[:2]) == ("PEPEUSDT", "short")
    assert stored[2] == pytest.approx(5_000_000) and stored[3] == pytest.approx(0.0000123)

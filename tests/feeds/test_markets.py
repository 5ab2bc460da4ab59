"""Twenty markets on the emulated venues: each venue's list says what it trades, each feed asks by the
venue's name, rows are stored per coin under the market's symbol, and the bad names stop nothing.

The emulator's lists: Binance USD-M is the recorded 2025-06-17 symbol list; Binance spot and Bybit are
SYNTHETIC lists derived from it (tests/emulators/exchanges/instruments.py); series of listed symbols
without a recording are SYNTHETIC stand-ins (BTC's shape at the symbol's recorded price).
"""

from __future__ import annotations

import aiohttp
import pytest

from feeds.binance_futures import BinanceFuturesFeed
from feeds.bybit import BybitFeed
from feeds.instrument_fetch import InstrumentLists
from feeds.instruments import InstrumentRegistry
from feeds.logonce import FailureLog
from feeds.scheduler import build_feeds
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, ManualClock
from tests.feeds.helpers import emulator_feeds_config, running, wait_for

# The first request for a listed symbol with no recording builds its stand-in series; on a loaded machine
# that can take longer than the helper's 0.5 s request timeout, which is not what these tests are about.
SLOW = {"timeout_seconds": 10.0}
SECTIONS = {name: dict(SLOW) for name in ("binance_spot", "binance_futures", "bybit")} | {
    "okx": {"mode": "rest", **SLOW}
}

# What a community might write: majors, 1000x coins, a stablecoin pair, a delisted pair and a typo.
CONFIGURED = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "ADAUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
    "LTCUSDT",
    "TRXUSDT",
    "SUIUSDT",
    "APTUSDT",
    "ARBUSDT",
    "OPUSDT",
    "1000PEPEUSDT",
    "SHIB",
    "BTCFDUSD",
    "LUNAUSDT",
    "SOLUSTD",
]


async def lists(
    emu: ExchangeEmulator, session: aiohttp.ClientSession, clock: ManualClock, repo: Repo
) -> InstrumentLists:
    config = emulator_feeds_config(emu.base_url, emu.ws_url, **SECTIONS)
    failures = FailureLog(__import__("logging").getLogger("tests.markets"), clock)
    found = InstrumentLists(config, session, clock, failures, repo, FAST)
    found.load_cached()
    return found


async def test_lists_are_read_cached_and_used_for_an_offline_start(
    emu: ExchangeEmulator, session: aiohttp.ClientSession, clock: ManualClock, file_repo: Repo
) -> None:
    online = await lists(emu, session, clock, file_repo)
    assert sorted(await online.refresh()) == ["binance", "binance_futures", "bybit", "okx"]
    assert {r.venue for r in file_repo.instrument_rows()} == {"binance", "binance_futures", "bybit", "okx"}
    assert len(file_repo.instrument_rows("binance_futures")) > 500
    # Offline: every venue unreachable; the cached lists still resolve the markets.
    config = emulator_feeds_config("http://127.0.0.1:9", "ws://127.0.0.1:9", okx={"mode": "rest"})
    failures = FailureLog(__import__("logging").getLogger("tests.markets"), clock)
    offline = InstrumentLists(config, session, clock, failures, file_repo, FAST)
    offline.load_cached()
    assert await offline.refresh() == []
    shib = offline.registry.resolve("SHIB")
    assert shib.ok and {i.symbol for i in shib.instruments if i.venue == "bybit"} == {"SHIB1000USDT"}


def canonical(registry: InstrumentRegistry) -> tuple[list[str], dict[str, str]]:
    """Resolve the configured names as check-config does: (markets to watch, refused name -> message)."""
    watched: list[str] = []
    refused: dict[str, str] = {}
    for name in CONFIGURED:
        res = registry.resolve(name)
        if res.ok and res.canonical is not None:
            watched.append(res.canonical)
        else:
            refused[name] = res.message()
    return watched, refused


async def test_twenty_markets_resolve_or_refuse_against_the_venues_lists(
    emu: ExchangeEmulator, session: aiohttp.ClientSession, clock: ManualClock, repo: Repo
) -> None:
    found = await lists(emu, session, clock, repo)
    await found.refresh()
    watched, refused = canonical(found.registry)
    assert len(watched) == 18 and "PEPEUSDT" in watched and "SHIBUSDT" in watched and "BTCFDUSD" in watched
    assert sorted(refused) == ["LUNAUSDT", "SOLUSTD"]
    assert refused["LUNAUSDT"].startswith("LUNAUSDT is not trading on any venue: binance spot LUNAUSDT")
    assert "SETTLING" in refused["LUNAUSDT"]
    assert refused["SOLUSTD"].startswith("SOLUSTD is not a market any venue lists. Did you mean SOLUSDT")


@pytest.mark.parametrize("venue", ["binance", "binance_futures", "bybit", "okx"])
async def test_every_listed_market_is_stored_on_every_venue_that_lists_it(
    venue: str,
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    clock: ManualClock,
    file_repo: Repo,
    ingest: object,
    registry: object,
    failures: FailureLog,
) -> None:
    from feeds.health import HealthRegistry
    from feeds.ingest import Ingest

    assert isinstance(ingest, Ingest) and isinstance(registry, HealthRegistry)
    found = await lists(emu, session, clock, ingest.repo)
    await found.refresh()
    watched, _ = canonical(found.registry)
    # The bad names go to the feeds as well, between good ones: they must stop nothing.
    symbols = [*watched[:8], "LUNAUSDT", "SOLUSTD", *watched[8:]]
    section = {"binance": "binance_spot"}.get(venue, venue)
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={section}, **SECTIONS)
    (feed,) = build_feeds(config, symbols, ingest, session, clock, registry, failures, FAST, found.registry)
    await feed.backfill()
    for job in feed.jobs():
        await job.run()
    db = ingest.repo.conn
    kind = "perp" if venue != "binance" else "spot"
    expected = {s for s in watched if found.registry.instrument(venue, s, kind) is not None}
    assert expected  # the venue trades some of them
    if venue == "binance":
        stored = {r[0] for r in db.execute("SELECT DISTINCT symbol FROM candles WHERE source = 'binance'")}
        assert stored == expected and "BTCFDUSD" in stored and "PEPEUSDT" in stored
    elif venue == "okx":
        stored = {r[0] for r in db.execute("SELECT DISTINCT symbol FROM liquidations WHERE source = 'okx'")}
        assert stored == expected == {"BTCUSDT", "ETHUSDT"}  # the emulated OKX lists these two swaps
    else:
        source = "binance" if venue == "binance_futures" else "bybit"
        for table in ("funding", "open_interest"):
            rows = db.execute(f"SELECT DISTINCT symbol FROM {table} WHERE source = ?", (source,))
            assert {r[0] for r in rows} == expected, table
        assert "PEPEUSDT" in expected and "SHIBUSDT" in expected and "BTCFDUSD" not in expected
        # 1000PEPEUSDT's mark is per 1000 PEPE at the venue; stored per coin: a thousandth of it.
        pepe = ingest.repo.funding("PEPEUSDT")[-1]
        assert pepe.mark_price is not None and pepe.mark_price < 0.0001
        oi = ingest.repo.open_interest("PEPEUSDT")[-1]
        assert oi.usd is not None and oi.contracts is not None
        assert oi.usd / oi.contracts == pytest.approx(pepe.mark_price, rel=0.05)  # coins x price per coin
    # Exactly the names this venue does not trade were refused (once each), and nothing else.
    rejected = [r.symbol for r in registry.rejections.all()]
    assert sorted(rejected) == sorted(set(symbols) - expected)
    assert {"LUNAUSDT", "SOLUSTD"} <= set(rejected)


async def test_liquidations_of_1000x_contracts_are_stored_per_coin(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    clock: ManualClock,
    ingest: object,
    registry: object,
    failures: FailureLog,
) -> None:
    from feeds.health import HealthRegistry
    from feeds.ingest import Ingest

    assert isinstance(ingest, Ingest) and isinstance(registry, HealthRegistry)
    found = await lists(emu, session, clock, ingest.repo)
    await found.refresh()
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"binance_futures", "bybit"}, **SECTIONS)
    feeds = build_feeds(
        config, ["PEPEUSDT", "SHIBUSDT"], ingest, session, clock, registry, failures, FAST, found.registry
    )
    futures = next(f for f in feeds if isinstance(f, BinanceFuturesFeed))
    bybit = next(f for f in feeds if isinstance(f, BybitFeed))
    assert futures.stream is not None and bybit.stream is not None
    assert futures.watched == {"1000PEPEUSDT", "1000SHIBUSDT"} and bybit.watched == {
        "1000PEPEUSDT",
        "SHIB1000USDT",
    }
    # SYNTHETIC events in the venues' documented shapes: 2,000 units of 1000PEPEUSDT at 0.0105
    # (2,000,000 PEPE at 0.0000105) on Binance; 30,000 units of SHIB1000USDT at 0.0118 on Bybit.
    event = {
        "e": "forceOrder",
        "E": clock(),
        "o": {
            "s": "1000PEPEUSDT",
            "S": "SELL",
            "q": "2000",
            "p": "0.0105",
            "ap": "0.0105",
            "z": "2000",
            "l": "2000",
            "T": clock(),
        },
    }
    frame = {
        "topic": "allLiquidation.SHIB1000USDT",
        "type": "snapshot",
        "ts": clock(),
        "data": [{"T": clock(), "s": "SHIB1000USDT", "S": "Sell", "v": "30000", "p": "0.0118"}],
    }
    async with running(futures.stream), running(bybit.stream):
        await emu.wait_ws("binance")
        await emu.wait_ws("bybit", subscribed="allLiquidation.SHIB1000USDT")
        await emu.push_ws("binance", event)
        await emu.push_ws("bybit", frame)
        await wait_for(lambda: len(ingest.repo.conn.execute("SELECT * FROM liquidations").fetchall()) == 2)
    rows = sorted(ingest.repo.conn.execute("SELECT symbol, source, side, price, qty, usd FROM liquidations"))
    assert rows[0][:3] == ("PEPEUSDT", "binance", "long")
    assert (
        rows[0][3] == pytest.approx(0.0000105)
        and rows[0][4] == 2_000_000
        and rows[0][5] == pytest.approx(21.0)
    )
    assert rows[1][:3] == ("SHIBUSDT", "bybit", "short")
    assert (
        rows[1][3] == pytest.approx(0.0000118)
        and rows[1][4] == 30_000_000
        and rows[1][5] == pytest.approx(354.0)
    )

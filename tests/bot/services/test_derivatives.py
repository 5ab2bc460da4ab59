"""/funding and /oi on the emulated venues: a 4 h symbol and BTC, per venue, from the live feeds' rows."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.alerts.engine import Engine
from bot.config import parse_config
from bot.discord.render.market import funding_embed, open_interest_embed
from bot.services import Service
from bot.services.derivatives import FundingSourceView
from detectors.market_history import MarketHistory
from detectors.positioning import OI_SIDES, one_side
from feeds.base import Tuning
from feeds.health import HealthRegistry
from feeds.ingest import Ingest
from feeds.instrument_fetch import InstrumentLists
from feeds.logonce import FailureLog
from feeds.scheduler import build_feeds
from storage.repo import Repo
from storage.rows import HOUR_MS, OpenInterest
from tests.bot.support import Clock, discord_engine
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.instruments import Listings
from tests.feeds.helpers import emulator_feeds_config


def four_hour_symbol(emu: ExchangeEmulator) -> str:
    """Return a USDT perpetual the recorded list shows settling every 4 h, listed on both venues."""
    listings = Listings(emu.data)
    return next(
        s.symbol
        for s in listings.futures.values()
        if s.interval_ms == 4 * HOUR_MS
        and s.quote == "USDT"
        and s.multiplier == 1
        and s.symbol in listings.bybit_linear
    )


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


async def test_funding_and_oi_of_a_4h_symbol_and_btc_per_venue(
    exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession, repo: Repo, engine: Engine
) -> None:
    four = four_hour_symbol(exchange_emu)
    now = exchange_emu.clock.now_ms()
    clock = Clock(now)
    failures = FailureLog(logging.getLogger("t"), clock)
    tuning = Tuning(poll_backoff_base_s=0.01)
    slow = {"timeout_seconds": 10.0}  # stand-in series are built on first request: not a speed test
    feeds_config = emulator_feeds_config(
        exchange_emu.base_url,
        exchange_emu.ws_url,
        only={"binance_futures", "bybit"},
        binance_futures=slow,
        bybit=slow,
    )
    lists = InstrumentLists(feeds_config, http, clock, failures, repo, tuning)
    await lists.refresh()
    ingest, health = Ingest(repo, MarketHistory()), HealthRegistry(clock)
    symbols = ["BTCUSDT", four]
    for feed in build_feeds(
        feeds_config, symbols, ingest, http, clock, health, failures, tuning, lists.registry
    ):
        await feed.backfill()
        for job in feed.jobs():
            await job.run()
    config = parse_config({"symbols": symbols})
    service = Service(repo, engine, config, clock)
    service.instruments = lists.registry

    view = service.funding(four)
    venues = {s.source: s for s in view.by_source}
    assert set(venues) == {"binance", "bybit"}
    for source in venues.values():
        assert (source.interval_h, source.interval_from) == (4, "instrument list")
        assert source.annualized_pct == pytest.approx(source.rate * 6 * 365 * 100)  # 6 settlements a day
        assert source.next_funding_at is not None and not source.next_funding_estimated  # the venue said
        assert source.next_funding_at % (4 * HOUR_MS) == 0 and source.next_funding_at > now
    assert view.source == view.history_source == "binance" and view.history_settlements > 6
    assert view.interval_h == 4
    embed = funding_embed(view)
    assert "per 4h" in embed.title and "(6 settlements a day)" in (embed.description or "")
    assert {f.name for f in embed.fields} >= {"binance · every 4h", "bybit · every 4h", "Across 2 venues"}

    btc = service.funding("BTCUSDT")
    assert {s.source: s.interval_h for s in btc.by_source} == {"binance": 8, "bybit": 8}
    assert btc.annualized_pct == pytest.approx(btc.rate * 3 * 365 * 100)
    assert btc.next_funding_at % (8 * HOUR_MS) == 0 and not btc.next_funding_estimated

    for symbol in (four, "BTCUSDT"):
        oi = service.open_interest(symbol)
        per_venue = {s.source: s for s in oi.by_source}
        assert set(per_venue) == {"binance", "bybit"} and oi.source == "binance+bybit"
        assert all(s.sides == "one side" for s in per_venue.values())
        assert oi.usd == pytest.approx(sum(s.usd or 0 for s in per_venue.values()))
        rendered = open_interest_embed(oi)
        assert "sum of 2 venues (one side)" in (rendered.description or "")
        assert {f.name for f in rendered.fields} >= {"binance (one side)", "bybit (one side)"}


def test_a_source_counting_both_sides_is_halved_before_it_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OI_SIDES, "twosided", "both sides")
    row = OpenInterest("BTCUSDT", 1, "twosided", 10.0, 1_000_000.0)
    assert one_side("twosided", row) == row._replace(contracts=5.0, usd=500_000.0)
    assert one_side("binance", row) is row


def test_annualisation_follows_the_interval() -> None:
    hourly = FundingSourceView("x", 0.0001, 1, True, interval_h=1)
    eight = FundingSourceView("x", 0.0001, 1, True, interval_h=8)
    assert hourly.annualized_pct == pytest.approx(87.6) and eight.annualized_pct == pytest.approx(10.95)
    assert hourly.per_8h == pytest.approx(0.0008)

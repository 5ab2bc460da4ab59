"""A process without feeds (a Discord cluster) reads the venues' instrument lists the market role cached.

The lists are the exchange emulator's recorded real ones, read and cached by ``InstrumentLists`` as the
market role's feeds do; the follower hands a registry filled from that cache to the cluster's service.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import aiohttp
import pytest

from bot.config import parse_config
from bot.errors import UserError
from bot.roles.history_follower import HistoryFollower
from bot.services import Service
from detectors.market_history import MarketHistory
from feeds.base import Tuning
from feeds.instrument_fetch import InstrumentLists, list_venues
from feeds.instruments import InstrumentRegistry
from feeds.logonce import FailureLog
from storage.db import open_database
from storage.repo import Repo
from tests.bot.support import Clock, discord_engine
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml


async def test_a_cluster_resolves_venue_names_through_the_lists_the_market_role_cached(
    tmp_path: Path, exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    feeds = tomllib.loads(tripwire_feeds_toml(exchange_emu.base_url, exchange_emu.ws_url))
    config = parse_config({**feeds, "symbols": ["BTCUSDT", "PEPE", "SHIB"]})
    path = str(tmp_path / "shared.db")
    market = Repo(open_database(path))
    lists = InstrumentLists(
        config.feeds, http, lambda: 1, FailureLog(logging.getLogger("t"), lambda: 1), market, Tuning()
    )
    assert sorted(await lists.refresh()) == sorted(lists.fetchers)
    # What the cluster reads is what the market role's InstrumentLists reads for the same config.
    assert list_venues(config.feeds) == set(lists.fetchers)

    cluster = Repo(open_database(path))
    service = Service(cluster, discord_engine(cluster), config, Clock(1), history=MarketHistory())
    # Without the lists a name is only read by its shape, and a typo gets no suggestion.
    assert service.resolve_market("SHIB1000USDT") == ("SHIBUSDT", "SHIB1000USDT -> SHIBUSDT")
    with pytest.raises(UserError, match="Unknown symbol `PEPPE`"):
        service.resolve_market("PEPPE")
    follower = HistoryFollower(
        lambda: Repo(open_database(path, migrate_schema=False)),
        config.symbols,
        Clock(1),
        lambda history: setattr(service, "history", history),
        instrument_venues=list_venues(config.feeds),
        on_instruments=lambda registry: setattr(service, "instruments", registry),
    )
    await follower.refresh()
    assert isinstance(service.instruments, InstrumentRegistry)
    assert sorted(service.instruments.venues()) == sorted(lists.fetchers)
    symbol, note = service.resolve_market("SHIB1000USDT")
    assert symbol == "SHIBUSDT" and note is not None
    assert note.startswith("SHIB1000USDT -> SHIBUSDT (SHIB/USDT): ")
    with pytest.raises(UserError, match=r"PEPPE is not a market any venue lists\. Did you mean PEPEUSDT\?"):
        service.resolve_market("PEPPE")
    market.close()
    cluster.close()


def test_the_cached_list_of_a_venue_switched_off_is_left_out() -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "feeds": {"okx": {"enabled": False}}})
    venues = list_venues(config.feeds)
    assert "okx" not in venues and {"binance", "binance_futures", "bybit"} <= venues

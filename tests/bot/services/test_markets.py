"""A market a member types (/alert add, the market queries) is resolved through the venues' lists."""

from __future__ import annotations

import logging
import tomllib

import aiohttp
import pytest

from bot.alerts.engine import Engine
from bot.config import parse_config
from bot.errors import UserError
from bot.services import Service
from feeds.base import Tuning
from feeds.instrument_fetch import InstrumentLists
from feeds.logonce import FailureLog
from storage.repo import Repo
from tests.bot.support import Clock, discord_engine
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


async def test_alert_symbols_resolve_through_the_venues_lists(
    repo: Repo, engine: Engine, exchange_emu: ExchangeEmulator, http: aiohttp.ClientSession
) -> None:
    feeds = tomllib.loads(tripwire_feeds_toml(exchange_emu.base_url, exchange_emu.ws_url))
    config = parse_config({**feeds, "symbols": ["BTCUSDT", "PEPE", "SHIB"]})
    service = Service(repo, engine, config, Clock(1))
    assert service.resolve_market("1000PEPEUSDT") == ("PEPEUSDT", "1000PEPEUSDT -> PEPEUSDT")  # before lists
    lists = InstrumentLists(
        config.feeds,
        http,
        lambda: 1,
        FailureLog(logging.getLogger("t"), lambda: 1),
        None,
        Tuning(),
    )
    await lists.refresh()
    service.instruments = lists.registry
    symbol, note = service.resolve_market("SHIB1000USDT")
    assert (
        symbol == "SHIBUSDT"
        and note is not None
        and note.startswith("SHIB1000USDT -> SHIBUSDT (SHIB/USDT): ")
    )
    assert service.resolve_symbol("pepe") == "PEPEUSDT"
    with pytest.raises(UserError) as typo:
        service.resolve_symbol("PEPPE")
    assert str(typo.value) == "PEPPE is not a market any venue lists. Did you mean PEPEUSDT?"
    with pytest.raises(UserError) as unwatched:
        service.resolve_symbol("DOGE")
    assert "Tripwire does not watch it: add DOGEUSDT to `symbols`." in str(unwatched.value)
    with pytest.raises(UserError) as delisted:
        service.resolve_symbol("LUNAUSDT")
    assert str(delisted.value).startswith("LUNAUSDT is not trading on any venue: binance spot LUNAUSDT")

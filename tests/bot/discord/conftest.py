"""Fixtures for end-to-end tests: the real Tripwire bot, on a database seeded with the bundled scenario,
connected to the local Discord emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.services import Service
from bot.services.base import FeedStatusView
from detectors.market_history import MarketHistory
from storage.repo import Repo
from tests.bot.scenario import BREAKOUT_DAY_NOON, seed
from tests.bot.support import Clock, FixedFeeds
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import GUILD_ID


@pytest.fixture
def config() -> Config:
    """Return a config with two symbols, the emulator's guild and small quotas."""
    return parse_config(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "discord": {"guild_ids": [GUILD_ID], "max_rules_per_user": 5, "max_rules_per_guild": 8},
        }
    )


@pytest.fixture
def clock() -> Clock:
    """Return a clock set to the day after BTC broke $95,000."""
    return Clock(BREAKOUT_DAY_NOON)


@pytest.fixture
def history(repo: Repo) -> MarketHistory:
    """Seed the database with the bundled scenario and return the in-memory history."""
    return seed(repo)


@pytest.fixture
def engine(repo: Repo, history: MarketHistory) -> Engine:
    """Return the engine the service refreshes rules in."""
    engine = Engine(repo, history, AlertRouter(repo, [], console=False, discord=True))
    engine.load()
    return engine


@pytest.fixture
def feeds(clock: Clock) -> FixedFeeds:
    """Return feed health with one healthy and one stale feed."""
    return FixedFeeds(
        [
            FeedStatusView("binance_spot", "ok", clock.now - 4_000, 4.0),
            FeedStatusView("binance_futures", "stale", clock.now - 900_000, 900.0, "no message for 15m"),
        ]
    )


@pytest.fixture
def service(
    repo: Repo, engine: Engine, config: Config, clock: Clock, feeds: FixedFeeds, history: MarketHistory
) -> Service:
    """Return the service, started an hour before the clock, reading the engine's history."""
    return Service(repo, engine, config, clock, feeds, started_at=clock.now - 3_600_000, history=history)


@pytest.fixture
def make_bot(config: Config, service: Service) -> Callable[[], TripwireBot]:
    """Return a factory of Tripwire bots with the emulator-friendly client options."""
    return lambda: TripwireBot(config, service, **client_options())


@pytest.fixture
async def tripwire(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, make_bot: Callable[[], TripwireBot]
) -> AsyncIterator[TripwireBot]:
    """Yield the Tripwire bot logged in to the emulator, commands synced, ready."""
    async with connected_bot(make_bot) as bot:
        assert isinstance(bot, TripwireBot)
        yield bot


@pytest.fixture
def make_sink(repo: Repo, engine: Engine, clock: Clock) -> Callable[..., DiscordSink]:
    """Return ``make(bot, **options)`` building the Discord sink on the test's repo, engine and clock."""

    def make(bot: TripwireBot, **options: Any) -> DiscordSink:
        return DiscordSink(bot, repo, engine, clock, **options)

    return make

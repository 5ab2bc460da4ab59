"""The presence ticker: the price and 24h change in the bot's status, sent (gateway op 3) at most once a
minute and only when it changed, and sent again after a new session."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import create_autospec

import discord
import pytest

from bot.config import parse_config
from bot.discord.client import TripwireBot
from bot.discord.presence import PresenceTicker, presence_text
from bot.services import Service
from bot.services.market import PriceView
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import GUILD_ID

HOUR = 3_600_000


class Ticks:
    """A settable monotonic clock (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shown(update: dict[str, Any]) -> str:
    """Return the custom status text of an op 3 (or IDENTIFY) presence."""
    [activity] = update["activities"]
    assert activity["type"] == 4  # a custom status
    return str(activity["state"])


def _view(symbol: str, price: float, change: float | None) -> PriceView:
    return PriceView(symbol, price, 0, change, price, price, 0.0, None, "binance", "1h", 0.0, False)


def test_the_text_is_short_like_a_ticker() -> None:
    assert presence_text(_view("BTCUSDT", 95757.21, 4.93)) == "BTC $95,757 ▲4.9%"
    assert presence_text(_view("ETHUSDT", 3331.18, -1.04)) == "ETH $3,331 ▼1.0%"
    assert presence_text(_view("DOGEUSDT", 0.04499, None)) == "DOGE $0.04499"


async def test_presence_shows_the_price_and_is_sent_at_most_once_a_minute(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service, clock: Clock
) -> None:
    config = parse_config(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "discord": {"guild_ids": [GUILD_ID], "presence_symbol": "BTCUSDT"},
        }
    )
    bot = TripwireBot(config, service, **client_options())
    ticker = bot.presence
    assert ticker is not None
    ticks = Ticks()
    ticker.clock = ticks
    updates = discord_emu.gateway.presence_updates
    async with connected_bot(bot):
        await discord_emu.wait_until(lambda: len(updates) == 1)
        assert shown(updates[0]) == presence_text(service.price("BTCUSDT"))
        assert shown(updates[0]).startswith("BTC $94,793 ▲")

        clock.now += HOUR  # the price moves...
        ticks.now += 59
        assert not await ticker.update()  # ...but a minute has not passed
        ticks.now += 2
        assert await ticker.update()
        await discord_emu.wait_until(lambda: len(updates) == 2)
        assert shown(updates[1]) == presence_text(service.price("BTCUSDT")) != shown(updates[0])
        ticks.now += 120
        assert not await ticker.update()  # unchanged: nothing to send
        for _ in range(5):
            await ticker.update()
        await discord_emu.slash("price", {"symbol": "BTCUSDT"})  # a round trip: anything sent has arrived
        assert len(updates) == 2

        # A new session (not a resume) starts without a presence: it is sent again at the next tick.
        discord_emu.gateway_invalidate(resumable=False)
        await discord_emu.wait_until(lambda: ticker.shown is None)
        ticks.now += 61
        assert await ticker.update()
        await discord_emu.wait_until(lambda: len(updates) == 3)


async def test_without_a_presence_symbol_no_presence_is_sent(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service
) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "discord": {"guild_ids": [GUILD_ID]}})
    bot = TripwireBot(config, service, **client_options())
    assert bot.presence is None
    async with connected_bot(bot):
        await discord_emu.slash("price", {"symbol": "BTCUSDT"})
    assert discord_emu.gateway.presence_updates == []


async def test_a_failed_update_is_logged_by_kind_and_the_ticker_keeps_going(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_autospec(discord.Client, instance=True)
    client.is_closed.side_effect = [False, False, False, True]
    # The gateway reconnecting, then a bug, then a presence that goes through.
    client.change_presence.side_effect = [
        discord.ConnectionClosed(None, shard_id=None, code=1006),
        KeyError("bug"),
        None,
    ]
    ticker = PresenceTicker(client, service, "BTCUSDT", min_interval_s=0)
    with caplog.at_level(logging.WARNING, logger="bot.discord.presence"):
        await asyncio.wait_for(ticker.run(), timeout=5)
    reconnecting, bug = caplog.records
    assert reconnecting.levelno == logging.WARNING and reconnecting.exc_info is None
    assert bug.levelno == logging.ERROR and bug.exc_info is not None and bug.exc_info[0] is KeyError
    assert ticker.shown == presence_text(service.price("BTCUSDT"))

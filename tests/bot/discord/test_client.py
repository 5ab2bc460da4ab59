"""The bot itself: intents, mentions, pointing discord.py at another host, and /alert add for a detector
with settings of every kind (as a plugin might bring), typed as a settings text."""

from __future__ import annotations

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from bot.config import Config, Secrets, parse_config
from bot.discord.client import TripwireBot, bot_intents
from bot.services import Service
from detectors.level_cross import LevelCross
from storage.repo import Repo
from tests.bot.discord.detectors_for_tests import KitchenSink
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


def test_no_privileged_intent_and_nobody_mentioned_by_default(config: Config, service: Service) -> None:
    intents = bot_intents()
    assert not (intents.members or intents.presences or intents.message_content)
    assert intents.guilds
    bot = TripwireBot(config, service)
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == {"parse": []}


async def test_endpoints_come_from_the_config_or_secrets_and_are_restored(
    discord_emu: DiscordEmulator,
    connected_bot: ConnectBot,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Undo the fixture's patch: only the bot's own configuration may point discord.py at the emulator.
    monkeypatch.setattr(discord.http.Route, "BASE", DISCORD_API)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", DISCORD_GATEWAY)
    config = parse_config({"symbols": ["BTCUSDT"], "discord": {"guild_ids": [GUILD_ID]}})
    secrets = Secrets(discord_api_base=discord_emu.api_base, discord_gateway_url=discord_emu.gateway_url)
    async with connected_bot(lambda: TripwireBot(config, service, secrets=secrets, **client_options())):
        assert discord_emu.api_base == discord.http.Route.BASE
        reply = await discord_emu.slash("price", {"symbol": "BTCUSDT"})
        assert reply.embeds
    assert discord.http.Route.BASE == DISCORD_API
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY == DISCORD_GATEWAY

    unset = TripwireBot(parse_config({"symbols": ["BTCUSDT"]}), service)
    assert discord.http.Route.BASE == DISCORD_API  # nothing configured: Discord itself
    await unset.close()


async def test_a_plugin_detectors_settings_work_through_the_settings_text(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, config: Config, service: Service, repo: Repo
) -> None:
    detectors = {"level_cross": LevelCross, "kitchen_sink": KitchenSink}
    service.detectors = dict(detectors)
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, None)
    async with connected_bot(lambda: TripwireBot(config, service, detectors=detectors, **client_options())):
        reply = await discord_emu.slash(
            "alert add",
            {
                "detector": "kitchen_sink",
                "settings": 'threshold=5 peers="ETHUSDT, BTCUSDT" ceiling=off mode=slow basis=wick',
            },
            user_id=OWNER_ID,
        )
        assert reply.embeds, reply.content
        rule_id = reply.embeds[0]["footer"]["text"].removeprefix("rule ")
        stored = repo.rule(rule_id)
        assert stored is not None and rule_id.startswith("market-kitchen-")
        assert stored.symbol == "MARKET"
        assert stored.settings["peers"] == ["ETHUSDT", "BTCUSDT"] and stored.settings["ceiling"] is None
        assert stored.settings["mode"] == "slow" and stored.settings["basis"] == "wick"

        bad = await discord_emu.slash(
            "alert add",
            {"detector": "kitchen_sink", "settings": "threshold=5 ceiling=lots count=99"},
            user_id=OWNER_ID,
        )
        assert bad.ephemeral
        assert bad.content.startswith("Invalid `settings` for kitchen_sink: `count` must be less than 10")
        assert "`ceiling` must be a number, e.g. ceiling=0.05" in bad.content

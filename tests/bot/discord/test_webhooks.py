"""/webhook through the real bot and the Discord emulator: who may, the URL shown once, names and quotas,
and the answer of a bot whose operator left webhooks off."""

from __future__ import annotations

import re

import pytest

from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.services import Service
from bot.services.rules import RuleOptions
from storage.repo import Repo
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID


@pytest.fixture
def config() -> Config:
    """Return the usual test config with webhooks on (at most 2 per server)."""
    return parse_config(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "discord": {"guild_ids": [GUILD_ID], "max_rules_per_user": 5, "max_rules_per_guild": 8},
            "http": {"enabled": True},
            "webhooks_in": {
                "enabled": True,
                "public_url": "https://alerts.example.com",
                "max_routes_per_guild": 2,
            },
        }
    )


async def test_a_route_is_made_shown_once_listed_without_its_secret_and_removed(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    added = await discord_emu.slash(
        "webhook add",
        {"name": "TV-btc", "channel": ALERTS_CHANNEL_ID, "severity": "critical"},
        user_id=OWNER_ID,
    )
    assert added.ephemeral and added.embeds[0]["title"] == "Webhook tv-btc added"
    url = re.search(r"```\n(\S+)\n```", added.embeds[0]["description"])
    assert url and url.group(1).startswith("https://alerts.example.com/webhook/")
    route_id, secret = url.group(1).rsplit("/", 2)[1:]
    (route,) = repo.webhook_routes(GUILD_ID)
    assert route.id == route_id and route.default_severity == "critical"
    assert secret not in repo.conn.execute("SELECT * FROM webhook_routes").fetchone()  # only its hash is kept
    listing = await discord_emu.slash("webhook list", user_id=OWNER_ID)
    assert "**tv-btc**" in listing.embeds[0]["description"] and secret not in str(listing.embeds)
    again = await discord_emu.slash(
        "webhook add", {"name": "tv-btc", "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID
    )
    assert again.ephemeral and again.content.startswith("This server already has a webhook called `tv-btc`")
    bad = await discord_emu.slash(
        "webhook add", {"name": "tv btc!", "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID
    )
    assert bad.ephemeral and "cannot name a webhook" in bad.content
    await discord_emu.slash("webhook add", {"name": "tv-eth", "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    full = await discord_emu.slash(
        "webhook add", {"name": "tv-sol", "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID
    )
    assert full.content.startswith("This server already has 2 webhooks, the most allowed (2)")
    # Its alert is listed with the server's others, and /alert pause pauses it.
    alerts = await discord_emu.slash("alert list", user_id=OWNER_ID)
    assert route.rule_id in str(alerts.embeds) + alerts.content, alerts
    paused = await discord_emu.slash("alert pause", {"rule": route.rule_id}, user_id=OWNER_ID)
    assert paused.ephemeral and repo.rule(route.rule_id).enabled is False, paused  # type: ignore[union-attr]
    choices = await discord_emu.autocomplete("webhook remove", {"name": "eth"}, "name", user_id=OWNER_ID)
    assert [c["value"] for c in choices] == ["tv-eth"]
    removed = await discord_emu.slash("webhook remove", {"name": "tv-btc"}, user_id=OWNER_ID)
    assert removed.embeds[0]["title"] == "Webhook tv-btc removed"
    assert [r.name for r in repo.webhook_routes(GUILD_ID)] == ["tv-eth"]
    assert repo.rule(route.rule_id) is None  # its alert went with it


async def test_only_server_managers_may_manage_webhooks(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    with pytest.raises(PermissionError):
        await discord_emu.slash("webhook list", user_id=MEMBER_ID)
    for name, options in (
        ("webhook add", {"name": "tv", "channel": ALERTS_CHANNEL_ID}),
        ("webhook list", {}),
        ("webhook remove", {"name": "tv"}),
    ):
        reply = await discord_emu.slash(name, options, user_id=MEMBER_ID, check_permissions=False)
        assert reply.ephemeral and reply.content == "You need the Manage Server permission to do that."


@pytest.mark.parametrize(
    "config", [parse_config({"symbols": ["BTCUSDT"], "discord": {"guild_ids": [GUILD_ID]}})]
)
async def test_a_bot_with_webhooks_off_says_so(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    reply = await discord_emu.slash(
        "webhook add", {"name": "tv", "channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID
    )
    assert reply.ephemeral and reply.content.startswith("Webhooks are off on this bot")


def test_an_export_of_the_servers_alerts_leaves_webhook_routes_out(service: Service) -> None:
    made = service.add_webhook(GUILD_ID, OWNER_ID, "tv", ALERTS_CHANNEL_ID)
    service.add_rule(
        GUILD_ID,
        OWNER_ID,
        "level_cross",
        "BTCUSDT",
        {"level": 95000},
        RuleOptions(channel_id=ALERTS_CHANNEL_ID),
        is_admin=True,
    )
    exported = service.export_rules(GUILD_ID, OWNER_ID, is_admin=True, scope="server")
    # Its secret cannot be exported and its URL points at this bot: the route stays where it is.
    assert exported.count == 1 and made.view.rule_id not in exported.text and "level_cross" in exported.text

"""The emulator's permission model (developers/topics/permissions.mdx) and how REST and interactions use it.

Every refusal is checked with Discord's status, JSON code and message; every rule also has the allowed case.
The world is the synthetic default one (state.default_config).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.permissions import channel_permissions, effective
from tests.emulators.discord_api.state import (
    ADMINISTRATOR,
    ALERTS_CHANNEL_ID,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MANAGE_MESSAGES,
    MEMBER_ID,
    MEMBER_OVERWRITE,
    MENTION_EVERYONE,
    MOD_ID,
    MOD_ROLE_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    ChannelRecord,
    GuildConfig,
    MemberConfig,
    PermissionOverwrite,
    RoleConfig,
    UserConfig,
    default_config,
)

GUILD = discord.Object(GUILD_ID)
BASE = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS


# --- the computation ---------------------------------------------------------------------------------


def _world(overwrites: list[PermissionOverwrite]) -> tuple[GuildConfig, ChannelRecord]:
    """A synthetic guild: roles A (id 11) and B (id 12); user 21 has both, user 22 none; owner 20."""
    guild = GuildConfig(
        id=1,
        name="synthetic",
        owner_id=20,
        everyone_permissions=BASE,
        roles=[RoleConfig(11, "A", ATTACH_FILES), RoleConfig(12, "B", 0)],
        members=[
            MemberConfig(UserConfig(20, "owner")),
            MemberConfig(UserConfig(21, "both"), roles=[11, 12]),
            MemberConfig(UserConfig(22, "plain")),
        ],
    )
    return guild, ChannelRecord(id=5, type=0, guild_id=1, overwrites=overwrites)


def test_overwrites_apply_everyone_then_roles_combined_then_member() -> None:
    guild, channel = _world(
        [
            PermissionOverwrite(1, deny=VIEW_CHANNEL | SEND_MESSAGES),  # @everyone
            PermissionOverwrite(11, allow=VIEW_CHANNEL, deny=EMBED_LINKS),  # role A
            # Role B denies what role A allows: allows of all roles win over their denies (combined).
            PermissionOverwrite(12, deny=VIEW_CHANNEL, allow=SEND_MESSAGES),
        ]
    )
    both = channel_permissions(guild, channel, 21, bot_id=99)
    assert both == VIEW_CHANNEL | SEND_MESSAGES | ATTACH_FILES
    assert channel_permissions(guild, channel, 22, bot_id=99) == EMBED_LINKS
    # The member's own overwrite comes last and wins over the roles'.
    channel.overwrites.append(PermissionOverwrite(21, MEMBER_OVERWRITE, deny=SEND_MESSAGES))
    assert channel_permissions(guild, channel, 21, bot_id=99) == VIEW_CHANNEL | ATTACH_FILES
    # An @everyone allow is undone by a role deny, which comes after it.
    guild2, channel2 = _world(
        [PermissionOverwrite(1, allow=MENTION_EVERYONE), PermissionOverwrite(11, deny=MENTION_EVERYONE)]
    )
    assert not channel_permissions(guild2, channel2, 21, bot_id=99) & MENTION_EVERYONE
    assert channel_permissions(guild2, channel2, 22, bot_id=99) & MENTION_EVERYONE


def test_owner_and_administrator_bypass_overwrites() -> None:
    guild, channel = _world([PermissionOverwrite(1, deny=ALL_PERMISSIONS)])
    assert channel_permissions(guild, channel, 20, bot_id=99) == ALL_PERMISSIONS
    assert channel_permissions(guild, channel, 22, bot_id=99) == 0
    guild.roles[1].permissions = ADMINISTRATOR
    assert channel_permissions(guild, channel, 21, bot_id=99) == ALL_PERMISSIONS


def test_implicit_denials() -> None:
    everything = BASE | ATTACH_FILES | MENTION_EVERYONE | READ_MESSAGE_HISTORY
    assert effective(everything & ~VIEW_CHANNEL) == 0
    assert effective(everything & ~SEND_MESSAGES) == VIEW_CHANNEL | READ_MESSAGE_HISTORY
    assert effective(everything) == everything


def test_staff_only_is_private_for_members_and_the_bot() -> None:
    emu = DiscordEmulator(default_config())
    world = emu.world
    private = world.channels[PRIVATE_CHANNEL_ID]
    assert not world.permissions_in(private, MEMBER_ID) & VIEW_CHANNEL
    assert not world.bot_permissions_in(private) & VIEW_CHANNEL
    assert world.permissions_in(private, MOD_ID) & VIEW_CHANNEL  # the Moderator role's allow
    assert world.permissions_in(private, OWNER_ID) == ALL_PERMISSIONS
    assert world.bot_permissions_in(world.channels[ALERTS_CHANNEL_ID]) == DEFAULT_EVERYONE_PERMISSIONS


# --- REST ----------------------------------------------------------------------------------------------


async def _call(
    emu: DiscordEmulator,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    file: bytes | None = None,
) -> tuple[int, Any]:
    """Send one bot-authenticated request; return (status, JSON body or None)."""
    headers = {"Authorization": f"Bot {emu.config.token}"}
    data: Any = None
    if file is not None:
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", json.dumps(body or {}), content_type="application/json")
        form.add_field("files[0]", file, filename="chart.png", content_type="image/png")
        data = form
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, emu.api_base + path, json=body if file is None else None, data=data, headers=headers
        ) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def _refused(result: tuple[int, Any], status: int, code: int, message: str) -> None:
    assert result[0] == status, result
    assert result[1] == {"message": message, "code": code}


async def test_a_channel_the_bot_cannot_view_is_missing_access(discord_emu: DiscordEmulator) -> None:
    private = f"/channels/{PRIVATE_CHANNEL_ID}"
    _refused(
        await _call(discord_emu, "POST", private + "/messages", {"content": "hi"}),
        403,
        50001,
        "Missing Access",
    )
    _refused(await _call(discord_emu, "GET", private), 403, 50001, "Missing Access")
    _refused(await _call(discord_emu, "GET", private + "/messages"), 403, 50001, "Missing Access")
    # An overwrite for the bot's member opens it.
    discord_emu.set_overwrite(PRIVATE_CHANNEL_ID, discord_emu.config.bot.id, allow=VIEW_CHANNEL, member=True)
    status, msg = await _call(discord_emu, "POST", private + "/messages", {"content": "hi"})
    assert status == 200 and msg["content"] == "hi"


async def test_send_messages_is_needed_to_post_but_not_to_view(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{GENERAL_CHANNEL_ID}"
    discord_emu.set_overwrite(GENERAL_CHANNEL_ID, GUILD_ID, deny=SEND_MESSAGES)
    _refused(
        await _call(discord_emu, "POST", path + "/messages", {"content": "x"}),
        403,
        50013,
        "Missing Permissions",
    )
    assert (await _call(discord_emu, "GET", path))[0] == 200
    # The bot's managed role may be allowed back what @everyone is denied.
    discord_emu.set_overwrite(
        GENERAL_CHANNEL_ID, discord_emu.world.guilds[GUILD_ID].bot_role().id, allow=SEND_MESSAGES
    )
    assert (await _call(discord_emu, "POST", path + "/messages", {"content": "x"}))[0] == 200


async def test_files_need_attach_files(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    discord_emu.set_overwrite(ALERTS_CHANNEL_ID, GUILD_ID, deny=ATTACH_FILES)
    _refused(
        await _call(discord_emu, "POST", path, {"content": "chart"}, file=png),
        403,
        50013,
        "Missing Permissions",
    )
    assert (await _call(discord_emu, "POST", path, {"content": "no chart"}))[0] == 200
    discord_emu.set_overwrite(ALERTS_CHANNEL_ID, GUILD_ID)
    status, msg = await _call(discord_emu, "POST", path, {"content": "chart"}, file=png)
    assert status == 200 and [a["filename"] for a in msg["attachments"]] == ["chart.png"]


async def test_embeds_without_embed_links_are_dropped(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    embed = {"title": "BTC broke 95k"}
    status, msg = await _call(discord_emu, "POST", path, {"content": "alert", "embeds": [embed]})
    assert status == 200 and msg["embeds"][0]["title"] == "BTC broke 95k"
    discord_emu.set_bot_permissions(GUILD_ID, DEFAULT_EVERYONE_PERMISSIONS)
    discord_emu.set_role_permissions(GUILD_ID, GUILD_ID, DEFAULT_EVERYONE_PERMISSIONS & ~EMBED_LINKS)
    discord_emu.set_bot_permissions(GUILD_ID, DEFAULT_EVERYONE_PERMISSIONS & ~EMBED_LINKS)
    status, msg = await _call(discord_emu, "POST", path, {"content": "alert", "embeds": [embed]})
    assert status == 200 and msg["content"] == "alert" and msg["embeds"] == []
    # With nothing else left the message is empty.
    _refused(
        await _call(discord_emu, "POST", path, {"embeds": [embed]}),
        400,
        50006,
        "Cannot send an empty message",
    )


async def test_everyone_mentions_need_mention_everyone(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    status, msg = await _call(discord_emu, "POST", path, {"content": "@everyone BTC -10%"})
    assert status == 200 and msg["content"] == "@everyone BTC -10%" and msg["mention_everyone"] is False
    discord_emu.set_overwrite(ALERTS_CHANNEL_ID, GUILD_ID, allow=MENTION_EVERYONE)
    status, msg = await _call(discord_emu, "POST", path, {"content": "@here BTC -10%"})
    assert status == 200 and msg["mention_everyone"] is True
    quiet = {"content": "@everyone BTC -10%", "allowed_mentions": {"parse": []}}
    assert (await _call(discord_emu, "POST", path, quiet))[1]["mention_everyone"] is False


async def test_history_needs_read_message_history(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{ALERTS_CHANNEL_ID}/messages"
    _, first = await _call(discord_emu, "POST", path, {"content": "one"})
    status, listed = await _call(discord_emu, "GET", path)
    assert status == 200 and [m["content"] for m in listed] == ["one"]
    discord_emu.set_overwrite(ALERTS_CHANNEL_ID, GUILD_ID, deny=READ_MESSAGE_HISTORY)
    # message.mdx: "then no messages will be returned" (not an error).
    assert await _call(discord_emu, "GET", path) == (200, [])
    _refused(await _call(discord_emu, "GET", f"{path}/{first['id']}"), 403, 50013, "Missing Permissions")
    reply = {"content": "two", "message_reference": {"message_id": first["id"]}}
    _refused(await _call(discord_emu, "POST", path, reply), 403, 50013, "Missing Permissions")
    assert (await _call(discord_emu, "POST", path, {"content": "two"}))[0] == 200


async def test_deleting_another_users_message_needs_manage_messages(discord_emu: DiscordEmulator) -> None:
    theirs = discord_emu.user_message(ALERTS_CHANNEL_ID, MEMBER_ID, "spam")
    path = f"/channels/{ALERTS_CHANNEL_ID}/messages/{theirs.id}"
    _refused(await _call(discord_emu, "DELETE", path), 403, 50013, "Missing Permissions")
    discord_emu.set_bot_permissions(GUILD_ID, DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES)
    assert (await _call(discord_emu, "DELETE", path))[0] == 204


async def test_control_api_sets_overwrites_and_role_permissions(discord_emu: DiscordEmulator) -> None:
    url = discord_emu.base_url + "/_control/permissions"
    async with aiohttp.ClientSession() as session:
        body = {"channel_id": str(ALERTS_CHANNEL_ID), "target_id": str(GUILD_ID), "deny": str(SEND_MESSAGES)}
        async with session.post(url, json=body) as resp:
            assert resp.status == 200
        async with session.post(
            url, json={"guild_id": str(GUILD_ID), "role_id": "bot", "permissions": "8"}
        ) as r:
            assert r.status == 200
        async with session.post(
            url, json={"guild_id": str(GUILD_ID), "role_id": "1", "permissions": "0"}
        ) as r:
            assert r.status == 400
    assert (await _call(discord_emu, "POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", {"content": "x"}))[
        0
    ] == 200
    discord_emu.set_bot_permissions(GUILD_ID, DEFAULT_EVERYONE_PERMISSIONS)
    _refused(
        await _call(discord_emu, "POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", {"content": "x"}),
        403,
        50013,
        "Missing Permissions",
    )


# --- interactions and discord.py's own view ---------------------------------------------------------------


class WhereBot(discord.Client):
    """One command answering with the permissions discord.py read from the interaction."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = True  # so guild.get_member works for the permission comparison
        super().__init__(intents=intents, **client_options())
        self.tree = app_commands.CommandTree(self)
        self.seen: list[dict[str, int]] = []

        @self.tree.command(name="where", description="Report permissions", guild=GUILD)
        async def where(interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
            record = {"member": interaction.permissions.value, "app": interaction.app_permissions.value}
            if channel is not None:
                resolved = interaction.namespace.channel
                record["channel"] = resolved.permissions.value
            self.seen.append(record)
            await interaction.response.send_message("ok", ephemeral=True)


async def test_interaction_permissions_are_computed_per_channel(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    # WhereBot asks for the members intent, which a new app has off in the Developer Portal.
    discord_emu.allowed_privileged_intents |= 1 << 1
    async with connected_bot(WhereBot) as client:
        bot = client
        assert isinstance(bot, WhereBot)
        await bot.tree.sync(guild=GUILD)
        discord_emu.set_overwrite(ALERTS_CHANNEL_ID, discord_emu.config.bot.id, deny=EMBED_LINKS, member=True)
        await discord_emu.slash(
            "where", {"channel": PRIVATE_CHANNEL_ID}, channel_id=ALERTS_CHANNEL_ID, user_id=MOD_ID
        )
        seen = bot.seen[-1]
        assert seen["app"] == DEFAULT_EVERYONE_PERMISSIONS & ~EMBED_LINKS
        # The resolved channel carries the invoking member's permissions there (Moderator may view it).
        assert seen["channel"] & VIEW_CHANNEL
        await discord_emu.slash("where", {"channel": PRIVATE_CHANNEL_ID}, user_id=MEMBER_ID)
        assert not bot.seen[-1]["channel"] & VIEW_CHANNEL
        assert bot.seen[-1]["member"] == DEFAULT_EVERYONE_PERMISSIONS
        # A member cannot invoke a command in a channel they cannot see; the owner can.
        with pytest.raises(PermissionError):
            await discord_emu.slash("where", channel_id=PRIVATE_CHANNEL_ID, user_id=MEMBER_ID)
        await discord_emu.slash("where", channel_id=PRIVATE_CHANNEL_ID, user_id=OWNER_ID)
        assert bot.seen[-1]["member"] == ALL_PERMISSIONS
        assert not bot.seen[-1]["app"] & VIEW_CHANNEL
        # discord.py's cache, built from GUILD_CREATE and CHANNEL_UPDATE, agrees with the emulator.
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None and guild.me is not None
        for channel_id in (ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, PRIVATE_CHANNEL_ID):
            channel = guild.get_channel(channel_id)
            assert channel is not None
            expected = discord_emu.world.bot_permissions_in(discord_emu.world.channels[channel_id])
            assert channel.permissions_for(guild.me).value == expected, channel.name
            member = guild.get_member(MOD_ID)
            assert member is not None
            assert channel.permissions_for(member).view_channel == bool(
                discord_emu.world.permissions_in(discord_emu.world.channels[channel_id], MOD_ID)
                & VIEW_CHANNEL
            )
        assert MOD_ROLE_ID in [r.id for r in guild.roles]

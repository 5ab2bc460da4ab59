"""End-to-end tests of the Discord emulator with a real discord.py commands.Bot defined here."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any, cast

import discord
import pytest
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from tests.emulators.discord_api import (
    BotRunner,
    DiscordEmulator,
    InteractionTimeout,
    RateLimitRule,
    client_options,
)
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    CLOSED_DMS_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER_ID,
    MOD_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
    EmulatorConfig,
    default_config,
)

GUILD = discord.Object(GUILD_ID)
GUILD_MEMBERS_INTENT = 1 << 1
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


def tiny_png(width: int, height: int) -> bytes:
    """Return a valid RGB PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xf7\x93\x1a" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


CHART_PNG = tiny_png(6, 4)
EXPORT_CSV = b"symbol,level\r\nBTCUSDT,95000\r\nETHUSDT,3500\r\n"


class PanelView(discord.ui.View):
    """A one-button view; timeout=None so discord.py starts no timeout task."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Refresh", style=discord.ButtonStyle.primary, custom_id="panel:refresh")
    async def refresh(self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]) -> None:
        """Edit the panel in place (callback type 7)."""
        await interaction.response.edit_message(content=f"Alerts: 0 (refreshed by {interaction.user.name})")

    @discord.ui.button(label="Mute", style=discord.ButtonStyle.secondary, custom_id="panel:mute")
    async def mute(self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]) -> None:
        """Acknowledge first (callback type 6), then edit the panel through @original."""
        await interaction.response.defer()
        await interaction.edit_original_response(content="Alerts: muted")


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """The fixture's world with Server Members switched on in its Developer Portal (RecordingBot asks)."""
    config = default_config(heartbeat_interval_ms=500)
    config.gateway.identify_window = 0.1
    config.gateway.privileged_intents = GUILD_MEMBERS_INTENT
    return config


class RecordingBot(commands.Bot):
    """A small bot with the command shapes Tripwire uses, counting the gateway events tests check."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(command_prefix="!", intents=intents, **client_options(**options))
        self.ready_count = 0
        self.resumed_count = 0
        self.removed_members: list[int] = []
        self.deleted_channels: list[int] = []
        self.seen_messages: list[tuple[int, str]] = []
        self.app_errors: list[BaseException] = []
        self.tree.on_error = self._on_app_error  # type: ignore[method-assign]

    async def _on_app_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.app_errors.append(
            error.original if isinstance(error, app_commands.CommandInvokeError) else error
        )

    async def on_ready(self) -> None:
        """Count READY completions."""
        self.ready_count += 1

    async def on_resumed(self) -> None:
        """Count RESUMED."""
        self.resumed_count += 1

    async def on_member_remove(self, member: discord.Member) -> None:
        """Record members that left."""
        self.removed_members.append(member.id)

    async def on_message(self, message: discord.Message) -> None:
        """Record (author id, content) of messages from others, as the gateway delivered them."""
        if message.author != self.user:
            self.seen_messages.append((message.author.id, message.content))

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """Record deleted channels."""
        self.deleted_channels.append(channel.id)

    async def setup_hook(self) -> None:
        """Register the test commands for the test guild."""
        install_commands(self)


def install_commands(bot: commands.Bot) -> None:
    """Add /price (autocomplete), /chart (deferred + PNG), /panel (button), /slow and the /alert group."""
    guild_commands = [*_answer_commands(), _alert_group()]
    _install_about(bot)
    command: app_commands.Command[Any, ..., None] | app_commands.Group
    for command in guild_commands:
        bot.tree.add_command(command, guild=GUILD)


def _answer_commands() -> list[app_commands.Command[Any, ..., None]]:
    """Return the commands that each answer one way: a message, a defer, a button, too late, edits, a file."""

    @app_commands.command(name="price", description="Show the last price of a symbol")
    @app_commands.describe(symbol="Trading pair, e.g. BTCUSDT")
    async def price(interaction: discord.Interaction, symbol: str) -> None:
        embed = discord.Embed(title=f"{symbol} price", description="Last: 97,900.00", colour=0xF7931A)
        await interaction.response.send_message(embed=embed)

    @price.autocomplete("symbol")
    async def symbol_choices(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return [Choice(name=s, value=s) for s in SYMBOLS if current.upper() in s]

    @app_commands.command(name="chart", description="Draw a price chart")
    async def chart(interaction: discord.Interaction, symbol: str) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)  # the slow part a real chart would take
        embed = discord.Embed(title=f"{symbol} 1h")
        embed.set_image(url="attachment://chart.png")
        await interaction.followup.send(embed=embed, file=discord.File(io.BytesIO(CHART_PNG), "chart.png"))

    @app_commands.command(name="panel", description="Show the alert panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Alerts: 0", view=PanelView())

    @app_commands.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        await interaction.response.send_message("too late")

    @app_commands.command(name="report", description="Edits its own answer")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content="step 1")
        original = await interaction.original_response()
        extra = await interaction.followup.send(f"original said {original.content}", wait=True)
        await extra.edit(content="followup edited")
        await interaction.edit_original_response(content="done")

    @app_commands.command(name="export", description="Export alerts as CSV")
    async def export(interaction: discord.Interaction) -> None:
        data = discord.File(io.BytesIO(EXPORT_CSV), "alerts.csv")
        await interaction.response.send_message("Your alerts:", file=data, ephemeral=True)

    @app_commands.command(name="oops", description="Takes its answer back")
    async def oops(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("temporary")
        await interaction.delete_original_response()

    return [price, chart, panel, slow, report, export, oops]


def _alert_group() -> app_commands.Group:
    """Return the /alert group, with the /alert add subgroup."""
    alert = app_commands.Group(
        name="alert", description="Manage alerts", default_permissions=discord.Permissions(manage_guild=True)
    )
    add = app_commands.Group(name="add", description="Add an alert", parent=alert)

    @add.command(name="level", description="Alert when the price crosses a level")
    async def level(
        interaction: discord.Interaction,
        symbol: str,
        price: float,
        channel: discord.TextChannel | None = None,
    ) -> None:
        where = channel.mention if channel else "here"
        await interaction.response.send_message(
            f"Alert set: {symbol} crosses {price:,.0f} in {where}", ephemeral=True
        )

    @alert.command(name="list", description="List alerts")
    async def list_alerts(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("No alerts yet.", ephemeral=True)

    return alert


def _install_about(bot: commands.Bot) -> None:
    """Add the global /about, usable in DMs too."""

    @bot.tree.command(name="about", description="What this bot does")  # global: usable in DMs too
    async def about(interaction: discord.Interaction) -> None:
        where = type(interaction.channel).__name__
        await interaction.response.send_message(f"Tripwire watches crypto markets ({where}).")


@pytest.fixture
async def bot(connected_bot: ConnectBot) -> AsyncIterator[RecordingBot]:
    """Yield a connected RecordingBot whose commands are synced to the test guild."""
    async with connected_bot(RecordingBot) as connected:
        test_bot = cast(RecordingBot, connected)
        await test_bot.tree.sync(guild=GUILD)
        yield test_bot


def text_channel(bot: discord.Client, channel_id: int) -> discord.TextChannel:
    """Return a cached text channel."""
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# -- login, gateway, READY ------------------------------------------------------------------------


async def test_login_connects_and_receives_ready_and_guild(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    assert bot.ready_count == 1
    assert bot.user is not None and bot.user.id == discord_emu.config.bot.id
    assert bot.application_id == discord_emu.config.application_id
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None and guild.name == "Tripwire Test Server"
    assert sorted(c.name for c in guild.text_channels) == ["alerts", "general", "staff-only"]
    assert guild.member_count == len(guild.members) == 5  # four users + the bot: nothing left to chunk
    mod = guild.get_member(MOD_ID)
    assert mod is not None and mod.guild_permissions.manage_guild
    hidden = text_channel(bot, PRIVATE_CHANNEL_ID)
    assert not hidden.permissions_for(guild.me).view_channel
    identify = discord_emu.gateway.identifies[0]
    assert identify["intents"] == bot.intents.value and identify["token"] == "<redacted>"
    login = [r.path for r in discord_emu.requests[:2]]
    assert login == ["/users/@me", "/oauth2/applications/@me"]
    assert all(r.has_authorization for r in discord_emu.requests_matching("GET", "/**/*"))  # all but "/"
    assert "Authorization" not in discord_emu.requests[0].headers
    assert discord_emu.gateway.connections[0].query["encoding"] == "json"
    assert discord_emu.unhandled == []


async def test_wrong_token_fails_login(discord_emu: DiscordEmulator) -> None:
    client = discord.Client(intents=discord.Intents.default(), **client_options())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert discord_emu.requests[-1].status == 401


async def test_presence_update_is_recorded(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    await bot.change_presence(activity=discord.Game(name="watching BTC"))
    await discord_emu.wait_until(lambda: bool(discord_emu.gateway.presence_updates))
    assert discord_emu.gateway.presence_updates[-1]["activities"][0]["name"] == "watching BTC"


# -- command sync ---------------------------------------------------------------------------------


async def test_tree_sync_stores_guild_commands_with_stable_ids(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    stored = discord_emu.commands_synced(GUILD_ID)
    assert sorted(c["name"] for c in stored) == [
        "alert",
        "chart",
        "export",
        "oops",
        "panel",
        "price",
        "report",
        "slow",
    ]
    assert discord_emu.commands_synced() == []  # nothing global
    alert = next(c for c in stored if c["name"] == "alert")
    assert alert["default_member_permissions"] == str(MANAGE_GUILD)
    add = next(o for o in alert["options"] if o["name"] == "add")
    assert add["type"] == 2 and add["options"][0]["name"] == "level" and add["options"][0]["type"] == 1
    again = await bot.tree.sync(guild=GUILD)
    assert {c.name: c.id for c in again} == {c["name"]: int(c["id"]) for c in stored}
    fetched = await bot.tree.fetch_commands(guild=GUILD)
    assert sorted(c.name for c in fetched) == sorted(c["name"] for c in stored)


@pytest.mark.discord_invalid_requests  # bad on purpose: the emulator must refuse them
async def test_invalid_command_definition_raises_sync_failure(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    # discord.py checks names locally but not the 25-choice limit; Discord rejects the whole sync.
    @app_commands.command(name="pick", description="Too many choices")
    @app_commands.choices(symbol=[Choice(name=f"S{i}", value=f"S{i}") for i in range(26)])
    async def pick(interaction: discord.Interaction, symbol: Choice[str]) -> None:
        await interaction.response.send_message(symbol.value)

    bot.tree.add_command(pick, guild=GUILD)
    with pytest.raises(app_commands.CommandSyncFailure) as info:
        await bot.tree.sync(guild=GUILD)
    assert info.value.code == 50035 and "choices" in info.value.text
    assert "pick" not in [c["name"] for c in discord_emu.commands_synced(GUILD_ID)]


# -- slash commands -------------------------------------------------------------------------------


async def test_subcommand_group_reply_is_ephemeral_and_resolves_channel(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    reply = await discord_emu.slash(
        "alert add level", {"symbol": "BTCUSDT", "price": 95000, "channel": ALERTS_CHANNEL_ID}, user_id=MOD_ID
    )
    assert reply.ephemeral
    assert reply.content == f"Alert set: BTCUSDT crosses 95,000 in <#{ALERTS_CHANNEL_ID}>"
    assert reply.callback is not None and reply.callback["type"] == 4
    data = discord_emu.world.interactions[reply.interaction_id].payload["data"]
    assert data["options"][0]["options"][0]["options"][1] == {"name": "price", "type": 10, "value": 95000.0}
    assert discord_emu.messages_in(GENERAL_CHANNEL_ID) == []  # ephemeral: not in the channel for others
    assert bot.app_errors == []


async def test_global_command_in_a_dm(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    with pytest.raises(LookupError):  # not synced yet: a user could not invoke it
        await discord_emu.slash("about", in_dm=True, user_id=MEMBER_ID)
    await bot.tree.sync()
    reply = await discord_emu.slash("about", in_dm=True, user_id=MEMBER_ID)
    assert reply.content == "Tripwire watches crypto markets (DMChannel)."
    assert [m.content for m in discord_emu.dm_messages_to(MEMBER_ID)] == [reply.content]
    payload = discord_emu.world.interactions[reply.interaction_id].payload
    assert "guild_id" not in payload and payload["user"]["id"] == str(MEMBER_ID) and payload["context"] == 1


async def test_command_above_user_permissions_is_not_offered(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    with pytest.raises(PermissionError):
        await discord_emu.slash(["alert", "list"], user_id=MEMBER_ID)
    reply = await discord_emu.slash(["alert", "list"], user_id=MEMBER_ID, permissions=str(1 << 3))
    assert reply.content == "No alerts yet."


async def test_public_reply_with_embed_lands_in_channel(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    reply = await discord_emu.slash(
        "/price", {"symbol": "ETHUSDT"}, channel_id=ALERTS_CHANNEL_ID, user_id=MEMBER_ID
    )
    assert not reply.ephemeral and not reply.deferred
    assert reply.embeds[0]["title"] == "ETHUSDT price" and reply.embeds[0]["color"] == 0xF7931A
    assert [m.id for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)] == [reply.message_id]
    # The interaction callback carries no bot token, as discord.py's webhook adapter sends it.
    callback = discord_emu.requests_matching("POST", "/interactions/*/*/callback")[-1]
    assert not callback.has_authorization and callback.query == {"with_response": "1"}


async def test_deferred_command_followup_carries_png_bytes(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    reply = await discord_emu.slash("chart", {"symbol": "BTCUSDT"}, channel_id=ALERTS_CHANNEL_ID)
    assert reply.deferred and reply.callback == {"type": 5}
    assert [a.filename for a in reply.attachments] == ["chart.png"]
    assert reply.attachments[0].data == CHART_PNG
    assert (reply.attachments[0].width, reply.attachments[0].height) == (6, 4)
    assert reply.embeds[0]["image"]["url"] == reply.attachments[0].url
    # The first followup after a defer fills the "thinking" message instead of adding a second one.
    assert len(discord_emu.messages_in(ALERTS_CHANNEL_ID)) == 1 and not reply.message.loading  # type: ignore[union-attr]
    followup = discord_emu.requests_matching("POST", "/webhooks/*/*")[-1]
    assert followup.query["wait"] == "1"
    assert [p.name for p in followup.parts] == ["payload_json", "files[0]"]


async def test_initial_response_with_file_is_multipart(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    reply = await discord_emu.slash("export")
    assert reply.ephemeral and reply.content == "Your alerts:"
    assert [(a.filename, a.data, a.content_type) for a in reply.attachments] == [
        ("alerts.csv", EXPORT_CSV, "text/csv")
    ]
    callback = discord_emu.requests_matching("POST", "/interactions/*/*/callback")[-1]
    assert [p.name for p in callback.parts] == ["payload_json", "files[0]"]
    assert callback.json["type"] == 4 and callback.json["data"]["attachments"] == [
        {"id": 0, "filename": "alerts.csv"}
    ]


async def test_original_response_and_followup_edits(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    reply = await discord_emu.slash("report", channel_id=ALERTS_CHANNEL_ID)
    assert reply.ephemeral and reply.deferred
    original = reply.message
    assert original is not None
    await discord_emu.wait_until(lambda: original.content == "done")
    # Filling the deferred message is not an edit; "step 1" -> "done" is.
    assert [h["content"] for h in original.history] == ["step 1"]
    record = discord_emu.world.interactions[reply.interaction_id]
    followup = discord_emu.message(record.followup_ids[0])
    assert followup.content == "followup edited" and followup.history[0]["content"] == "original said step 1"
    assert discord_emu.requests_matching("GET", "/webhooks/*/*/messages/@original")
    assert discord_emu.requests_matching("PATCH", f"/webhooks/*/*/messages/{followup.id}")


async def test_delete_original_response(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    reply = await discord_emu.slash("oops", channel_id=ALERTS_CHANNEL_ID)
    assert reply.message is not None
    await discord_emu.wait_until(lambda: reply.message is not None and reply.message.deleted)
    assert discord_emu.messages_in(ALERTS_CHANNEL_ID) == []


async def test_autocomplete_returns_the_bots_choices(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    choices = await discord_emu.autocomplete("price", {"symbol": "eth"}, focused="symbol")
    assert choices == [{"name": "ETHUSDT", "value": "ETHUSDT"}]
    assert await discord_emu.autocomplete("price", {"symbol": ""}, focused="symbol") == [
        {"name": s, "value": s} for s in SYMBOLS
    ]


async def test_button_click_updates_the_message(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    panel = await discord_emu.slash("panel", user_id=MEMBER_ID)
    assert [b["custom_id"] for b in panel.buttons()] == ["panel:refresh", "panel:mute"]
    clicked = await discord_emu.click(panel, "panel:refresh", user_id=OWNER_ID)
    assert clicked.callback_type == 7
    assert clicked.message_id == panel.message_id
    assert clicked.content == "Alerts: 0 (refreshed by alice)"
    assert clicked.message is not None and clicked.message.edits == 1
    assert clicked.message.history[0]["content"] == "Alerts: 0"
    with pytest.raises(LookupError):
        await discord_emu.click(panel, "panel:nope")
    muted = await discord_emu.click(panel, "panel:mute")
    assert muted.callback_type == 6 and muted.deferred
    assert muted.message_id == panel.message_id and muted.content == "Alerts: muted"
    assert len(discord_emu.messages_in(discord_emu.message(panel.message_id or 0).channel_id)) == 1


async def test_interaction_answered_after_three_seconds_is_unknown(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    discord_emu.config.interaction_ack_timeout = 0.2  # Discord's 3 s, scaled down
    with pytest.raises(InteractionTimeout):
        await discord_emu.slash("slow", timeout=1.0)
    await discord_emu.wait_until(lambda: bool(bot.app_errors))
    error = bot.app_errors[0]
    assert isinstance(error, discord.NotFound) and error.code == 10062


# -- channel messages and DMs ---------------------------------------------------------------------


async def test_channel_send_with_embed_and_file_then_edit_and_delete(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    embed = discord.Embed(title="BTC broke 95,000", description="Last 97,900")
    embed.set_image(url="attachment://graph.png")
    sent = await text_channel(bot, ALERTS_CHANNEL_ID).send(
        embed=embed, file=discord.File(io.BytesIO(CHART_PNG), "graph.png")
    )
    stored = discord_emu.message(sent.id)
    assert stored.embeds[0]["title"] == "BTC broke 95,000"
    assert stored.attachments[0].filename == "graph.png" and stored.attachments[0].data == CHART_PNG
    assert await sent.attachments[0].read() == CHART_PNG  # Attachment.url points at the emulator
    edited = await sent.edit(content="resolved", embed=None)
    assert edited.content == "resolved" and edited.edited_at is not None
    assert (
        stored.edits == 1
        and stored.embeds == []
        and stored.history[0]["embeds"][0]["title"] == "BTC broke 95,000"
    )
    assert [a.filename for a in stored.attachments] == ["graph.png"]  # kept: the edit did not touch them
    await sent.delete()
    assert stored.deleted and discord_emu.messages_in(ALERTS_CHANNEL_ID) == []


async def test_enforced_nonce_returns_the_earlier_message_instead_of_a_second(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    channel = text_channel(bot, ALERTS_CHANNEL_ID)
    first = await channel.send("alert 17", nonce="tripwire-17")
    again = await channel.send("alert 17", nonce="tripwire-17")  # discord.py sets enforce_nonce
    other = await channel.send("alert 18", nonce="tripwire-18")
    assert again.id == first.id and other.id != first.id
    contents = [m.payload["content"] for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)]
    assert contents == ["alert 17", "alert 18"]


async def test_dm_delivered_and_closed_dms_forbidden(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    user = await bot.fetch_user(MEMBER_ID)
    await user.send("Your alert fired: BTCUSDT crossed 95,000")
    assert [m.content for m in discord_emu.dm_messages_to(MEMBER_ID)] == [
        "Your alert fired: BTCUSDT crossed 95,000"
    ]
    closed = await bot.fetch_user(CLOSED_DMS_ID)
    with pytest.raises(discord.Forbidden) as info:
        await closed.send("hello")
    assert info.value.code == 50007 and info.value.status == 403
    assert discord_emu.dm_messages_to(CLOSED_DMS_ID) == []


async def test_unknown_hidden_and_deleted_channels(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    with pytest.raises(discord.NotFound) as unknown:
        await bot.get_partial_messageable(123456789012345678).send("x")
    assert unknown.value.code == 10003
    with pytest.raises(discord.Forbidden) as hidden:
        await text_channel(bot, PRIVATE_CHANNEL_ID).send("x")
    assert hidden.value.code == 50001
    discord_emu.delete_channel(GENERAL_CHANNEL_ID)
    await discord_emu.wait_until(lambda: GENERAL_CHANNEL_ID in bot.deleted_channels)
    assert bot.get_channel(GENERAL_CHANNEL_ID) is None
    with pytest.raises(discord.NotFound) as deleted:
        await bot.get_partial_messageable(GENERAL_CHANNEL_ID).send("x")
    assert deleted.value.code == 10003


@pytest.mark.discord_invalid_requests  # bad on purpose: the emulator must refuse them
async def test_discord_validation_errors_reach_the_bot(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    channel = text_channel(bot, ALERTS_CHANNEL_ID)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (
        too_long.value.code == 50035 and "In content: Must be 2000 or fewer in length." in too_long.value.text
    )
    with pytest.raises(discord.HTTPException) as big_embed:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert "In embeds.0.title" in big_embed.value.text
    assert discord_emu.messages_in(ALERTS_CHANNEL_ID) == []


async def test_message_content_needs_the_intent(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    assert bot.user is not None
    discord_emu.user_message(GENERAL_CHANNEL_ID, MEMBER_ID, "hello bot")
    discord_emu.user_message(GENERAL_CHANNEL_ID, MEMBER_ID, f"<@{bot.user.id}> price?")
    await discord_emu.wait_until(lambda: len(bot.seen_messages) == 2)
    # Without Intents.message_content Discord blanks content, except where the bot is mentioned.
    assert bot.seen_messages == [(MEMBER_ID, ""), (MEMBER_ID, f"<@{bot.user.id}> price?")]


async def test_member_chunk_request_gets_every_member(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    members = await asyncio.wait_for(guild.chunk(), timeout=5)
    assert bot.user is not None
    assert sorted(m.id for m in members) == sorted([OWNER_ID, MEMBER_ID, CLOSED_DMS_ID, MOD_ID, bot.user.id])
    # discord.py sends the guild id as an int in op 8 (gateway.py request_chunks).
    assert [op.d["guild_id"] for op in discord_emu.gateway.received if op.op == 8] == [GUILD_ID]


# -- rate limits ----------------------------------------------------------------------------------


async def test_discord_py_honours_bucket_headers_so_no_429(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    discord_emu.config.rate_limits.message_create = RateLimitRule(5, 1.0)
    channel = text_channel(bot, ALERTS_CHANNEL_ID)
    started = time.monotonic()
    for i in range(12):
        await channel.send(f"alert {i}")
    elapsed = time.monotonic() - started
    assert discord_emu.count_429 == 0
    assert [m.content for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)] == [
        f"alert {i}" for i in range(12)
    ]
    # 12 messages at 5 per 1 s window: the 5th and 10th responses report Remaining 0, so discord.py waits
    # out two windows before sending more.
    assert 1.9 <= elapsed < 3.5
    first = discord_emu.requests_matching("POST", "/channels/*/messages")[0].response_headers
    assert first["X-RateLimit-Limit"] == "5" and first["X-RateLimit-Remaining"] == "4"
    assert {"X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Bucket"} <= set(first)


async def test_concurrent_sends_use_one_bucket_per_channel(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    discord_emu.config.rate_limits.message_create = RateLimitRule(5, 1.0)
    channels = [text_channel(bot, ALERTS_CHANNEL_ID), text_channel(bot, GENERAL_CHANNEL_ID)]
    started = time.monotonic()
    await asyncio.gather(*(c.send(f"{c.name} {i}") for i in range(6) for c in channels))
    elapsed = time.monotonic() - started
    assert discord_emu.count_429 == 0
    for channel in channels:
        assert [m.content for m in discord_emu.messages_in(channel.id)] == [
            f"{channel.name} {i}" for i in range(6)
        ]
    # Six per channel need two windows per channel; the channels wait side by side, not one after another.
    assert 0.9 <= elapsed < 1.9


async def test_rate_limit_enforced_for_a_client_ignoring_headers(discord_emu: DiscordEmulator) -> None:
    import aiohttp

    discord_emu.config.rate_limits.global_per_second = 8
    url = f"{discord_emu.api_base}/channels/{ALERTS_CHANNEL_ID}/messages"
    headers = {"Authorization": f"Bot {discord_emu.config.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        statuses = []
        for i in range(6):
            async with session.post(url, json={"content": str(i)}) as resp:
                statuses.append(resp.status)
                last_body, last_headers = await resp.json(), resp.headers
        assert statuses == [200] * 5 + [429]
        assert last_headers["Content-Type"] == "application/json" and last_headers["Via"]
        assert last_body["global"] is False and 0 < last_body["retry_after"] <= 5.0
        for _ in range(3):
            async with session.get(f"{discord_emu.api_base}/users/@me") as resp:
                statuses.append(resp.status)
                body = await resp.json()
        assert statuses[-1] == 429 and body["global"] is True
    assert discord_emu.count_429 == 2


async def test_injected_route_429_is_retried_and_sent_once(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    fault = discord_emu.fail_next("POST", "/channels/{channel_id}/messages", 429, retry_after=0.3)
    started = time.monotonic()
    await text_channel(bot, ALERTS_CHANNEL_ID).send("after 429")
    assert time.monotonic() - started >= 0.3
    assert fault.hits == 1 and discord_emu.count_429 == 1
    assert [m.content for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)] == ["after 429"]
    assert [r.status for r in discord_emu.requests_matching("POST", "/channels/*/messages")] == [429, 200]


async def test_injected_global_429_blocks_then_retries(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    discord_emu.fail_next("POST", "/channels/*/messages", 429, retry_after=0.3, is_global=True)
    started = time.monotonic()
    # The global 429 on the send also holds back the unrelated GET (http.py HTTPClient._global_over).
    await asyncio.gather(
        text_channel(bot, ALERTS_CHANNEL_ID).send("after global 429"), _fetch_later(bot, started)
    )
    assert [m.content for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)] == ["after global 429"]
    fetch = discord_emu.requests_matching("GET", f"/users/{MEMBER_ID}")[0]
    assert fetch.at - started >= 0.3
    assert discord_emu.served_429[0].response_headers["X-RateLimit-Global"] == "true"


async def _fetch_later(bot: discord.Client, started: float) -> None:
    await asyncio.sleep(0.1)
    await bot.fetch_user(MEMBER_ID)


async def test_429_without_via_header_is_not_retried(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.fail_next("POST", "/channels/*/messages", 429, via=False)
    with pytest.raises(discord.HTTPException) as info:
        await text_channel(bot, ALERTS_CHANNEL_ID).send("blocked")
    assert info.value.status == 429
    assert discord_emu.messages_in(ALERTS_CHANNEL_ID) == []


async def test_injected_500_is_retried(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.fail_next("POST", "/channels/*/messages", 500)
    await text_channel(bot, ALERTS_CHANNEL_ID).send("after 500")
    assert [r.status for r in discord_emu.requests_matching("POST", "/channels/*/messages")] == [500, 200]
    assert len(discord_emu.messages_in(ALERTS_CHANNEL_ID)) == 1


async def test_injected_503_raises_server_error(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.fail_next("POST", "/channels/*/messages", 503)
    with pytest.raises(discord.DiscordServerError):
        await text_channel(bot, ALERTS_CHANNEL_ID).send("lost")
    assert len(discord_emu.requests_matching("POST", "/channels/*/messages")) == 1
    assert discord_emu.messages_in(ALERTS_CHANNEL_ID) == []


async def test_injected_404_with_code_and_delay(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.fail_next("POST", "/channels/*/messages", 404, code=10003)
    with pytest.raises(discord.NotFound) as info:
        await text_channel(bot, ALERTS_CHANNEL_ID).send("x")
    assert info.value.code == 10003
    discord_emu.delay_next("POST", "/channels/*/messages", 0.3)
    started = time.monotonic()
    await text_channel(bot, ALERTS_CHANNEL_ID).send("slow")
    assert time.monotonic() - started >= 0.3


# -- gateway reconnects ---------------------------------------------------------------------------


async def test_op7_reconnect_resumes_and_replays_missed_events(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    session_id = next(iter(discord_emu.gateway.sessions))
    discord_emu.gateway_reconnect()
    discord_emu.remove_member(GUILD_ID, MEMBER_ID)  # happens while the bot is away
    await discord_emu.wait_until(lambda: bot.resumed_count == 1)
    assert discord_emu.gateway.resumes[0].session_id == session_id
    assert discord_emu.gateway.resumes[0].replayed == ["GUILD_MEMBER_REMOVE"]
    assert bot.removed_members == [MEMBER_ID]
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None and guild.get_member(MEMBER_ID) is None
    assert len(discord_emu.gateway.identifies) == 1 and bot.ready_count == 1
    assert discord_emu.gateway.client_close_codes[0] == 4000


async def test_op9_not_resumable_identifies_again(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.gateway_invalidate(resumable=False)
    await discord_emu.wait_until(lambda: bot.ready_count == 2)
    assert len(discord_emu.gateway.identifies) == 2 and discord_emu.gateway.resumes == []
    live = [s for s in discord_emu.gateway.sessions.values() if not s.invalidated]
    assert len(live) == 1 and live[0].conn is not None
    reply = await discord_emu.slash("price", {"symbol": "BTCUSDT"})  # the new session still works
    assert reply.embeds[0]["title"] == "BTCUSDT price"


async def test_close_4000_resumes(discord_emu: DiscordEmulator, bot: RecordingBot) -> None:
    discord_emu.gateway_close(4000)
    await discord_emu.wait_until(lambda: bot.resumed_count == 1)
    assert len(discord_emu.gateway.resumes) == 1 and len(discord_emu.gateway.identifies) == 1


async def test_close_4009_resume_rejected_then_identifies(
    discord_emu: DiscordEmulator, bot: RecordingBot
) -> None:
    discord_emu.gateway_close(4009, "Session timed out.")
    await discord_emu.wait_until(lambda: bot.ready_count == 2)
    resumes = [op for op in discord_emu.gateway.received if op.op == 6]
    assert len(resumes) == 1 and discord_emu.gateway.resumes == []  # tried, refused with op 9 d=false
    assert len(discord_emu.gateway.identifies) == 2


async def test_close_4004_surfaces_connection_closed(discord_emu: DiscordEmulator) -> None:
    runner = BotRunner(RecordingBot(), discord_emu)
    await runner.start()
    assert runner.task is not None
    discord_emu.gateway_close(4004, "Authentication failed.")
    with pytest.raises(discord.ConnectionClosed) as info:
        await asyncio.wait_for(runner.task, timeout=5)
    assert info.value.code == 4004
    assert runner.bot.is_closed()
    await runner.stop()


async def test_missing_heartbeat_acks_on_an_idle_gateway_lead_to_resume(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 200
    async with connected_bot(lambda: RecordingBot(heartbeat_timeout=1.0)) as connected:
        test_bot = cast(RecordingBot, connected)
        first = discord_emu.gateway.connections[0]
        discord_emu.gateway_stop_acking()
        beats = first.heartbeats
        await discord_emu.wait_until(lambda: test_bot.resumed_count == 1, timeout=5)
        # The client kept beating without ACKs, then gave up after heartbeat_timeout of silence.
        assert first.heartbeats >= beats + 3
        assert len(discord_emu.gateway.identifies) == 1 and first.client_close_code == 4000


async def test_silent_gateway_times_out_and_resumes(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 200
    async with connected_bot(lambda: RecordingBot(heartbeat_timeout=1.0)) as connected:
        test_bot = cast(RecordingBot, connected)
        discord_emu.gateway_go_silent()
        discord_emu.remove_member(GUILD_ID, MOD_ID)  # sent into the void, so it must come back on RESUME
        started = time.monotonic()
        await discord_emu.wait_until(lambda: test_bot.resumed_count == 1, timeout=5)
        assert 0.9 <= time.monotonic() - started < 4
        assert discord_emu.gateway.resumes[0].replayed == ["GUILD_MEMBER_REMOVE"]
        assert test_bot.removed_members == [MOD_ID]

"""The emulator's interaction-token life and enforce_nonce window, driven through discord.py.

interactions/receiving-and-responding.mdx: "Interaction tokens are valid for **15 minutes**": after that a
followup, and GET/PATCH/DELETE of the original response or of a followup, answer 401 code 50027
(topics/opcodes-and-status-codes.mdx). resources/message.mdx, Create Message: ``enforce_nonce`` checks the
nonce "for uniqueness in the past few minutes". Both windows are configurable, so these tests use a
fraction of a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID

TTL = 0.4


class KeepingBot(commands.Bot):
    """A bot whose /keep answers and keeps the interaction, so a test can use its token later."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), **client_options())
        self.kept: list[discord.Interaction[Any]] = []

    async def setup_hook(self) -> None:
        """Register /keep for the test guild."""

        @app_commands.command(name="keep", description="Answer and keep the interaction")
        async def keep(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.send_message("kept")
            self.kept.append(interaction)

        self.tree.add_command(keep, guild=discord.Object(GUILD_ID))


@pytest.fixture
async def keeper(connected_bot: ConnectBot, discord_emu: DiscordEmulator) -> AsyncIterator[KeepingBot]:
    """Yield a connected KeepingBot with /keep synced and tokens living TTL seconds."""
    discord_emu.config.interaction_token_ttl = TTL
    async with connected_bot(KeepingBot) as connected:
        bot = cast(KeepingBot, connected)
        await bot.tree.sync(guild=discord.Object(GUILD_ID))
        yield bot


async def kept_interaction(emu: DiscordEmulator, bot: KeepingBot) -> discord.Interaction[Any]:
    """Run /keep and return its interaction."""
    await emu.slash("keep")
    return bot.kept[-1]


async def test_an_expired_token_is_refused_like_discord_and_a_fresh_one_works(
    discord_emu: DiscordEmulator, keeper: KeepingBot
) -> None:
    old = await kept_interaction(discord_emu, keeper)
    followup = await old.followup.send("while the token lives", wait=True)
    await old.edit_original_response(content="edited in time")
    await asyncio.sleep(TTL + 0.1)

    uses: dict[str, Callable[[], Awaitable[object]]] = {
        "followup": lambda: old.followup.send("too late"),
        "get original": old.original_response,
        "edit original": lambda: old.edit_original_response(content="too late"),
        "delete original": old.delete_original_response,
        "edit followup": lambda: followup.edit(content="too late"),
        "delete followup": followup.delete,
    }
    for name, use in uses.items():
        with pytest.raises(discord.HTTPException) as refused:
            await use()
        error = refused.value
        assert (error.status, error.code, error.text) == (401, 50027, "Invalid Webhook Token"), name
    refusals = discord_emu.requests_matching(path="/webhooks/**", status=401)
    assert len(refusals) == len(uses)
    original = discord_emu.message(followup.id)
    assert original.content == "while the token lives" and not original.deleted

    fresh = await kept_interaction(discord_emu, keeper)
    late = await fresh.followup.send("a fresh token works", wait=True)
    await fresh.edit_original_response(content="edited with a fresh token")
    assert discord_emu.message(late.id).content == "a fresh token works"


async def test_enforce_nonce_dedupes_inside_its_window_only(
    discord_emu: DiscordEmulator, keeper: KeepingBot
) -> None:
    discord_emu.config.nonce_window = TTL
    channel = keeper.get_partial_messageable(ALERTS_CHANNEL_ID)
    first = await channel.send("alert 17", nonce="tw-17")  # discord.py sets enforce_nonce with a nonce
    again = await channel.send("alert 17", nonce="tw-17")
    assert again.id == first.id
    await asyncio.sleep(TTL + 0.1)
    after_window = await channel.send("alert 17", nonce="tw-17")
    assert after_window.id != first.id
    assert [m.content for m in discord_emu.messages_in(ALERTS_CHANNEL_ID)] == ["alert 17", "alert 17"]


async def test_a_fetched_message_does_not_carry_its_nonce(
    discord_emu: DiscordEmulator, keeper: KeepingBot
) -> None:
    channel = keeper.get_partial_messageable(ALERTS_CHANNEL_ID)
    sent = await channel.send("alert 18", nonce="tw-18")
    assert sent.nonce == "tw-18"  # the create response carries it (and MESSAGE_CREATE)
    fetched = await channel.fetch_message(sent.id)
    listed = [m async for m in channel.history(limit=5)]
    assert fetched.nonce is None and [m.nonce for m in listed] == [None]

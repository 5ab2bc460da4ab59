"""/digest: schedule a market summary in a channel (Manage Server), list, remove, post one now."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.digests.content import SECTIONS, parse_contents
from bot.digests.service import DigestService
from bot.discord.checks import check_postable, guild_id_of, manage_guild_only
from bot.discord.render.digests import digest_set_embed, digests_embed
from bot.discord.transformers import NumberTransformer
from bot.errors import UserError


def digests_of(interaction: discord.Interaction[Any]) -> DigestService:
    """Return the DigestService of the bot handling ``interaction``."""
    digests = getattr(interaction.client, "digests", None)
    if not isinstance(digests, DigestService):
        raise RuntimeError("the Discord client has no digest service attached")
    return digests


class DigestIdTransformer(NumberTransformer):
    """A digest of this server by number (``3`` or ``#3``), with autocomplete."""

    hint = "Pick a digest from the list (/digest list shows them)."

    def matching(
        self, interaction: discord.Interaction[Any], guild_id: int, typed: str
    ) -> list[tuple[int, str]]:
        """Return the server's digests matching what was typed."""
        return digests_of(interaction).choices(guild_id, typed)


DigestId = app_commands.Transform[int, DigestIdTransformer]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class DigestCog(commands.GroupCog, group_name="digest", group_description="Scheduled market summaries"):
    """Schedule, list, remove and post market digests."""

    def __init__(self, digests: DigestService) -> None:
        self.digests = digests
        super().__init__()

    @app_commands.command(name="set", description="Post a market digest in a channel on a schedule (UTC)")
    @app_commands.describe(
        channel="Where to post it (one digest per channel; setting it again replaces it)",
        time="08:00 for daily at 08:00 UTC, or every 6h (also: every 6h from 02:30)",
        days="daily (default), weekdays, weekends, mon,wed,fri or mon-fri",
        contents=f"Sections: {', '.join(SECTIONS)} or all (default: all but chart)",
    )
    @manage_guild_only
    async def set_digest(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        time: app_commands.Range[str, 1, 40],
        days: app_commands.Range[str, 1, 60] | None = None,
        contents: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Schedule the digest of a channel."""
        check_postable(interaction, channel)
        me = channel.guild.me
        if (
            "chart" in parse_contents(contents)
            and me is not None
            and not channel.permissions_for(me).attach_files
        ):
            raise UserError(f"I cannot attach the chart in {channel.mention}: I need Attach Files there.")
        view = self.digests.set_digest(
            guild_id_of(interaction), interaction.user.id, channel.id, time, days, contents
        )
        await interaction.response.send_message(
            embed=digest_set_embed(view, f"Digest #{view.id} scheduled"), ephemeral=True
        )

    @app_commands.command(name="list", description="This server's digests and when each posts next")
    @manage_guild_only
    async def list_digests(self, interaction: discord.Interaction[Any]) -> None:
        """List the server's digests."""
        views = self.digests.list_digests(guild_id_of(interaction))
        await interaction.response.send_message(embed=digests_embed(views), ephemeral=True)

    @app_commands.command(name="remove", description="Stop and delete a digest")
    @app_commands.describe(digest="The digest's number, e.g. 3")
    @manage_guild_only
    async def remove(self, interaction: discord.Interaction[Any], digest: DigestId) -> None:
        """Delete a digest."""
        view = self.digests.remove_digest(guild_id_of(interaction), digest)
        await interaction.response.send_message(
            embed=digest_set_embed(view, f"Digest #{view.id} removed"), ephemeral=True
        )

    @app_commands.command(name="now", description="Post a digest now, covering the period up to now")
    @app_commands.describe(digest="The digest's number, e.g. 3")
    @manage_guild_only
    async def now(self, interaction: discord.Interaction[Any], digest: DigestId) -> None:
        """Queue a digest at once (its schedule is unchanged)."""
        view = self.digests.post_now(guild_id_of(interaction), digest)
        await interaction.response.send_message(
            embed=digest_set_embed(view, f"Digest #{view.id} is on its way to its channel"), ephemeral=True
        )

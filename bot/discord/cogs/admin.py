"""/setup (the server's alert and ops channels; Manage Server) and /status (the bot's health)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import check_postable, manage_guild_only
from bot.discord.render import admin as render
from bot.discord.transformers_history import viewer_of
from bot.services import Service


class AdminCog(commands.Cog, name="Admin"):
    """Server settings and the bot's own health."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @app_commands.command(
        name="setup", description="Set this server's alert channel, ops channel and charts on alerts"
    )
    @app_commands.describe(
        alert_channel="Where alerts go unless an alert names its own channel",
        ops_channel="Where Tripwire reports delivery problems and feed health",
        chart_alerts="Attach a chart of the hours before each alert to its message",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manage_guild_only
    async def setup_command(
        self,
        interaction: discord.Interaction[Any],
        alert_channel: discord.TextChannel | None = None,
        ops_channel: discord.TextChannel | None = None,
        chart_alerts: bool | None = None,
    ) -> None:
        """Store the server's channels (or show them when none is given)."""
        assert interaction.guild_id is not None  # guild_only and the check guarantee it
        for channel in (alert_channel, ops_channel):
            if channel is not None:
                check_postable(interaction, channel)
        view = self.service.setup(
            interaction.guild_id,
            alert_channel.id if alert_channel is not None else None,
            ops_channel.id if ops_channel is not None else None,
            chart_alerts,
        )
        await interaction.response.send_message(embed=render.setup_embed(view), ephemeral=True)

    @app_commands.command(
        name="status", description="Feed health, last alerts, version, uptime, database size"
    )
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        """Show the bot's health."""
        # Feed health and the database size come from several queries; answer within Discord's 3 s.
        await interaction.response.defer(thinking=True, ephemeral=True)
        view = self.service.status(interaction.guild_id, viewer_of(interaction))
        await interaction.followup.send(embed=render.status_embed(view), ephemeral=True)

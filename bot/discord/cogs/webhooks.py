"""/webhook add, list and remove (Manage Server): URLs that let TradingView alerts into this server."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.discord.checks import check_own_role, check_postable, guild_id_of, manage_guild_only
from bot.discord.render import webhooks as render_webhooks
from bot.discord.transformers import MAX_CHOICES, service_of
from bot.services import Service
from detectors.base import SEVERITIES

SEVERITY_CHOICES = [Choice(name=s, value=s) for s in SEVERITIES]


async def _route_names(interaction: discord.Interaction[Any], current: str) -> list[Choice[str]]:
    """Offer the server's webhook names containing what was typed."""
    if interaction.guild_id is None:
        return []
    names = service_of(interaction).webhook_choices(interaction.guild_id, current)
    return [Choice(name=name, value=name) for name in names[:MAX_CHOICES]]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class WebhookCog(commands.GroupCog, group_name="webhook", group_description="Let TradingView alerts in"):
    """Add, list and remove this server's inbound webhook routes."""

    def __init__(self, service: Service) -> None:
        self.service = service
        super().__init__()

    @app_commands.command(name="add", description="Make a webhook URL for TradingView alerts (shown once)")
    @app_commands.describe(
        name="A short name, e.g. tv-btc",
        channel="Where its alerts go",
        severity="Severity of alerts that do not say theirs (default warning)",
        role="Role to mention on its alerts",
        cooldown="Seconds before another alert of the same symbol (or key) may go out (default 0)",
    )
    @app_commands.choices(severity=SEVERITY_CHOICES)
    @manage_guild_only
    async def add(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, 24],
        channel: discord.TextChannel,
        severity: Choice[str] | None = None,
        role: discord.Role | None = None,
        cooldown: app_commands.Range[int, 0, 86_400] = 0,
    ) -> None:
        """Add a route and answer with its URL, privately."""
        check_postable(interaction, channel)
        if role is not None:
            check_own_role(interaction, role)
        made = self.service.add_webhook(
            guild_id_of(interaction),
            interaction.user.id,
            name,
            channel.id,
            severity=severity.value if severity is not None else "warning",
            role_id=role.id if role is not None else None,
            cooldown_s=cooldown,
        )
        embed = render_webhooks.new_webhook_embed(made)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="list", description="This server's webhooks (their URLs are not shown again)")
    @manage_guild_only
    async def list_webhooks(self, interaction: discord.Interaction[Any]) -> None:
        """List the server's routes."""
        views = self.service.list_webhooks(guild_id_of(interaction))
        await interaction.response.send_message(embed=render_webhooks.webhooks_embed(views), ephemeral=True)

    @app_commands.command(name="remove", description="Remove a webhook: its URL stops working")
    @app_commands.describe(name="The webhook's name")
    @app_commands.autocomplete(name=_route_names)
    @manage_guild_only
    async def remove(
        self, interaction: discord.Interaction[Any], name: app_commands.Range[str, 1, 40]
    ) -> None:
        """Remove a route and its alert."""
        view = self.service.remove_webhook(guild_id_of(interaction), name)
        embed = render_webhooks.removed_webhook_embed(view)
        await interaction.response.send_message(embed=embed, ephemeral=True)

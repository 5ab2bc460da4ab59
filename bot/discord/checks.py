"""Run-time permission checks for commands that change what a server's alerts do.

``default_permissions`` only tells Discord's client whom to show a command to; discord.py does not enforce
it when the command runs, and a server admin can override it per channel or role. So every command that
manages alerts or settings is also checked here.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.discord.transformers import is_manager
from bot.errors import UserError


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    """Return the id of the server the command was used in; outside a server, fail the check."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def require_manage_guild(interaction: discord.Interaction[Any]) -> bool:
    """Pass members with Manage Server (or Administrator) in a guild; raise a check failure otherwise."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_manager(interaction):
        raise app_commands.MissingPermissions(["manage_guild"])
    return True


manage_guild_only = app_commands.check(require_manage_guild)


def check_postable(interaction: discord.Interaction[Any], channel: discord.abc.GuildChannel) -> None:
    """Raise UserError unless ``channel`` belongs to this server and the bot can post embeds in it.

    A crafted interaction can name a channel of another server the bot is in; and a channel the bot cannot
    see or write to would only turn the rule broken at its first alert, so say it now.
    """
    if channel.guild.id != interaction.guild_id:
        raise UserError("Pick a channel of this server.")
    me = channel.guild.me
    if me is None:
        return  # the bot's own member is not cached yet: the first delivery will tell
    permissions = channel.permissions_for(me)
    needed = (
        (permissions.view_channel, "View Channel"),
        (permissions.send_messages, "Send Messages"),
        (permissions.embed_links, "Embed Links"),
    )
    missing = [name for granted, name in needed if not granted]
    if missing:
        raise UserError(f"I cannot post in {channel.mention}: I need {', '.join(missing)} there.")


def check_own_role(interaction: discord.Interaction[Any], role: discord.Role) -> None:
    """Raise UserError unless ``role`` is a role of this server other than @everyone."""
    if role.guild.id != interaction.guild_id:
        raise UserError("Pick a role of this server.")
    if role.is_default():
        raise UserError("Alerts never ping @everyone; pick a role made for alerts.")

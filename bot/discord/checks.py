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


def require_manage_guild(interaction: discord.Interaction[Any]) -> bool:
    """Pass members with Manage Server (or Administrator) in a guild; raise a check failure otherwise."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_manager(interaction):
        raise app_commands.MissingPermissions(["manage_guild"])
    return True


manage_guild_only = app_commands.check(require_manage_guild)

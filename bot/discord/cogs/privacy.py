"""/privacy, the notices owed to a member, and pausing personal alerts when a member leaves.

/privacy shows what Tripwire stores about you, with a button to delete it; a notice owed to a member is
shown privately after their next command, once.

GUILD_MEMBER_REMOVE only arrives with the privileged Server Members intent (``[discord] members_intent``);
without it the listener never fires and the Discord sink notices the departure at the next personal alert
(``bot.notify.discord.member_check``).
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.render.privacy import forget_embed, privacy_embed
from bot.discord.tree import show_notices
from bot.discord.views import TokenBoundView
from bot.services.privacy import PrivacyService

log = logging.getLogger(__name__)

# How long the delete button of a /privacy answer works (its message is ephemeral and only its owner sees it).
CONFIRM_TIMEOUT_S = 300.0


class ForgetMe(TokenBoundView):
    """The button under /privacy's answer that deletes everything stored about the member.

    Disabled when it times out, before the token of the /privacy interaction expires (``TokenBoundView``).
    """

    def __init__(self, privacy: PrivacyService, user_id: int) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_S)
        self.privacy = privacy
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Let only the member who asked press it (the message is theirs alone, but be sure)."""
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete all of it", style=discord.ButtonStyle.danger, custom_id="privacy:forget")
    async def forget(self, interaction: discord.Interaction[Any], _button: discord.ui.Button[Any]) -> None:
        """Delete the member's data and replace the answer with what was removed."""
        result = self.privacy.forget(self.user_id)
        self.stop()
        await interaction.response.edit_message(embed=forget_embed(result), view=None)


class PrivacyCog(commands.Cog, name="Privacy"):
    """What is stored about a member, their notices, and their alerts when they leave a server."""

    def __init__(self, privacy: PrivacyService) -> None:
        self.privacy = privacy

    @app_commands.command(name="privacy", description="See what Tripwire stores about you, and delete it")
    async def privacy_command(self, interaction: discord.Interaction[Any]) -> None:
        """Show the member what is stored about them, with a button to delete it."""
        view = self.privacy.report(interaction.user.id)
        embed = privacy_embed(view)
        if view.empty:
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        forget = ForgetMe(self.privacy, interaction.user.id)
        forget.attach(interaction)
        await interaction.response.send_message(embed=embed, view=forget, ephemeral=True)

    @commands.Cog.listener()
    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], _command: app_commands.Command[Any, ..., Any]
    ) -> None:
        """Show the member their notices after a command that worked (``TripwireTree``: one that failed)."""
        await show_notices(self.privacy, interaction)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Pause the personal alerts a member had in the server they left (needs the members intent)."""
        paused = self.privacy.member_left(payload.guild_id, payload.user.id)
        if paused:
            log.info("user %s left guild %s: paused %s", payload.user.id, payload.guild_id, ", ".join(paused))

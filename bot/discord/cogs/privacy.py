"""/privacy (what Tripwire stores about you, and a button to delete it), the notices owed to a member
(shown privately after their next command, once), and pausing personal alerts when a member leaves.

GUILD_MEMBER_REMOVE only arrives with the privileged Server Members intent (``[discord] members_intent``);
without it the listener never fires and the Discord sink notices the departure at the next personal alert
(``bot.notify.member_check``).
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.errors import TripwireTree
from bot.discord.privacy_render import forget_embed, privacy_embed
from bot.discord.render import CONTENT_LIMIT, cut
from bot.discord.views import TokenBoundView
from bot.privacy import PrivacyService

log = logging.getLogger(__name__)

# How long the delete button of a /privacy answer works (its message is ephemeral and only its owner sees it).
CONFIRM_TIMEOUT_S = 300.0


async def show_notices(privacy: PrivacyService, interaction: discord.Interaction[Any]) -> None:
    """Send the notices owed to the member who used a command (e.g. their DMs are closed), privately, once.

    Sent as a followup, after the command's own answer; a notice that cannot be sent stays for next time.
    """
    notices = privacy.pending_notices(interaction.user.id)
    if not notices or not interaction.response.is_done():
        return
    text = "\n\n".join(body for _, body in notices)
    try:
        await interaction.followup.send(cut(text, CONTENT_LIMIT), ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not show %d notice(s) to user %s: %s", len(notices), interaction.user.id, exc)
        return
    privacy.notices_shown([notice_id for notice_id, _ in notices])


class NoticeTree(TripwireTree):
    """The command tree, also showing a member their notices after a command that ended in an error."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Answer through the error funnel, then show the member's notices."""
        await super().on_error(interaction, error)
        privacy = getattr(interaction.client, "privacy", None)
        if isinstance(privacy, PrivacyService):
            await show_notices(privacy, interaction)


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
        """Show the member their notices after a command that worked (``NoticeTree``: one that failed)."""
        await show_notices(self.privacy, interaction)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Pause the personal alerts a member had in the server they left (needs the members intent)."""
        paused = self.privacy.member_left(payload.guild_id, payload.user.id)
        if paused:
            log.info("user %s left guild %s: paused %s", payload.user.id, payload.guild_id, ", ".join(paused))

"""Buttons on command replies that only the member who ran the command may press.

discord.py runs a view's timeout as a task of its own and does not stop views when the client closes, so
each cog keeps its live views in a ``ViewTracker`` and stops them when it is unloaded (``Bot.close``
removes every cog): a closed bot leaves no task sleeping behind it.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

import discord

from bot.discord.errors import SOMETHING_WENT_WRONG, reply_privately, user_message

log = logging.getLogger(__name__)

# An interaction token stays valid for 15 minutes; the view must time out (and edit its message to
# disable the buttons) before its token expires.
MAX_VIEW_TIMEOUT_S = 14 * 60
NOT_YOURS = "Only the member who ran this command can use these buttons; run the command to get your own."


class ViewTracker:
    """The live views of one cog, to stop them all when the cog is unloaded."""

    def __init__(self) -> None:
        self._views: weakref.WeakSet[discord.ui.View] = weakref.WeakSet()

    def add(self, view: discord.ui.View) -> None:
        """Remember a view that is about to be sent."""
        self._views.add(view)

    def stop_all(self) -> None:
        """Stop every live view (cancelling its timeout task)."""
        for view in list(self._views):
            view.stop()
        self._views.clear()


class OwnedView(discord.ui.View):
    """A view whose buttons answer only the member who ran the command, disabled when it times out."""

    def __init__(self, owner_id: int, *, timeout: float) -> None:
        super().__init__(timeout=min(timeout, MAX_VIEW_TIMEOUT_S))
        self.owner_id = owner_id
        self.interaction: discord.Interaction[Any] | None = None

    def attach(self, interaction: discord.Interaction[Any]) -> None:
        """Remember the interaction whose reply carries this view (to edit it when the view times out)."""
        self.interaction = interaction

    def disable_all(self) -> None:
        """Grey out every button."""
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Let only the command's invoker press the buttons; tell anyone else privately."""
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    async def on_timeout(self) -> None:
        """Disable the buttons on the message, so nobody presses a button that no longer answers."""
        self.disable_all()
        if self.interaction is None:
            return
        with contextlib.suppress(discord.HTTPException):
            # The message may be gone, or Discord unreachable; the buttons simply stay as they were.
            await self.interaction.edit_original_response(view=self)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        """Answer a user mistake privately, log anything else (the slash-command funnel's rules)."""
        message = user_message(error)
        if message is None:
            log.error(
                "button %r failed for user %s in guild %s",
                getattr(item, "label", None),
                interaction.user.id,
                interaction.guild_id,
                exc_info=error,
            )
            message = SOMETHING_WENT_WRONG
        try:
            await reply_privately(interaction, message)
        except discord.HTTPException as exc:
            log.warning("could not answer a button press with its error: %s", exc)

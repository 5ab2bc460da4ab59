"""Buttons on command replies that only the member who ran the command may press.

discord.py runs a view's timeout as a task of its own and does not stop views when the client closes, so
each cog keeps its live views in a ``ViewTracker`` and stops them when it is unloaded (``Bot.close``
removes every cog): a closed bot leaves no task sleeping behind it. Every view ends before the token of
the interaction it answered expires (``TokenBoundView``), so its last edit is never refused.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

import discord

from bot.discord.tree import SOMETHING_WENT_WRONG, reply_privately, user_message

log = logging.getLogger(__name__)

# Discord: "Interaction tokens are valid for 15 minutes" (interactions/receiving-and-responding.mdx); an
# edit through an expired one answers 401 code 50027 and the buttons would stay looking active.
TOKEN_LIFE_S = 15 * 60.0
# A view ends this long before its interaction's token expires: room for the final edit and for the bot's
# clock being a little behind Discord's.
TOKEN_MARGIN_S = 60.0
MAX_VIEW_LIFETIME_S = TOKEN_LIFE_S - TOKEN_MARGIN_S
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


class TokenBoundView(discord.ui.View):
    """A view that ends, its buttons disabled, while the token of the interaction it answered still lives.

    discord.py counts a view's timeout from the last button press, and the message can only be edited
    afterwards through the token of the command's interaction, which expires 15 minutes after the command:
    a member paging on for ten minutes would push that edit past it (401, buttons left looking active).
    Here ``timeout`` is never longer than the time left before ``lifetime`` seconds after the interaction
    was created (measured from Discord's own timestamp, so time spent before the reply counts), so the view
    ends while the token still works. Each press is answered through its own interaction.
    """

    def __init__(self, *, timeout: float, lifetime: float = MAX_VIEW_LIFETIME_S) -> None:
        self._idle_timeout: float | None = timeout
        self._deadline: float | None = None
        self.lifetime = min(lifetime, MAX_VIEW_LIFETIME_S)
        super().__init__(timeout=timeout)
        self.interaction: discord.Interaction[Any] | None = None

    @property
    def timeout(self) -> float | None:
        """Return the seconds the view waits for a press: its idle timeout, cut to end before the token."""
        idle = self._idle_timeout
        if self._deadline is None:
            return idle
        # discord.py reads this when it (re)arms the timeout: at the send and at every press.
        left = max(self._deadline - time.monotonic(), 0.001)
        return left if idle is None else min(idle, left)

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._idle_timeout = value

    def attach(self, interaction: discord.Interaction[Any]) -> None:
        """Remember the interaction whose reply carries this view; the view ends before its token does."""
        self.interaction = interaction
        age = max(0.0, (discord.utils.utcnow() - interaction.created_at).total_seconds())
        self._deadline = time.monotonic() + self.lifetime - age

    def disable_all(self) -> None:
        """Grey out every button."""
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True

    async def on_timeout(self) -> None:
        """Disable the buttons on the message, so nobody presses a button that no longer answers."""
        self.disable_all()
        if self.interaction is None:
            return
        try:
            # Still inside the token's life (see the class docstring).
            await self.interaction.edit_original_response(view=self)
        except discord.HTTPException as exc:
            # The message may be gone, or Discord unreachable; the buttons simply stay as they were.
            log.warning("could not disable the buttons of an expired view: %s", exc)


class OwnedView(TokenBoundView):
    """A view whose buttons answer only the member who ran the command, disabled when it times out."""

    def __init__(self, owner_id: int, *, timeout: float, lifetime: float = MAX_VIEW_LIFETIME_S) -> None:
        super().__init__(timeout=timeout, lifetime=lifetime)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Let only the command's invoker press the buttons; tell anyone else privately."""
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

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

"""The bot's command tree, ``TripwireTree``: the one place slash-command errors end up (``on_error``).

User mistakes (a ``UserError`` from the service, an ``InvalidOption`` from a transformer, a failed check)
are answered ephemerally with what was wrong. Anything else is a bug or an outage: it is logged with the
command, the user and the guild, and the user gets a short ephemeral apology instead of silence. After
an error, as after a command that worked (the privacy cog's listener), the member is shown the notices owed
to them (e.g. their DMs are closed), privately, once.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.discord.transformers import InvalidOption
from bot.errors import UserError
from bot.notify.discord.render.base import CONTENT_LIMIT, cut
from bot.services.privacy import PrivacyService
from storage.db import is_busy

log = logging.getLogger(__name__)

DATABASE_BUSY = (
    "The database is busy with another program right now; nothing was changed. Try again in a moment."
)
SOMETHING_WENT_WRONG = "Something went wrong on my side; it has been logged. Please try again later."
_PERMISSION_NAMES = {"manage_guild": "Manage Server", "administrator": "Administrator"}


def user_message(error: BaseException) -> str | None:
    """Return what to tell the user about ``error``, or None when it is not their mistake."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, UserError):
        return original.message
    if isinstance(original, InvalidOption):
        return original.message
    if isinstance(original, app_commands.TransformerError):
        cause = original.__cause__
        if isinstance(cause, UserError):
            return cause.message
        return f"I could not read that value as {original.type.name}; please check the option."
    if isinstance(original, app_commands.MissingPermissions):
        names = [_PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in original.missing_permissions]
        return f"You need the {' and '.join(names)} permission to do that."
    if isinstance(original, app_commands.BotMissingPermissions):
        names = [_PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in original.missing_permissions]
        return f"I am missing the {' and '.join(names)} permission in this channel."
    if isinstance(original, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(original, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {original.retry_after:.0f}s."
    if isinstance(original, app_commands.CommandSignatureMismatch):
        # Discord still shows an older version of the command (sync is propagating); not the user's fault
        # but nothing to log loudly either.
        return "This command was just updated; please try again in a minute."
    if isinstance(original, app_commands.CheckFailure):
        return str(original) or "You cannot use this command here."
    return DATABASE_BUSY if database_busy(original) else None


def database_busy(error: BaseException) -> bool:
    """Return whether ``error`` is a write that met another program's lock on the database.

    The live connection waits only briefly for that lock (it would freeze the bot, issue 17 finding 6):
    nothing was changed, and the member may simply try again.
    """
    return is_busy(error)


def command_name(interaction: discord.Interaction[Any]) -> str:
    """Return the full command name of an interaction (``alert add``, ``silence add``)."""
    command = interaction.command
    return command.qualified_name if command is not None else "?"


async def reply_privately(interaction: discord.Interaction[Any], message: str) -> None:
    """Answer ephemerally, whether or not the interaction was already answered or deferred."""
    text = cut(message, CONTENT_LIMIT)
    if interaction.response.is_done():
        # After defer() the first followup fills the "thinking" message and keeps the defer's
        # visibility; commands defer only after their input was checked, so this is rare.
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def on_app_command_error(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """Answer user mistakes ephemerally; log everything else with its context."""
    message = user_message(error)
    if message is None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        log.error(
            "command /%s failed for user %s in guild %s",
            command_name(interaction),
            interaction.user.id,
            interaction.guild_id,
            exc_info=original,
        )
        message = SOMETHING_WENT_WRONG
    try:
        await reply_privately(interaction, message)
    except discord.HTTPException as exc:
        # The interaction expired (10062 after 3 s without an answer) or Discord is down: nothing more to
        # tell the user; the original error was handled above.
        log.warning("could not answer /%s with its error: %s", command_name(interaction), exc)


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


class TripwireTree(app_commands.CommandTree[Any]):
    """The bot's command tree: every error goes through one funnel, then the member's notices are shown."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Answer through the error funnel, then show the member's notices."""
        await on_app_command_error(interaction, error)
        privacy = getattr(interaction.client, "privacy", None)
        if isinstance(privacy, PrivacyService):
            await show_notices(privacy, interaction)

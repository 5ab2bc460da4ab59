"""Find a message an earlier, interrupted send already created, so it is adopted instead of posted twice.

Discord drops a repeated nonce only for a while: with ``enforce_nonce`` the nonce "will be checked for
uniqueness in the past few minutes" (resources/message.mdx, Create Message). A bot killed after Discord
created its message but before it recorded the answer, and restarted after that window, would post the
message again under the same nonce. So before sending a message again whose first attempt may have reached
Discord and whose window may have passed, the sink looks through the channel's (or the DM's) messages since
that attempt for one of its own that is the same message, and takes it.

What identifies the message: the documents list ``nonce`` in the message object, but say of Create
Message's nonce only that its "Value will appear in the Message Create event" (and the create response);
nothing says a message fetched later with GET /channels/{id}/messages carries it, and Discord does not keep
it there. A fetched nonce is used when present, but the sink does not rely on it: every message it sends
shows its group's reference (the nonce itself) at the end of its embed's footer, which a fetch returns.

Without Embed Links there is no footer: Discord keeps such a message but not its embed (an assumption, the
documents are silent; the emulator does the same), so the look-up would find nothing and post again. The
reference is not put where it would survive instead (the content or a component's custom_id would show in
every alert, or add a button to it); the sink checks the bot's cached permissions before each send or edit
to a channel and, when Embed Links is missing, posts nothing and reports the channel to the ops channel as
it does a 403 50013 (``DiscordSink._lacks_embed_links``). An alert without its embed would be a bare role
ping anyway. A channel not in discord.py's cache is sent to unchecked and Discord's answer decides.

Limits, written down: the look-up reads at most ``LOOKUP_LIMIT`` messages after the first attempt (a
channel busier than that in between gets the message again), and without Read Message History Discord
returns no messages at all ("If the current user is missing the READ_MESSAGE_HISTORY permission in the
channel, then no messages will be returned"), so such a channel gets it again too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import discord
import discord.abc

from bot.notify.discord.render.base import FOOTER_LIMIT, cut, fit
from storage.rows import MINUTE_MS

# The nonce window the sink assumes by default: below Discord's "few minutes", so a re-send the sink
# trusts to the nonce is always still inside Discord's window.
DEFAULT_NONCE_WINDOW_S = 60.0
# How many messages after the first attempt are read looking for it (Discord pages by 100).
LOOKUP_LIMIT = 500
# The look-up starts this long before the first attempt, in case the bot's clock runs ahead of Discord's.
CLOCK_SKEW_MS = MINUTE_MS
_REF = "ref "


def mark(embed: discord.Embed, ref: str) -> discord.Embed:
    """End the embed's footer with the message's reference, so a later look-up can recognise it."""
    suffix = _REF + ref
    text = embed.footer.text or ""
    text = f"{cut(text, FOOTER_LIMIT - len(suffix) - 3)} · {suffix}" if text else suffix
    embed.set_footer(text=text, icon_url=embed.footer.icon_url)
    return fit(embed)  # the 6000-character total: fit shortens the description, never the footer


def carries(message: discord.Message, ref: str) -> bool:
    """Tell whether a fetched message is the one sent under ``ref`` (its nonce, or the footer mark)."""
    if message.nonce is not None and str(message.nonce) == ref:
        return True
    suffix = _REF + ref
    return any((embed.footer.text or "").endswith(suffix) for embed in message.embeds)


async def find_sent(
    destination: discord.abc.Messageable, ref: str, since_ms: int, author_id: int
) -> discord.Message | None:
    """Return the bot's message sent under ``ref`` since ``since_ms`` (wall clock), if Discord has it."""
    start = datetime.fromtimestamp(max(0, since_ms - CLOCK_SKEW_MS) / 1000, tz=UTC)
    after = discord.Object(discord.utils.time_snowflake(start))
    async for message in destination.history(limit=LOOKUP_LIMIT, after=after, oldest_first=True):
        if message.author.id == author_id and carries(message, ref):
            return message
    return None

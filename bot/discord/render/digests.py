"""The /digest replies: the list of a server's digests and what /digest set created.

The posted digest itself is rendered by the Discord sink (``bot.notify.discord.render.digests``). The wording
comes from ``bot.digests.text`` (the same lines ``tripwire digest`` prints); times are Discord
timestamps so every reader sees them in their own zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.digests.service import DigestView
from bot.notify.discord.render.base import DESCRIPTION_LIMIT, ENDED, NEUTRAL, fit, fit_lines, ts


def digests_embed(views: Sequence[DigestView]) -> discord.Embed:
    """Render /digest list."""
    if not views:
        return discord.Embed(
            title="This server's digests: none yet",
            description="Schedule one with /digest set.",
            colour=NEUTRAL,
        )
    lines = []
    for view in views:
        line = f"**#{view.id}** in <#{view.channel_id}> · {view.schedule} · {', '.join(view.contents)}"
        if view.next_at is not None:
            line += f" · next {ts(view.next_at)}"
        if not view.enabled:
            line += f" · ⚠️ {view.status_reason or 'off'}"
        lines.append(line)
    description = "\n".join(fit_lines(lines, DESCRIPTION_LIMIT))
    return fit(
        discord.Embed(title=f"This server's digests ({len(views)})", description=description, colour=NEUTRAL)
    )


def digest_set_embed(view: DigestView, heading: str) -> discord.Embed:
    """Render one digest after /digest set, remove or now."""
    embed = discord.Embed(
        title=heading,
        description=f"In <#{view.channel_id}>, {view.schedule}: {', '.join(view.contents)}.",
        colour=NEUTRAL if view.enabled else ENDED,
    )
    if view.next_at is not None:
        embed.add_field(name="Next", value=f"{ts(view.next_at)} ({ts(view.next_at, 'f')})")
    embed.set_footer(text=f"digest #{view.id}")
    return fit(embed)

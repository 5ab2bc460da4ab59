"""Embeds for /silence: one silence after it was added or removed, and the list of a server's silences."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.notify.discord.render import base as render
from bot.parsing import format_duration
from bot.services.silences import SilenceView


def silence_line(view: SilenceView) -> str:
    """Return one line describing a silence: what it mutes, when, and why."""
    if view.recurrence is not None:
        every = "every day" if view.recurrence == "daily" else "every week"
        span = f"{format_duration(view.length_s)} {every}"
        when = (
            f"in force until {render.ts(view.window_end)}"
            if view.active
            else f"next {render.ts(view.window_start, 'f')}"
        )
    else:
        span = f"{render.ts(view.window_start, 'f')} → {render.ts(view.window_end, 'f')}"
        when = (
            f"ends {render.ts(view.window_end)}" if view.active else f"starts {render.ts(view.window_start)}"
        )
    state = "🔇" if view.active else "⏳"
    line = f"{state} `#{view.id}` **{view.matchers}** · {span} · {when}"
    if view.reason:
        line += f" · {view.reason}"
    return line


def silence_embed(view: SilenceView, title: str) -> discord.Embed:
    """Render one silence after /silence add or /silence remove."""
    embed = discord.Embed(title=title, description=silence_line(view), colour=render.NEUTRAL)
    embed.set_footer(text="Muted alerts are still recorded in the history, marked silenced")
    return render.fit(embed)


def silences_embed(views: Sequence[SilenceView]) -> discord.Embed:
    """Render /silence list."""
    if not views:
        return discord.Embed(
            title="No silences", description="Mute alerts with /silence add.", colour=render.NEUTRAL
        )
    active = sum(1 for v in views if v.active)
    lines = render.fit_lines([silence_line(view) for view in views], render.DESCRIPTION_LIMIT)
    embed = discord.Embed(
        title=f"Silences ({active} in force of {len(views)})",
        description="\n".join(lines),
        colour=render.NEUTRAL,
    )
    return render.fit(embed)

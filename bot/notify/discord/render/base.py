"""What every embed shares: Discord's limits, the colours, and the helpers that cut text and fit embeds.

The Discord sink's embeds are rendered beside it (``alerts``, ``groups``, ``liqfeed``, ``digests``); the
slash commands' replies in ``bot.discord.render`` (one module per command family, mirroring
``bot.services``), which take these helpers from here. Titles say what
happened in plain words, colours follow the direction, key numbers are fields, times are Discord timestamps
(``<t:unix:R>``: every reader sees them in their own time zone). Every embed passes through ``fit`` so it
stays within Discord's limits (title 256, description 4096, 25 fields of 256/1024, footer 2048, 6000
characters in all), which Discord otherwise answers with a 400 and no message at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import discord

from detectors.values import format_change, format_funding

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
TOTAL_LIMIT = 6000
# Discord rejects message content longer than 2000 characters (error 50035).
CONTENT_LIMIT = 2000
# Room kept for the "… and N more" line that ends a list cut short.
_MORE_RESERVE = 40

UP = discord.Colour(0x2ECC71)
DOWN = discord.Colour(0xE74C3C)
NEUTRAL = discord.Colour(0x5865F2)
ENDED = discord.Colour(0x95A5A6)
WARNING = discord.Colour(0xE67E22)
CRITICAL = discord.Colour(0xC0392B)


def cut(text: str, limit: int) -> str:
    """Return ``text`` shortened to ``limit`` characters, ending in "…" when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_lines(
    lines: Sequence[str],
    limit: int,
    *,
    most: int | None = None,
    more: Callable[[int], str] = lambda left: f"… and {left} more",
) -> list[str]:
    """Return the ``lines`` that fit in ``limit`` characters, then a ``more`` line counting the rest.

    At most ``most`` lines, joined by newlines: a list cut at a line, never in the middle of one.
    """
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        room = limit - (0 if last else _MORE_RESERVE)
        if (most is not None and index >= most) or used + len(line) > room:
            kept.append(more(len(lines) - index))
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def fit(embed: discord.Embed) -> discord.Embed:
    """Trim an embed in place to Discord's limits and return it."""
    if embed.title:
        embed.title = cut(embed.title, TITLE_LIMIT)
    if embed.description:
        embed.description = cut(embed.description, DESCRIPTION_LIMIT)
    fields = embed.fields
    if len(fields) > FIELD_LIMIT:
        for index in range(len(fields) - 1, FIELD_LIMIT - 1, -1):
            embed.remove_field(index)
    for index, item in enumerate(embed.fields):
        embed.set_field_at(
            index,
            name=cut(item.name or "\u200b", FIELD_NAME_LIMIT),
            value=cut(item.value or "\u200b", FIELD_VALUE_LIMIT),
            inline=bool(item.inline),
        )
    if embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, FOOTER_LIMIT), icon_url=embed.footer.icon_url)
    # The 6000-character total counts title, description, field names and values, footer and author:
    # drop fields from the end, then shorten the description, until it fits.
    while len(embed) > TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > TOTAL_LIMIT and embed.description:
        excess = len(embed) - TOTAL_LIMIT
        embed.description = cut(embed.description, max(1, len(embed.description) - excess - 1))
    return embed


def ts(ms: int, style: str = "R") -> str:
    """Return a Discord timestamp for epoch milliseconds (``<t:1768345200:R>``)."""
    return f"<t:{ms // 1000}:{style}>"


def when(ms: int) -> str:
    """Return "in 2 hours (14 Jan 16:00)" style text: relative and absolute, both in the reader's zone."""
    return f"{ts(ms, 'R')} ({ts(ms, 'f')})"


def signed_pct(value: float | None, digits: int = 2) -> str:
    """Format a percentage change with its sign and an arrow, or "n/a"."""
    if value is None or not math.isfinite(value):
        return "n/a"
    arrow = "▲" if value > 0 else "▼" if value < 0 else "•"
    return f"{arrow} {format_change(value, digits)}"


def rate_pct(rate: float) -> str:
    """Format a funding rate (decimal per interval) as a percentage with four decimals."""
    return format_funding(rate * 100)


def colour_for(change: float | None) -> discord.Colour:
    """Return green for up, red for down, blurple otherwise."""
    if change is None or change == 0:
        return NEUTRAL
    return UP if change > 0 else DOWN

"""The posted digest embed, as the Discord sink posts it (its chart drawn from ``bot.digests.chart``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import discord

from bot.digests.content import from_payload
from bot.digests.text import sections, status, title
from bot.notify.discord.render.base import NEUTRAL, WARNING, fit, ts

CHART_FILE = "digest.png"


def digest_embed(payload: Mapping[str, Any]) -> discord.Embed:
    """Render a digest payload from the outbox."""
    digest = from_payload(payload)
    lines = [f"{ts(digest.start, 'f')} → {ts(digest.at, 'f')}"]
    note = status(digest, lambda ms: ts(ms, "f"))
    if note:
        lines.insert(0, note)
    embed = discord.Embed(
        title=title(digest),
        description="\n".join(lines),
        colour=WARNING if digest.late_by_s is not None else NEUTRAL,
        timestamp=datetime.fromtimestamp(digest.at / 1000, tz=UTC),
    )
    for heading, body in sections(digest, lambda ms: ts(ms, "t")):
        embed.add_field(name=heading, value="\n".join(body), inline=False)
    if digest.chart_symbol:
        embed.set_image(url=f"attachment://{CHART_FILE}")
    digest_id = payload.get("digest_id")
    embed.set_footer(text=f"digest #{digest_id}" if digest_id is not None else "digest")
    return fit(embed)

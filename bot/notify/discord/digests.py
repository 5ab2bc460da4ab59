"""What the Discord sink needs for digest rows: their message, and what to do when the channel is unusable.

The message is an embed with an optional chart; a digest whose channel cannot be used any more is
switched off.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord

from bot.alerts.model import BROKEN_PREFIX
from bot.digests.chart import digest_chart_spec
from bot.digests.content import from_payload
from bot.notify.discord.render.digests import CHART_FILE, digest_embed
from storage.repo import OutboxRow, Repo

log = logging.getLogger(__name__)


async def digest_message(repo: Repo, payload: dict[str, Any]) -> tuple[discord.Embed, list[discord.File]]:
    """Return the embed of a digest and its chart file (none when the digest has no chart or no data)."""
    embed = digest_embed(payload)
    guild_id = payload.get("guild_id")
    spec = digest_chart_spec(repo, from_payload(payload), guild_id if isinstance(guild_id, int) else None)
    if spec is None:
        if embed.image.url:
            embed.set_image(url=None)
        return embed, []
    try:
        # matplotlib takes a noticeable fraction of a second: keep the event loop (the gateway) free.
        from bot.charts.draw import render_chart  # matplotlib loads with the first chart, not at start-up

        png = await asyncio.to_thread(render_chart, spec)
    except Exception:
        log.exception("digest %s: the chart could not be drawn; posting without it", payload.get("digest_id"))
        embed.set_image(url=None)
        return embed, []
    return embed, [discord.File(io.BytesIO(png), filename=CHART_FILE)]


def switch_off_digest(repo: Repo, row: OutboxRow, reason: str, now: int) -> str | None:
    """Disable the digest a failed row was for; return what to tell the ops channel (None: it was off)."""
    digest_id = row.payload.get("digest_id")
    digest = repo.digest(digest_id) if isinstance(digest_id, int) else None
    if digest is None or not digest.enabled:
        return None
    repo.set_digest_enabled(digest.id, False, f"{BROKEN_PREFIX}{reason}", now)
    return (
        f"Digest #{digest.id} is switched off: Tripwire cannot post in <#{digest.channel_id}>, because "
        f"{reason}. Fix the channel or its permissions, then set it again with `/digest set`."
    )

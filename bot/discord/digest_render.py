"""Discord rendering of digests: the posted embed (and its chart), and /digest list.

The wording comes from ``bot.digests.text`` (the same lines ``tripwire digest`` prints); times are Discord
timestamps so every reader sees them in their own zone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import discord

from bot.chart_data import chart_spec_from_repo
from bot.chart_spec import ChartSpec
from bot.digests.content import Digest, from_payload
from bot.digests.service import DigestView
from bot.digests.text import sections, status, title
from bot.discord.render import DESCRIPTION_LIMIT, ENDED, NEUTRAL, WARNING, fit, fit_lines, ts
from bot.errors import UserError
from storage.repo import Repo

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# A digest's chart shows at least this much history, so a 1-hour digest still shows the trend.
MIN_CHART_SPAN_MS = 3 * DAY_MS
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


def digest_chart_spec(repo: Repo, digest: Digest, guild_id: int | None) -> ChartSpec | None:
    """Return the chart of a digest (levels and alerts of the server only), or None without data."""
    if digest.chart_symbol is None:
        return None
    end = digest.at
    start = end - max(digest.period_ms, MIN_CHART_SPAN_MS)
    rules = [
        r
        for r in repo.rules(enabled_only=True)
        if r.deliver != "dm" and (r.guild_id is None or r.guild_id == guild_id)
    ]
    events, _ = repo.channel_events(guild_id, start, end + 1, limit=1000)
    try:
        return chart_spec_from_repo(
            repo,
            digest.chart_symbol,
            None,
            start,
            end,
            rules,
            events,
            title=f"{digest.chart_symbol} · digest",
            width_px=1000,
            height_px=560,
        )
    except (UserError, ValueError) as exc:
        log.warning("digest chart of %s left out: %s", digest.chart_symbol, exc)
        return None


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

"""The chart a digest carries: its symbol over the period, with the levels and alerts of its server.

The period shown is at least three days; only the digest's server's alerts are drawn, never members'
personal alerts.
"""

from __future__ import annotations

import logging

from bot.charts.data import chart_spec_from_repo
from bot.charts.spec import ChartSpec
from bot.digests.content import Digest
from bot.errors import UserError
from storage.repo import Repo
from storage.rows import DAY_MS

log = logging.getLogger(__name__)

# A digest's chart shows at least this much history, so a 1-hour digest still shows the trend.
MIN_CHART_SPAN_MS = 3 * DAY_MS


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

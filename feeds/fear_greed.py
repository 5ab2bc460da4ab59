"""The Crypto Fear & Greed Index from alternative.me (``GET /fng/?limit=N&format=json``).

The index is published once a day. ``value`` and ``timestamp`` (unix seconds of the publication day,
00:00 UTC) are strings; data is newest first. The published ``value_classification`` is stored as is:
the class boundaries are not documented and the recorded labels contradict every secondary source, so
they are never re-derived here. On first start ``limit=backfill_days`` fetches the history; afterwards
each poll asks for the days missing since the newest stored value (``limit=0`` would mean "everything",
so it is never sent).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob
from feeds.config import FearGreedFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.http import HttpClient
from feeds.parse import BadItem, Parsed, check_ts, envelope, integer, items_list, obj, parse_items, text
from feeds.poller import Poller
from storage.rows import DAY_MS, FearGreed

log = logging.getLogger(__name__)

SOURCE = "alternative.me"


def parse_fng(payload: Any) -> Parsed[FearGreed]:
    """Parse a /fng/ response into daily values, oldest first; ``metadata.error`` is an API error."""
    metadata = obj(payload, "response").get("metadata") if isinstance(payload, dict) else None
    if isinstance(metadata, dict) and metadata.get("error"):
        raise FeedError("api", f"alternative.me: {str(metadata['error'])[:120]}")

    def one(item: Any) -> FearGreed:
        value = integer(text(item, "value"), "value")
        if not 0 <= value <= 100:
            raise BadItem(f"value {value} is outside 0..100")
        ts = check_ts(integer(text(item, "timestamp"), "timestamp") * 1000, "timestamp")
        label = obj(item).get("value_classification")
        classification = label if isinstance(label, str) and label else None
        date = datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d")
        return FearGreed(date, ts, value, classification, SOURCE)

    parsed = parse_items(items_list(envelope(payload, "data", "alternative.me /fng/"), "fng data"), one)
    parsed.rows.sort(key=lambda r: r.ts)
    return parsed


class FearGreedFeed(Feed):
    """Poll the daily Fear & Greed Index."""

    name = "fear_greed"

    def __init__(
        self,
        config: FearGreedFeedConfig,
        http: HttpClient,
        context: FeedContext,
    ) -> None:
        ingest, registry, failures, now_ms = (
            context.ingest,
            context.registry,
            context.failures,
            context.now_ms,
        )
        tuning = context.tuning
        self.config = config
        self.ingest = ingest
        self.http = http
        self.failures = failures
        self.now_ms = now_ms
        stale = config.stale_after_seconds
        # Market-wide (symbols=None). A value is a day's: the newest may be a day old plus stale_after.
        self.health = registry.register(
            self.name, {"fear_greed"}, None, stale_after_s=stale, max_lag_s=stale + DAY_MS / 1000
        )
        backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
        self.poller = Poller(self.name, self.poll, self.health, failures, now_ms, backoff)

    def jobs(self) -> list[PollJob]:
        """Return the daily-index poll."""
        return [PollJob(self.name, self.config.poll_seconds, self.poller.run)]

    async def backfill(self) -> None:
        """Fetch the history on first start, or the days missed while the bot was down."""
        await self.poller.run()

    def limit(self) -> int:
        """Return how many days to ask for: the history on first start, else the days missing (>= 2)."""
        latest = self.ingest.repo.latest_fear_greed()
        if latest is None:
            return max(2, self.config.backfill_days)
        missing = (self.now_ms() - latest.ts) // DAY_MS + 2
        return int(max(2, min(missing, max(2, self.config.backfill_days))))

    async def poll(self) -> int | None:
        """Store the newest values."""
        payload = await self.http.get_json("/fng/", {"limit": self.limit(), "format": "json"})
        parsed = parse_fng(payload)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        self.ingest.fear_greed(parsed.rows)
        return parsed.rows[-1].ts if parsed.rows else None

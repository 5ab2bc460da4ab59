"""The live large-liquidation feed: post every liquidation over a server's threshold to its channel.

Ingest hands each batch of new liquidation events to ``on_rows`` (a row listener: it only takes note).
Events are then grouped per server:

* **Batches.** The first matching event opens a window of ``batch_s`` (2 s); everything arriving in it goes
  into one message listing the largest events, with the total liquidated per side. A lone event is posted
  on its own when its window closes.
* **Summaries.** A channel's messages share Discord's per-channel buckets with the alerts posted there
  (the sink follows them from the rate-limit headers), and a channel scrolling every two seconds is
  unreadable anyway. So, for readers rather than for Discord, the feed allows itself ``max_messages`` (3)
  messages per ``per_s`` (10 s). A short burst, however large, fits in that; when liquidations keep coming
  so that a window would be one too many, the feed says so once and switches to one summary every
  ``summary_s`` (30 s): count, totals per side, the largest few. It switches back, and says so once, at the
  end of an interval that would have needed no more than ``calm_messages`` windows.

Messages are written to the outbox (kind ``liqfeed``) and delivered by the Discord sink like alerts: durable,
paced per channel, with a nonce per row, so each is posted once. Events still in an open window when the
process stops are not posted later: a restarted feed speaks about what happens from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.liqfeed.settings import FeedSettings, LiqFeedService
from feeds.ingest import Ingest
from storage.repo import Repo
from storage.rows import Liquidation

log = logging.getLogger(__name__)

LIQFEED_KIND = "liqfeed"
Mode = Literal["live", "summary"]
# Size markers by liquidated USD, largest first.
SIZE_MARKERS = ((10_000_000.0, "🐋"), (1_000_000.0, "🦈"), (100_000.0, "🐟"), (0.0, "🦐"))


def size_marker(usd: float) -> str:
    """Return the marker of a liquidation's size: 🦐 < $100k ≤ 🐟 < $1M ≤ 🦈 < $10M ≤ 🐋."""
    return next(marker for floor, marker in SIZE_MARKERS if usd >= floor)


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the feed groups events and how many messages it allows itself."""

    batch_s: float = 2.0
    max_messages: int = 3
    per_s: float = 10.0
    summary_s: float = 30.0
    calm_messages: int = 3
    listed: int = 10  # events listed in a batched message (the largest)
    largest: int = 5  # events listed in a summary
    max_age_s: float = 120.0  # older events (a REST catch-up after a gap) are history, not news


def event_json(row: Liquidation) -> dict[str, Any]:
    """Return one event as an outbox payload holds it."""
    return {
        "symbol": row.symbol,
        "source": row.source,
        "side": row.side,
        "usd": row.usd,
        "price": row.price,
        "ts": row.ts,
    }


@dataclass(slots=True)
class Totals:
    """Count and USD per position side, and the largest events, of a group of liquidations."""

    keep: int
    long_count: int = 0
    short_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    first_ts: int | None = None
    last_ts: int | None = None
    _largest: list[tuple[float, int, Liquidation]] = field(default_factory=list)
    _seq: int = 0

    @property
    def count(self) -> int:
        """Return how many events were added."""
        return self.long_count + self.short_count

    def add(self, rows: Iterable[Liquidation]) -> None:
        """Count rows in, keeping only the largest ``keep`` themselves."""
        for row in rows:
            if row.side == "long":
                self.long_count += 1
                self.long_usd += row.usd
            else:
                self.short_count += 1
                self.short_usd += row.usd
            self.first_ts = row.ts if self.first_ts is None else min(self.first_ts, row.ts)
            self.last_ts = row.ts if self.last_ts is None else max(self.last_ts, row.ts)
            # A bounded min-heap: memory stays flat however long a cascade lasts.
            self._seq += 1
            item = (row.usd, -self._seq, row)
            if len(self._largest) < self.keep:
                heapq.heappush(self._largest, item)
            elif item > self._largest[0]:
                heapq.heapreplace(self._largest, item)

    def largest(self) -> list[Liquidation]:
        """Return the largest events kept, largest first (earliest first among equals)."""
        return [row for _, _, row in sorted(self._largest, reverse=True)]

    def payload(self) -> dict[str, Any]:
        """Return the totals as payload fields."""
        return {
            "count": self.count,
            "long_count": self.long_count,
            "short_count": self.short_count,
            "long_usd": self.long_usd,
            "short_usd": self.short_usd,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "events": [event_json(row) for row in self.largest()],
        }


@dataclass(slots=True)
class _Guild:
    """The feed state of one server."""

    settings: FeedSettings
    mode: Mode = "live"
    pending: list[Liquidation] = field(default_factory=list)
    window_end: int | None = None  # ms: when the open batch window closes
    windows: deque[int] = field(default_factory=deque)  # when recent windows closed (messages needed)
    summary: Totals | None = None
    summary_start: int = 0
    summary_end: int = 0


class LiquidationFeed:
    """Turn new liquidation events into batched messages or summaries in each server's feed channel."""

    def __init__(
        self,
        repo: Repo,
        now_ms: Callable[[], int],
        *,
        pacing: Pacing | None = None,
        on_queued: Callable[[], None] | None = None,
        sink: str = "discord",
        venues_down: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.repo = repo
        # The liquidation venues whose feed is down (sources): a total then says it is without them.
        self.venues_down = venues_down
        self.now_ms = now_ms
        self.pacing = pacing or Pacing()
        self.on_queued = on_queued
        self.sink = sink
        self.queued = 0  # messages written to the outbox, for tests and metrics
        self._guilds: dict[int, _Guild] = {}
        self._wakeup = asyncio.Event()

    # --- settings (FeedRuntime) ------------------------------------------------------------------------

    def load(self, feeds: Iterable[FeedSettings]) -> None:
        """Start feeding the given servers (at start, from the stored settings)."""
        for settings in feeds:
            self.feed_changed(settings.guild_id, settings)

    def feed_changed(self, guild_id: int, settings: FeedSettings | None) -> None:
        """Apply a server's new settings; a new channel starts afresh, None stops the feed."""
        if settings is None:
            self._guilds.pop(guild_id, None)
            return
        current = self._guilds.get(guild_id)
        if current is None or current.settings.channel_id != settings.channel_id:
            self._guilds[guild_id] = _Guild(settings)
        else:
            current.settings = settings

    def mode(self, guild_id: int) -> str | None:
        """Return "live" or "summary" for a server's feed, None when it has none."""
        guild = self._guilds.get(guild_id)
        return guild.mode if guild is not None else None

    def guilds(self) -> list[int]:
        """Return the servers whose feed runs."""
        return sorted(self._guilds)

    # --- the ingest side -------------------------------------------------------------------------------

    def on_rows(self, rows: Sequence[Liquidation]) -> None:
        """Take note of new liquidation events (an Ingest row listener: no I/O here)."""
        if not self._guilds:
            return
        now = self.now_ms()
        oldest = now - int(self.pacing.max_age_s * 1000)
        recent = [row for row in rows if row.ts >= oldest]
        if not recent:
            return
        for guild in self._guilds.values():
            matched = [row for row in recent if guild.settings.matches(row)]
            if not matched:
                continue
            guild.pending.extend(matched)
            if guild.window_end is None:
                guild.window_end = now + int(self.pacing.batch_s * 1000)
        self._wakeup.set()

    # --- deciding what to post -------------------------------------------------------------------------

    def next_due(self) -> int | None:
        """Return when the next window or summary interval ends (ms), or None when nothing waits."""
        times = [g.window_end for g in self._guilds.values() if g.window_end is not None]
        times += [g.summary_end for g in self._guilds.values() if g.mode == "summary"]
        return min(times) if times else None

    def tick(self) -> int:
        """Write the messages that are due to the outbox; return how many."""
        now = self.now_ms()
        messages: list[tuple[int, dict[str, Any]]] = []
        for guild_id, guild in self._guilds.items():
            for payload in self._due(guild, now):
                messages.append((guild.settings.channel_id, {"guild_id": guild_id, **payload}))
        if not messages:
            return 0
        try:
            with self.repo.transaction():
                for channel_id, payload in messages:
                    self.repo.enqueue(
                        event_id=None,
                        sink=self.sink,
                        target=f"channel:{channel_id}",
                        kind=LIQFEED_KIND,
                        payload=payload,
                        now=now,
                    )
        except Exception:
            log.exception("could not queue %d liquidation feed messages; they are dropped", len(messages))
            return 0
        self.queued += len(messages)
        if self.on_queued is not None:
            self.on_queued()
        return len(messages)

    def _due(self, guild: _Guild, now: int) -> list[dict[str, Any]]:
        """Advance one server's state to ``now`` and return the messages it posts."""
        pacing = self.pacing
        out: list[dict[str, Any]] = []
        common: dict[str, Any] = {"min_usd": guild.settings.min_usd}
        without = self._without(guild.settings)
        if without:
            common["without"] = without
        if guild.window_end is not None and now >= guild.window_end:
            events, guild.pending, guild.window_end = guild.pending, [], None
            guild.windows.append(now)
            while guild.windows and guild.windows[0] <= now - pacing.summary_s * 1000:
                guild.windows.popleft()
            if guild.mode == "live":
                recent = sum(1 for t in guild.windows if t > now - pacing.per_s * 1000)
                if recent > pacing.max_messages:
                    guild.mode = "summary"
                    guild.summary = Totals(pacing.largest)
                    guild.summary_start, guild.summary_end = now, now + int(pacing.summary_s * 1000)
                    out.append(
                        {
                            **common,
                            "type": "mode",
                            "mode": "summary",
                            "summary_s": pacing.summary_s,
                            "max_messages": pacing.max_messages,
                            "per_s": pacing.per_s,
                        }
                    )
                else:
                    batch = Totals(pacing.listed)
                    batch.add(events)
                    out.append({**common, "type": "batch", **batch.payload()})
            if guild.mode == "summary":
                assert guild.summary is not None
                guild.summary.add(events)
        if guild.mode == "summary" and now >= guild.summary_end:
            assert guild.summary is not None
            calm = sum(1 for t in guild.windows if t > now - pacing.summary_s * 1000) <= pacing.calm_messages
            if guild.summary.count:
                out.append(
                    {
                        **common,
                        "type": "summary",
                        "start_ms": guild.summary_start,
                        "end_ms": now,
                        **guild.summary.payload(),
                    }
                )
            if calm:
                guild.mode, guild.summary = "live", None
                out.append({**common, "type": "mode", "mode": "live"})
            else:
                guild.summary = Totals(pacing.largest)
                guild.summary_start, guild.summary_end = now, now + int(pacing.summary_s * 1000)
        return out

    def _without(self, settings: FeedSettings) -> list[str]:
        """Return the down venues a server's feed would include (sources, sorted)."""
        if self.venues_down is None:
            return []
        try:
            down = self.venues_down()
        except Exception:
            log.exception("could not read the liquidation venues' health")
            return []
        return sorted(s for s in down if not settings.exchanges or s in settings.exchanges)

    # --- running ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Post due messages until ``stop`` is set, waking when events arrive or a window closes."""
        while not stop.is_set():
            self._wakeup.clear()
            try:
                self.tick()
            except Exception:
                log.exception("liquidation feed pass failed; retrying shortly")
            due = self.next_due()
            timeout = idle_seconds if due is None else max(0.0, (due - self.now_ms()) / 1000)
            waiters = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*waiters, return_exceptions=True)


def build_liquidation_feed(
    repo: Repo,
    ingest: Ingest,
    symbols: Sequence[str],
    now_ms: Callable[[], int],
    *,
    pacing: Pacing | None = None,
    on_queued: Callable[[], None] | None = None,
    venues_down: Callable[[], Sequence[str]] | None = None,
) -> tuple[LiquidationFeed, LiqFeedService]:
    """Build the feed and its /liqfeed service, load every server's stored feed, and listen to ingest.

    The composition root then runs ``feed.run(stop)`` and passes the service to ``TripwireBot(liqfeed=...)``.
    """
    feed = LiquidationFeed(repo, now_ms, pacing=pacing, on_queued=on_queued, venues_down=venues_down)
    service = LiqFeedService(repo, symbols, now_ms, runtime=feed)
    feed.load(service.all_settings())
    ingest.subscribe_rows("liquidations", feed.on_rows)
    return feed, service

"""Tell each server's ops channel, once, when a feed turns stale and when it is back.

The feed-health registry (``feeds.health.HealthRegistry``) announces every state change; the watchdog
turns them into at most one report per real change: a feed must stay stale (or fresh again) for
``[watchdog] debounce_seconds`` before it is reported, so a feed flapping within that time is reported
once, not at every flap. A feed that keeps falling over again needs longer to count as back each time it
does (the debounce doubles for every stale report in the last hour, up to an hour), which bounds the
reports of a feed that flaps slowly too.

Reports are outbox rows of kind ``ops``, one per ops channel (each guild's from ``/setup``, else
``[discord] ops_channel_id``), so they are durable and paced like alerts. What was last reported is
read back from the outbox, so a restart neither repeats a report nor forgets to say a feed is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.parsing import format_duration
from storage.repo import Repo
from storage.rows import HOUR_MS

log = logging.getLogger(__name__)

STALE = "stale"
FRESH = "fresh"  # ok or degraded: its data can be used
REFUSED = "refused"  # a venue does not list a configured symbol (reported once, ever)


@dataclass(frozen=True, slots=True)
class FeedChange:
    """A feed's health changed: what the watchdog needs of it."""

    name: str
    old: str | None
    new: str  # "ok", "degraded" or "stale"
    at: int
    last_success: int | None = None
    lag_ms: int | None = None
    error: str | None = None


class StateChangeLike(Protocol):
    """A state change as ``feeds.health.StateChange`` has it."""

    @property
    def name(self) -> str:
        """Return the name of the feed that changed."""

    @property
    def old(self) -> object:
        """Return the state the feed left (None the first time it is checked)."""

    @property
    def new(self) -> object:
        """Return the state the feed entered."""

    @property
    def at(self) -> int:
        """Return when the change happened (UTC ms)."""

    @property
    def reason(self) -> str:
        """Return why the feed changed state."""


class SnapshotLike(Protocol):
    """A feed's health as ``feeds.health.HealthSnapshot`` has it."""

    @property
    def name(self) -> str:
        """Return the feed's name."""

    @property
    def last_success(self) -> int | None:
        """Return when the feed last succeeded (UTC ms; None if it never has)."""

    @property
    def lag_ms(self) -> int | None:
        """Return how far the feed's newest data lags behind now, in ms (None when unknown)."""

    @property
    def last_error(self) -> str | None:
        """Return the feed's last error message (None if it has none)."""


class HealthSource(Protocol):
    """The feed-health registry: its snapshots and a subscription to its state changes."""

    def snapshots(self) -> Sequence[SnapshotLike]:
        """Return every feed's health now."""

    def subscribe(self, listener: Callable[[StateChangeLike], None]) -> None:
        """Call ``listener`` for every state change."""


@dataclass(slots=True)
class _Feed:
    """What the watchdog knows of one feed."""

    state: str  # STALE or FRESH, as last observed
    since: int  # when it entered that state
    change: FeedChange  # the change that put it there (details for the report)
    reported: str | None  # STALE or FRESH as last announced (None: never)
    outage_began: int | None = None  # when the stale spell last reported began (to say how long it lasted)


class FeedWatchdog:
    """Debounce feed-health changes into durable ops-channel reports."""

    def __init__(
        self,
        repo: Repo,
        now_ms: Callable[[], int],
        *,
        debounce_ms: int,
        ops_channel_id: int | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.repo = repo
        self.now_ms = now_ms
        self.debounce_ms = debounce_ms
        self.ops_channel_id = ops_channel_id
        self.on_queued = on_queued
        self.reports = 0
        self._feeds: dict[str, _Feed] = {}
        self._database_problem: str | None = None  # what was last said about the database file

    def check_database_file(self, now: int | None = None) -> str | None:
        """Tell the ops channels once when the database file is deleted or replaced; return the problem."""
        problem = self.repo.file_problem()
        if problem is not None and problem != self._database_problem:
            log.error("%s", problem)
            self.announce(
                "Database file gone",
                f"{problem[0].upper()}{problem[1:]}. Tripwire is not ready (/readyz) until it is restarted "
                "on a database file that is there; restore the file from a backup before restarting.",
                "critical",
                self.now_ms() if now is None else now,
            )
        self._database_problem = problem
        return problem

    def on_change(self, change: FeedChange) -> None:
        """Take note of a feed's new state (a registry listener); reports come from ``check``."""
        state = STALE if change.new == STALE else FRESH
        feed = self._feeds.get(change.name)
        if feed is None:
            self._feeds[change.name] = _Feed(
                state, change.at, change, self.repo.last_feed_report(change.name)
            )
        elif feed.state != state:
            feed.state, feed.since, feed.change = state, change.at, change
        else:
            feed.change = change  # e.g. ok -> degraded: still fresh; keep the details current

    def check(self, now: int | None = None) -> list[int]:
        """Report every feed whose state has lasted long enough and differs from what was said; return ids."""
        at = self.now_ms() if now is None else now
        queued: list[int] = []
        for name, feed in self._feeds.items():
            if feed.state == (feed.reported or FRESH):
                continue  # nothing new to say (a feed never reported stale needs no "back")
            if at - feed.since < self._debounce(name, feed.state, at):
                continue
            queued += self._report(name, feed, at)
            feed.reported = feed.state
            feed.outage_began = feed.since if feed.state == STALE else None
        if queued and self.on_queued is not None:
            self.on_queued()
        return queued

    async def run(self, stop: asyncio.Event, interval_s: float = 5.0) -> None:
        """Check on a timer until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.check()
                self.check_database_file()
            except Exception:
                log.exception("feed watchdog check failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def _debounce(self, name: str, state: str, now: int) -> int:
        if state == STALE:
            return self.debounce_ms
        # A feed reported stale again and again must stay fresh longer each time before it counts as back.
        recent = self.repo.count_feed_reports(name, STALE, now - HOUR_MS)
        return min(HOUR_MS, self.debounce_ms << max(0, recent - 1))

    def _targets(self) -> list[tuple[int, int | None]]:
        """Return (ops channel, guild) pairs: each guild's ops channel, or the config's, each channel once."""
        found: dict[int, int | None] = {}
        for settings in self.repo.all_guild_settings():
            channel = settings.ops_channel_id or self.ops_channel_id
            if channel is not None:
                found.setdefault(channel, settings.guild_id if settings.ops_channel_id else None)
        if self.ops_channel_id is not None:
            found.setdefault(self.ops_channel_id, None)
        return list(found.items())

    def refused(self, venue: str, symbol: str, reason: str, at: int | None = None) -> list[int]:
        """Tell the ops channels, once ever, that ``venue`` refuses ``symbol`` (it is skipped there)."""
        name = f"{venue}:{symbol}"
        if self.repo.last_feed_report(name) == REFUSED:
            return []  # said before this restart already
        now = self.now_ms() if at is None else at
        title = f"{venue} does not list {symbol}"
        text = (
            f"`{venue}` refuses `{symbol}` ({reason[:200]}). It is skipped on {venue}; every other symbol"
            " and venue carries on. Check the symbol in the config (a typo, a delisted or a futures-only"
            " pair)."
        )
        # Recorded under the venue:symbol name with the state "refused", so a restart finds it said already.
        ids = self.announce(title, text, "warning", now, feed=name, feed_state=REFUSED)
        if ids and self.on_queued is not None:
            self.on_queued()
        return ids

    def _report(self, name: str, feed: _Feed, now: int) -> list[int]:
        title, text, severity = _message(name, feed, now)
        return self.announce(title, text, severity, now, feed=name, feed_state=feed.state)

    def announce(
        self,
        title: str,
        text: str,
        severity: str,
        now: int,
        *,
        feed: str | None = None,
        feed_state: str | None = None,
    ) -> list[int]:
        """Queue one ops message to every ops channel (also a feed-independent one, e.g. clock skew)."""
        targets = self._targets()
        if not targets:
            log.warning("%s: %s (no ops channel is set, so it is only logged)", title, text)
            return []
        ids: list[int] = []
        with self.repo.transaction():
            for channel, guild_id in targets:
                ids.append(
                    self.repo.enqueue(
                        event_id=None,
                        sink="discord",
                        target=f"channel:{channel}",
                        kind="ops",
                        payload={
                            "title": title,
                            "text": text,
                            "severity": severity,
                            "guild_id": guild_id,
                            "rule_id": None,
                            "feed": feed,
                            "feed_state": feed_state,
                            "at": now,
                        },
                        now=now,
                    )
                )
        self.reports += 1
        log.info("%s (reported to %d ops channel(s))", title, len(ids))
        if ids and self.on_queued is not None and feed is None:
            self.on_queued()
        return ids


def _message(name: str, feed: _Feed, now: int) -> tuple[str, str, str]:
    change = feed.change
    if feed.state == STALE:
        last = f"<t:{change.last_success // 1000}:R>" if change.last_success else "since it started"
        parts = [f"No fresh data from `{name}` {'since ' if change.last_success else ''}{last}"]
        if change.lag_ms is not None:
            parts.append(f"(its newest data is {format_duration(change.lag_ms / 1000)} old)")
        text = " ".join(parts) + "."
        if change.error:
            text += f" Last error: {change.error[:300]}."
        text += " Alerts computed from its data are held back until it recovers."
        return f"Feed {name} is stale", text, "warning"
    state = change.new if change.new in ("ok", "degraded") else "ok"
    text = f"`{name}` is {state} again"
    if feed.outage_began is not None and feed.since > feed.outage_began:
        text += f" after {format_duration((feed.since - feed.outage_began) / 1000)} without fresh data"
    text += ". Alerts held back meanwhile are evaluated on current data again."
    return f"Feed {name} is back", text, "info"


def watch(registry: HealthSource, watchdog: FeedWatchdog) -> None:
    """Subscribe the watchdog to a feed-health registry's state changes."""

    def listener(change: StateChangeLike) -> None:
        snapshot = next((s for s in registry.snapshots() if s.name == change.name), None)
        watchdog.on_change(
            FeedChange(
                name=change.name,
                old=None if change.old is None else str(change.old),
                new=str(change.new),
                at=change.at,
                last_success=snapshot.last_success if snapshot is not None else None,
                lag_ms=snapshot.lag_ms if snapshot is not None else None,
                error=(snapshot.last_error if snapshot is not None else None) or change.reason,
            )
        )

    registry.subscribe(listener)


class RejectionLike(Protocol):
    """A refused symbol as ``feeds.health.Rejection`` has it."""

    @property
    def venue(self) -> str:
        """Return the venue that refused the symbol."""

    @property
    def symbol(self) -> str:
        """Return the refused symbol."""

    @property
    def reason(self) -> str:
        """Return what the venue answered."""

    @property
    def at(self) -> int:
        """Return when it was refused (epoch ms)."""


class RejectionSource(Protocol):
    """The registry's refused symbols (``feeds.health.Rejections``)."""

    def subscribe(self, listener: Callable[[RejectionLike], None]) -> None:
        """Call ``listener`` once for every newly refused symbol."""


def watch_rejections(rejections: RejectionSource, watchdog: FeedWatchdog) -> None:
    """Report every symbol a venue refuses to the ops channels, once."""

    def listener(rejection: RejectionLike) -> None:
        watchdog.refused(rejection.venue, rejection.symbol, rejection.reason, rejection.at)

    rejections.subscribe(listener)

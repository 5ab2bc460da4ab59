"""Feed health across processes: the market role reports it to the database, a Discord cluster reads it.

A cluster runs no feeds (issue 21), so its /status has no health of its own to show. The market role's
leader writes its feeds' /status lines to ``feed_health`` every few seconds (``schedule_feed_report``);
a cluster's /status shows the latest report with its age and writer ("as of 12s ago, from market leader
host:pid"), and says so plainly when the report is old or missing: the market role may be down, and a stale
report must not read as healthy feeds. A standby runs no feeds and writes nothing; the leader that takes
over writes its own. The age is the reader's clock minus the writer's (its venue-corrected time): on two
hosts it is as right as their clocks agree (NTP), which the market role's own "clock" line reports.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.services.base import FeedHealth, FeedStatusView
from detectors.values import format_duration
from storage.repo import Repo

log = logging.getLogger(__name__)

# The role whose report a cluster reads: the one that runs the feeds.
MARKET_ROLE = "market"
JOB_ID = "feed-health-report"
# How often the leader writes: a cluster's /status is at most this old when all is well.
REPORT_EVERY_SECONDS = 10.0
# A report older than this says the market role stopped writing (dead, or lost its database): 3 missed.
STALE_AFTER_SECONDS = 3 * REPORT_EVERY_SECONDS
# The name of the line that says where the feed lines come from (first of the feeds in /status).
SOURCE_LINE = "market role"


def this_process() -> str:
    """Return "host:pid" of this process: who wrote a report."""
    return f"{socket.gethostname()}:{os.getpid()}"


def status_to_json(view: FeedStatusView) -> dict[str, Any]:
    """Return a feed's /status line as stored in a report."""
    return dataclasses.asdict(view)


def status_from_json(raw: Mapping[str, Any]) -> FeedStatusView:
    """Read a stored /status line back (fields a newer writer added are ignored)."""
    known = {f.name for f in dataclasses.fields(FeedStatusView)}
    return FeedStatusView(**{key: value for key, value in raw.items() if key in known})


class FeedReportWriter:
    """Write this process's feed health to the database for the processes that run no feeds."""

    def __init__(
        self,
        repo: Repo,
        feeds: FeedHealth,
        now_ms: Callable[[], int],
        *,
        role: str = MARKET_ROLE,
        writer: str | None = None,
    ) -> None:
        self.repo = repo
        self.feeds = feeds
        self.now_ms = now_ms
        self.role = role
        self.writer = writer or this_process()

    def write(self) -> bool:
        """Store every feed's state now; return False (logged) when the database refused the write."""
        try:
            lines = [status_to_json(view) for view in self.feeds.statuses()]
            self.repo.save_feed_health(self.role, self.writer, self.now_ms(), lines)
        except Exception:  # the next run tries again; the clusters show the report's age meanwhile
            log.warning("could not write the feed-health report; the next run tries again", exc_info=True)
            return False
        return True

    async def run(self) -> None:
        """Write the report (the scheduled job): a coroutine, run on the loop like the Repo's other users.

        APScheduler's asyncio executor runs a plain function in a worker thread, where it would share the
        process's database connection with the event loop.
        """
        self.write()


def schedule_feed_report(
    scheduler: Any,
    repo: Repo,
    feeds: FeedHealth,
    now_ms: Callable[[], int],
    *,
    every_seconds: float = REPORT_EVERY_SECONDS,
) -> FeedReportWriter:
    """Add the feed-health report to an APScheduler scheduler (first run at once); return its writer.

    For the market role's leader: the process whose feeds run (``feeds`` is its /status feed health).
    """
    from apscheduler.triggers.interval import IntervalTrigger

    writer = FeedReportWriter(repo, feeds, now_ms)
    # replace_existing only works once the scheduler runs; before that a second add would queue a twin.
    if scheduler.get_job(JOB_ID) is not None:
        scheduler.remove_job(JOB_ID)
    scheduler.add_job(
        writer.run,
        IntervalTrigger(seconds=every_seconds),
        id=JOB_ID,
        name="feed-health report",
        replace_existing=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
    )
    return writer


class StoredFeedHealth:
    """The feed health of a process without feeds: the market role's latest report, with its age."""

    def __init__(
        self,
        repo: Repo,
        now_ms: Callable[[], int],
        *,
        role: str = MARKET_ROLE,
        stale_after_s: float = STALE_AFTER_SECONDS,
    ) -> None:
        self.repo = repo
        self.now_ms = now_ms
        self.role = role
        self.stale_after_s = stale_after_s

    def statuses(self) -> list[FeedStatusView]:
        """Return a line saying whose report this is and how old, then the report's feed lines."""
        report = self.repo.feed_health(self.role)
        if report is None:
            return [
                FeedStatusView(
                    name=SOURCE_LINE,
                    state="stale",
                    detail=f"no feed health reported yet: is `tripwire run --role {self.role}` running?",
                )
            ]
        age_s = max(0.0, (self.now_ms() - report.written_at) / 1000)
        stale = age_s > self.stale_after_s
        said = f"as of {format_duration(age_s)} ago, from {self.role} leader {report.writer}"
        if stale:
            silent = format_duration(self.stale_after_s)
            said += f"; nothing newer for over {silent}: the {self.role} role may be down"
        source = FeedStatusView(
            name=SOURCE_LINE, state="stale" if stale else "ok", last_success_ms=report.written_at, detail=said
        )
        lines = []
        for raw in report.statuses:
            try:
                lines.append(status_from_json(raw))
            except TypeError:
                log.warning("skipping an unreadable line of the %s feed report: %.200s", self.role, raw)
        return [source, *lines]

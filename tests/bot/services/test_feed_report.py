"""The market role's feed-health report: written to the database, read with its age by a process without
feeds (a Discord cluster's /status), on both backends; left behind by `tripwire db copy`.

The feed lines are synthetic."""

from __future__ import annotations

import asyncio
import threading

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import parse_config
from bot.discord.render.admin import status_embed
from bot.services import Service
from bot.services.base import FeedStatusView
from bot.services.feed_report import (
    SOURCE_LINE,
    FeedReportWriter,
    StoredFeedHealth,
    schedule_feed_report,
    this_process,
)
from storage.copy import copy_database
from storage.db import open_database
from storage.repo import Repo
from storage.rows import GuildSettingsRow
from tests.bot.roles.test_changes import until
from tests.bot.support import Clock, FixedFeeds
from tests.pg import fresh_schema

NOW = 1_768_300_000_000
LINES = [
    FeedStatusView("binance_futures.liquidations", "ok", NOW - 2_000, 0.4, None, "Binance: lower bound"),
    FeedStatusView("okx.liquidations", "stale", NOW - 90_000, 88.0, "HTTP 503 from okx"),
]


def test_a_report_written_by_the_market_role_is_read_with_its_age_and_writer(any_repo: Repo) -> None:
    clock = Clock(NOW)
    writer = FeedReportWriter(any_repo, FixedFeeds(LINES), clock, writer="market-a:4242")
    assert writer.write()
    clock.now += 12_000
    source, *feeds = StoredFeedHealth(any_repo, clock).statuses()
    assert feeds == LINES  # every field back as it was written
    assert (source.name, source.state, source.last_success_ms) == (SOURCE_LINE, "ok", NOW)
    assert source.detail == "as of 12s ago, from market leader market-a:4242"
    # A newer report (another leader after a takeover) replaces it.
    clock.now += 3_000
    FeedReportWriter(any_repo, FixedFeeds(LINES[:1]), clock, writer="market-b:77").write()
    source, *feeds = StoredFeedHealth(any_repo, clock).statuses()
    assert feeds == LINES[:1] and source.detail == "as of 0s ago, from market leader market-b:77"


def test_an_old_or_missing_report_says_the_market_role_may_be_down(any_repo: Repo) -> None:
    clock = Clock(NOW)
    reader = StoredFeedHealth(any_repo, clock, stale_after_s=30)
    (missing,) = reader.statuses()
    assert missing.state == "stale" and "is `tripwire run --role market` running?" in str(missing.detail)
    FeedReportWriter(any_repo, FixedFeeds(LINES), clock, writer="market-a:1").write()
    clock.now += 30_000
    assert reader.statuses()[0].state == "ok"
    clock.now += 1
    source = reader.statuses()[0]
    assert source.state == "stale"
    assert source.detail == (
        "as of 30s ago, from market leader market-a:1;"
        " nothing newer for over 30s: the market role may be down"
    )


def test_a_clusters_status_shows_the_reported_feeds(any_repo: Repo) -> None:
    clock = Clock(NOW)
    config = parse_config({"symbols": ["BTCUSDT"]})
    FeedReportWriter(any_repo, FixedFeeds(LINES), clock, writer="market-a:4242").write()
    clock.now += 5_000
    service = Service(any_repo, _NoEngine(), config, clock, feeds=StoredFeedHealth(any_repo, clock))
    embed = status_embed(service.status())
    feeds = next(f for f in embed.fields if f.name == "Feeds").value or ""
    assert "market role: ok, last success" in feeds
    assert "as of 5s ago, from market leader market-a:4242" in feeds
    assert "okx.liquidations: stale" in feeds and "HTTP 503 from okx" in feeds
    # The liquidation venues /liquidations lists come from the same report.
    assert [v.state for v in service.liquidation_venues()] == ["ok", "stale"]


class _NoEngine:
    def refresh_rule(self, rule_id: str) -> None:
        """Nothing to reload: /status reads no rule from the engine."""


class _ThreadNoted(FixedFeeds):
    """Feed health that notes the thread it is read on."""

    def __init__(self, statuses: list[FeedStatusView]) -> None:
        super().__init__(statuses)
        self.threads: set[int] = set()

    def statuses(self) -> list[FeedStatusView]:
        self.threads.add(threading.get_ident())
        return super().statuses()


async def test_the_scheduled_report_is_written_at_once_and_again_every_interval(any_repo: Repo) -> None:
    feeds = _ThreadNoted(LINES)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        writer = schedule_feed_report(scheduler, any_repo, feeds, Clock(NOW), every_seconds=0.2)
        assert writer.writer == this_process()
        await until(lambda: any_repo.feed_health("market") is not None, within=1.0)
        feeds.list = LINES[:1]
        await until(lambda: len(any_repo.feed_health("market").statuses) == 1, within=2.0)  # type: ignore[union-attr]
        # On the event loop's thread, which the process's database connection belongs to.
        assert feeds.threads == {threading.get_ident()}
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


def test_a_database_copy_leaves_the_feed_health_report_behind() -> None:
    source = Repo(open_database(":memory:"))
    source.save_guild_settings(GuildSettingsRow(5, 1, None, {}, NOW))
    FeedReportWriter(source, FixedFeeds(LINES), Clock(NOW), writer="old-host:1").write()
    with fresh_schema() as url:
        target = Repo(open_database(url))
        try:
            copied = copy_database(source, target)
            assert copied["guild_settings"] == 1 and "feed_health" not in copied
            assert target.feed_health("market") is None
        finally:
            target.close()
    source.close()

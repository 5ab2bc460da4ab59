"""A digest or a liquidation feed set through one process is scheduled or applied by the market role's
handler in another within a second (real PostgreSQL, LISTEN/NOTIFY); after a resync everything is rebuilt;
a member forgotten in one process is forgotten by the others' engine and caches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts.engine import Engine
from bot.digests.jobs import DigestJobs, job_id
from bot.digests.service import DigestService
from bot.liqfeed.feed import LiquidationFeed
from bot.liqfeed.settings import FeedSettings, LiqFeedService
from bot.roles.changes import cluster_handler, market_handler
from bot.roles.discord_cluster import RemoteRules
from bot.services.privacy import PrivacyService
from detectors.market_history import MarketHistory
from feeds.replay import parse_time as at
from storage.changes import RESYNC, Change, ChangeListener
from storage.repo import Repo
from storage.rows import RuleRow
from tests.bot.roles.test_changes import until
from tests.bot.support import Clock
from tests.conftest import ConsoleRouter
from tests.storage.test_postgres import _pg

GUILD, ADMIN, CHANNEL = 1001, 2001, 3001
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@dataclass
class Market:
    """The market role's side: its repository, scheduler, digest jobs, liquidation feed and handler."""

    repo: Repo
    scheduler: AsyncIOScheduler
    jobs: DigestJobs
    feed: LiquidationFeed
    liqfeeds: LiqFeedService
    handle: Callable[[Change], None]
    listener: ChangeListener
    loaded: Callable[[], list[str]]


@pytest.fixture
def cluster(pg_url: str) -> Iterator[Repo]:
    """Return a repository of its own on the test's schema: another process's (a Discord cluster's)."""
    repo = _pg(pg_url)
    yield repo
    repo.close()


@pytest.fixture
async def market(pg_url: str) -> AsyncIterator[Market]:
    """Run the market role's listener, wired with ``market_handler`` as the role wires it."""
    clock = Clock(at("2026-01-14T10:00Z"))
    repo = _pg(pg_url)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    jobs = DigestJobs(scheduler, repo, SYMBOLS, clock, late_after_ms=300_000)
    feed = LiquidationFeed(repo, clock)
    liqfeeds = LiqFeedService(repo, SYMBOLS, clock, runtime=feed)
    engine = Engine(repo, MarketHistory(), ConsoleRouter())

    def loaded() -> list[str]:
        return [r.row.id for r in engine.rules()]

    handle = market_handler(
        repo,
        engine,
        loaded,
        digests=jobs,
        liqfeed=(liqfeeds, feed),
    )
    listener = ChangeListener(pg_url, handle)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.listening.wait(), 5)
    try:
        yield Market(repo, scheduler, jobs, feed, liqfeeds, handle, listener, loaded)
    finally:
        stop.set()
        await task
        scheduler.shutdown(wait=False)
        repo.close()


async def test_a_digest_set_in_a_cluster_is_scheduled_by_the_market_role_within_a_second(
    market: Market, cluster: Repo
) -> None:
    # The cluster's /digest service has no scheduler of its own (TripwireBot's default).
    digests = DigestService(cluster, SYMBOLS, Clock(at("2026-01-14T10:00Z")), max_per_guild=5)
    view = digests.set_digest(GUILD, ADMIN, CHANNEL, "08:00", "weekdays")

    def scheduled(hour: str) -> bool:
        job = market.scheduler.get_job(job_id(view.id))
        return job is not None and f"hour='{hour}'" in str(job.trigger)

    await until(lambda: scheduled("8"), within=1.0)
    digests.set_digest(GUILD, ADMIN, CHANNEL, "09:30")  # the same channel: replaced, same id
    await until(lambda: scheduled("9"), within=1.0)
    # The sink switches off a digest whose channel is gone: the market role drops its job.
    cluster.set_digest_enabled(view.id, False, "broken: channel deleted", 0)
    await until(lambda: market.scheduler.get_job(job_id(view.id)) is None, within=1.0)
    cluster.set_digest_enabled(view.id, True, None, 0)
    await until(lambda: scheduled("9"), within=1.0)
    digests.remove_digest(GUILD, view.id)
    await until(lambda: market.scheduler.get_job(job_id(view.id)) is None, within=1.0)


async def test_a_liquidation_feed_set_in_a_cluster_runs_in_the_market_role_within_a_second(
    market: Market, cluster: Repo
) -> None:
    assert market.liqfeeds.settings(GUILD) is None  # now cached as "none" by the market's repository
    liqfeeds = LiqFeedService(cluster, SYMBOLS, Clock(at("2026-01-14T10:00Z")))  # no feed runs here
    liqfeeds.set(GUILD, ADMIN, CHANNEL, 250_000.0, symbols="BTC")
    await until(lambda: market.feed.mode(GUILD) == "live", within=1.0)
    assert market.feed.guilds() == [GUILD]
    assert market.liqfeeds.settings(GUILD) == liqfeeds.settings(GUILD)
    liqfeeds.set(GUILD, ADMIN, CHANNEL, 1_000_000.0)

    def threshold() -> float | None:
        settings = market.liqfeeds.settings(GUILD)
        return settings.min_usd if settings is not None else None

    await until(lambda: threshold() == 1_000_000.0, within=1.0)
    liqfeeds.off(GUILD)
    await until(lambda: market.feed.mode(GUILD) is None, within=1.0)


async def test_after_a_resync_every_digest_job_and_liquidation_feed_is_rebuilt(
    market: Market, cluster: Repo
) -> None:
    clock = Clock(at("2026-01-14T10:00Z"))
    digests = DigestService(cluster, SYMBOLS, clock, max_per_guild=5)
    kept = digests.set_digest(GUILD, ADMIN, CHANNEL, "08:00")
    LiqFeedService(cluster, SYMBOLS, clock).set(GUILD, ADMIN, CHANNEL, 250_000.0)
    await until(lambda: market.scheduler.get_job(job_id(kept.id)) is not None, within=1.0)
    await until(lambda: market.feed.mode(GUILD) == "live", within=1.0)
    # What the listener would have missed while its connection was down: a job and a feed left over,
    # a digest and a feed added (written here, on the market's side, with no handler told).
    market.scheduler.add_job(lambda: None, "interval", hours=1, id=job_id(999_999))
    market.feed.feed_changed(GUILD + 1, FeedSettings(GUILD + 1, CHANNEL + 1, 100_000.0))
    with cluster.transaction():
        cluster.conn.execute("DELETE FROM digests")
    cluster.update_guild_settings(GUILD, 0, settings={"liqfeed": None})
    stored = FeedSettings(GUILD + 2, 7, 500_000.0).to_json()
    cluster.update_guild_settings(GUILD + 2, 0, settings={"liqfeed": stored})
    added = digests.set_digest(GUILD, ADMIN, CHANNEL + 5, "12:00")
    market.handle(Change(RESYNC))
    digest_jobs = sorted(j.id for j in market.scheduler.get_jobs() if j.id.startswith("digest-"))
    assert digest_jobs == [job_id(added.id)]
    assert market.feed.guilds() == [GUILD + 2]


async def test_a_member_forgotten_through_a_cluster_is_forgotten_by_the_market_role_and_other_clusters(
    market: Market, cluster: Repo, pg_url: str
) -> None:
    member = 4004
    other_cluster = _pg(pg_url)
    stop = asyncio.Event()
    other_listener = ChangeListener(pg_url, cluster_handler(other_cluster, lambda: None))
    task = asyncio.create_task(other_listener.run(stop))
    try:
        await asyncio.wait_for(other_listener.listening.wait(), 5)
        personal = RuleRow(
            "btc-dm", "discord", "level_cross", "BTCUSDT", {"level": 95000}, GUILD, member, deliver="dm"
        )
        with cluster.transaction():
            cluster.save_rule(personal)
        await until(lambda: "btc-dm" in market.loaded(), within=1.0)
        LiqFeedService(cluster, SYMBOLS, Clock(at("2026-01-14T10:00Z"))).set(
            GUILD, member, CHANNEL, 250_000.0
        )

        def shown_set_by() -> int | None:
            settings = LiqFeedService(other_cluster, SYMBOLS, Clock(0)).settings(GUILD)
            return settings.set_by if settings is not None else None

        await until(lambda: shown_set_by() == member, within=1.0)  # now cached by the other cluster
        # /privacy forget in a cluster, whose engine is the market role's (RemoteRules: nothing local).
        PrivacyService(cluster, RemoteRules(), Clock(0)).forget(member)
        await until(lambda: "btc-dm" not in market.loaded(), within=1.0)
        await until(lambda: shown_set_by() is None, within=1.0)
    finally:
        stop.set()
        await task
        other_cluster.close()

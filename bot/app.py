"""Composition root: build every part of the live bot from a Config, start it, stop it in order.

Start order: database → in-memory history (warmed from the database) → engine → outbox delivery →
evaluation loop → Discord (when enabled) → feeds (backfill, then pollers and streams) → scheduled jobs
(retention, digests) → web server.

Each part registers its stop with the Shutdown coordinator, which runs them in reverse registration
order; Discord's stop is registered before the outbox's although it starts after, so shutdown goes (issue
17, finding 8): web server, scheduled jobs, feeds stop (no new observations) → the evaluation loop ends
its pass (the engine drains) → the outbox makes its last pass through a still-open Discord session →
Discord closes → the database closes last. Closing Discord first made the last pass meet "Session is
closed" and charge every row in flight an attempt.

``App`` takes its clock, output stream and Discord client options as arguments so tests can run the same
wiring against the local exchange and Discord emulators.

Roles (issue 21): ``all`` (the default) is the whole bot in one process. ``market`` is the feeds, the
engine and what they queue, with no Discord gateway: alerts, the liquidation feed, feed reports and
digests are queued in the outbox for the Discord clusters to deliver (``tripwire run --role discord``),
and only the non-Discord sinks (webhooks) are delivered here. A market process runs only while it holds
the market lease (``bot.ops.leadership``); ``fence`` is checked before each of its commits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts.engine import Engine, make_engine
from bot.alerts.live import LiveEvaluator
from bot.alerts.routing import AlertRouter, unrouted
from bot.alerts.rules import sync_config_rules
from bot.alerts.warmup import candle_needs
from bot.config import Config, Secrets, shown_database
from bot.digests.jobs import DigestJobs
from bot.digests.service import DigestService
from bot.inbound.endpoint import WebhookEndpoint
from bot.inbound.intake import WebhookIntake
from bot.liqfeed.feed import LiquidationFeed, build_liquidation_feed
from bot.liqfeed.settings import LiqFeedService, reload_feeds
from bot.notify.console import ConsoleSink
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher, Sink
from bot.notify.webhooks import WebhookSink
from bot.ops.gateway import close_discord, connect_discord, run_until_stopped, serve_until_stopped
from bot.ops.heartbeat import beat, heartbeat_path
from bot.ops.instruments import Instruments, register_tripwire_metrics, tripwire_instruments
from bot.ops.maintenance import schedule_retention
from bot.ops.metrics import Registry
from bot.ops.readiness import Check, database_check, discord_check, feeds_check, writes_check
from bot.ops.shutdown import Shutdown, cancel_and_wait
from bot.ops.watchdog import FeedWatchdog, watch, watch_rejections
from bot.ops.web import WebServer
from bot.services import Service
from bot.services.backtest import BacktestService
from bot.services.base import FeedStatusView
from bot.services.feed_report import schedule_feed_report
from bot.services.history import HistoryService
from bot.services.privacy import PrivacyService
from detectors.base import MARKET_SYMBOL
from detectors.liqmap.params import use_params
from detectors.market_history import MarketHistory
from feeds.base import system_now_ms
from feeds.clock import VenueClock
from feeds.guard import RowGuard
from feeds.health import HealthRegistry
from feeds.ingest import Ingest
from feeds.liq_coverage import coverage, source_of_feed, venues_down
from feeds.scheduler import FeedManager
from storage.changes import RESYNC, Change, ChangeHandler, ChangeListener
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS
from storage.writegate import WriteGate

log = logging.getLogger(__name__)

# What a process does with another one's change, given the parts that keep state in memory: the repository,
# the engine, the digests' jobs and the liquidation feed with its service (None where that part is off).
OnChanges = Callable[
    [Repo, Engine, DigestJobs | None, tuple[LiqFeedService, LiquidationFeed] | None], ChangeHandler
]

# How long a write outside the write gate (a slash command's, the outbox's, an ingest batch's) may wait on
# the event loop for another process's write lock before it fails and is retried by its caller: the loop
# stall such a write can cause (it was 5 s, the connection's default busy timeout).
LIVE_BUSY_TIMEOUT_MS = 250
# How long a market process waits at start for its LISTEN for the clusters' changes to be in place.
LISTEN_TIMEOUT_S = 10.0


class HealthStatuses:
    """Adapt the feed-health registry to what /status shows."""

    def __init__(self, health: HealthRegistry, clock: VenueClock | None = None) -> None:
        self.health = health
        self.clock = clock

    def statuses(self) -> list[FeedStatusView]:
        """Return every feed's state, last success, lag and last error, then the clock's offset."""
        clock = self.clock
        skewed = clock is not None and abs(clock.offset_ms) > clock.alert_after_ms
        # The clock as one more line: its offset from the venues is what makes every "stale" believable.
        clock_line = (
            []
            if clock is None
            else [FeedStatusView(name="clock", state="degraded" if skewed else "ok", detail=clock.describe())]
        )
        return (
            [
                FeedStatusView(
                    name=snap.name,
                    state=str(snap.state),
                    last_success_ms=snap.last_success,
                    lag_s=snap.lag_ms / 1000 if snap.lag_ms is not None else None,
                    detail=snap.note or snap.last_error,
                    coverage=_coverage_line(snap.name),
                )
                for snap in self.health.snapshots()
            ]
            + [
                # A symbol a venue does not list: shown until a restart with a corrected config.
                FeedStatusView(name=f"{r.venue} {r.symbol}", state="refused", detail=r.reason)
                for r in self.health.rejections.all()
            ]
            + clock_line
        )


def _coverage_line(feed_name: str) -> str | None:
    """Return what a liquidation feed's numbers mean, for /status (None for any other feed)."""
    source = source_of_feed(feed_name)
    found = coverage(source) if source is not None else None
    return found.line() if found is not None else None


@dataclass(slots=True)
class Parts:
    """What a started App is made of (for tests and /status)."""

    repo: Repo
    history: MarketHistory
    ingest: Ingest
    engine: Engine
    dispatcher: OutboxDispatcher
    evaluator: LiveEvaluator
    health: HealthRegistry
    feeds: FeedManager
    service: Service
    bot: Any | None
    web: WebServer | None
    liqfeed: LiquidationFeed | None = None
    watchdog: FeedWatchdog | None = None
    scheduler: AsyncIOScheduler | None = None


class App:
    """The live bot: feeds, engine, delivery, Discord front end, maintenance and the web server."""

    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        *,
        token: str | None,
        console: TextIO | None = None,
        now_ms: Callable[[], int] = system_now_ms,
        discord_options: dict[str, Any] | None = None,
        shutdown: Shutdown | None = None,
        role: str = "all",
        fence: Callable[[], None] | None = None,
        on_changes: OnChanges | None = None,
        on_repo: Callable[[Repo], None] | None = None,
    ) -> None:
        if role not in ("all", "market"):
            raise ValueError(f"unknown role {role!r}")
        self.config = config
        self.role = role
        self.fence = fence
        # What to do when another process commits a change (storage.changes); None: nobody to listen to.
        self.on_changes = on_changes
        # Called with the repository before its first write (a market leader names its session, so the
        # leader after it can end it: bot.ops.leadership).
        self.on_repo = on_repo
        self.secrets = secrets
        self.token = token
        self.console = console
        limits = config.feeds.limits
        # Every part reads the venues' time: the host clock corrected by the offset measured from the
        # venues' answers (feeds.clock), so a host minutes off neither holds alerts back nor delays them.
        self.venue_clock = VenueClock(
            now_ms,
            correct=limits.correct_clock,
            alert_after_ms=int(limits.clock_skew_alert_seconds * 1000),
        )
        self.now_ms: Callable[[], int] = self.venue_clock.now_ms
        self.discord_options = discord_options or {}
        self.shutdown = shutdown or Shutdown()
        self.parts: Parts | None = None
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._dispatcher: OutboxDispatcher | None = None
        # The inbound webhook route ([webhooks_in]), once the web server is built.
        self.webhooks: WebhookEndpoint | None = None

    @property
    def discord_enabled(self) -> bool:
        """Return True when this process connects to Discord (a token is set and Discord is enabled)."""
        return self.token is not None and self.role == "all" and self.config.discord.enabled

    @property
    def queues_for_discord(self) -> bool:
        """Return True when alerts are queued for Discord (delivered here, or by the Discord clusters)."""
        return self.discord_enabled or (self.role == "market" and self.config.discord.enabled)

    async def start(self) -> Parts:
        """Build and start every part; return them once the bot is ready to serve."""
        started = time.monotonic()
        config = self.config
        use_params(config.liqmap)  # the liquidation-map detectors model with the config's [liqmap]
        repo, history, ingest = self._open_storage()
        health = HealthRegistry(self.now_ms)
        router = AlertRouter.for_config(
            repo, config, console=self.console is not None, discord=self.queues_for_discord, webhooks=True
        )
        engine = make_engine(
            config.engine,
            repo,
            history,
            router,
            stale_kinds=health.stale_kinds,
            retention=config.storage.retention,
            ops_channel_id=config.discord.ops_channel_id,
            warn_unrouted=True,
            liquidation_gaps=lambda symbol: [c.name for c in venues_down(health, symbol)],
        )
        # Rules are loaded later, a batch at a time (load_gradually, once Discord is up).
        # A rule must never fire into nowhere silently (issue 22): say at start which rules would.
        lost = unrouted(router, repo.rules(origin="config"))
        if lost is not None:
            log.warning("%s", lost.describe())
        service = Service(
            repo, engine, config, self.now_ms, feeds=HealthStatuses(health, self.venue_clock), history=history
        )
        # The large-liquidation feed posts to Discord only: without it there is nowhere to post.
        liqfeed, liqfeeds = (
            build_liquidation_feed(
                repo,
                ingest,
                config.symbols,
                self.now_ms,
                venues_down=lambda: [c.source for c in venues_down(health)],
            )
            if self.queues_for_discord
            else (None, None)
        )
        # The metrics the parts below update as things happen (served only with [http] enabled).
        registry = Registry()
        instruments = tripwire_instruments(registry)
        # One scheduler for the bot's own timed jobs: the daily retention prune and the digests.
        scheduler = AsyncIOScheduler(timezone="UTC")
        schedule_retention(
            scheduler,
            config.storage.database,
            config.storage.retention,
            self.now_ms,
            on_result=instruments.record_retention,
        )
        digest_jobs, digests = self._build_digests(scheduler, repo)
        bot = self._build_bot(service, liqfeeds, digests) if self.discord_enabled else None
        dispatcher = OutboxDispatcher(
            repo,
            self._build_sinks(bot, repo, engine, instruments),
            self.now_ms,
            max_backoff_ms=int(config.outbox.retry_max_backoff_seconds * 1000),
            # A market leader sends (webhooks) only while it leads: once its lease is gone the new leader
            # sends the same pending rows, and this one's record of them would be rolled back by the fence.
            may_send=self._leading if self.fence is not None else None,
        )
        self._dispatcher = dispatcher
        watchdog = self._build_watchdog(repo, health, dispatcher) if self.queues_for_discord else None
        evaluator = LiveEvaluator(
            engine,
            self.now_ms,
            interval_seconds=config.engine.evaluate_seconds,
            on_recorded=lambda _events: dispatcher.wake(),
            on_duration=instruments.evaluation_seconds.observe,
            gate=WriteGate(repo),
            before=ingest.flush,
            after=ingest.caught_up,
        )
        ingest.subscribe(evaluator.notify)
        self._spawn(dispatcher.run(self._stop), "outbox")
        self._spawn(evaluator.run(self._stop), "evaluate")
        heartbeat = heartbeat_path(config.storage.path)
        if heartbeat is not None:
            # What `tripwire healthcheck` reads when the HTTP server is off.
            self._spawn(beat(heartbeat, self._stop), "heartbeat")
        if liqfeed is not None:
            liqfeed.on_queued = dispatcher.wake
            self._spawn(liqfeed.run(self._stop), "liqfeed")
        if watchdog is not None:
            self._spawn(watchdog.run(self._stop), "watchdog")
        if bot is not None:
            # Registered before the outbox's stop so it runs after it: the last delivery pass needs Discord.
            self.shutdown.register("discord", close_discord(bot, self._tasks))
        self.shutdown.register("outbox and evaluation", self._stop_loops(dispatcher))
        if bot is not None:
            assert self.token is not None
            await connect_discord(bot, self.token, self._tasks)
        if watchdog is not None:
            self.venue_clock.subscribe(lambda _offset, _venues: self._tell_clock_skew(watchdog))
        # Rules load (and get their first evaluation) a batch at a time once Discord is up: at 50k rules a
        # single load held the loop for 22.8 s (issue 24), past Discord's heartbeat.
        if self.on_changes is not None:
            # Listening before the rules are read: no change can fall between the read and the LISTEN.
            pair = (liqfeeds, liqfeed) if liqfeed is not None and liqfeeds is not None else None
            jobs = digest_jobs if self.queues_for_discord else None
            await self._listen_for_changes(self.on_changes(repo, engine, jobs, pair), reread=pair)
        gc.freeze()  # the warmed history: see _first_evaluation
        await engine.load_gradually(
            lambda: self._first_evaluation(evaluator), stop=lambda: self.shutdown.requested
        )
        # Each venue's instrument list is read at feed start (the database's copy is the floor), so each
        # feed asks by the venue's own name for a market; /alert add resolves names against them.
        feeds = FeedManager(
            config.feeds,
            config.symbols,
            ingest,
            None,
            self.now_ms,
            health,
            instrument_cache=repo,
            clock=self.venue_clock,
            # Each poll asks the loaded rules what history they need (a rule added by /alert add included).
            candle_needs=lambda: candle_needs(engine.rules()),
            liqmap_sample=config.liqmap.hyperliquid,
            etf_api_key=self.secrets.etf_key() if config.feeds.etf.enabled else None,
        )
        # Backfill can take a while on a cold start; the bot answers commands meanwhile.
        self._spawn(self._start_feeds(feeds, service), "feeds-start")
        self.shutdown.register("feeds", self._stop_feeds(feeds))
        if self.role == "market":
            # The Discord clusters run no feeds: their /status shows the feed lines this leader writes.
            schedule_feed_report(scheduler, repo, service.feeds, self.now_ms)
        scheduler.start()
        if self.queues_for_discord:
            # Restores every stored digest as a job and posts, once and marked late, one that fell due
            # while the bot was down.
            digest_jobs.start()
        self.shutdown.register("scheduled jobs", self._stop_scheduler(scheduler))
        web = None
        if config.http.enabled:
            web = self._build_web(registry, repo, ingest, health, engine, dispatcher, evaluator, bot)
            await web.start()
            self.shutdown.register("web server", web.stop)
        self.parts = Parts(
            repo,
            history,
            ingest,
            engine,
            dispatcher,
            evaluator,
            health,
            feeds,
            service,
            bot,
            web,
            liqfeed,
            watchdog,
            scheduler,
        )
        log.info(
            "ready in %.2f s: %d rules (%d without a destination), %d symbols, Discord %s",
            time.monotonic() - started,
            len(engine.rules()),
            lost.count if lost is not None else 0,
            len(config.symbols),
            "on"
            if bot is not None
            else ("queued for the Discord clusters" if self.queues_for_discord else "off (console)"),
        )
        self.ready.set()
        return self.parts

    @staticmethod
    async def _first_evaluation(evaluator: LiveEvaluator) -> None:
        """Evaluate the rules just loaded, then take what loading allocated out of the collector's walks.

        CPython's full collections walk every tracked object; while 50k rules load they ran again and again,
        each up to 0.8 s on the loop (bench.rule_loading). What start-up loads (the history, the rules) lives
        as long as the bot, so it is frozen (gc.freeze): still freed by reference counting when a rule goes,
        only no longer re-walked.
        """
        await evaluator.evaluate_when_free(None)
        gc.freeze()

    def _open_storage(self) -> tuple[Repo, MarketHistory, Ingest]:
        """Open the database, warm the in-memory history from it and store the config file's rules.

        The database is closed last at shutdown.
        """
        config = self.config
        now = self.now_ms()
        repo = Repo(open_database(config.storage.database))
        repo.fence = self.fence  # before the first write: the config rules are stored below
        if self.on_repo is not None:
            self.on_repo(repo)
        # A write that meets another connection's lock may stall the event loop only this long; the
        # evaluation pass waits for the lock off the loop instead (storage.writegate, issue 17 finding 6).
        repo.set_busy_timeout(LIVE_BUSY_TIMEOUT_MS)
        self.shutdown.register("database", self._close_database(repo))
        # Bounded: each series keeps what the loaded rules read of it, the database the rest (issue 24).
        history = MarketHistory(bounded=True)
        retention = config.storage.retention
        guard = RowGuard(
            self.now_ms,
            max_age_ms={
                "candles": retention.candles_other_days * DAY_MS,
                "liquidations": retention.liquidations_days * DAY_MS,
                "funding": retention.funding_days * DAY_MS,
                "open_interest": retention.open_interest_days * DAY_MS,
            },
            future_skew_ms=int(config.feeds.limits.future_skew_seconds * 1000),
        )
        ingest = Ingest(repo, history, guard=guard)
        loaded = ingest.warm_up([*config.symbols, MARKET_SYMBOL], now)
        added, changed, removed = sync_config_rules(repo, config, now)
        log.info(
            "database %s: %d rows warmed into memory; config rules: %d added, %d changed, %d removed",
            shown_database(config.storage.database),
            loaded,
            added,
            changed,
            removed,
        )
        return repo, history, ingest

    def _build_digests(self, scheduler: AsyncIOScheduler, repo: Repo) -> tuple[DigestJobs, DigestService]:
        """Return the digests' scheduled jobs and the /digest service that changes them."""
        config = self.config
        jobs = DigestJobs(
            scheduler,
            repo,
            config.symbols,
            self.now_ms,
            late_after_ms=int(config.engine.late_after_seconds * 1000),
            on_queued=self._wake_outbox,
        )
        digests = DigestService(
            repo,
            config.symbols,
            self.now_ms,
            max_per_guild=config.discord.max_digests_per_guild,
            jobs=jobs,
            on_queued=self._wake_outbox,
        )
        return jobs, digests

    def _build_sinks(
        self, bot: Any | None, repo: Repo, engine: Engine, instruments: Instruments
    ) -> list[Sink]:
        """Return where the outbox delivers: the console, Discord (charts on alerts included), webhooks."""
        sinks: list[Sink] = []
        if self.console is not None:
            sinks.append(ConsoleSink(self.console))
        if self.config.webhooks_out:
            sinks.append(WebhookSink.from_config(self.config.webhooks_out))
        if bot is not None:
            # Imported here: a bot without Discord never loads discord.py.
            from bot.notify.alert_charts import AlertCharts
            from bot.notify.discord.sink import DiscordSink, Rate

            sinks.append(
                DiscordSink(
                    bot,
                    repo,
                    engine,
                    self.now_ms,
                    ops_channel_id=self.config.discord.ops_channel_id,
                    nonce_window_s=self.config.discord.nonce_window_s,
                    global_rate=Rate(self.config.discord.global_rate_per_s, 1.0),
                    grouping=GroupingPolicy.from_config(
                        self.config.engine, late_after_ms=int(self.config.outbox.late_after_seconds * 1000)
                    ),
                    max_backoff_ms=int(self.config.outbox.retry_max_backoff_seconds * 1000),
                    attachments=AlertCharts(repo),
                    on_error=lambda kind: instruments.discord_errors.inc(kind=kind),
                )
            )
        return sinks

    def _build_watchdog(
        self, repo: Repo, health: HealthRegistry, dispatcher: OutboxDispatcher
    ) -> FeedWatchdog | None:
        """Report feeds turning stale and back in the ops channels (Discord only: that is where they are)."""
        settings = self.config.watchdog
        if not settings.enabled:
            return None
        watchdog = FeedWatchdog(
            repo,
            self.now_ms,
            debounce_ms=int(settings.debounce_seconds * 1000),
            ops_channel_id=self.config.discord.ops_channel_id,
            on_queued=dispatcher.wake,
        )
        watch(health, watchdog)
        watch_rejections(health.rejections, watchdog)
        return watchdog

    def _leading(self) -> bool:
        """Return whether the fence lets this process write now (a market leader still holding its lease)."""
        assert self.fence is not None
        try:
            self.fence()
        except Exception:  # the fence's own error (LeaseLost) or its session's: not leading either way
            return False
        return True

    def _tell_clock_skew(self, watchdog: FeedWatchdog) -> None:
        """Tell the ops channels, once, that the host clock is off from the venues'."""
        text = (
            f"{self.venue_clock.describe()}. Feed staleness, detectors and the accepted time window use"
            " the venues' time; fix the host clock (NTP) to make this go away."
        )
        watchdog.announce("Clock skew", text, "warning", self.now_ms())

    async def _listen_for_changes(
        self, handler: ChangeHandler, *, reread: tuple[LiqFeedService, LiquidationFeed] | None = None
    ) -> None:
        """Hear what the other processes change (a rule, a server's settings) as soon as they commit it.

        Listening starts before the rules are read, so no change can fall between the read and the LISTEN.
        """
        listener = ChangeListener(str(self.config.storage.database), handler)
        self._spawn(listener.run(self._stop), "changes")
        try:
            await asyncio.wait_for(listener.listening.wait(), timeout=LISTEN_TIMEOUT_S)
            if reread is not None:
                # The servers' liquidation feeds were read when the feed was built, before the LISTEN: one
                # set or switched off in between was not heard, so they are read again now.
                reload_feeds(*reread)
        except TimeoutError:
            log.warning("not yet listening for the other processes' changes: every rule reloads once it is")

            async def resync_when_listening() -> None:
                await listener.listening.wait()
                result = handler(Change(RESYNC))  # whatever changed before the LISTEN was not heard
                if result is not None:
                    await result

            self._spawn(resync_when_listening(), "changes-resync")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    def _build_bot(self, service: Service, liqfeeds: LiqFeedService | None, digests: DigestService) -> Any:
        from bot.discord.client import TripwireBot

        return TripwireBot(
            self.config,
            service,
            secrets=self.secrets,
            liqfeed=liqfeeds,
            digests=digests,
            privacy=PrivacyService(service.repo, service.engine, service.now_ms),
            history=HistoryService(service),
            backtests=BacktestService(service),
            **self.discord_options,
        )

    def _wake_outbox(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.wake()

    async def _start_feeds(self, feeds: FeedManager, service: Service) -> None:
        try:
            await feeds.start()
        except Exception:
            log.exception("feeds failed to start; alerts will wait for data")
        service.instruments = feeds.instruments
        self._tell_outlooks(service)

    def _tell_outlooks(self, service: Service) -> None:
        """Log, once the backfill is in, what each config rule will do when it is not obvious.

        A cascade rule learning its baseline says until when (issue 22): a rule holding back is never silent.
        """
        now = self.now_ms()
        for row in service.repo.rules(origin="config", enabled_only=True):
            stored = service.repo.detector_state(row.id)
            said = service.outlook(row, now, stored[0] if stored is not None else None)
            if said is not None:
                log.info("rule %s: %s", row.id, said)

    def _stop_feeds(self, feeds: FeedManager) -> Callable[[], Any]:
        async def stop() -> None:
            # A stop during the backfill must end the start first, or it would start streams afterwards.
            starting = [t for t in self._tasks if t.get_name() == "feeds-start" and not t.done()]
            for task in starting:
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
            await feeds.stop()

        return stop

    def _stop_loops(self, dispatcher: OutboxDispatcher) -> Callable[[], Any]:
        async def stop() -> None:
            self._stop.set()
            loops = [
                t
                for t in self._tasks
                if t.get_name() in ("outbox", "evaluate", "liqfeed", "watchdog", "heartbeat", "changes")
            ]
            await asyncio.gather(*loops, return_exceptions=True)
            # One last pass so what the final evaluation queued is delivered before the database closes.
            try:
                await dispatcher.run_once()
            except Exception:
                log.exception("the last delivery pass failed; what it held stays queued for the next start")

        return stop

    def _stop_scheduler(self, scheduler: AsyncIOScheduler) -> Callable[[], Any]:
        async def stop() -> None:
            scheduler.shutdown(wait=False)

        return stop

    def _close_database(self, repo: Repo) -> Callable[[], Any]:
        async def close() -> None:
            await cancel_and_wait(self._tasks)
            repo.close()

        return close

    def _build_web(
        self,
        registry: Registry,
        repo: Repo,
        ingest: Ingest,
        health: HealthRegistry,
        engine: Engine,
        dispatcher: OutboxDispatcher,
        evaluator: LiveEvaluator,
        bot: Any | None,
    ) -> WebServer:
        register_tripwire_metrics(
            registry,
            ingested=lambda: ingest.counts,
            refused=lambda: ingest.guard.refused,
            clock_offset=lambda: self.venue_clock.offset_ms / 1000,
            feeds=health.snapshots,
            engine=engine,
            dispatcher=dispatcher,
            evaluator=evaluator,
            outbox_depth=repo.outbox_depth,
            outbox_failed=repo.failed_outbox,
            gateway_latency=(lambda: bot.latency if bot is not None and bot.is_ready() else None),
        )
        checks: dict[str, Check] = {
            "database": database_check(repo.ping, repo.file_problem),
            "database_writes": writes_check(evaluator.gate.blocked_for if evaluator.gate else (lambda: 0.0)),
            "feeds": feeds_check(health.snapshots),
        }
        if bot is not None:
            checks["discord"] = discord_check(lambda: bot.is_ready() and not bot.is_closed())
        extra = []
        if self.config.webhooks_in.enabled:
            intake = WebhookIntake(
                repo, engine, self.now_ms, gate=evaluator.gate, on_recorded=dispatcher.wake
            )
            answered = registry.counter(
                "tripwire_webhook_requests", "Alerts posted to inbound webhook routes, by answer.", ["status"]
            )
            self.webhooks = WebhookEndpoint(
                repo,
                intake.record,
                self.config.webhooks_in,
                on_answer=lambda status: answered.inc(status=str(status)),
            )
            extra.append(self.webhooks.install)
        return WebServer.from_config(self.config.http, registry, checks, extra)

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (or a fatal error), then stop in order; return an exit code."""
        return await run_until_stopped(self.shutdown, self.start, self._serve)

    async def _serve(self) -> int:
        """Wait for a shutdown request, or for the Discord connection to end on its own (exit 1)."""
        return await serve_until_stopped(self.shutdown, self._tasks)

    async def stop(self) -> None:
        """Stop everything (for tests and embedding)."""
        await self.shutdown.run()

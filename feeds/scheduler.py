"""Build every enabled feed, backfill, then run the pollers on APScheduler and the websockets as tasks.

The entry point for ``tripwire run`` (and anything else that wants live data)::

    manager = FeedManager(config.feeds, config.symbols, ingest, session, now_ms, health)
    await manager.start()   # backfill what is missing, then start pollers and websockets
    ...                     # manager.health.stale_kinds("BTCUSDT"), manager.health.snapshots()
    await manager.stop()    # cancel everything, flush buffered liquidations; nothing left running

``session`` is the one ``aiohttp.ClientSession`` every feed shares; pass None and the manager creates it
and closes it in ``stop()``. ``now_ms`` is the clock (UTC epoch ms; default the wall clock). ``health``
is the ``HealthRegistry`` other parts read (a new one if None). State changes are announced through
``health.subscribe(listener)``; the manager re-checks states every ``Tuning.health_check_s``.

Every REST poller is an APScheduler interval job with its configured interval, a small jitter (so
pollers started together do not hit the venues in the same second), ``max_instances=1`` (a slow poll is
never run twice at once) and ``coalesce=True`` (missed runs collapse into one).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from detectors.liqmap.params import HyperliquidSample
from feeds.base import Feed, NowMs, PollJob, Stream, Tuning, system_now_ms
from feeds.binance_futures import BinanceFuturesFeed
from feeds.binance_spot import BinanceKlines, SpotCandleFeed
from feeds.bybit import BybitFeed
from feeds.candles import CandleSource
from feeds.clock import VenueClock
from feeds.coinbase import CoinbaseCandles
from feeds.config import EtfFeedConfig, FeedsConfig
from feeds.context import FeedContext
from feeds.etf_flows import KEY_HEADER, EtfFlowFeed
from feeds.fear_greed import FearGreedFeed
from feeds.health import HealthRegistry
from feeds.higher_intervals import CandleNeeds, no_needs
from feeds.http import BINANCE_FUTURES_ENDPOINT_LIMITS, EndpointLimit, HttpClient, WeightBudget
from feeds.ingest import Ingest
from feeds.instrument_fetch import InstrumentCache, InstrumentLists
from feeds.instruments import InstrumentRegistry, stated_funding_interval
from feeds.kraken import KrakenCandles
from feeds.liquidation_venues import liquidation_feeds
from feeds.logonce import FailureLog
from feeds.okx import OkxFeed
from feeds.positioning import RATIO_REQUESTS_PER_5_MIN, PositioningFeed, RequestCount

log = logging.getLogger(__name__)

BINANCE_TIME = "serverTime"  # Binance's own clock in exchangeInfo and /time answers (ms)


def build_feeds(
    config: FeedsConfig,
    symbols: Sequence[str],
    ingest: Ingest,
    session: aiohttp.ClientSession,
    now_ms: NowMs,
    health: HealthRegistry,
    failures: FailureLog,
    tuning: Tuning,
    instruments: InstrumentRegistry | None = None,
    clock: VenueClock | None = None,
    candle_needs: CandleNeeds = no_needs,
    liqmap_sample: HyperliquidSample | None = None,
    etf_api_key: str | None = None,
) -> list[Feed]:
    """Return a feed for every enabled source, all sharing ``session``."""
    limits = config.limits

    def client(
        venue: str,
        base_url: str,
        timeout_s: float,
        budget: WeightBudget | None = None,
        server_time_field: str | None = None,
        endpoint_limits: Mapping[str, EndpointLimit] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpClient:
        return HttpClient(
            session,
            venue,
            base_url,
            timeout_s=timeout_s,
            now_ms=now_ms,
            budget=budget,
            default_retry_after_429_s=tuning.default_retry_after_429_s,
            default_retry_after_418_s=tuning.default_retry_after_418_s,
            max_body_bytes=int(limits.max_body_mib * 1024 * 1024),
            off_loop_bytes=int(limits.off_loop_kib * 1024),
            clock=clock,
            server_time_field=server_time_field,
            endpoint_limits=endpoint_limits,
            headers=headers,
        )

    context = FeedContext(
        symbols, ingest, session, health, failures, now_ms, tuning, instruments, candle_needs
    )
    feeds: list[Feed] = []
    spot = config.binance_spot
    if spot.enabled:
        budget = WeightBudget(spot.max_weight_per_minute, now_ms, tuning.weight_window_s)
        # Binance's serverTime comes with exchangeInfo (and /time): a clock sample whenever it is asked for.
        primary = BinanceKlines(
            client(
                "binance_spot", spot.base_url, spot.timeout_seconds, budget, server_time_field="serverTime"
            )
        )
        fallback: CandleSource | None = None
        fallback_stale: float | None = None
        if spot.fallback == "coinbase" and config.coinbase.enabled:
            cb = config.coinbase
            fallback = CoinbaseCandles(client("coinbase", cb.base_url, cb.timeout_seconds))
            fallback_stale = cb.stale_after_seconds
        elif spot.fallback == "kraken" and config.kraken.enabled:
            kr = config.kraken
            fallback = KrakenCandles(client("kraken", kr.base_url, kr.timeout_seconds))
            fallback_stale = kr.stale_after_seconds
        elif spot.fallback != "none":
            log.warning(
                "feeds.binance_spot.fallback is %s but feeds.%s is disabled", spot.fallback, spot.fallback
            )
        feeds.append(SpotCandleFeed(spot, primary, fallback, context, fallback_stale_after_s=fallback_stale))
    futures = config.binance_futures
    if futures.enabled:
        budget = WeightBudget(futures.max_weight_per_minute, now_ms, tuning.weight_window_s)
        http = client(
            "binance_futures",
            futures.rest_url,
            futures.timeout_seconds,
            budget,
            server_time_field="serverTime",
            endpoint_limits=BINANCE_FUTURES_ENDPOINT_LIMITS,
        )
        feeds.append(BinanceFuturesFeed(futures, http, context))
    bybit = config.bybit
    if bybit.enabled:
        # Every Bybit v5 answer carries the server's time in ms ("time") beside retCode.
        http = client("bybit", bybit.rest_url, bybit.timeout_seconds, server_time_field="time")
        feeds.append(BybitFeed(bybit, http, context))
    okx = config.okx
    if okx.enabled:
        http = client("okx", okx.rest_url, okx.timeout_seconds)
        feeds.append(OkxFeed(okx, http, context))
    feeds += liquidation_feeds(config, context, client, liqmap_sample)
    fng = config.fear_greed
    if fng.enabled:
        http = client("fear_greed", fng.base_url, fng.timeout_seconds)
        feeds.append(FearGreedFeed(fng, http, context))
    pos = config.positioning
    if pos.enabled:
        clients = {
            "binance": client(
                "binance_futures_data",
                pos.binance_url,
                pos.timeout_seconds,
                RequestCount(RATIO_REQUESTS_PER_5_MIN, now_ms, 300.0),
            ),
            "deribit": client("deribit", pos.deribit_url, pos.timeout_seconds),
            "hyperliquid": client("hyperliquid", pos.hyperliquid_url, pos.timeout_seconds),
            "bybit": client("bybit", pos.bybit_url, pos.timeout_seconds, server_time_field="time"),
            "okx": client("okx", pos.okx_url, pos.timeout_seconds),
            "gate": client("gate", pos.gate_url, pos.timeout_seconds),
        }
        feeds.append(PositioningFeed(pos, clients, context))
    if config.etf.enabled:
        feeds.append(etf_feed(config.etf, etf_api_key, client, context))
    return feeds


def etf_feed(
    config: EtfFeedConfig, api_key: str | None, client: Callable[..., HttpClient], context: FeedContext
) -> Feed:
    """Return the ETF flow feed, its client sending the key in the header the API reads."""
    if not api_key:
        # `tripwire run` refuses to start so; a feed without its key would only collect 401s.
        raise ValueError("[feeds.etf] is enabled but TRIPWIRE_ETF_API_KEY (or _FILE) is not set")
    http = client("etf", config.base_url, config.timeout_seconds, headers={KEY_HEADER: api_key})
    return EtfFlowFeed(config, http, context)


class FeedManager:
    """Run every enabled feed: backfill on start, scheduled polls, websocket tasks, clean stop."""

    def __init__(
        self,
        config: FeedsConfig,
        symbols: Sequence[str],
        ingest: Ingest,
        session: aiohttp.ClientSession | None = None,
        now_ms: NowMs = system_now_ms,
        health: HealthRegistry | None = None,
        *,
        tuning: Tuning | None = None,
        instrument_cache: InstrumentCache | None = None,
        instrument_lists: bool = False,
        clock: VenueClock | None = None,
        candle_needs: CandleNeeds = no_needs,
        liqmap_sample: HyperliquidSample | None = None,
        etf_api_key: str | None = None,
    ) -> None:
        self.config = config
        # [feeds.etf]'s key (from the environment, never the TOML file), handed to its client only.
        self._etf_api_key = etf_api_key
        # [liqmap.hyperliquid]: the measured map's account sample, run beside the Hyperliquid feed.
        self.liqmap_sample = liqmap_sample
        # What history the loaded rules need per symbol and interval (read on every spot poll).
        self.candle_needs = candle_needs
        # With instrument lists (``instrument_lists`` or a cache given), each venue's list is read before
        # the feeds are built, so each feed asks by the venue's own name for a market (1000PEPEUSDT).
        self.instrument_cache = instrument_cache
        self.use_instrument_lists = instrument_lists or instrument_cache is not None
        self.instruments: InstrumentRegistry | None = None
        self.instrument_lists: InstrumentLists | None = None
        self.symbols = list(symbols)
        self.ingest = ingest
        self.session = session
        self._owns_session = session is None
        limits = config.limits
        # The venues' clock: measured from every answer; feeds, health and the row time window read the
        # corrected time (the app builds it itself, so detectors and the engine share it).
        self.clock = clock or VenueClock(
            now_ms,
            correct=limits.correct_clock,
            alert_after_ms=int(limits.clock_skew_alert_seconds * 1000),
        )
        self.now_ms = self.clock.now_ms
        self.health = health if health is not None else HealthRegistry(self.now_ms)
        self.tuning = dataclasses.replace(
            tuning or Tuning(), max_frame_bytes=int(limits.max_frame_mib * 1024 * 1024)
        )
        self.failures = FailureLog(logging.getLogger("feeds"), now_ms, self.tuning.log_interval_s)
        self.feeds: list[Feed] = []
        self.scheduler: AsyncIOScheduler | None = None
        self._stream_tasks: list[asyncio.Task[None]] = []
        self._running_jobs: set[asyncio.Task[object]] = set()
        self.started = False
        self._stopping = False

    async def start(self) -> None:
        """Build the feeds, backfill what is missing, then start the pollers and websockets."""
        if self.started:
            raise RuntimeError("FeedManager already started")
        self.started = True
        if self.session is None:
            self.session = aiohttp.ClientSession()
        if self.use_instrument_lists:
            lists = InstrumentLists(
                self.config,
                self.session,
                self.now_ms,
                self.failures,
                self.instrument_cache,
                self.tuning,
                clock=self.clock,
            )
            lists.load_cached()  # the floor: a venue that cannot be reached now keeps its cached list
            await lists.refresh()
            self.instrument_lists, self.instruments = lists, lists.registry
            # The detectors read each venue's funding interval from the lists, as /positioning does.
            registry = lists.registry
            self.ingest.history.stated_funding_interval = partial(stated_funding_interval, registry)
        self.feeds = build_feeds(
            self.config,
            self.symbols,
            self.ingest,
            self.session,
            self.now_ms,
            self.health,
            self.failures,
            self.tuning,
            instruments=self.instruments,
            clock=self.clock,
            candle_needs=self.candle_needs,
            liqmap_sample=self.liqmap_sample,
            etf_api_key=self._etf_api_key,
        )
        log.info("feeds: %s for %s", ", ".join(f.name for f in self.feeds) or "none", ", ".join(self.symbols))
        await asyncio.gather(*(self._backfill(feed) for feed in self.feeds))
        self.health.check()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        for feed in self.feeds:
            for job in feed.jobs():
                self._schedule(job)
        if self.instrument_lists is not None:
            for job in self.instrument_lists.jobs():
                self._schedule(job, first_run_now=False)  # just read: the next read a day from now
        self._schedule(PollJob("health", self.tuning.health_check_s, self._check_health), jitter=False)
        self.scheduler.start()
        for feed in self.feeds:
            for stream in feed.streams():
                self._stream_tasks.append(
                    asyncio.create_task(self._run_stream(stream), name=f"feed:{stream.name}")
                )

    async def _backfill(self, feed: Feed) -> None:
        try:
            await feed.backfill()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # backfill must never keep the live feeds from starting
            self.failures.failure(f"{feed.name}:backfill", f"{type(exc).__name__}: {exc}", exc_info=exc)

    async def _check_health(self) -> None:
        self.health.check()

    def _schedule(self, job: PollJob, *, jitter: bool = True, first_run_now: bool = True) -> None:
        assert self.scheduler is not None
        spread = (
            min(job.interval_s * self.tuning.jitter_fraction, self.tuning.jitter_max_s) if jitter else None
        )
        # The first poll right away, not one interval later (unless it just ran: then one interval on;
        # APScheduler computes that itself when no next_run_time is given, while None would pause it).
        first = {"next_run_time": datetime.now(UTC)} if first_run_now else {}
        self.scheduler.add_job(
            self._tracked(job.run),
            "interval",
            seconds=job.interval_s,
            jitter=spread,
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(job.interval_s)),
            **first,
        )

    def _tracked(self, run: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Wrap a job so that stop() can cancel and await a poll that is still running."""

        async def tracked() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running_jobs.add(task)
            try:
                await run()
            except asyncio.CancelledError:
                if self._stopping:
                    # Our own stop() (or the scheduler's shutdown) ended this poll: a normal end, which
                    # keeps APScheduler from logging the cancellation as a failed job.
                    return
                raise
            except Exception:  # pollers catch their own errors; this is the last net for a bug
                log.exception("feed job failed")
            finally:
                if task is not None:
                    self._running_jobs.discard(task)

        return tracked

    async def _run_stream(self, stream: Stream) -> None:
        # A stream's run() only ends by cancellation; anything else is a bug, logged and restarted.
        while True:
            try:
                await stream.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stream %s crashed; restarting it", stream.name)
                await asyncio.sleep(self.tuning.reconnect_cap_s)

    async def stop(self) -> None:
        """Stop polls and websockets, flush buffered data, close the session if it is ours."""
        self._stopping = True
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None and scheduler.running:
            # Pause first (nothing new is submitted) and let a job submitted just now take its first
            # step: APScheduler's shutdown cancels jobs that have not started, and logs each as failed.
            scheduler.pause()
            await asyncio.sleep(0)
        tasks = [*self._stream_tasks, *self._running_jobs]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stream_tasks.clear()
        self._running_jobs.clear()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the asyncio scheduler shuts down on the next loop iteration
        for feed in self.feeds:
            try:
                await feed.aclose()
            except Exception:
                log.exception("closing feed %s failed", feed.name)
        if self._owns_session and self.session is not None:
            await self.session.close()
            self.session = None
        self.started = False
        self._stopping = False

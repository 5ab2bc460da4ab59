"""Spot candles from Binance ``/api/v3/klines``, with a fallback venue for regions Binance blocks.

Each poll fetches, per watched symbol, everything from the newest stored *closed* candle onwards (at
most ``backfill_days`` back), so the same code is the start-up backfill, the regular poll, and the
catch-up after an outage: a restart leaves no hole. The last candle of a page is usually still forming
(``closed=False``); it is stored as such and replaced by the closed one on a later poll.

Intervals above the stored one that loaded rules read (a 4h RSI, a 1d moving average) come from the same
venue's klines at that interval (``feeds.higher_intervals``): backfilled to cover each rule's warm-up, then
fetched once after each of their candles closes.

With ``candles = "stream"`` (the default) the candles come live from the kline websockets
(``feeds.kline_stream``) and REST only backfills and repairs: after each (re)connection, for the symbols
of that connection, and every ``poll_seconds`` for a symbol whose last closed candle did not arrive by
stream (a cheap local check; nothing is asked for a symbol that is up to date). The higher intervals stay
REST, one request after each of their closes: their candles change nothing a rule reads until they close.
``candles = "poll"`` keeps the REST poll of every symbol every ``poll_seconds``. Either way at most
``max_concurrent_requests`` requests are in flight.

When Binance answers HTTP 451 (a restricted location, e.g. a US IP), the feed says so once and switches
for good to the configured fallback (Coinbase Exchange or Kraken candles), which then reports health
under its own name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from typing import Any

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob, Stream
from feeds.candles import CandleSource, check_ohlc
from feeds.config import BinanceSpotFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.higher_intervals import HigherIntervals
from feeds.http import HttpClient
from feeds.instruments import VenueNames
from feeds.kline_stream import KlineStream, split_symbols
from feeds.parse import BadItem, Parsed, check_ts, integer, items_list, number, parse_items
from feeds.poller import Poller, each_symbol
from storage.rows import DAY_MS, Candle, interval_ms

log = logging.getLogger(__name__)

SOURCE = "binance"
KLINES_PATH = "/api/v3/klines"
# Documented: limit max 1000 per request, weight 2 per request whatever the limit.
KLINES_MAX_LIMIT = 1000
KLINES_WEIGHT = 2
# A candle's closing kline event comes within a push (2 s) of its close; only after this long without it is
# the symbol behind (a lost event, a connection that is down) and repaired by REST.
CLOSE_GRACE_MS = 5_000


def parse_klines(payload: Any, symbol: str, interval: str, now_ms: int) -> Parsed[Candle]:
    """Parse a klines array (12-element rows, prices as strings); the candle not yet over is open."""
    step = interval_ms(interval)

    def one(item: Any) -> Candle:
        if not isinstance(item, list) or len(item) < 8:
            raise BadItem("kline is not an array of at least 8 fields")
        open_time = check_ts(integer(item[0], "open time"), "open time")
        o, h, low, c, volume = (number(item[i], name) for i, name in enumerate(("o", "h", "l", "c", "v"), 1))
        quote = number(item[7], "quote volume")
        check_ohlc(o, h, low, c, volume)
        return Candle(
            symbol, interval, open_time, SOURCE, o, h, low, c, volume, quote, open_time + step <= now_ms
        )

    return parse_items(items_list(payload, "klines"), one)


class BinanceKlines:
    """Binance spot klines as a CandleSource."""

    source = SOURCE
    page_limit = KLINES_MAX_LIMIT

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def fetch(self, symbol: str, interval: str, start_ms: int, now_ms: int) -> Parsed[Candle]:
        """Return up to 1000 candles opening at or after ``start_ms``."""
        payload = await self.http.get_json(
            KLINES_PATH,
            {"symbol": symbol, "interval": interval, "startTime": start_ms, "limit": KLINES_MAX_LIMIT},
            weight=KLINES_WEIGHT,
        )
        return parse_klines(payload, symbol, interval, now_ms)


class SpotCandleFeed(Feed):
    """Poll spot candles for the watched symbols from Binance, or from the fallback after a 451."""

    name = "binance_spot"

    def __init__(
        self,
        config: BinanceSpotFeedConfig,
        primary: CandleSource,
        fallback: CandleSource | None,
        context: FeedContext,
        *,
        fallback_stale_after_s: float | None = None,
    ) -> None:
        symbols, ingest = context.symbols, context.ingest
        registry, failures, now_ms, tuning = (
            context.registry,
            context.failures,
            context.now_ms,
            context.tuning,
        )
        self.config = config
        # Spot pairs trade under the market's own symbol; a market Binance spot does not list (a
        # futures-only 1000x contract, a delisted pair) is reported once and left out.
        names = VenueNames(SOURCE, symbols, context.instruments, "spot")
        names.reject_unlisted(registry.rejections)
        self.symbols = names.symbols()
        self.ingest = ingest
        self.primary = primary
        self.fallback = fallback
        self.now_ms = now_ms
        self.tuning = tuning
        self.failures = failures
        self.rejections = registry.rejections
        self.interval = config.interval
        self.step = interval_ms(config.interval)
        self.higher = HigherIntervals(config.interval, context.candle_needs, ingest)
        max_lag = config.stale_after_seconds + self.step / 1000
        self.health = registry.register(
            self.name, {"candles"}, self.symbols, stale_after_s=config.stale_after_seconds, max_lag_s=max_lag
        )
        self.fallback_health = None
        if fallback is not None:
            stale = fallback_stale_after_s or config.stale_after_seconds
            self.fallback_health = registry.register(
                fallback.source,
                {"candles"},
                self.symbols,
                stale_after_s=stale,
                max_lag_s=stale + self.step / 1000,
                active=False,
            )
        self.active: CandleSource = primary
        self.switched = False
        backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
        self.streaming = config.candles == "stream"
        self.poller = Poller(
            self.name, self.repair if self.streaming else self.poll, self.health, failures, now_ms, backoff
        )
        # The open time of the newest closed candle stored per symbol (stream or REST): the gap check.
        self.last_closed: dict[str, int] = {}
        self._last_pushed: dict[str, Candle] = {}
        self._stream_rows: list[Candle] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._sync_lock = asyncio.Lock()
        self._repairs: set[asyncio.Task[bool]] = set()
        self.kline_streams: list[KlineStream] = []
        if self.streaming:
            silence = tuning.data_silence_s or config.stale_after_seconds
            groups = split_symbols(self.symbols)
            for number, group in enumerate(groups, 1):
                self.kline_streams.append(
                    KlineStream(
                        f"{self.name}.klines" + (f".{number}" if len(groups) > 1 else ""),
                        config.ws_url,
                        group,
                        self.interval,
                        context.session,
                        self.health,
                        failures,
                        tuning,
                        data_silence_s=silence,
                        on_candle=self.on_stream_candle,
                        on_subscribed=self.repair_after_connect,
                    )
                )

    def jobs(self) -> list[PollJob]:
        """Return the candle poll (with streams: the gap check and the higher intervals' refresh)."""
        return [PollJob(self.name, self.config.poll_seconds, self.poller.run)]

    def streams(self) -> list[Stream]:
        """Return the kline websockets (none when polling)."""
        return list(self.kline_streams)

    async def aclose(self) -> None:
        """Store the candles the stream delivered last; cancel the gap repairs still running."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush_stream()
        for task in list(self._repairs):
            task.cancel()
        for task in list(self._repairs):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the stream side --------------------------------------------------------------------------------

    def on_stream_candle(self, candle: Candle) -> None:
        """Store a candle from the stream (forming or closed), unless the fallback has taken over.

        Binance pushes the forming candle every 2 s whether or not it traded: a push equal to the last one
        of its symbol changes nothing, so it is neither written nor evaluated again.
        """
        if self.switched:
            return
        self.health.success(candle.open_time)
        if self._last_pushed.get(candle.symbol) == candle:
            return
        self._last_pushed[candle.symbol] = candle
        if candle.closed:
            self._note_closed(candle.symbol, candle.open_time)
        # At each close every symbol's closing and new candle arrive together: written in one transaction
        # and evaluated in one pass a few milliseconds later (the liquidations' flush interval), not one
        # by one, which queued the last of 400 behind the others.
        self._stream_rows.append(candle)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.tuning.flush_interval_s, self.flush_stream)

    def flush_stream(self) -> None:
        """Store the candles the stream delivered since the last flush."""
        self._flush_handle = None
        rows, self._stream_rows = self._stream_rows, []
        if rows:
            self.ingest.candles(rows)

    def _note_closed(self, symbol: str, open_time: int) -> None:
        if open_time > self.last_closed.get(symbol, -1):
            self.last_closed[symbol] = open_time

    def repair_after_connect(self, symbols: Sequence[str]) -> None:
        """Fetch by REST what the symbols of a (re)connected stream missed while it was down."""
        wanted = list(symbols)
        task = asyncio.get_running_loop().create_task(
            self.poller.run(lambda: self._sync_locked(self.tuning.backfill_max_pages, wanted)),
            name=f"{self.name}:gap-repair",
        )
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    def behind(self, symbol: str, now: int) -> bool:
        """Tell whether the newest closed candle of ``symbol`` should be stored by now and is not."""
        expected = now - now % self.step - self.step  # the newest candle that has closed
        if now - (expected + self.step) < CLOSE_GRACE_MS:
            expected -= self.step  # its closing event may still be on its way
        last = self.last_closed.get(symbol)
        return last is None or last < expected

    async def repair(self) -> int | None:
        """Fetch the base candles of the symbols the stream left behind, and the higher intervals due."""
        if self.switched:
            return await self.sync(self.tuning.poll_max_pages)  # the fallback has no stream: poll it
        now = self.now_ms()
        behind = [s for s in self.symbols if self.behind(s, now)]
        return await self._sync_locked(self.tuning.poll_max_pages, behind)

    async def _sync_locked(self, max_pages: int, base_symbols: Collection[str]) -> int | None:
        # One sync at a time: a repair after a reconnect and the scheduled check would ask twice.
        async with self._sync_lock:
            try:
                return await self._sync_all(max_pages, base_symbols)
            except FeedError as exc:
                if exc.kind != "geo_blocked" or self.switched:
                    raise
                self._switch_to_fallback(exc)
                return await self._sync_all(max_pages)

    async def backfill(self) -> None:
        """Fetch what is missing since the last stored candle, at most ``backfill_days`` back."""
        await self.poller.run(lambda: self.sync(self.tuning.backfill_max_pages))

    async def poll(self) -> int | None:
        """Fetch new candles (a few pages at most; the next poll continues where this one stopped)."""
        return await self.sync(self.tuning.poll_max_pages)

    async def sync(self, max_pages: int) -> int | None:
        """Bring every watched symbol up to date; return the newest candle open time seen."""
        try:
            return await self._sync_all(max_pages)
        except FeedError as exc:
            if exc.kind != "geo_blocked" or self.switched:
                raise
            self._switch_to_fallback(exc)
            return await self._sync_all(max_pages)

    def _switch_to_fallback(self, exc: FeedError) -> None:
        if self.fallback is None or self.fallback_health is None:
            self.failures.once(
                f"{self.name}:451",
                "%s: Binance refuses this location (HTTP 451) and feeds.binance_spot.fallback is 'none':"
                ' no spot candles. Set fallback = "coinbase" or "kraken".',
                self.name,
                level=logging.ERROR,
            )
            raise exc
        self.failures.once(
            f"{self.name}:451",
            "%s: Binance refuses this location (HTTP 451); spot candles now come from %s",
            self.name,
            self.fallback.source,
        )
        self.switched = True
        self.active = self.fallback
        self.health.active = False
        self.health.note = f"HTTP 451 restricted location; candles from {self.fallback.source}"
        self.health.failure(str(exc))
        self.fallback_health.active = True
        self.poller.health = self.fallback_health

    async def _sync_all(self, max_pages: int, base_symbols: Collection[str] | None = None) -> int | None:
        # Per symbol: one the venue refuses (a typo, a delisted or futures-only pair) is skipped and
        # reported once; it never stops the symbols after it. ``base_symbols``: the symbols whose base
        # candles are fetched (default all); the higher intervals are asked for every symbol when due.
        skipped: list[str] = []
        wanted = self.higher.wanted()
        symbols = [s for s in self.symbols if base_symbols is None or s in base_symbols or s in wanted]

        async def one(symbol: str) -> int | None:
            latest = None
            if base_symbols is None or symbol in base_symbols:
                latest, bad = await self._sync_symbol(symbol, max_pages)
                skipped.extend(bad)
            # The base candles first: they make the base interval the others are read beside.
            for interval, count in wanted.get(symbol, {}).items():
                skipped.extend(
                    await self.higher.sync(self.active, symbol, interval, count, self.now_ms(), max_pages)
                )
            return latest

        source = self.active.source
        found = await each_symbol(
            symbols,
            one,
            self.failures,
            f"{source}:candles",
            self.rejections,
            source,
            concurrency=self.config.max_concurrent_requests,
        )
        self.failures.skipped(f"{source}:candles", skipped)
        return max((t for t in found if t is not None), default=None)

    def _start(self, symbol: str, now: int) -> int:
        oldest = now - int(self.config.backfill_days * DAY_MS)
        oldest = min(oldest, now - 2 * self.step)  # always ask for at least the last closed candle
        oldest -= oldest % self.step
        last = self.ingest.repo.last_candle_time(symbol, self.interval, self.active.source)
        return oldest if last is None else max(last, oldest)

    async def _sync_symbol(self, symbol: str, max_pages: int) -> tuple[int | None, list[str]]:
        now = self.now_ms()
        start = self._start(symbol, now)
        newest: int | None = None
        skipped: list[str] = []
        for _ in range(max_pages):
            page = await self.active.fetch(symbol, self.interval, start, now)
            skipped += page.skipped
            rows = sorted((r for r in page.rows if r.open_time >= start), key=lambda r: r.open_time)
            if not rows:
                break
            self.ingest.candles(rows)
            newest = rows[-1].open_time
            closed = [r.open_time for r in rows if r.closed]
            if closed:
                self._note_closed(symbol, closed[-1])
            start = rows[-1].open_time + self.step
            if not rows[-1].closed or start >= now:
                break  # reached the present
        return newest, skipped

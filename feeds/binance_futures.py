"""Binance USD-M futures: the liquidation stream, funding rates and open interest.

- Liquidations: the ``!forceOrder@arr`` websocket (``{ws_url}/ws/!forceOrder@arr``; since 2026-04-23 only
  under the ``/market`` path). ``o.S`` is the side of the forced *order*: SELL closes (liquidates) a
  long, BUY a short. Binance pushes at most one liquidation per symbol per second (the latest), so totals
  from this stream are a lower bound; that is why Bybit and OKX are aggregated too.
- Funding: ``/fapi/v1/premiumIndex`` per watched symbol (the current estimate ``lastFundingRate``, mark
  price, next funding time; stored unsettled at its ``time``), and ``/fapi/v1/fundingRate`` (settled
  history) at start and after every settlement.
- Open interest: ``/fapi/v1/openInterest`` (base-asset units, valued in USD with the latest mark price)
  polled, and ``/futures/data/openInterestHist`` (5-minute points, the latest 30 days only) to backfill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob, Stream, Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import BinanceFuturesFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError, PayloadError
from feeds.health import FeedHealth
from feeds.http import HttpClient
from feeds.instruments import VenueNames
from feeds.logonce import FailureLog
from feeds.parse import (
    UNSURE,
    BadItem,
    Parsed,
    Unsure,
    check_ts,
    fast_positive,
    fast_ts,
    get,
    integer,
    items_list,
    num,
    obj,
    parse_items,
    parse_items_fast,
    text,
    ts_ms,
)
from feeds.poller import Poller, Sync, each_symbol
from feeds.stream import WebSocketStream, frame_json
from storage.rows import DAY_MS, MINUTE_MS, Funding, Liquidation, OpenInterest, Side

log = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE = "binance"
FORCE_ORDER_STREAM = "!forceOrder@arr"
# Documented: openInterestHist keeps only the latest 30 days; limit max 500. fundingRate limit max 1000.
OI_HIST_DAYS = 30
OI_HIST_PERIOD = "5m"
OI_HIST_PERIOD_MS = 5 * MINUTE_MS
OI_HIST_LIMIT = 500
FUNDING_HISTORY_LIMIT = 1000
# A settlement shows up in /fapi/v1/fundingRate shortly after the funding time, not at the same instant.
SETTLEMENT_GRACE_MS = MINUTE_MS

_ORDER_SIDE_TO_POSITION: dict[str, Side] = {"SELL": "long", "BUY": "short"}


# --- parsers ------------------------------------------------------------------------------------------------


def parse_force_order(event: Any, watched: frozenset[str] | None) -> Liquidation | None:
    """Turn one ``forceOrder`` event into a liquidation row (None for an unwatched symbol)."""
    row = _force_order_fast(event, watched)
    return _force_order_strict(event, watched) if row is UNSURE else row


def _force_order_fast(event: Any, watched: frozenset[str] | None) -> Liquidation | Unsure | None:
    """Read a well-formed ``forceOrder`` event, or return UNSURE (see ``parse_items_fast``)."""
    if type(event) is not dict or event.get("e") != "forceOrder":
        return UNSURE
    order = event.get("o")
    if type(order) is not dict:
        return UNSURE
    symbol = order.get("s")
    if type(symbol) is not str or not symbol:
        return UNSURE
    symbol = symbol.upper()
    if watched is not None and symbol not in watched:
        return None
    order_side = order.get("S")
    side = _ORDER_SIDE_TO_POSITION.get(order_side.upper()) if type(order_side) is str else None
    price = fast_positive(order.get("ap"))
    qty = fast_positive(order.get("z"))
    ts = fast_ts(order.get("T"))
    if side is None or price is None or qty is None or ts is None:
        return UNSURE  # a zero average price or filled size falls back to the order's own fields there
    return Liquidation(symbol, ts, SOURCE, side, price, qty, price * qty)


def _force_order_strict(event: Any, watched: frozenset[str] | None) -> Liquidation | None:
    """Read a ``forceOrder`` event field by field, raising BadItem with the reason."""
    if text(event, "e") != "forceOrder":
        raise BadItem(f"event type {event['e']!r} is not forceOrder")
    order = obj(get(event, "o"), "field 'o'")
    symbol = text(order, "s").upper()
    if watched is not None and symbol not in watched:
        return None
    side = _ORDER_SIDE_TO_POSITION.get(text(order, "S").upper())
    if side is None:
        raise BadItem(f"order side {order['S']!r} is neither BUY nor SELL")
    # The documented notional is filled quantity x average price; fall back to the order's own fields
    # for an event that reports zeros there.
    price = num(order, "ap", non_negative=True) or num(order, "p", positive=True)
    qty = num(order, "z", non_negative=True) or num(order, "q", positive=True)
    return Liquidation(symbol, ts_ms(order, "T"), SOURCE, side, price, qty, price * qty)


def parse_force_order_frame(frame: Any, watched: frozenset[str] | None) -> Parsed[Liquidation]:
    """Parse a raw or combined-stream (``{"stream","data"}``) frame holding one event or a list."""
    if isinstance(frame, dict) and "data" in frame and "stream" in frame:
        frame = frame["data"]
    events = frame if isinstance(frame, list) else [frame]
    return parse_items_fast(events, _force_order_fast, _force_order_strict, watched)


def parse_premium_index(payload: Any, watched: frozenset[str] | None) -> Parsed[Funding]:
    """Parse premiumIndex (one object or the all-symbols list) into unsettled funding estimates."""

    def one(item: Any) -> Funding | None:
        symbol = text(item, "symbol").upper()
        if watched is not None and symbol not in watched:
            return None
        next_time = integer(get(item, "nextFundingTime"), "nextFundingTime")
        return Funding(
            symbol,
            ts_ms(item, "time"),
            SOURCE,
            num(item, "lastFundingRate"),
            num(item, "markPrice", positive=True),
            # Delivery contracts report 0: no next funding.
            check_ts(next_time, "nextFundingTime") if next_time else None,
            False,
        )

    if isinstance(payload, dict):
        payload = [payload]
    return parse_items(items_list(payload, "premiumIndex"), one)


def parse_funding_history(payload: Any, symbol: str) -> Parsed[Funding]:
    """Parse /fapi/v1/fundingRate rows into settled funding (markPrice is "" on old rows)."""

    def one(item: Any) -> Funding:
        mark_raw = obj(item).get("markPrice")
        mark = num(item, "markPrice", positive=True) if mark_raw not in (None, "") else None
        return Funding(symbol, ts_ms(item, "fundingTime"), SOURCE, num(item, "fundingRate"), mark, None, True)

    return parse_items(items_list(payload, "fundingRate"), one)


def parse_open_interest(payload: Any, mark_price: float | None) -> OpenInterest:
    """Parse /fapi/v1/openInterest (contracts in base units); value it with the mark price if known."""
    try:
        symbol = text(payload, "symbol").upper()
        contracts = num(payload, "openInterest", non_negative=True)
        ts = ts_ms(payload, "time")
    except BadItem as exc:
        raise PayloadError(f"openInterest: {exc}") from None
    usd = contracts * mark_price if mark_price is not None else None
    return OpenInterest(symbol, ts, SOURCE, contracts, usd)


def parse_open_interest_hist(payload: Any, symbol: str) -> Parsed[OpenInterest]:
    """Parse /futures/data/openInterestHist points (``timestamp`` is a string in Binance's example)."""

    def one(item: Any) -> OpenInterest:
        return OpenInterest(
            symbol,
            ts_ms(item, "timestamp"),
            SOURCE,
            num(item, "sumOpenInterest", non_negative=True),
            num(item, "sumOpenInterestValue", non_negative=True),
        )

    return parse_items(items_list(payload, "openInterestHist"), one)


# --- the liquidation stream ---------------------------------------------------------------------------------


class ForceOrderStream(WebSocketStream):
    """``!forceOrder@arr``: every symbol's liquidations, filtered to the watched ones."""

    def __init__(
        self,
        config: BinanceFuturesFeedConfig,
        watched: frozenset[str],
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        buffer: LiquidationBuffer,
        names: VenueNames | None = None,
    ) -> None:
        super().__init__(
            "binance_futures.liquidations",
            f"{config.ws_url.rstrip('/')}/ws/{FORCE_ORDER_STREAM}",
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.binance_ping_interval_s,
            ping_when_idle=False,
            data_silence_s=tuning.data_silence_s or config.stale_after_seconds,
            # Binance ends every connection after 24 h: replace it before that.
            max_lifetime_s=tuning.binance_max_lifetime_s,
            buffer=buffer,
        )
        self.watched = watched
        self.names = names

    def on_text(self, text_frame: str) -> bool:
        """Buffer the watched liquidations of one frame."""
        frame = frame_json(text_frame)
        if isinstance(frame, dict) and "id" in frame and ("result" in frame or "error" in frame):
            if frame.get("error"):
                raise FeedError("api", f"{frame['error']}")
            self.health.alive()  # a reply to SUBSCRIBE/LIST_SUBSCRIPTIONS
            return False
        parsed = parse_force_order_frame(frame, self.watched)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        if self.buffer is not None:
            names = self.names
            # A 1000x contract's price and size are put back per coin under the market's own symbol.
            self.buffer.add(
                parsed.rows
                if names is None or not names.by_venue
                else [names.liquidation(r) for r in parsed.rows]
            )
        self.health.success(_event_time(frame))
        return True


def _event_time(frame: Any) -> int | None:
    data = frame.get("data", frame) if isinstance(frame, dict) else frame
    if isinstance(data, dict) and isinstance(data.get("E"), int) and not isinstance(data.get("E"), bool):
        event_time: int = data["E"]
        return event_time
    return None


# --- the feed -----------------------------------------------------------------------------------------------


class BinanceFuturesFeed(Feed):
    """Binance USD-M liquidations (websocket), funding and open interest (REST)."""

    name = "binance_futures"

    def __init__(
        self,
        config: BinanceFuturesFeedConfig,
        http: HttpClient,
        context: FeedContext,
    ) -> None:
        symbols, ingest, session = context.symbols, context.ingest, context.session
        registry, failures, now_ms, tuning = (
            context.registry,
            context.failures,
            context.now_ms,
            context.tuning,
        )
        self.config = config
        self.names = VenueNames(self.name, symbols, context.instruments, "perp")
        self.names.reject_unlisted(registry.rejections)
        self.symbols = self.names.symbols()
        self.watched = self.names.venue_symbols()
        self.ingest = ingest
        self.http = http
        self.session = session
        self.failures = failures
        self.rejections = registry.rejections
        self.now_ms = now_ms
        self.tuning = tuning
        self.marks: dict[str, float] = {}
        self._next_settlement: dict[str, int] = {}
        self._last_settled: dict[str, int] = {}
        stale = config.stale_after_seconds
        self.funding_health = registry.register(
            f"{self.name}.funding", {"funding"}, self.symbols, stale_after_s=stale, max_lag_s=stale
        )
        self.oi_health = registry.register(
            f"{self.name}.open_interest",
            {"open_interest"},
            self.symbols,
            stale_after_s=stale,
            max_lag_s=stale,
        )
        self.funding_poller = self._poller(f"{self.name}.funding", self.poll_funding, self.funding_health)
        self.oi_poller = self._poller(f"{self.name}.open_interest", self.poll_open_interest, self.oi_health)
        self.buffer = LiquidationBuffer(
            ingest, interval_s=tuning.flush_interval_s, max_events=tuning.flush_max_events
        )
        self.stream: ForceOrderStream | None = None
        if config.liquidations:
            liq_health = registry.register(
                f"{self.name}.liquidations", {"liquidations"}, self.symbols, stale_after_s=stale
            )
            self.stream = ForceOrderStream(
                config, self.watched, session, liq_health, failures, tuning, self.buffer, self.names
            )

    def _poller(self, name: str, sync: Sync, health: FeedHealth) -> Poller:
        backoff = Backoff(self.tuning.poll_backoff_base_s, self.tuning.poll_backoff_cap_s)
        return Poller(name, sync, health, self.failures, self.now_ms, backoff)

    def jobs(self) -> list[PollJob]:
        """Return the funding and open-interest polls."""
        return [
            PollJob(self.funding_poller.name, self.config.funding_poll_seconds, self.funding_poller.run),
            PollJob(self.oi_poller.name, self.config.open_interest_poll_seconds, self.oi_poller.run),
        ]

    def streams(self) -> list[Stream]:
        """Return the liquidation stream (if enabled)."""
        return [] if self.stream is None else [self.stream]

    async def aclose(self) -> None:
        """Write buffered liquidations."""
        self.buffer.flush()

    async def backfill(self) -> None:
        """Fetch settled funding and open-interest history missing since the last stored rows.

        Both at once, each under its own poller: a limit or failure of one endpoint (each has its own
        request limit besides the weight) never holds up or aborts the other.
        """
        await asyncio.gather(
            self.funding_poller.run(self.backfill_funding),
            self.oi_poller.run(self.backfill_open_interest),
        )

    # --- per-symbol helpers ---------------------------------------------------------------------------------

    async def _each_symbol(
        self, what: str, call: Callable[[str], Awaitable[T]], symbols: Sequence[str] | None = None
    ) -> list[T]:
        return await each_symbol(
            self.symbols if symbols is None else symbols,
            call,
            self.failures,
            f"{self.name}.{what}",
            self.rejections,
            self.name,
            concurrency=self.config.max_concurrent_requests,
        )

    def _bound(self, days: float) -> int:
        return self.now_ms() - int(days * DAY_MS)

    # --- funding --------------------------------------------------------------------------------------------

    async def _premium(self, symbol: str) -> Funding | None:
        venue_symbol = self.names.venue_symbol(symbol)
        payload = await self.http.get_json("/fapi/v1/premiumIndex", {"symbol": venue_symbol}, weight=1)
        parsed = parse_premium_index(payload, frozenset({venue_symbol}))
        self.failures.skipped(f"{self.name}.funding:item", parsed.skipped)
        if not parsed.rows:
            return None
        row = self.names.funding(parsed.rows[0])
        if row.mark_price is not None:
            self.marks[symbol] = row.mark_price
        return row

    async def poll_funding(self) -> int | None:
        """Store the current funding estimate per symbol, and the settled rates after a settlement."""
        rows = [r for r in await self._each_symbol("funding", self._premium) if r is not None]
        self.ingest.funding(rows)
        now = self.now_ms()
        due = [s for s in self.symbols if now >= self._next_settlement.get(s, 0)]
        if due:
            await self._funding_history(due)
        for row in rows:
            if row.next_funding_time is not None:
                self._next_settlement[row.symbol] = row.next_funding_time + SETTLEMENT_GRACE_MS
        return max((r.ts for r in rows), default=None)

    async def backfill_funding(self) -> int | None:
        """Fetch settled funding since the last stored settlement (at most ``backfill_days`` back)."""
        await self._funding_history(self.symbols)
        return max(self._last_settled.values(), default=None)

    def _last_settlement(self, symbol: str) -> int | None:
        if symbol in self._last_settled:
            return self._last_settled[symbol]
        stored = [
            r.ts
            for r in self.ingest.repo.funding(symbol, self._bound(self.config.backfill_days))
            if r.settled and r.source == SOURCE
        ]
        return max(stored, default=None)

    async def _funding_history(self, symbols: Sequence[str]) -> None:
        async def one(symbol: str) -> None:
            last = self._last_settlement(symbol)
            start = self._bound(self.config.backfill_days) if last is None else last + 1
            for _ in range(self.tuning.backfill_max_pages):
                venue_symbol = self.names.venue_symbol(symbol)
                payload = await self.http.get_json(
                    "/fapi/v1/fundingRate",
                    {"symbol": venue_symbol, "startTime": start, "limit": FUNDING_HISTORY_LIMIT},
                )
                parsed = parse_funding_history(payload, venue_symbol)
                self.failures.skipped(f"{self.name}.funding:item", parsed.skipped)
                rows = [self.names.funding(r) for r in parsed.rows if r.ts >= start]
                if not rows:
                    break
                self.ingest.funding(rows)
                newest = max(r.ts for r in rows)
                self._last_settled[symbol] = max(newest, self._last_settled.get(symbol, 0))
                if len(parsed.rows) + len(parsed.skipped) < FUNDING_HISTORY_LIMIT:
                    break
                start = newest + 1

        await self._each_symbol("funding_history", one, symbols)

    # --- open interest --------------------------------------------------------------------------------------

    async def _open_interest(self, symbol: str) -> OpenInterest:
        if symbol not in self.marks:
            await self._premium(symbol)
        venue_symbol = self.names.venue_symbol(symbol)
        payload = await self.http.get_json("/fapi/v1/openInterest", {"symbol": venue_symbol}, weight=1)
        row = parse_open_interest(payload, None)
        if row.symbol != venue_symbol:
            raise PayloadError(f"openInterest answered for {row.symbol}, asked {venue_symbol}")
        row = self.names.open_interest(row)  # in coins under the market's symbol
        mark = self.marks.get(symbol)  # per coin
        return row._replace(
            usd=row.contracts * mark if row.contracts is not None and mark is not None else None
        )

    async def poll_open_interest(self) -> int | None:
        """Store the current open interest per symbol (USD at the latest mark price)."""
        rows = await self._each_symbol("open_interest", self._open_interest)
        self.ingest.open_interest(rows)
        return max((r.ts for r in rows), default=None)

    async def backfill_open_interest(self) -> int | None:
        """Fetch 5-minute open-interest points missing since the last stored one (30 days at most)."""

        async def one(symbol: str) -> int | None:
            days = min(self.config.backfill_days, OI_HIST_DAYS - 0.01)
            bound = self._bound(days)
            stored = [r.ts for r in self.ingest.repo.open_interest(symbol, bound) if r.source == SOURCE]
            start = max(stored) + 1 if stored else bound
            newest: int | None = None
            for _ in range(self.tuning.backfill_max_pages):
                venue_symbol = self.names.venue_symbol(symbol)
                payload = await self.http.get_json(
                    "/futures/data/openInterestHist",
                    {
                        "symbol": venue_symbol,
                        "period": OI_HIST_PERIOD,
                        "startTime": start,
                        "limit": OI_HIST_LIMIT,
                    },
                )
                parsed = parse_open_interest_hist(payload, venue_symbol)
                self.failures.skipped(f"{self.name}.open_interest:item", parsed.skipped)
                rows = [self.names.open_interest(r) for r in parsed.rows if r.ts >= start]
                if not rows:
                    break
                self.ingest.open_interest(rows)
                newest = max(r.ts for r in rows)
                if len(parsed.rows) + len(parsed.skipped) < OI_HIST_LIMIT:
                    break
                start = newest + 1
            return newest

        found = [t for t in await self._each_symbol("open_interest", one) if t is not None]
        return max(found, default=None)

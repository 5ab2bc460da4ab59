"""Bybit v5 linear perpetuals: the ``allLiquidation.{symbol}`` stream and tickers (funding, open interest).

- Liquidations: subscribe to ``allLiquidation.<SYMBOL>`` for every watched symbol on the public linear
  websocket. Frames carry ``data: [{T, s, S, v, p}]``. **``S`` is the side of the liquidated position**
  ("Buy ... means that a long position has been liquidated"): the reverse of Binance's and OKX's order
  side. Bybit asks clients to send ``{"op": "ping"}`` every 20 s; it answers with ``ret_msg: "pong"``.
- Funding and open interest: ``GET /v5/market/tickers?category=linear&symbol=`` (``fundingRate``,
  ``nextFundingTime``, ``markPrice``, ``openInterest`` in base units, ``openInterestValue`` in USD), a
  second source beside Binance for the same kinds. Errors come as HTTP 200 with ``retCode != 0``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob, Stream, Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import BybitFeedConfig
from feeds.context import FeedContext
from feeds.errors import ErrorKind, FeedError, PayloadError
from feeds.health import FeedHealth, Rejections
from feeds.http import HttpClient
from feeds.instruments import VenueNames
from feeds.logonce import FailureLog
from feeds.parse import (
    UNSURE,
    BadItem,
    Parsed,
    Unsure,
    envelope,
    fast_positive,
    fast_ts,
    integer,
    items_list,
    num,
    parse_items,
    parse_items_fast,
    text,
    ts_ms,
)
from feeds.poller import Poller, each_symbol
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Funding, Liquidation, OpenInterest, Side

log = logging.getLogger(__name__)

SOURCE = "bybit"
TOPIC_PREFIX = "allLiquidation."

_POSITION_SIDE: dict[str, Side] = {"Buy": "long", "Sell": "short"}


def parse_all_liquidation(frame: Any, watched: frozenset[str] | None) -> Parsed[Liquidation]:
    """Parse an ``allLiquidation`` frame; ``S`` Buy means a long position was liquidated."""
    data = envelope(frame, "data", "allLiquidation frame")
    return parse_items_fast(items_list(data, "allLiquidation data"), _item_fast, _item_strict, watched)


def _item_fast(item: Any, watched: frozenset[str] | None) -> Liquidation | Unsure | None:
    """Read a well-formed ``allLiquidation`` item, or return UNSURE (see ``parse_items_fast``)."""
    if type(item) is not dict:
        return UNSURE
    symbol = item.get("s")
    if type(symbol) is not str or not symbol:
        return UNSURE
    symbol = symbol.upper()
    if watched is not None and symbol not in watched:
        return None
    position_side = item.get("S")
    side = _POSITION_SIDE.get(position_side) if type(position_side) is str else None
    price = fast_positive(item.get("p"))
    qty = fast_positive(item.get("v"))
    ts = fast_ts(item.get("T"))
    if side is None or price is None or qty is None or ts is None:
        return UNSURE
    return Liquidation(symbol, ts, SOURCE, side, price, qty, price * qty)


def _item_strict(item: Any, watched: frozenset[str] | None) -> Liquidation | None:
    """Read an ``allLiquidation`` item field by field, raising BadItem with the reason."""
    symbol = text(item, "s").upper()
    if watched is not None and symbol not in watched:
        return None
    side = _POSITION_SIDE.get(text(item, "S"))
    if side is None:
        raise BadItem(f"side {item['S']!r} is neither Buy nor Sell")
    price = num(item, "p", positive=True)
    qty = num(item, "v", positive=True)
    return Liquidation(symbol, ts_ms(item, "T"), SOURCE, side, price, qty, price * qty)


def parse_tickers(
    payload: Any, watched: frozenset[str] | None
) -> tuple[Parsed[Funding], Parsed[OpenInterest]]:
    """Parse a linear tickers response into funding estimates and open interest at the response time."""
    code = envelope(payload, "retCode", "bybit tickers")
    if code != 0:
        message = str(payload.get("retMsg"))[:80]
        # 10001 is Bybit's generic parameter error; for tickers of a symbol it does not list it answers
        # retMsg "Not supported symbols" (docs/v5/error.mdx lists 10001 only as "Request parameter error").
        kind: ErrorKind = "unknown_symbol" if code == 10001 and "symbol" in message.lower() else "api"
        raise FeedError(kind, f"bybit tickers: retCode {code} ({message})")
    result = envelope(payload, "result", "bybit tickers")
    items = items_list(envelope(result, "list", "bybit tickers result"), "bybit tickers list")
    try:
        at = ts_ms(payload, "time")
    except BadItem as exc:
        raise PayloadError(f"bybit tickers: {exc}") from None

    def symbol_of(item: Any) -> str | None:
        symbol = text(item, "symbol").upper()
        return symbol if watched is None or symbol in watched else None

    def funding(item: Any) -> Funding | None:
        symbol = symbol_of(item)
        if symbol is None:
            return None
        next_time = integer(text(item, "nextFundingTime"), "nextFundingTime")
        return Funding(
            symbol,
            at,
            SOURCE,
            num(item, "fundingRate"),
            num(item, "markPrice", positive=True),
            next_time or None,
            False,
        )

    def open_interest(item: Any) -> OpenInterest | None:
        symbol = symbol_of(item)
        if symbol is None:
            return None
        return OpenInterest(
            symbol,
            at,
            SOURCE,
            num(item, "openInterest", non_negative=True),
            num(item, "openInterestValue", non_negative=True),
        )

    return parse_items(items, funding), parse_items(items, open_interest)


class BybitLiquidationStream(WebSocketStream):
    """``allLiquidation.<SYMBOL>`` for every watched symbol."""

    def __init__(
        self,
        config: BybitFeedConfig,
        watched: frozenset[str],
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        buffer: LiquidationBuffer,
        rejections: Rejections,
        names: VenueNames | None = None,
    ) -> None:
        super().__init__(
            "bybit.liquidations",
            config.ws_url,
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.bybit_ping_interval_s,
            ping_when_idle=False,
            data_silence_s=tuning.data_silence_s or config.stale_after_seconds,
            buffer=buffer,
        )
        self.watched = watched
        self.topics = [f"{TOPIC_PREFIX}{s}" for s in sorted(watched)]
        self.rejections = rejections
        self.names = names

    async def on_open(self, ws: WS) -> None:
        """Subscribe to every watched symbol's liquidation topic, one request per topic.

        One topic per request, its req_id the topic itself: Bybit answers each request with one
        ``success`` flag, so a refusal then names the one topic to drop (a symbol Bybit does not list)
        instead of failing a whole chunk, and the others stay subscribed.
        """
        for topic in self.topics:
            await ws.send_str(json.dumps({"op": "subscribe", "req_id": topic, "args": [topic]}))

    def _refused(self, frame: dict[str, Any]) -> None:
        """Drop the one topic a refused subscribe named; anything else refused drops the connection."""
        req_id, message = str(frame.get("req_id")), str(frame.get("ret_msg"))[:160]
        ours = req_id.startswith(TOPIC_PREFIX) and req_id in self.topics
        if frame.get("op") != "subscribe" or not ours:
            raise FeedError("api", f"{frame.get('op')} refused: {message}")
        self.topics.remove(req_id)
        # Not resent on reconnect: the symbol is unknown to Bybit until the next restart.
        venue_symbol = req_id.removeprefix(TOPIC_PREFIX)
        symbol = self.names.canonical(venue_symbol) if self.names is not None else venue_symbol
        self.rejections.reject(SOURCE, symbol, f"subscribe refused: {message}")

    async def send_ping(self, ws: WS) -> None:
        """Send Bybit's JSON ping."""
        await ws.send_str('{"op":"ping"}')

    def on_text(self, text_frame: str) -> bool:
        """Handle acks, pongs and liquidation frames."""
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        if "op" in frame:
            if frame.get("success") is False:
                self._refused(frame)
            self.health.alive()
            return False
        topic = frame.get("topic")
        if not isinstance(topic, str) or not topic.startswith(TOPIC_PREFIX):
            return False
        parsed = parse_all_liquidation(frame, self.watched)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        if self.buffer is not None:
            names = self.names
            # SHIB1000USDT and 1000PEPEUSDT rows are put back per coin under the market's own symbol.
            rows = (
                parsed.rows
                if names is None or not names.by_venue
                else [names.liquidation(r) for r in parsed.rows]
            )
            self.buffer.add(rows)
        frame_ts = frame.get("ts")
        self.health.success(
            frame_ts if isinstance(frame_ts, int) and not isinstance(frame_ts, bool) else None
        )
        return True


class BybitFeed(Feed):
    """Bybit liquidations (websocket) and tickers (REST)."""

    name = "bybit"

    def __init__(
        self,
        config: BybitFeedConfig,
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
        self.names = VenueNames(SOURCE, symbols, context.instruments, "perp")
        self.names.reject_unlisted(registry.rejections)
        self.symbols = self.names.symbols()
        self.watched = self.names.venue_symbols()
        self.ingest = ingest
        self.http = http
        self.failures = failures
        self.rejections = registry.rejections
        stale = config.stale_after_seconds
        self.tickers_health = registry.register(
            f"{self.name}.tickers",
            {"funding", "open_interest"},
            self.symbols,
            stale_after_s=stale,
            max_lag_s=stale,
        )
        backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
        self.poller = Poller(
            f"{self.name}.tickers", self.poll_tickers, self.tickers_health, failures, now_ms, backoff
        )
        self.buffer = LiquidationBuffer(
            ingest, interval_s=tuning.flush_interval_s, max_events=tuning.flush_max_events
        )
        self.stream: BybitLiquidationStream | None = None
        if config.liquidations:
            health = registry.register(
                f"{self.name}.liquidations", {"liquidations"}, self.symbols, stale_after_s=stale
            )
            self.stream = BybitLiquidationStream(
                config,
                self.watched,
                session,
                health,
                failures,
                tuning,
                self.buffer,
                self.rejections,
                self.names,
            )

    def jobs(self) -> list[PollJob]:
        """Return the tickers poll."""
        return [PollJob(self.poller.name, self.config.tickers_poll_seconds, self.poller.run)]

    def streams(self) -> list[Stream]:
        """Return the liquidation stream (if enabled)."""
        return [] if self.stream is None else [self.stream]

    async def aclose(self) -> None:
        """Write buffered liquidations."""
        self.buffer.flush()

    async def _ticker(self, symbol: str) -> tuple[list[Funding], list[OpenInterest]]:
        venue_symbol = self.names.venue_symbol(symbol)
        payload = await self.http.get_json(
            "/v5/market/tickers", {"category": "linear", "symbol": venue_symbol}
        )
        funding, open_interest = parse_tickers(payload, frozenset({venue_symbol}))
        self.failures.skipped(f"{self.name}.tickers:item", funding.skipped + open_interest.skipped)
        return (
            [self.names.funding(r) for r in funding.rows],
            [self.names.open_interest(r) for r in open_interest.rows],
        )

    async def poll_tickers(self) -> int | None:
        """Store funding and open interest of every watched symbol."""
        results = await each_symbol(
            self.symbols, self._ticker, self.failures, f"{self.name}.tickers", self.rejections, self.name
        )
        funding = [row for rows, _ in results for row in rows]
        open_interest = [row for _, rows in results for row in rows]
        self.ingest.funding(funding)
        self.ingest.open_interest(open_interest)
        return max((r.ts for r in funding), default=None)

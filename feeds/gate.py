"""Gate USDT perpetuals: the ``futures.public_liquidates`` websocket channel.

- One subscription with the payload ``["!all"]`` covers every contract; the watched ones are kept.
  Gate documents "each contract can push up to one liquidate order data every 1 second", so totals
  from it are a lower bound (``feeds.liq_coverage``).
- The documentation types an update's ``result`` as an array of ``{price, size, time_ms, contract}``
  (price a number). Frames captured live on 2026-08-10 (gateio/WebSocket-API issue #132, in
  tests/data/corpus) carry a bare object instead, its time in ``time`` (ms), its price a string. Both
  shapes are read: an object is a one-item array, the time is ``time_ms`` or else ``time``, a price a
  number or a decimal string. Several contracts in one update (the documented array) are several rows.
- ``size`` is the forced order's size in contracts, signed as Gate signs orders: negative sells, which
  closes (liquidates) a long; positive buys, closing a short. [An assumption: the channel's docs do not
  say, issue #132 asks; Gate's order and trade sizes are signed this way, and so read other clients.]
  Coins per contract are the contract's ``quanto_multiplier`` from ``GET /api/v4/futures/usdt/contracts``,
  read through the instrument registry (or by the feed itself when the registry has no Gate list).
- Keep-alive: Gate pings at the protocol level; the client also sends the application ping
  ``{"time": <s>, "channel": "futures.ping"}``, answered by ``futures.pong``.

Source: Gate Futures WebSocket v4, "public liquidates order API" (gate.com/docs/developers/futures/ws/en,
read from the mirror rosssaunders/coincise docs/gateio/futures_websocket_api.md @ a00ae58b).
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from feeds.base import Tuning
from feeds.config import GateFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.health import FeedHealth
from feeds.http import HttpClient
from feeds.instrument_lists import parse_gate
from feeds.instruments import Instrument, InstrumentRegistry, VenueNames
from feeds.liquidation_feed import LiquidationOnlyFeed
from feeds.logonce import FailureLog
from feeds.parse import BadItem, Parsed, envelope, num, parse_items, text, ts_ms
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Liquidation, Side

SOURCE = "gate"
CHANNEL = "futures.public_liquidates"
CONTRACTS_PATH = "/api/v4/futures/usdt/contracts"


def parse_public_liquidates(
    frame: Any, contracts: dict[str, Instrument], watched: frozenset[str] | None
) -> tuple[Parsed[Liquidation], set[str]]:
    """Parse an ``update`` of the channel into per-coin rows; also return contracts with no known size.

    Rows keep the venue's contract name as their symbol (the feed puts them under the market's name).
    """
    result = envelope(frame, "result", "gate public_liquidates update")
    items = result if isinstance(result, list) else [result]
    unknown: set[str] = set()

    def one(item: Any) -> Liquidation | None:
        contract = text(item, "contract").upper()
        if watched is not None and contract not in watched:
            return None
        inst = contracts.get(contract)
        if inst is None:
            unknown.add(contract)
            raise BadItem(f"no contract size known for {contract}")
        size = num(item, "size")
        if size == 0:
            raise BadItem("field 'size' is 0")
        side: Side = "long" if size < 0 else "short"
        venue_price = num(item, "price", positive=True)
        qty = inst.size(abs(size), contracts=True)
        price = inst.price(venue_price)
        at = ts_ms(item, "time_ms" if isinstance(item, dict) and "time_ms" in item else "time")
        return Liquidation(contract, at, SOURCE, side, price, qty, qty * price)

    return parse_items(items, one), unknown


class GateLiquidationStream(WebSocketStream):
    """``futures.public_liquidates`` with ``!all``, filtered to the watched contracts."""

    def __init__(
        self,
        feed: GateFeed,
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
    ) -> None:
        super().__init__(
            "gate.liquidations",
            feed.config.ws_url,
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.gate_ping_interval_s,
            ping_when_idle=False,
            data_silence_s=tuning.data_silence_s or feed.config.stale_after_seconds,
            buffer=feed.buffer,
        )
        self.feed = feed

    async def on_open(self, ws: WS) -> None:
        """Read contract sizes if the registry had none, then subscribe to every contract."""
        try:
            await self.feed.ensure_contracts()
        except FeedError as exc:
            # Streaming goes on; a contract without a known size is skipped until a read succeeds.
            self.failures.failure(f"{self.feed.name}.contracts", str(exc))
        request = {"time": int(time.time()), "channel": CHANNEL, "event": "subscribe", "payload": ["!all"]}
        await ws.send_str(json.dumps(request))

    async def send_ping(self, ws: WS) -> None:
        """Send Gate's application ping (the server also pings at the protocol level)."""
        await ws.send_str(json.dumps({"time": int(time.time()), "channel": "futures.ping"}))

    def on_text(self, text_frame: str) -> bool:
        """Handle acks, pongs, errors and liquidation updates."""
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        error = frame.get("error")
        if error:
            raise FeedError("api", f"gate: {str(error)[:160]}")
        channel, event = frame.get("channel"), frame.get("event")
        if channel != CHANNEL or event != "update":
            self.health.alive()  # futures.pong, the subscribe ack
            return False
        rows = self.feed.parse(frame)
        self.record(rows)
        return True


class GateFeed(LiquidationOnlyFeed):
    """Gate USDT-perpetual liquidations (websocket)."""

    name = "gate"
    stream: GateLiquidationStream

    def __init__(self, config: GateFeedConfig, http: HttpClient, context: FeedContext) -> None:
        self.config = config
        self.http = http
        self.failures = context.failures
        self.now_ms = context.now_ms
        self.requested = list(context.symbols)
        self.rejections = context.registry.rejections
        self.registry = context.instruments
        self.names = self._names(self.registry)
        self.symbols = self.requested
        health = self.open_buffer(context, config.stale_after_seconds)
        self.stream = GateLiquidationStream(self, context.session, health, self.failures, context.tuning)

    def _names(self, registry: InstrumentRegistry | None) -> VenueNames | None:
        if registry is None or SOURCE not in registry.fetched_at:
            return None  # read by ensure_contracts() before the first subscription
        names = VenueNames(SOURCE, self.requested, registry, "perp")
        names.reject_unlisted(self.rejections)
        return names

    async def ensure_contracts(self) -> None:
        """Read Gate's contract list when the registry has none (an offline first start, tests)."""
        if self.names is not None:
            return
        parsed = parse_gate(await self.http.get_json(CONTRACTS_PATH, None))
        self.failures.skipped(f"{self.name}.contracts:item", parsed.skipped)
        registry = InstrumentRegistry()
        registry.replace(SOURCE, parsed.rows, self.now_ms())
        self.names = self._names(registry)

    def parse(self, frame: Any) -> list[Liquidation]:
        """Parse one update into rows under the markets' own symbols; log what was skipped."""
        names = self.names
        if names is None:
            return []
        contracts = {inst.symbol: inst for inst in names.by_canonical.values()}
        parsed, _ = parse_public_liquidates(frame, contracts, names.venue_symbols())
        self.failures.skipped(f"{self.name}.liquidations:item", parsed.skipped)
        return [row._replace(symbol=names.canonical(row.symbol)) for row in parsed.rows]

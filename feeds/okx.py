"""OKX v5 perpetual swaps: ``liquidation-orders`` over the websocket, or by REST polling.

- Websocket: subscribe ``{"channel": "liquidation-orders", "instType": "SWAP"}`` (every swap; the watched
  ones are kept). OKX closes a connection after 30 s without data, so a text ``ping`` goes out after 20
  quiet seconds and is answered by ``pong``.
- REST (``mode = "rest"``): ``GET /api/v5/public/liquidation-orders?instType=SWAP&instFamily=BTC-USDT
  &state=filled`` (newest first, 100 per page, about the last day is kept), paged back with ``after``.
- ``side`` is the forced *order* side (sell closes a long); ``posSide`` (long/short in hedge mode, net
  otherwise) is the position side and wins when it says long or short.
- ``sz`` is in contracts: USD = sz × ctVal × ctMult × price for linear swaps (ctVal in the base coin),
  sz × ctVal × ctMult for inverse ones (ctVal in USD). ctVal/ctMult come from
  ``/api/v5/public/instruments?instType=SWAP``, read at start and again when an unknown swap shows up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from feeds.backoff import Backoff
from feeds.base import Feed, PollJob, Stream, Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import OkxFeedConfig
from feeds.context import FeedContext
from feeds.errors import ErrorKind, FeedError, PayloadError
from feeds.health import FeedHealth
from feeds.http import HttpClient
from feeds.logonce import FailureLog
from feeds.parse import (
    UNSURE,
    BadItem,
    Parsed,
    Unsure,
    envelope,
    fast_positive,
    fast_ts,
    get,
    items_list,
    num,
    obj,
    okx_symbol,
    parse_items,
    parse_items_fast,
    text,
    ts_ms,
)
from feeds.poller import Poller, each_symbol
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import DAY_MS, MINUTE_MS, Liquidation, Side

log = logging.getLogger(__name__)

SOURCE = "okx"
CHANNEL = "liquidation-orders"
REST_PAGE_LIMIT = 100  # documented maximum
# The REST endpoint keeps roughly the last day [unverified]; older pages are not asked for.
REST_HISTORY_MS = DAY_MS
# An unknown swap triggers a re-read of the instruments, at most this often; the websocket mode's job
# checks whether one is due every INSTRUMENTS_CHECK_S.
INSTRUMENTS_RETRY_MS = MINUTE_MS
INSTRUMENTS_CHECK_S = 60.0

_ORDER_SIDE_TO_POSITION: dict[str, Side] = {"sell": "long", "buy": "short"}


@dataclass(frozen=True, slots=True)
class Contract:
    """What one OKX swap contract is worth."""

    inst_id: str
    inst_family: str
    ct_val: float
    ct_mult: float
    inverse: bool


# --- parsers ------------------------------------------------------------------------------------------------


def okx_data(payload: Any, what: str) -> list[Any]:
    """Return ``data`` of an OKX REST envelope, raising FeedError("api") when ``code`` is not "0"."""
    code = envelope(payload, "code", what)
    if str(code) != "0":
        # 51001 "Instrument ID does not exist" (OKX error codes, REST API, public 51000-series).
        kind: ErrorKind = "unknown_symbol" if str(code) == "51001" else "api"
        raise FeedError(kind, f"{what}: code {code} ({str(payload.get('msg'))[:80]})")
    return items_list(envelope(payload, "data", what), f"{what} data")


def parse_instruments(payload: Any) -> Parsed[Contract]:
    """Parse ``/api/v5/public/instruments?instType=SWAP`` into contract values."""

    def one(item: Any) -> Contract:
        inst_id = text(item, "instId")
        family = obj(item).get("instFamily") or obj(item).get("uly") or inst_id.removesuffix("-SWAP")
        ct_type = obj(item).get("ctType")
        val_ccy = obj(item).get("ctValCcy")
        return Contract(
            inst_id,
            str(family),
            num(item, "ctVal", positive=True),
            num(item, "ctMult", positive=True) if obj(item).get("ctMult") not in (None, "") else 1.0,
            inverse=ct_type == "inverse" or val_ccy in ("USD", "USDT", "USDC"),
        )

    return parse_items(okx_data(payload, "okx instruments"), one)


def position_side(detail: Any) -> Side:
    """Return the liquidated position's side: ``posSide`` if long/short, else from the order ``side``."""
    pos = obj(detail).get("posSide")
    if pos in ("long", "short"):
        side: Side = pos
        return side
    order_side = _ORDER_SIDE_TO_POSITION.get(text(detail, "side").lower())
    if order_side is None:
        raise BadItem(f"side {detail['side']!r} is neither buy nor sell")
    return order_side


def parse_liquidation_items(
    items: list[Any], contracts: dict[str, Contract], watched: frozenset[str] | None
) -> tuple[Parsed[Liquidation], set[str]]:
    """Parse ``data`` items (each with ``details``) into rows; also return swaps with no known ctVal."""
    parsed: Parsed[Liquidation] = Parsed()
    unknown: set[str] = set()
    for item in items:
        inst_id = item.get("instId") if type(item) is dict else None
        details = item.get("details") if type(item) is dict else None
        if type(inst_id) is not str or not inst_id or type(details) is not list:
            try:
                inst_id = text(item, "instId")
                details = items_list(get(item, "details"), "details")
            except (BadItem, PayloadError) as exc:
                parsed.skipped.append(str(exc))
                continue
        symbol = okx_symbol(inst_id)
        if watched is not None and symbol not in watched:
            continue
        contract = contracts.get(inst_id)
        if contract is None:
            unknown.add(inst_id)
            parsed.skipped.extend(f"no contract value known for {inst_id}" for _ in details)
            continue
        found = parse_items_fast(details, _detail_fast, _detail_strict, symbol, contract)
        parsed.rows += found.rows
        parsed.skipped += found.skipped
    return parsed, unknown


def _detail_fast(detail: Any, symbol: str, contract: Contract) -> Liquidation | Unsure | None:
    """Read a well-formed liquidation detail, or return UNSURE (see ``parse_items_fast``)."""
    if type(detail) is not dict:
        return UNSURE
    side = detail.get("posSide")
    if side != "long" and side != "short":
        order_side = detail.get("side")
        if type(order_side) is not str:
            return UNSURE
        side = _ORDER_SIDE_TO_POSITION.get(order_side.lower())
    price = fast_positive(detail.get("bkPx"))
    size_contracts = fast_positive(detail.get("sz"))
    ts = fast_ts(detail.get("ts"))
    if side is None or price is None or size_contracts is None or ts is None:
        return UNSURE
    size = size_contracts * contract.ct_val * contract.ct_mult
    usd, qty = (size, size / price) if contract.inverse else (size * price, size)
    return Liquidation(symbol, ts, SOURCE, side, price, qty, usd)


def _detail_strict(detail: Any, symbol: str, contract: Contract) -> Liquidation:
    """Read a liquidation detail field by field, raising BadItem with the reason."""
    side = position_side(detail)
    price = num(detail, "bkPx", positive=True)
    size = num(detail, "sz", positive=True) * contract.ct_val * contract.ct_mult
    usd, qty = (size, size / price) if contract.inverse else (size * price, size)
    return Liquidation(symbol, ts_ms(detail, "ts"), SOURCE, side, price, qty, usd)


# --- the feed -----------------------------------------------------------------------------------------------


class OkxLiquidationStream(WebSocketStream):
    """The ``liquidation-orders`` SWAP channel."""

    def __init__(
        self,
        feed: OkxFeed,
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
    ) -> None:
        super().__init__(
            "okx.liquidations",
            feed.config.ws_url,
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.okx_ping_interval_s,
            ping_when_idle=True,  # OKX: "ping" after N quiet seconds, N < 30
            data_silence_s=tuning.data_silence_s or feed.config.stale_after_seconds,
            buffer=feed.buffer,
        )
        self.feed = feed

    async def on_open(self, ws: WS) -> None:
        """Read contract values if needed, then subscribe to every swap's liquidations."""
        try:
            await self.feed.refresh_instruments_if_needed()
        except FeedError as exc:
            # The stream still runs; swaps without a known ctVal are skipped until the instruments
            # job manages to read them.
            self.failures.failure(f"{self.feed.name}.instruments", str(exc))
        await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": CHANNEL, "instType": "SWAP"}]}))

    async def send_ping(self, ws: WS) -> None:
        """Send OKX's text ping."""
        await ws.send_str("ping")

    def on_text(self, text_frame: str) -> bool:
        """Handle pong, events and liquidation frames."""
        if text_frame == "pong":
            self.health.alive()
            return False
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        event = frame.get("event")
        if event == "error":
            raise FeedError("api", f"{frame.get('code')} {str(frame.get('msg'))[:120]}")
        if event is not None:
            self.health.alive()  # subscribe/unsubscribe acknowledged
            return False
        arg = frame.get("arg")
        if not isinstance(arg, dict) or arg.get("channel") != CHANNEL:
            return False
        rows = self.feed.parse(items_list(envelope(frame, "data", "liquidation-orders frame"), "data"))
        if self.buffer is not None:
            self.buffer.add(rows)
        self.health.success(max((r.ts for r in rows), default=None))
        return True


class OkxFeed(Feed):
    """OKX swap liquidations, by websocket or REST polling."""

    name = "okx"

    def __init__(
        self,
        config: OkxFeedConfig,
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
        self.symbols = list(symbols)
        self.watched = frozenset(self.symbols)
        self.ingest = ingest
        self.http = http
        self.failures = failures
        self.now_ms = now_ms
        self.tuning = tuning
        self.rejections = registry.rejections
        self.contracts: dict[str, Contract] = {}
        self._instruments_at: int | None = None
        self._instruments_wanted = False
        self._last_seen: dict[str, int] = {}
        self.buffer = LiquidationBuffer(
            ingest, interval_s=tuning.flush_interval_s, max_events=tuning.flush_max_events
        )
        self.health = registry.register(
            f"{self.name}.liquidations",
            {"liquidations"},
            self.symbols,
            stale_after_s=config.stale_after_seconds,
        )
        self.stream: OkxLiquidationStream | None = None
        self.poller: Poller | None = None
        self.instruments_poller: Poller | None = None
        if config.mode == "websocket":
            self.stream = OkxLiquidationStream(self, session, self.health, failures, tuning)
            # Contract values are not market data: this entry provides no kind, it shows in /status.
            # (In REST mode every poll reads them when due.)
            instruments_health = registry.register(
                f"{self.name}.instruments", set(), None, stale_after_s=tuning.okx_instruments_refresh_s * 2
            )
            self.instruments_poller = Poller(
                f"{self.name}.instruments",
                self._instruments,
                instruments_health,
                failures,
                now_ms,
                Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s),
            )
        else:
            backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
            self.poller = Poller(
                f"{self.name}.liquidations", self.poll_rest, self.health, failures, now_ms, backoff
            )

    def jobs(self) -> list[PollJob]:
        """Return the REST liquidation poll (REST mode), or the contract-value refresh (websocket mode)."""
        if self.poller is not None:
            return [PollJob(self.poller.name, self.config.rest_poll_seconds, self.poller.run)]
        assert self.instruments_poller is not None
        return [PollJob(self.instruments_poller.name, INSTRUMENTS_CHECK_S, self.instruments_poller.run)]

    async def _instruments(self) -> int | None:
        await self.refresh_instruments_if_needed()
        return None

    def streams(self) -> list[Stream]:
        """Return the liquidation stream (websocket mode only)."""
        return [] if self.stream is None else [self.stream]

    async def aclose(self) -> None:
        """Write buffered liquidations."""
        self.buffer.flush()

    async def backfill(self) -> None:
        """Read contract values; in REST mode also fetch the liquidations OKX still keeps."""
        if self.poller is not None:
            await self.poller.run(lambda: self.sync_rest(self.tuning.backfill_max_pages))
            return
        if self.instruments_poller is not None:
            await self.instruments_poller.run()

    # --- contract values ------------------------------------------------------------------------------------

    async def refresh_instruments_if_needed(self) -> None:
        """Re-read SWAP contract values when missing, old, or after an unknown swap showed up."""
        now = self.now_ms()
        if self._instruments_at is not None:
            age = now - self._instruments_at
            wanted = self._instruments_wanted and age >= INSTRUMENTS_RETRY_MS
            if not wanted and age < self.tuning.okx_instruments_refresh_s * 1000:
                return
        payload = await self.http.get_json("/api/v5/public/instruments", {"instType": "SWAP"})
        parsed = parse_instruments(payload)
        self.failures.skipped(f"{self.name}.instruments:item", parsed.skipped)
        if not parsed.rows:
            raise PayloadError("okx instruments: no usable SWAP instrument")
        self.contracts = {c.inst_id: c for c in parsed.rows}
        self._instruments_at = now
        self._instruments_wanted = False
        self.failures.success(f"{self.name}.instruments")

    def parse(self, items: list[Any]) -> list[Liquidation]:
        """Parse liquidation items with the known contract values; log what was skipped."""
        parsed, unknown = parse_liquidation_items(items, self.contracts, self.watched)
        if unknown:
            self._instruments_wanted = True
        self.failures.skipped(f"{self.name}.liquidations:item", parsed.skipped)
        return parsed.rows

    def _family(self, symbol: str) -> str | None:
        for contract in self.contracts.values():
            if okx_symbol(contract.inst_id) == symbol:
                return contract.inst_family
        return None

    # --- REST mode ------------------------------------------------------------------------------------------

    async def poll_rest(self) -> int | None:
        """Fetch the liquidations since the previous poll."""
        return await self.sync_rest(self.tuning.poll_max_pages)

    async def sync_rest(self, max_pages: int) -> int | None:
        """Page back from the newest liquidation to the last one seen, per watched symbol."""
        await self.refresh_instruments_if_needed()

        async def one(symbol: str) -> int | None:
            family = self._family(symbol)
            if family is None:
                raise FeedError("unknown_symbol", f"okx has no USDT swap for {symbol}")
            return await self._sync_symbol(symbol, family, max_pages)

        found = await each_symbol(
            self.symbols, one, self.failures, f"{self.name}.rest", self.rejections, self.name
        )
        newest = [t for t in found if t]
        return max(newest, default=None)

    def _seen_until(self, symbol: str) -> int:
        if symbol in self._last_seen:
            return self._last_seen[symbol]
        now = self.now_ms()
        stored = [
            r.ts
            for r in self.ingest.repo.liquidations(symbol, now - REST_HISTORY_MS, 2**62)
            if r.source == SOURCE
        ]
        return max(stored, default=now - REST_HISTORY_MS)

    async def _sync_symbol(self, symbol: str, family: str, max_pages: int) -> int | None:
        seen = self._seen_until(symbol)
        after: int | None = None
        found: list[Liquidation] = []
        for _ in range(max_pages):
            params: dict[str, str | int] = {
                "instType": "SWAP",
                "instFamily": family,
                "state": "filled",
                "limit": REST_PAGE_LIMIT,
            }
            if after is not None:
                params["after"] = after
            payload = await self.http.get_json("/api/v5/public/liquidation-orders", params)
            items = okx_data(payload, "okx liquidation-orders")
            rows = self.parse(items)
            found += [r for r in rows if r.ts >= seen]
            if _detail_count(items) < REST_PAGE_LIMIT or not rows or min(r.ts for r in rows) < seen:
                break
            # `after` returns records older than it; +1 keeps the rest of a second split across pages.
            after = min(r.ts for r in rows) + 1
        self.buffer.add(found)
        self.buffer.flush()
        if not found:
            return None
        newest = max(r.ts for r in found)
        self._last_seen[symbol] = max(newest, seen)
        return newest


def _detail_count(items: list[Any]) -> int:
    """Count the records of a REST page (full pages hold 100), whatever could be parsed of them."""
    return sum(len(i["details"]) for i in items if isinstance(i, dict) and isinstance(i.get("details"), list))

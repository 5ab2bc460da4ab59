"""HTX USDT-margined swaps: ``public.*.liquidation_orders`` on the order-push websocket.

- Endpoint ``wss://api.hbdm.com/linear-swap-notification``; subscribe with
  ``{"op": "sub", "cid": ..., "topic": "public.*.liquidation_orders"}`` (``*``: every contract; the
  watched ones are kept). The server acknowledges with ``op: sub`` and ``err-code`` 0.
- Every server frame is **gzip-compressed binary**. The server sends ``{"op": "ping", "ts": ...}`` every
  5 s and drops a client that misses five; the answer is ``{"op": "pong", "ts": <the same ts>}``.
- The venue drops connections about every 30 s in practice: the stream replaces its connection before
  that (``Tuning.htx_max_lifetime_s``, 25 s: new one subscribed first, then the old one closed, see
  ``feeds.stream``), and a drop that still
  comes is reconnected at once, since a connection up for ``HTX_STABLE_AFTER_S`` counts as healthy.
- ``notify`` items: ``direction`` is the forced order's side (sell closes a long), ``amount`` the size
  in the base coin, ``trade_turnover`` the USDT value, ``price`` the fill price, ``created_at`` ms.
  ``volume`` is in contracts and not needed: HTX gives coins and USDT itself.

Sources: HTX USDT-margined contracts API, "Subscribe Liquidation Order Data (no authentication)" and
"Order Push Heartbeat" (read from rosssaunders/coincise docs/htx/usdtm/public_websocket_api.md @ a00ae58b);
a live frame in tests/data/fixtures/live_liquidation_ws_frames_..._20260917.jsonl.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import aiohttp

from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import HtxFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.health import FeedHealth
from feeds.instruments import split_symbol
from feeds.liquidation_feed import LiquidationOnlyFeed
from feeds.logonce import FailureLog
from feeds.parse import BadItem, Parsed, envelope, items_list, num, parse_items, text, ts_ms
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Liquidation, Side

SOURCE = "htx"
TOPIC = "public.*.liquidation_orders"
# A connection up this long counts as healthy (HTX's own drops come at ~30 s; the feed replaces its
# connection before that, every Tuning.htx_max_lifetime_s).
HTX_STABLE_AFTER_S = 10.0

_ORDER_SIDE_TO_POSITION: dict[str, Side] = {"sell": "long", "buy": "short"}


def htx_contract(symbol: str) -> str:
    """Return HTX's contract code of a canonical symbol: ``BTCUSDT`` -> ``BTC-USDT``."""
    base, quote = split_symbol(symbol)
    return f"{base}-{quote}"


def gunzip(data: bytes, limit: int) -> str:
    """Decompress one gzip frame into text, refusing one that inflates beyond ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise FeedError("malformed", f"frame is not gzip ({exc})") from None
    if inflater.unconsumed_tail:
        raise FeedError("malformed", f"frame inflates beyond {limit:,} bytes")
    return raw.decode("utf-8", errors="replace")


def parse_liquidation_orders(frame: Any, watched: frozenset[str] | None) -> Parsed[Liquidation]:
    """Parse a ``notify`` frame's items; rows keep HTX's contract code as their symbol."""

    def one(item: Any) -> Liquidation | None:
        contract = text(item, "contract_code").upper()
        if watched is not None and contract not in watched:
            return None
        side = _ORDER_SIDE_TO_POSITION.get(text(item, "direction").lower())
        if side is None:
            raise BadItem(f"direction {item['direction']!r} is neither buy nor sell")
        qty = num(item, "amount", positive=True)
        usd = num(item, "trade_turnover", positive=True)
        price = num(item, "price", positive=True)
        return Liquidation(contract, ts_ms(item, "created_at"), SOURCE, side, price, qty, usd)

    return parse_items(items_list(envelope(frame, "data", "htx notify"), "htx notify data"), one)


class HtxLiquidationStream(WebSocketStream):
    """``public.*.liquidation_orders``: gzip frames, server pings, a connection replaced every 25 s."""

    def __init__(
        self,
        config: HtxFeedConfig,
        names: dict[str, str],
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        buffer: LiquidationBuffer,
    ) -> None:
        super().__init__(
            "htx.liquidations",
            config.ws_url,
            session,
            health,
            failures,
            tuning,
            # HTX pings every 5 s; the client sends none, and this bounds the wait for anything at all.
            ping_interval_s=tuning.htx_silence_s,
            ping_when_idle=True,
            data_silence_s=tuning.data_silence_s or config.stale_after_seconds,
            max_lifetime_s=tuning.htx_max_lifetime_s,
            buffer=buffer,
        )
        self.stable_after_s = min(self.stable_after_s, HTX_STABLE_AFTER_S)
        self.names = names  # HTX contract code -> canonical symbol
        self.watched = frozenset(names)

    async def on_open(self, ws: WS) -> None:
        """Subscribe to every contract's liquidation orders."""
        await ws.send_str(json.dumps({"op": "sub", "cid": "tripwire", "topic": TOPIC}))

    async def send_ping(self, ws: WS) -> None:
        """Send nothing: HTX pings the client (every 5 s), not the other way round."""
        return None

    async def on_binary(self, ws: WS, data: bytes) -> bool:
        """Decompress a frame; answer pings, then handle it as text."""
        text_frame = gunzip(data, self.tuning.max_frame_bytes)
        frame = frame_json(text_frame)
        if isinstance(frame, dict) and frame.get("op") == "ping":
            await ws.send_str(json.dumps({"op": "pong", "ts": frame.get("ts")}))
            self.health.alive()
            return False
        return self.on_text(text_frame)

    def on_text(self, text_frame: str) -> bool:
        """Handle acks, errors, closes and liquidation frames."""
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        op = frame.get("op")
        code = frame.get("err-code")
        if op in ("error", "close") or (code not in (None, 0)):
            raise FeedError("api", f"htx {op}: {code} {str(frame.get('err-msg'))[:120]}")
        if op != "notify" or not str(frame.get("topic", "")).endswith(".liquidation_orders"):
            self.health.alive()
            return False
        parsed = parse_liquidation_orders(frame, self.watched)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        rows = [r._replace(symbol=self.names[r.symbol]) for r in parsed.rows]
        self.record(rows)
        return True


class HtxFeed(LiquidationOnlyFeed):
    """HTX USDT-swap liquidations (websocket)."""

    name = "htx"
    stream: HtxLiquidationStream

    def __init__(self, config: HtxFeedConfig, context: FeedContext) -> None:
        self.config = config
        names = self.venue_names(context, lambda symbol: (htx_contract(symbol),))
        self.symbols = list(names.values())
        health = self.open_buffer(context, config.stale_after_seconds)
        self.stream = HtxLiquidationStream(
            config, names, context.session, health, context.failures, context.tuning, self.buffer
        )

"""Hyperliquid perpetuals: backstop liquidations, the only ones its public API shows.

Hyperliquid has no public liquidation stream. A position the order book cannot absorb is taken over by
the liquidator vault (HLP's child vault ``0x2e3d…dd14``), and that takeover appears in the public
``trades`` channel as a fill with the vault among its ``users`` (``[buyer, seller]``). Liquidations
closed by market orders on the book carry no public mark and are **not** seen. So this feed's totals are
*partial*: backstop liquidations only (``feeds.liq_coverage``).

- Subscribe per coin: ``{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}``;
  acknowledged by ``channel: subscriptionResponse``; a refusal comes as ``channel: error``.
- Trades: ``{"channel": "trades", "data": [{coin, side, px, sz, time, hash, tid, users}]}``, ``sz`` in
  coins, or in thousands of coins for a 1000-unit coin (``kPEPE``: see ``feeds.hyperliquid_names``, which
  also says which name each watched market is subscribed under). The vault buying means it took over
  a long (a long was liquidated); selling, a short.
- Keep-alive: ``{"method": "ping"}`` → ``{"channel": "pong"}``; the server closes a connection that sent
  nothing for 60 s.

Sources: Hyperliquid API docs, "Websocket: subscriptions" and "Post requests/heartbeats"
(hyperliquid.gitbook.io); the vault among HLP's children in the ``vaultDetails`` example there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import HyperliquidFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.health import FeedHealth, Rejections
from feeds.hyperliquid_names import listed_names, per_coin, subscription_name
from feeds.liquidation_feed import LiquidationOnlyFeed
from feeds.logonce import FailureLog
from feeds.parse import BadItem, Parsed, envelope, get, items_list, num, parse_items, text, ts_ms
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Liquidation, Side

SOURCE = "hyperliquid"


def parse_trades(frame: Any, coins: dict[str, str], liquidators: frozenset[str]) -> Parsed[Liquidation]:
    """Return the backstop liquidations of a trades frame under the markets' symbols, per coin.

    ``coins`` maps each Hyperliquid name (``kPEPE``) to its watched symbol (PEPEUSDT).
    """

    def one(trade: Any) -> Liquidation | None:
        symbol = coins.get(text(trade, "coin"))
        if symbol is None:
            return None
        users = get(trade, "users")
        if not isinstance(users, list) or len(users) != 2:
            raise BadItem("field 'users' is not [buyer, seller]")
        buyer, seller = (str(u).lower() for u in users)
        side: Side
        if buyer in liquidators:
            side = "long"  # the vault bought: it took over a long position
        elif seller in liquidators:
            side = "short"
        else:
            return None
        px, sz = num(trade, "px", positive=True), num(trade, "sz", positive=True)
        price, qty = per_coin(text(trade, "coin"), px, sz)
        return Liquidation(symbol, ts_ms(trade, "time"), SOURCE, side, price, qty, price * qty)

    return parse_items(items_list(envelope(frame, "data", "hyperliquid trades"), "trades data"), one)


class HyperliquidLiquidationStream(WebSocketStream):
    """``trades`` of every watched coin, keeping the fills against the liquidator vault."""

    def __init__(
        self,
        config: HyperliquidFeedConfig,
        coins: dict[str, str],
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        buffer: LiquidationBuffer,
        rejections: Rejections,
    ) -> None:
        super().__init__(
            "hyperliquid.liquidations",
            config.ws_url,
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.hyperliquid_ping_interval_s,
            ping_when_idle=True,
            data_silence_s=tuning.data_silence_s or config.stale_after_seconds,
            buffer=buffer,
        )
        self.coins = dict(coins)  # Hyperliquid name (BTC, kPEPE) -> canonical symbol
        self.rejections = rejections
        self.liquidators = frozenset(a.lower() for a in config.liquidator_addresses)
        # Who else reads every trades frame: the measured map's account book (feeds.hyperliquid_sample).
        self.trade_listeners: list[Callable[[dict[str, Any]], object]] = []

    async def on_open(self, ws: WS) -> None:
        """Subscribe to every watched coin's trades."""
        for coin in sorted(self.coins):
            await ws.send_str(
                json.dumps({"method": "subscribe", "subscription": {"type": "trades", "coin": coin}})
            )

    def _refused(self, message: str) -> None:
        """Drop a coin whose subscription was refused; log any other error once (the others stream on).

        Raising would reconnect and resubscribe the same coin, refused again, for ever: one unknown coin
        must not stop the others.
        """
        coin = next((c for c in self.coins if f'"coin":"{c}"' in message.replace(" ", "")), None)
        if coin is None:
            self.failures.failure(f"{self.name}:error", f"hyperliquid: {message[:160]}")
            return
        symbol = self.coins.pop(coin)
        self.rejections.reject(SOURCE, symbol, f"subscribe refused: {message[:120]}")

    async def send_ping(self, ws: WS) -> None:
        """Send Hyperliquid's JSON ping."""
        await ws.send_str('{"method":"ping"}')

    def on_text(self, text_frame: str) -> bool:
        """Handle pongs, acks, errors and trades."""
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        channel = frame.get("channel")
        if channel == "error":
            self._refused(str(frame.get("data")))
            return False
        if channel != "trades":
            self.health.alive()  # pong, subscriptionResponse
            return False
        for listener in self.trade_listeners:
            listener(frame)
        parsed = parse_trades(frame, self.coins, self.liquidators)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        # Every trades frame proves the subscription, liquidation or not.
        self.record(parsed.rows)
        return True


class HyperliquidFeed(LiquidationOnlyFeed):
    """Hyperliquid backstop liquidations (websocket)."""

    name = "hyperliquid"
    stream: HyperliquidLiquidationStream

    def __init__(self, config: HyperliquidFeedConfig, context: FeedContext) -> None:
        self.config = config
        listed = listed_names(context.instruments)  # kPEPE for PEPEUSDT, from Hyperliquid's own list
        coins = self.venue_names(context, lambda symbol: (subscription_name(symbol, listed),))
        self.symbols = list(coins.values())
        health = self.open_buffer(context, config.stale_after_seconds)
        self.stream = HyperliquidLiquidationStream(
            config,
            coins,
            context.session,
            health,
            context.failures,
            context.tuning,
            self.buffer,
            context.registry.rejections,
        )

"""Deribit perpetuals: trades flagged ``liquidation`` on the public ``trades.<instrument>.100ms`` channel.

- JSON-RPC 2.0 over one websocket: ``public/subscribe`` with ``{"channels": [...]}``; the answer's
  ``result`` lists the channels actually subscribed. Notifications come as
  ``{"method": "subscription", "params": {"channel", "data": [trades]}}``.
- ``raw`` channels need an authorised connection (Deribit answers error 13778 otherwise), so the
  keyless feed uses ``100ms``: the same trades, delivered in 100 ms batches.
- A trade caused by a liquidation carries ``liquidation``: ``"M"`` the maker side was under liquidation,
  ``"T"`` the taker side, ``"MT"`` both (two positions: one row each). ``direction`` is the taker's:
  a taker buying closes a short, so a liquidated taker who buys was short and the maker opposite it long.
- Per market BASE, two perpetuals: ``BASE-PERPETUAL`` (inverse: ``amount`` in USD) and
  ``BASE_USDC-PERPETUAL`` (linear: ``amount`` in BASE); a channel Deribit does not list is absent from the
  answer and dropped. Both count as the BASE market's liquidations, as venue-wide totals count them.
- Keep-alive: ``public/test`` every ``deribit_ping_interval_s``.

Source: Deribit API v2, ``public/get_last_trades_by_instrument`` (the ``liquidation`` and ``amount``
fields) and the ``trades.{instrument_name}.{interval}`` subscription (read from rosssaunders/coincise
docs/deribit @ a00ae58b); the raw/100ms rule as tardis-dev and nautilus_trader apply it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp

from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.config import DeribitFeedConfig
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.health import FeedHealth, Rejections
from feeds.instruments import split_symbol
from feeds.liquidation_feed import LiquidationOnlyFeed
from feeds.logonce import FailureLog
from feeds.parse import BadItem, Parsed, get, items_list, num, obj, text, ts_ms
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Liquidation, Side

SOURCE = "deribit"
INTERVAL = "100ms"
SUBSCRIBE_ID = 1

_TAKER_POSITION: dict[str, Side] = {"buy": "short", "sell": "long"}
_OPPOSITE: dict[Side, Side] = {"long": "short", "short": "long"}


def deribit_instruments(symbol: str) -> tuple[str, str]:
    """Return the inverse and the linear perpetual of a market: ``BTC-PERPETUAL``, ``BTC_USDC-PERPETUAL``."""
    base, _ = split_symbol(symbol)
    return f"{base}-PERPETUAL", f"{base}_USDC-PERPETUAL"


def _liquidated_sides(trade: Any) -> list[Side]:
    flag = text(trade, "liquidation").upper()
    taker = _TAKER_POSITION.get(text(trade, "direction").lower())
    if taker is None:
        raise BadItem(f"direction {trade['direction']!r} is neither buy nor sell")
    if not flag or set(flag) - {"M", "T"}:
        raise BadItem(f"liquidation {flag!r} is not M, T or MT")
    sides: list[Side] = []
    if "T" in flag:
        sides.append(taker)
    if "M" in flag:
        sides.append(_OPPOSITE[taker])
    return sides


def parse_trades(data: Any, instruments: dict[str, str]) -> Parsed[Liquidation]:
    """Turn a trades notification's liquidation trades into rows under the markets' symbols.

    ``instruments`` maps each watched instrument to its market; other trades are ignored.
    """
    parsed: Parsed[Liquidation] = Parsed()
    for trade in items_list(data, "deribit trades"):
        try:
            if obj(trade, "trade").get("liquidation") in (None, ""):
                continue
            name = text(trade, "instrument_name")
            symbol = instruments.get(name)
            if symbol is None:
                continue
            price = num(trade, "price", positive=True)
            amount = num(trade, "amount", positive=True)
            # Inverse perpetuals count in USD, the linear ones in the coin (get_last_trades docs).
            usd, qty = (amount, amount / price) if "_" not in name else (amount * price, amount)
            at = ts_ms(trade, "timestamp")
            parsed.rows += [
                Liquidation(symbol, at, SOURCE, side, price, qty, usd) for side in _liquidated_sides(trade)
            ]
        except BadItem as exc:
            parsed.skipped.append(str(exc))
    return parsed


class DeribitLiquidationStream(WebSocketStream):
    """``trades.<instrument>.100ms`` for both perpetuals of every watched market."""

    def __init__(
        self,
        config: DeribitFeedConfig,
        instruments: dict[str, str],
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        buffer: LiquidationBuffer,
        rejections: Rejections,
    ) -> None:
        super().__init__(
            "deribit.liquidations",
            config.ws_url,
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.deribit_ping_interval_s,
            ping_when_idle=True,
            data_silence_s=tuning.data_silence_s or config.stale_after_seconds,
            buffer=buffer,
        )
        self.instruments = dict(instruments)
        self.rejections = rejections
        self._ids = itertools.count(SUBSCRIBE_ID + 1)

    def channels(self) -> list[str]:
        """Return the channels asked for."""
        return [f"trades.{name}.{INTERVAL}" for name in sorted(self.instruments)]

    async def on_open(self, ws: WS) -> None:
        """Subscribe to every watched perpetual's trades."""
        request = {
            "jsonrpc": "2.0",
            "id": SUBSCRIBE_ID,
            "method": "public/subscribe",
            "params": {"channels": self.channels()},
        }
        await ws.send_str(json.dumps(request))

    async def send_ping(self, ws: WS) -> None:
        """Send ``public/test``; its answer proves the session."""
        await ws.send_str(
            json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": "public/test", "params": {}})
        )

    def _subscribed(self, result: Any) -> None:
        """Keep the instruments Deribit subscribed; reject a market none of whose perpetuals it lists."""
        granted = {str(c).split(".")[1] for c in result if isinstance(c, str) and c.count(".") == 2}
        dropped = [name for name in self.instruments if name not in granted]
        markets = set(self.instruments.values())
        for name in dropped:
            del self.instruments[name]
        for symbol in sorted(markets - set(self.instruments.values())):
            self.rejections.reject(SOURCE, symbol, "Deribit lists no perpetual for it")

    def on_text(self, text_frame: str) -> bool:
        """Handle answers, errors and trade notifications."""
        frame = frame_json(text_frame)
        if not isinstance(frame, dict):
            raise FeedError("malformed", "frame is not an object")
        if "error" in frame:
            error = frame["error"]
            raise FeedError("api", f"deribit error {str(error)[:160]}")
        if frame.get("method") != "subscription":
            if frame.get("id") == SUBSCRIBE_ID and isinstance(frame.get("result"), list):
                self._subscribed(frame["result"])
            self.health.alive()  # the subscribe answer, public/test, a heartbeat
            return False
        params = obj(frame.get("params"), "params") if isinstance(frame.get("params"), dict) else {}
        if not str(params.get("channel", "")).startswith("trades."):
            return False
        try:
            data = get(params, "data")
        except BadItem as exc:
            raise FeedError("malformed", str(exc)) from None
        parsed = parse_trades(data, self.instruments)
        self.failures.skipped(f"{self.name}:item", parsed.skipped)
        self.record(parsed.rows)
        return True


class DeribitFeed(LiquidationOnlyFeed):
    """Deribit perpetual liquidations (websocket)."""

    name = "deribit"
    stream: DeribitLiquidationStream

    def __init__(self, config: DeribitFeedConfig, context: FeedContext) -> None:
        self.config = config
        instruments = self.venue_names(context, deribit_instruments)
        self.symbols = sorted(set(instruments.values()))
        health = self.open_buffer(context, config.stale_after_seconds)
        self.stream = DeribitLiquidationStream(
            config,
            instruments,
            context.session,
            health,
            context.failures,
            context.tuning,
            self.buffer,
            context.registry.rejections,
        )

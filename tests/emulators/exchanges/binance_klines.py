"""Binance spot's ``<symbol>@kline_<interval>`` streams, served from the recorded (or shifted) candles.

Documented behaviour (binance-spot-api-docs, web-socket-streams.md) reproduced:

- every subscribed kline stream gets the candle forming now every ``kline_push_s`` (2 s: "Update Speed:
  2000ms" for every interval but 1s) with ``x: false``, and the candle once more with ``x: true`` when it
  has closed;
- combined connections (``/stream``) get ``{"stream","data"}`` wrappers, raw ones (``/ws``) the payload;
- the limits (``WsPolicy`` of ``binance_spot_ws_policy``): 1024 streams per connection, 5 incoming
  messages per second (pings and pongs count), a ping every 20 s answered within a minute, 24 h lifetime,
  300 connection attempts per 5 minutes per IP.

The candle served is the one REST ``/api/v3/klines`` serves for the same open time (the whole recorded or
SYNTHETIC minute, see data.derive_minutes), so stream and REST agree, as they do on Binance. A test or
bench sets a live price with ``set_price``: from then on the forming candle of that symbol closes at it
(high/low widened to include it) on both the stream and REST, the way a trade moves it on Binance; the
candles that open later keep their recorded prices. ``script_price`` instead makes a scripted market (a
multi-process test streaming a price path): from the symbol's first scripted trade on, every candle is made
of the scripted trades alone, each opening where the last one traded, on the stream and REST alike.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .context import Context, fixed
from .data import INTERVAL_MS, Candle
from .ws import WsConn, WsVenue

log = logging.getLogger(__name__)

KLINE_MARK = "@kline_"


@dataclasses.dataclass
class LivePrice:
    """A price set from outside (a trade), and when the stream first carried it (loop-independent clock)."""

    price: Decimal
    recorded_ms: int  # when it traded, on the recorded timeline: the candles containing it close at it
    set_at: float  # time.monotonic() when set
    pushed_at: float | None = None  # time.monotonic() of the first kline event carrying it


def parse_stream(name: str) -> tuple[str, str] | None:
    """Return (SYMBOL, interval) of a kline stream name, or None for another stream."""
    symbol, mark, interval = name.partition(KLINE_MARK)
    if not mark or not symbol or interval not in INTERVAL_MS:
        return None
    return symbol.upper(), interval


class KlineStreams:
    """Push the klines of each connection's subscribed streams every ``push_s`` seconds (``serve_conn``)."""

    def __init__(self, ctx: Context, venue: WsVenue, push_s: float, listed: Callable[[str], bool]) -> None:
        self.ctx = ctx
        self.venue = venue
        self.push_s = push_s
        self.listed = listed
        self.prices: dict[str, LivePrice] = {}
        # Scripted markets: symbol -> (recorded time, price) of each scripted trade, in time order.
        self.scripts: dict[str, list[tuple[int, Decimal]]] = {}
        # (connection, stream) -> open time of the forming candle last sent, to send its close once.
        self._sent: dict[tuple[str, str], int] = {}
        self.events_sent = 0

    # -- data ------------------------------------------------------------------------------------------
    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the live price of ``symbol`` (its forming candle closes at it, on the stream and REST)."""
        self.prices[symbol.upper()] = LivePrice(price, self.ctx.clock.recorded_now_ms(), time.monotonic())

    def script_price(self, symbol: str, price: Decimal) -> None:
        """Trade ``symbol`` at ``price`` now in a scripted market (its candles follow these trades alone)."""
        self.scripts.setdefault(symbol.upper(), []).append((self.ctx.clock.recorded_now_ms(), price))

    def candle(self, symbol: str, interval: str, recorded_open: int) -> Candle | None:
        """Return the candle of ``symbol`` opening at ``recorded_open`` as served now (live price applied)."""
        series = self.ctx.data.candles(symbol, interval)
        if not series:
            return None
        i = bisect.bisect_right(series, recorded_open, key=lambda c: c.open_time) - 1
        if i < 0 or series[i].open_time != recorded_open:
            return None
        return self.apply_price(symbol, series[i], interval)

    def apply_price(self, symbol: str, candle: Candle, interval: str) -> Candle:
        """Return the candle with the live price applied when the price traded inside it."""
        script = self.scripts.get(symbol)
        if script:
            return _scripted(script, candle, INTERVAL_MS[interval])
        live = self.prices.get(symbol)
        if (
            live is None
            or not candle.open_time <= live.recorded_ms < candle.open_time + INTERVAL_MS[interval]
        ):
            return candle
        return dataclasses.replace(
            candle, close=live.price, high=max(candle.high, live.price), low=min(candle.low, live.price)
        )

    def forming(self, symbol: str, interval: str) -> Candle | None:
        """Return the candle of ``symbol`` forming now (recorded timeline), live price applied."""
        step = INTERVAL_MS[interval]
        now = self.ctx.clock.recorded_now_ms()
        return self.candle(symbol, interval, now - now % step)

    def event(self, symbol: str, interval: str, candle: Candle, closed: bool) -> dict[str, Any]:
        """Return Binance's kline event payload for a candle (served times, 8-decimal strings)."""
        served = self.ctx.clock.served(candle.open_time)
        step = INTERVAL_MS[interval]
        return {
            "e": "kline",
            "E": self.ctx.clock.now_ms(),
            "s": symbol,
            "k": {
                "t": served,
                "T": served + step - 1,
                "s": symbol,
                "i": interval,
                "f": 0,
                "L": candle.trades - 1,
                "o": fixed(candle.open, 8),
                "c": fixed(candle.close, 8),
                "h": fixed(candle.high, 8),
                "l": fixed(candle.low, 8),
                "v": fixed(candle.volume, 8),
                "n": candle.trades,
                "x": closed,
                "q": fixed(candle.quote_volume, 8),
                # Taker-buy volumes were not recorded: served as zero, as in REST klines.
                "V": fixed(Decimal(0), 8),
                "Q": fixed(Decimal(0), 8),
                "B": "0",
            },
        }

    # -- pushing ---------------------------------------------------------------------------------------
    def subscribed(self, conn: WsConn, names: set[str]) -> None:
        """Note the candle forming when streams were subscribed: its close is owed to the connection."""
        for name in names:
            parsed = parse_stream(name)
            if parsed is None:
                continue
            step = INTERVAL_MS[parsed[1]]
            now = self.ctx.clock.recorded_now_ms()
            self._sent.setdefault((conn.conn_id, name), now - now % step)

    async def serve_conn(self, conn: WsConn) -> None:
        """Push to one connection's kline streams every ``push_s`` seconds while it is open."""
        while not conn.ws.closed:
            for name in sorted(conn.subscriptions):
                await self._push_stream(conn, name)
            await asyncio.sleep(self.push_s)

    async def _push_stream(self, conn: WsConn, name: str) -> int:
        parsed = parse_stream(name)
        if parsed is None:
            return 0
        symbol, interval = parsed
        if not self.listed(symbol):
            return 0
        forming = self.forming(symbol, interval)
        if forming is None:
            return 0
        sent = 0
        key = (conn.conn_id, name)
        previous = self._sent.get(key)
        if previous is not None and previous < forming.open_time:
            closed = self.candle(symbol, interval, previous)
            if closed is not None:
                sent += await self._send(conn, name, self.event(symbol, interval, closed, True))
        self._sent[key] = forming.open_time
        if await self._send(conn, name, self.event(symbol, interval, forming, False)):
            sent += 1
            live = self.prices.get(symbol)
            if live is not None and live.pushed_at is None:
                live.pushed_at = time.monotonic()
        return sent

    async def _send(self, conn: WsConn, name: str, payload: dict[str, Any]) -> bool:
        wrapped = {"stream": name, "data": payload} if conn.kind == "combined" else payload
        ok = await self.venue.send(conn, wrapped)
        self.events_sent += ok
        return ok


def _scripted(script: list[tuple[int, Decimal]], candle: Candle, step_ms: int) -> Candle:
    """Return ``candle`` as a scripted market makes it, from the trades alone.

    It opens at the last trade before it and spans the trades inside it; a candle that closed before the
    first scripted trade stays as recorded.
    """
    start, end = candle.open_time, candle.open_time + step_ms
    if end <= script[0][0]:
        return candle
    before = bisect.bisect_left(script, start, key=lambda trade: trade[0]) - 1
    inside = [price for at, price in script[before + 1 :] if at < end]
    prices = ([script[before][1]] if before >= 0 else []) + inside
    return dataclasses.replace(candle, open=prices[0], close=prices[-1], high=max(prices), low=min(prices))

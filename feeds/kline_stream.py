"""Live spot candles from Binance's ``<symbol>@kline_<interval>`` websocket streams.

Binance pushes the candle of every subscribed stream every 2 s while it forms (``k.x`` false) and once
more when it closes (``k.x`` true); each event is stored as it comes, so a price crossing is evaluated
within a push of the trade instead of a REST poll later, and a ``confirm`` rule still waits for the
closed candle.

Documented limits (Binance spot "WebSocket Streams", "WebSocket Limits") this module keeps to:

- at most 1024 streams per connection: the symbols are split over as many connections as needed;
- 5 incoming messages per second per connection, pings and pongs included: subscriptions go out as
  ``SUBSCRIBE`` requests of at most ``SUBSCRIBE_BATCH`` streams, one every ``subscribe_interval_s``;
- a connection lives 24 h: ``WebSocketStream`` replaces it before that, the new one first;
- the server pings every 20 s and wants a pong within a minute (answered in ``WebSocketStream``).

After every (re)connection, once subscribed, ``on_subscribed`` tells the feed which symbols the
connection carries, so it fetches by REST what was missed while the connection was down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from feeds.base import Tuning
from feeds.candles import check_ohlc
from feeds.errors import FeedError
from feeds.health import FeedHealth
from feeds.logonce import FailureLog
from feeds.parse import BadItem, check_ts, get, integer, num, obj, text
from feeds.stream import WS, WebSocketStream, frame_json
from storage.rows import Candle

SOURCE = "binance"
MAX_STREAMS_PER_CONNECTION = 1024
# Streams per SUBSCRIBE request: Binance documents no limit per request; 200 keeps each request small.
SUBSCRIBE_BATCH = 200
# One request every 0.3 s stays under 5 messages/s with the pings and pongs that share the budget.
SUBSCRIBE_INTERVAL_S = 0.3


def stream_name(symbol: str, interval: str) -> str:
    """Return Binance's stream name for a symbol's klines (symbols are lowercase in stream names)."""
    return f"{symbol.lower()}@kline_{interval}"


def parse_kline_event(frame: Any) -> Candle:
    """Parse a kline event (raw, or wrapped as ``{"stream","data"}``) into a candle; raise BadItem."""
    data = frame.get("data") if isinstance(frame, dict) and "stream" in frame else frame
    if text(data, "e") != "kline":
        raise BadItem(f"event type {obj(data).get('e')!r} is not kline")
    k = obj(get(data, "k"), "field 'k'")
    closed = get(k, "x")
    if not isinstance(closed, bool):
        raise BadItem("field 'x' is not a boolean")
    o, h, low, c = (num(k, key, positive=True) for key in ("o", "h", "l", "c"))
    volume = num(k, "v", non_negative=True)
    quote = num(k, "q", non_negative=True)
    check_ohlc(o, h, low, c, volume)
    open_time = check_ts(integer(get(k, "t"), "t"), "t")
    return Candle(text(k, "s").upper(), text(k, "i"), open_time, SOURCE, o, h, low, c, volume, quote, closed)


def split_symbols(
    symbols: Sequence[str], per_connection: int = MAX_STREAMS_PER_CONNECTION
) -> list[list[str]]:
    """Return the symbols in groups of at most ``per_connection`` (a stream each, a group a connection)."""
    return [list(symbols[i : i + per_connection]) for i in range(0, len(symbols), per_connection)]


class KlineStream(WebSocketStream):
    """One combined-stream connection carrying the klines of up to 1024 symbols."""

    def __init__(
        self,
        name: str,
        ws_url: str,
        symbols: Sequence[str],
        interval: str,
        session: aiohttp.ClientSession,
        health: FeedHealth,
        failures: FailureLog,
        tuning: Tuning,
        *,
        data_silence_s: float,
        on_candle: Callable[[Candle], None],
        on_subscribed: Callable[[Sequence[str]], None],
        subscribe_interval_s: float = SUBSCRIBE_INTERVAL_S,
    ) -> None:
        if len(symbols) > MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"{len(symbols)} streams on one connection; Binance allows 1024")
        super().__init__(
            name,
            f"{ws_url.rstrip('/')}/stream",
            session,
            health,
            failures,
            tuning,
            ping_interval_s=tuning.binance_ping_interval_s,
            ping_when_idle=False,
            data_silence_s=data_silence_s,
            max_lifetime_s=tuning.binance_max_lifetime_s,
        )
        self.symbols = list(symbols)
        self.interval = interval
        self.on_candle = on_candle
        self.on_subscribed = on_subscribed
        self.subscribe_interval_s = subscribe_interval_s
        self._names = {stream_name(s, interval): s for s in self.symbols}
        self._next_id = 1
        self.events = 0  # kline events handled, for tests and /metrics

    async def on_open(self, ws: WS) -> None:
        """Subscribe to every symbol's klines, paced under the 5 messages/s limit; then ask for the gap."""
        names = list(self._names)
        for start in range(0, len(names), SUBSCRIBE_BATCH):
            if start:
                await asyncio.sleep(self.subscribe_interval_s)
            await ws.send_str(
                f'{{"method":"SUBSCRIBE","params":{_json_list(names[start : start + SUBSCRIBE_BATCH])},'
                f'"id":{self._next_id}}}'
            )
            self._next_id += 1
        self.on_subscribed(self.symbols)

    def on_text(self, text_frame: str) -> bool:
        """Store one kline event; acknowledge replies; drop the connection on an error reply."""
        frame = frame_json(text_frame)
        if isinstance(frame, dict) and "id" in frame and ("result" in frame or "error" in frame):
            if frame.get("error"):
                raise FeedError("api", f"subscription refused: {frame['error']}")
            self.health.alive()
            return False
        if isinstance(frame, dict) and "error" in frame:
            raise FeedError("api", f"stream error: {frame['error']}")
        try:
            candle = parse_kline_event(frame)
        except BadItem as exc:
            self.failures.skipped(f"{self.name}:item", [str(exc)])
            return False
        if candle.symbol not in self._names.values() or candle.interval != self.interval:
            return False  # a stream we did not ask for (left over from before an UNSUBSCRIBE)
        self.events += 1
        self.on_candle(candle)
        return True


def _json_list(names: Sequence[str]) -> str:
    # Stream names are [a-z0-9@_] only (checked symbols, known intervals): no escaping needed.
    return "[" + ",".join(f'"{n}"' for n in names) + "]"

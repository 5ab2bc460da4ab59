"""Configuration and shared state handed to every venue of one emulator instance."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from .clock import Clock, ShiftTo
from .data import DATA_DIR, HOUR_MS, Dataset, select_window
from .instruments import Listing, Listings
from .ws import WsPolicy

T = TypeVar("T")


def binance_ws_policy() -> WsPolicy:
    """Return Binance USD-M's documented rules: 3 min pings, 10 min pong, 24 h lifetime, 10 msgs/s in."""
    return WsPolicy(ping_interval=180.0, pong_timeout=600.0, max_lifetime=86_400.0, max_incoming_per_s=10)


def binance_spot_ws_policy() -> WsPolicy:
    """Return Binance spot's documented rules (web-socket-streams.md, "WebSocket Limits").

    A ping every 20 s answered within a minute, 24 h lifetime, 5 incoming messages per second (pings,
    pongs and requests), 1024 streams per connection, 300 connection attempts per 5 minutes per IP.
    """
    return WsPolicy(
        ping_interval=20.0,
        pong_timeout=60.0,
        max_lifetime=86_400.0,
        max_incoming_per_s=5,
        max_streams=1024,
        max_connects=300,
        connects_window=300.0,
    )


def bybit_ws_policy() -> WsPolicy:
    """Return Bybit's rule: a connection with no ping-pong and no data is cut after about 10 min."""
    return WsPolicy(idle_timeout=600.0)


def okx_ws_policy() -> WsPolicy:
    """Return OKX's rule: no data for 30 s closes the connection with 4004 "No data received in 30s"."""
    return WsPolicy(idle_timeout=30.0, idle_close_code=4004, idle_close_reason="No data received in 30s")


@dataclass
class EmulatorConfig:
    """Every option of one emulator instance; the defaults are the exchanges' documented values."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port
    data_dir: Path = DATA_DIR
    shift_to: ShiftTo = None  # None: recorded times; "now" or an epoch ms: see Clock
    freeze_clock: bool | None = None  # default: frozen when unshifted, running when shifted
    liq_rate: float = 0.0  # recorded liquidation frames replayed per second per venue; 0: off
    # Binance REST limits (spot: 6,000 weight/min per IP; USD-M: 2,400 in the exchangeInfo example).
    spot_weight_limit: int = 6000
    futures_weight_limit: int = 2400
    weight_window: float = 60.0  # seconds; the header is still called X-MBX-USED-WEIGHT-1M
    ban_seconds: float = 120.0  # first 418 ban; Binance doubles it for repeat offenders, up to 3 days
    geo_block: bool = False  # answer every Binance request with 451, as for a US IP
    # Hyperliquid: 1,200 REST weight a minute per IP ("Rate limits and user limits").
    hyperliquid_weight_limit: int = 1200
    hyperliquid_weight_window: float = 60.0
    oi_hist_days: int = 30  # /futures/data/openInterestHist serves only the latest 30 days
    # USD-M paths' own per-IP limits beside the weight, (requests, window seconds): fundingRate shares
    # 500 per 5 minutes with fundingInfo; openInterestHist allows 1,000 per 5 minutes.
    funding_rate_limit: tuple[int, float] = (500, 300.0)
    oi_hist_limit: tuple[int, float] = (1000, 300.0)
    binance_ws: WsPolicy = field(default_factory=binance_ws_policy)
    # The spot stream host's paths (/ws, /stream): kline streams, under spot's limits.
    binance_spot_ws: WsPolicy = field(default_factory=binance_spot_ws_policy)
    kline_push_s: float = 2.0  # "Update Speed: 2000ms" of every kline interval but 1s
    bybit_ws: WsPolicy = field(default_factory=bybit_ws_policy)
    okx_ws: WsPolicy = field(default_factory=okx_ws_policy)


class Context:
    """What the venues share: configuration, the recorded data and the clock."""

    def __init__(self, config: EmulatorConfig, dataset: Dataset | None = None) -> None:
        self.config = config
        self.data = (dataset if dataset is not None else Dataset(config.data_dir)).fork()
        self.clock = Clock.create(config.shift_to, self.data.recorded_end_ms, frozen=config.freeze_clock)
        self.listings = Listings(self.data)

    def listed(self, listings: dict[str, Listing], symbol: str) -> bool:
        """Tell whether ``symbol`` trades in ``listings``; give it stand-in data if it has none recorded."""
        listing = self.listings.trading(listings, symbol)
        if listing is None:
            return False
        self.data.stand_in(symbol, listing.price, listing.interval_ms or 8 * HOUR_MS)
        return True

    def window(
        self, rows: Sequence[T], key: Callable[[T], int], *, start: int | None, end: int | None, limit: int
    ) -> list[T]:
        """Select rows by client-supplied (served) time bounds, hiding rows after "now"."""
        clock = self.clock
        return select_window(
            rows,
            key,
            start=None if start is None else clock.recorded(start),
            end=None if end is None else clock.recorded(end),
            limit=limit,
            cutoff=clock.recorded_now_ms(),
        )

    def next_funding_ms(self, interval_ms: int = 8 * HOUR_MS) -> int:
        """Return the next funding time strictly after now (served timeline, 00/08/16 UTC grid)."""
        now = self.clock.now_ms()
        return now - now % interval_ms + interval_ms


def fixed(value: Decimal, places: int) -> str:
    """Format a decimal with a fixed number of places, as Binance's string fields are."""
    return f"{value:.{places}f}"


def compact_json(obj: Any) -> str:
    """Serialise like the exchanges do: no spaces, non-ASCII symbols (币安人生USDT) as UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_response(obj: Any, status: int = 200) -> web.Response:
    """Return a compact JSON response."""
    return web.json_response(obj, status=status, dumps=compact_json)

"""The feed contract: what every market-data source module provides, and the timings they share.

A feed (one per source module) is built from its config section (``feeds.config``), its ``HttpClient``
and a ``FeedContext`` (``feeds.context``: the watched symbols, the one ``Ingest`` it writes through, the
shared session, the ``HealthRegistry``, the failure log, the clock and ``Tuning``). It offers:

- ``backfill()``: fetch what is missing since the last stored row (bounded by the config), once at start;
- ``jobs()``: REST pollers, each a ``PollJob`` the scheduler runs every ``interval_s`` seconds;
- ``streams()``: long-lived websocket loops (``Stream.run()``), restarted on every disconnect;
- ``aclose()``: flush what is buffered.

Time always comes from an injected ``now_ms`` callable (UTC epoch ms), so tests control it. Every delay
that is not in the config lives in ``Tuning``; its defaults are the venues' documented values, and tests
shrink them so a reconnect takes milliseconds instead of seconds.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

NowMs = Callable[[], int]

# The data kinds a feed can provide; detectors name the kinds a signal was computed from
# (Signal.sources) and the engine compares them with HealthRegistry.stale_kinds(symbol).
KINDS = (
    "candles",
    "liquidations",
    "funding",
    "open_interest",
    "fear_greed",
    "long_short",
    "implied_vol",
    "depth",
    "etf_flow",
    "predicted_funding",  # a forecast of the next funding rate (Hyperliquid's predictedFundings)
)

HOUR_S = 3600.0


def system_now_ms() -> int:
    """Return the wall-clock time in UTC epoch milliseconds (the production clock)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Tuning:
    """Delays and sizes that are not user options; defaults follow the venues' documented limits."""

    # Pollers: after consecutive failures, wait base, 2*base, ... up to cap before polling again.
    poll_backoff_base_s: float = 2.0
    poll_backoff_cap_s: float = 300.0
    # When a 429/418 carries no Retry-After: 429 waits a whole weight window; 418 the shortest documented
    # Binance ban (2 minutes).
    default_retry_after_429_s: float = 60.0
    default_retry_after_418_s: float = 120.0
    # Binance counts request weight per minute (X-MBX-USED-WEIGHT-1M).
    weight_window_s: float = 60.0
    # Websocket reconnects: base, 2*base, ... up to cap; a connection that stayed up this long resets it.
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 60.0
    stable_after_s: float = 30.0
    connect_timeout_s: float = 10.0
    # Keep-alive pings. Bybit asks for a ping every 20 s; OKX closes a connection after 30 s without
    # data, so it gets a "ping" after 20 s of quiet; Binance pings us every 3 minutes and answers ours.
    binance_ping_interval_s: float = 30.0
    bybit_ping_interval_s: float = 20.0
    okx_ping_interval_s: float = 20.0
    # Gate pings at the protocol level and takes an application ping too; Hyperliquid drops a
    # connection that sent nothing for 60 s; Deribit's public/test keeps a JSON-RPC session proven.
    gate_ping_interval_s: float = 15.0
    hyperliquid_ping_interval_s: float = 30.0
    deribit_ping_interval_s: float = 30.0
    # HTX pings every 5 s itself and drops a client that missed 5 pongs; this is how long the client
    # waits without any frame before it treats the socket as dead.
    htx_silence_s: float = 20.0
    # HTX drops connections about every 30 s in practice: replace ours before that, gap-free.
    htx_max_lifetime_s: float = 25.0
    # Nothing at all (not even a pong) for ping interval + this long: the socket is dead, reconnect.
    pong_timeout_s: float = 10.0
    # No data frame for this long: reconnect even though pongs arrive (None: the feed's
    # stale_after_seconds). A lost subscription looks exactly like this.
    data_silence_s: float | None = None
    # Binance closes every connection after 24 h; reconnect ahead of it, overlapping the new connection.
    binance_max_lifetime_s: float = 23.5 * HOUR_S
    # After the replacement is up, the old connection is still read this long: Binance sends at most one
    # event per symbol per second, so anything sent to the old one before the switch is in by then.
    rotate_drain_s: float = 1.0
    # Liquidation events are written in batches: every flush_interval_s or flush_max_events events.
    # 5 ms keeps an event's way to its alert well under the 20 ms budget (bench.latency p99: 214 ms at
    # 0.2 s, 19 ms at 0.01 s, 10 ms at 0.005 s) while a cascade's events still share a transaction each.
    flush_interval_s: float = 0.005
    flush_max_events: int = 500
    # The largest websocket frame accepted (aiohttp's max_msg_size; a larger one ends the connection with
    # a "message too big" error). A Bybit cascade snapshot can be big, a runaway frame cannot be unbounded.
    # The FeedManager sets it from [feeds.limits] max_frame_mib.
    max_frame_bytes: int = 8 * 1024 * 1024
    # Pages one poll may fetch (catching up after an outage); backfill may fetch up to backfill_max_pages.
    poll_max_pages: int = 5
    backfill_max_pages: int = 200
    # A repeated failure is logged once, then summarised at most once per this interval.
    log_interval_s: float = 300.0
    # How often the FeedManager re-checks health states to announce changes (stale needs no event).
    health_check_s: float = 5.0
    # Scheduler jitter: this fraction of a job's interval, at most jitter_max_s.
    jitter_fraction: float = 0.1
    jitter_max_s: float = 5.0
    # OKX contract values are re-read this often (and when an unknown instrument shows up).
    okx_instruments_refresh_s: float = 6 * HOUR_S


@dataclass(frozen=True, slots=True)
class PollJob:
    """A REST poll the scheduler runs every ``interval_s`` seconds (never two at once)."""

    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]


class Stream(Protocol):
    """A long-lived websocket loop; ``run()`` returns only when cancelled."""

    name: str

    async def run(self) -> None:
        """Connect, read and reconnect until cancelled."""


class Feed(ABC):
    """One market-data source."""

    name: str

    async def backfill(self) -> None:
        """Fetch what is missing since the last stored data (default: nothing to backfill)."""
        return None

    @abstractmethod
    def jobs(self) -> list[PollJob]:
        """Return the REST pollers to schedule."""

    def streams(self) -> list[Stream]:
        """Return the websocket loops to run (default: none)."""
        return []

    async def aclose(self) -> None:
        """Flush buffers and release what the feed holds (default: nothing)."""
        return None

"""Read every enabled venue's instrument list at start and daily; cache it in SQLite for an offline start.

A venue whose list cannot be read keeps its cached list (said once in the log); a venue never read and
not reachable has no list, and its feeds then ask by the configured symbols as before (each symbol the
venue refuses is skipped, see ``feeds.poller.each_symbol``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import aiohttp

from feeds.base import NowMs, PollJob, Tuning
from feeds.clock import VenueClock
from feeds.config import FeedsConfig
from feeds.errors import FeedError
from feeds.http import HttpClient
from feeds.instrument_lists import (
    parse_binance_funding_info,
    parse_binance_futures,
    parse_binance_spot,
    parse_bybit,
    parse_gate,
    parse_hyperliquid_meta,
    parse_okx,
)
from feeds.instruments import Instrument, InstrumentRegistry, Kind
from feeds.logonce import FailureLog
from storage.rows import DAY_MS, InstrumentRow

log = logging.getLogger(__name__)

REFRESH_S = DAY_MS / 1000
# Bybit: 500 per page by default, at most 1000; more than 500 linear symbols exist (instrument.mdx).
BYBIT_PAGE_LIMIT = 1000
BYBIT_MAX_PAGES = 10
# Documented request weights: spot exchangeInfo 20; USD-M exchangeInfo 1, fundingInfo 0 (its own limit).
SPOT_EXCHANGE_INFO_WEIGHT = 20


class InstrumentCache(Protocol):
    """Where lists are kept between runs (``storage.repo.Repo`` is one)."""

    def save_instruments(self, venue: str, rows: Iterable[InstrumentRow]) -> int:
        """Replace one venue's cached list."""

    def instrument_rows(self, venue: str | None = None) -> list[InstrumentRow]:
        """Return cached instruments."""


def to_row(inst: Instrument, at: int) -> InstrumentRow:
    """Return the cache row of an instrument read at ``at``."""
    return InstrumentRow(
        inst.venue,
        inst.kind,
        inst.symbol,
        inst.base,
        inst.quote,
        inst.multiplier,
        inst.contract_size,
        inst.inverse,
        inst.funding_interval_h,
        inst.listed,
        inst.status,
        at,
    )


def from_row(row: InstrumentRow) -> Instrument:
    """Return the instrument a cache row holds."""
    kind: Kind = "spot" if row.kind == "spot" else "perp"
    return Instrument(
        row.venue,
        kind,
        row.symbol,
        row.base,
        row.quote,
        row.multiplier,
        row.contract_size,
        row.inverse,
        row.funding_interval_h,
        row.listed,
        row.status,
    )


def load_cached(
    cache: InstrumentCache, registry: InstrumentRegistry, venues: set[str] | None = None
) -> InstrumentRegistry:
    """Fill ``registry`` with the cached lists (of ``venues``, or all), each at the time it was read."""
    by_venue: dict[str, list[InstrumentRow]] = {}
    for row in cache.instrument_rows():
        by_venue.setdefault(row.venue, []).append(row)
    for venue, rows in by_venue.items():
        if venues is None or venue in venues:
            registry.replace(venue, [from_row(r) for r in rows], max(r.fetched_at for r in rows))
    return registry


def list_venues(config: FeedsConfig) -> set[str]:
    """Return the venues whose lists ``InstrumentLists`` reads with ``config`` (the keys of its fetchers).

    For a process that reads no list itself (a Discord cluster) and takes the cached ones of those venues.
    """
    sections = {
        "binance": config.binance_spot,
        "binance_futures": config.binance_futures,
        "bybit": config.bybit,
        "okx": config.okx,
        "gate": config.gate,
    }
    venues = {venue for venue, section in sections.items() if section.enabled}
    if hyperliquid_listed(config):
        venues.add("hyperliquid")
    return venues


def hyperliquid_listed(config: FeedsConfig) -> bool:
    """Tell whether Hyperliquid's list is read: its liquidation feed names its 1000-unit coins from it."""
    return config.hyperliquid.enabled


Fetch = Callable[[], Awaitable[list[Instrument]]]


class InstrumentLists:
    """Keep an ``InstrumentRegistry`` current from the venues, with the cache as its floor."""

    def __init__(
        self,
        config: FeedsConfig,
        session: aiohttp.ClientSession,
        now_ms: NowMs,
        failures: FailureLog,
        cache: InstrumentCache | None,
        tuning: Tuning,
        *,
        clock: VenueClock | None = None,
    ) -> None:
        self.config = config
        self.now_ms = now_ms
        self.failures = failures
        self.cache = cache
        self.registry = InstrumentRegistry()

        limits = config.limits

        def client(
            venue: str, base_url: str, timeout_s: float, server_time_field: str | None = None
        ) -> HttpClient:
            # The feeds' clock and decoding bounds (feeds.scheduler.build_feeds), with the lists' own body
            # cap: a list is the largest answer a venue sends, decoded off the loop above off_loop_kib.
            return HttpClient(
                session,
                venue,
                base_url,
                timeout_s=timeout_s,
                now_ms=now_ms,
                default_retry_after_429_s=tuning.default_retry_after_429_s,
                default_retry_after_418_s=tuning.default_retry_after_418_s,
                max_body_bytes=int(limits.max_list_body_mib * 1024 * 1024),
                off_loop_bytes=int(limits.off_loop_kib * 1024),
                clock=clock,
                server_time_field=server_time_field,
            )

        self.fetchers: dict[str, Fetch] = {}
        if config.binance_spot.enabled:
            spot_config = config.binance_spot
            # Binance's serverTime comes with exchangeInfo: a clock sample, as for the feeds.
            spot = client("binance_spot", spot_config.base_url, spot_config.timeout_seconds, "serverTime")
            self.fetchers["binance"] = lambda: self._binance_spot(spot)
        if config.binance_futures.enabled:
            fut = config.binance_futures
            futures = client("binance_futures", fut.rest_url, fut.timeout_seconds, "serverTime")
            self.fetchers["binance_futures"] = lambda: self._binance_futures(futures)
        if config.bybit.enabled:
            bybit = client("bybit", config.bybit.rest_url, config.bybit.timeout_seconds, "time")
            self.fetchers["bybit"] = lambda: self._bybit(bybit)
        if config.okx.enabled:
            okx = client("okx", config.okx.rest_url, config.okx.timeout_seconds)
            self.fetchers["okx"] = lambda: self._okx(okx)
        if config.gate.enabled:
            gate = client("gate", config.gate.rest_url, config.gate.timeout_seconds)
            self.fetchers["gate"] = lambda: self._gate(gate)
        if hyperliquid_listed(config):
            hl = config.hyperliquid
            hyperliquid = client("hyperliquid", hl.rest_url, hl.timeout_seconds)
            self.fetchers["hyperliquid"] = lambda: self._hyperliquid(hyperliquid)

    def load_cached(self) -> InstrumentRegistry:
        """Fill the registry from the cache (each enabled venue at the time its list was read)."""
        if self.cache is not None:
            load_cached(self.cache, self.registry, set(self.fetchers))
        return self.registry

    async def refresh(self) -> list[str]:
        """Read every venue's list now; return the venues read (the others keep what they had)."""
        results = await asyncio.gather(*(self._refresh(v, f) for v, f in self.fetchers.items()))
        return [venue for venue in results if venue is not None]

    async def _refresh(self, venue: str, fetch: Fetch) -> str | None:
        key = f"instruments.{venue}"
        try:
            instruments = await fetch()
        except FeedError as exc:
            cached = venue in self.registry.fetched_at
            self.failures.failure(
                key,
                f"{exc}; {'keeping the cached list' if cached else 'no list: symbols asked as configured'}",
            )
            return None
        now = self.now_ms()
        self.registry.replace(venue, instruments, now)
        if self.cache is not None:
            self.cache.save_instruments(venue, [to_row(i, now) for i in instruments])
        self.failures.success(key)
        log.info("instruments: %s lists %d instruments", venue, len(instruments))
        return venue

    def jobs(self) -> list[PollJob]:
        """Return the daily refresh."""

        async def run() -> None:
            await self.refresh()

        return [PollJob("instruments", REFRESH_S, run)]

    # --- per venue ------------------------------------------------------------------------------------------

    def _skipped(self, venue: str, reasons: list[str]) -> None:
        self.failures.skipped(f"instruments.{venue}:item", reasons)

    async def _binance_spot(self, http: HttpClient) -> list[Instrument]:
        payload = await http.get_json("/api/v3/exchangeInfo", None, weight=SPOT_EXCHANGE_INFO_WEIGHT)
        parsed = parse_binance_spot(payload)
        self._skipped("binance", parsed.skipped)
        return parsed.rows

    async def _binance_futures(self, http: HttpClient) -> list[Instrument]:
        info = await http.get_json("/fapi/v1/exchangeInfo", None, weight=1)
        try:
            hours = parse_binance_funding_info(await http.get_json("/fapi/v1/fundingInfo", None, weight=1))
        except FeedError as exc:
            # Without it every perpetual reads as 8 h; worth a line, not the whole list.
            self.failures.failure("instruments.binance_futures.fundingInfo", str(exc))
            hours = {}
        parsed = parse_binance_futures(info, hours)
        self._skipped("binance_futures", parsed.skipped)
        return parsed.rows

    async def _bybit(self, http: HttpClient) -> list[Instrument]:
        found: list[Instrument] = []
        cursor = ""
        for _ in range(BYBIT_MAX_PAGES):
            params: dict[str, str | int] = {"category": "linear", "limit": BYBIT_PAGE_LIMIT}
            if cursor:
                params["cursor"] = cursor
            parsed, cursor = parse_bybit(await http.get_json("/v5/market/instruments-info", params), "linear")
            self._skipped("bybit", parsed.skipped)
            found += parsed.rows
            if not cursor:
                break
        return found

    async def _okx(self, http: HttpClient) -> list[Instrument]:
        parsed = parse_okx(await http.get_json("/api/v5/public/instruments", {"instType": "SWAP"}))
        self._skipped("okx", parsed.skipped)
        return parsed.rows

    async def _gate(self, http: HttpClient) -> list[Instrument]:
        parsed = parse_gate(await http.get_json("/api/v4/futures/usdt/contracts", None))
        self._skipped("gate", parsed.skipped)
        return parsed.rows

    async def _hyperliquid(self, http: HttpClient) -> list[Instrument]:
        # "meta" weighs 20 of the IP's 1,200 a minute, like every info request but a few.
        parsed = parse_hyperliquid_meta(await http.post_json("/info", {"type": "meta"}, weight=20))
        self._skipped("hyperliquid", parsed.skipped)
        return parsed.rows

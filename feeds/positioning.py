"""Positioning from keyless public endpoints: long/short ratios, implied volatility, Hyperliquid OI/funding.

- Binance USD-M ``/futures/data/``: ``globalLongShortAccountRatio`` (all accounts), ``topLongShortAccount
  Ratio`` and ``topLongShortPositionRatio`` (top traders by margin), ``takerlongshortRatio`` (taker buy /
  sell volume). Per symbol and period; Binance keeps the latest 30 days, at most 500 points a request.
- Bybit v5 ``/v5/market/account-ratio`` (category linear): ``buyRatio``/``sellRatio`` of holders; periods
  are spelled ``5min``/``15min``/``30min``/``1h``.
- Deribit ``/api/v2/public/get_volatility_index_data``: DVOL candles ``[ts, open, high, low, close]``
  (annualised %), for BTC and ETH, resolution in seconds.
- OKX ``/api/v5/public/open-interest?instType=SWAP`` (every swap in one answer: ``oiCcy`` coins, one
  side, ``oiUsd``) and ``/api/v5/public/funding-rate?instId=`` per watched swap (``fundingRate`` is the
  rate of the upcoming settlement at ``fundingTime``, stored as an estimate).
- Order-book depth: Binance ``/fapi/v1/depth`` (1000 levels, weight 20) and Bybit ``/v5/market/orderbook``
  (linear: at most 200 levels) snapshots, summed in USD within ±0.5/1/2 % of the mid. A snapshot of a few
  hundred levels often ends well inside ±0.5 % on BTC (a 0.1 tick): such a band is stored as incomplete
  (what the snapshot holds, a lower bound) and said so, never extrapolated.
- Hyperliquid ``POST /info {"type": "metaAndAssetCtxs"}``: every perpetual's ``openInterest`` (coins, one
  side), ``markPx`` and ``funding`` (the current hourly rate), in the order of ``universe``. Stored as a
  funding estimate and an open-interest point at the poll time (the answer carries no time).

- Gate tickers, Deribit book summaries, OKX rubik ratios and Hyperliquid's predicted funding: parsed in
  ``feeds.positioning_venues`` (what each venue documents is said there).

Every row names its venue (``source``), so the aggregated figures (``detectors.positioning``) can say which
venues they sum and which drove a move.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from detectors.base import short_symbol
from feeds.backoff import Backoff
from feeds.base import Feed, PollJob
from feeds.config import PositioningFeedConfig
from feeds.context import FeedContext
from feeds.errors import ErrorKind, FeedError, PayloadError
from feeds.http import HttpClient, WeightBudget
from feeds.hyperliquid_names import per_coin, symbol_of, watched_by_coin
from feeds.instrument_lists import parse_gate
from feeds.instruments import Instrument, VenueNames
from feeds.okx import okx_data
from feeds.parse import BadItem, Parsed, envelope, items_list, num, parse_items, text, ts_ms
from feeds.poller import Poller, each_symbol
from feeds.positioning_venues import (
    OKX_RUBIK_PERIODS,
    parse_deribit_book_summary,
    parse_gate_tickers,
    parse_okx_long_short,
    parse_okx_taker_volume,
    parse_predicted_fundings,
)
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    DepthBand,
    Funding,
    ImpliedVol,
    LongShort,
    LongShortMetric,
    OpenInterest,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

OKX_RUBIK_PATHS: dict[LongShortMetric, str] = {
    "accounts": "/api/v5/rubik/stat/contracts/long-short-account-ratio",
    "taker_volume": "/api/v5/rubik/stat/taker-volume",
}
BINANCE_RATIOS: dict[LongShortMetric, str] = {
    "accounts": "/futures/data/globalLongShortAccountRatio",
    "top_accounts": "/futures/data/topLongShortAccountRatio",
    "top_positions": "/futures/data/topLongShortPositionRatio",
    "taker_volume": "/futures/data/takerlongshortRatio",
}
BYBIT_PERIODS = {"5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h"}
PERIOD_MS = {"5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS, "30m": 30 * MINUTE_MS, "1h": HOUR_MS}
# Binance answers at most 500 points a request and keeps 30 days; Bybit 500 a page.
MAX_POINTS = 500
DVOL_CURRENCIES = ("BTC", "ETH")
# Binance's /futures/data endpoints allow 1000 requests per 5 minutes per IP (their docs: "IP rate limit
# 1000 requests/5min"), counted apart from fapi's request weight: the feed keeps under 900.
RATIO_REQUESTS_PER_5_MIN = 900


# OKX rubik: "5 requests per 2 seconds", per IP, for each trading-statistics endpoint.
OKX_RUBIK_REQUESTS, OKX_RUBIK_WINDOW_S = 5, 2.0
GATE_CONTRACTS_PATH = "/api/v4/futures/usdt/contracts"
GATE_TICKERS_PATH = "/api/v4/futures/usdt/tickers"
# Gate's contract list (coins per contract) changes when a contract is listed: read again daily.
GATE_CONTRACTS_MAX_AGE_MS = DAY_MS


class Pacer:
    """At most ``limit`` requests in any ``window_s`` seconds: a request past it waits for its turn.

    OKX's rubik endpoints allow 5 requests per 2 s; a poll of ten coins needs 20, so it is spread out
    rather than refused halfway (which would lose the readings already fetched).
    """

    def __init__(self, limit: int, window_s: float, clock: Any = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.sent: deque[float] = deque()

    async def turn(self) -> None:
        """Wait until one more request fits in the window, and count it."""
        while True:
            now = self.clock()
            while self.sent and self.sent[0] <= now - self.window_s:
                self.sent.popleft()
            if len(self.sent) < self.limit:
                self.sent.append(now)
                return
            await asyncio.sleep(self.sent[0] + self.window_s - now)


class RequestCount(WeightBudget):
    """A budget of requests per window that the venue does not report back (no weight header to trust)."""

    def observe(self, header: str | None) -> None:
        """Ignore the fapi weight header: it counts another limit than this one."""
        return None


# Hyperliquid settles funding every hour (docs: "Funding is paid every hour").
HYPERLIQUID_INTERVAL_H = 1.0


def parse_binance_ratio(payload: Any, symbol: str, metric: LongShortMetric, period: str) -> Parsed[LongShort]:
    """Parse a Binance ``/futures/data`` ratio answer (a list; ``timestamp`` a number or digit string)."""

    def one(item: Any) -> LongShort:
        ts = ts_ms(item, "timestamp")
        if metric == "taker_volume":
            buy, sell = num(item, "buyVol", non_negative=True), num(item, "sellVol", non_negative=True)
            ratio = num(item, "buySellRatio", positive=True)
            return LongShort(
                symbol, ts, "binance", metric, period, ratio, buy / (buy + sell) if buy + sell else None
            )
        ratio = num(item, "longShortRatio", positive=True)
        # The top-trader position ratio names its parts longPosition/shortPosition in some versions of the
        # docs and longAccount/shortAccount in the answer; either is the long share.
        long_key = "longAccount" if "longAccount" in item else "longPosition"
        return LongShort(symbol, ts, "binance", metric, period, ratio, num(item, long_key, non_negative=True))

    return parse_items(items_list(payload, f"binance {metric}"), one)


def parse_bybit_ratio(payload: Any, symbol: str, period: str) -> Parsed[LongShort]:
    """Parse Bybit ``/v5/market/account-ratio`` (envelope retCode/result.list of buyRatio/sellRatio)."""
    code = envelope(payload, "retCode", "bybit account-ratio")
    if code != 0:
        message = str(payload.get("retMsg"))[:80]
        kind: ErrorKind = "unknown_symbol" if code == 10001 and "symbol" in message.lower() else "api"
        raise FeedError(kind, f"bybit account-ratio: retCode {code} ({message})")
    result = envelope(payload, "result", "bybit account-ratio")
    items = items_list(envelope(result, "list", "bybit account-ratio result"), "bybit account-ratio list")

    def one(item: Any) -> LongShort:
        buy, sell = num(item, "buyRatio", non_negative=True), num(item, "sellRatio", positive=True)
        return LongShort(symbol, ts_ms(item, "timestamp"), "bybit", "accounts", period, buy / sell, buy)

    return parse_items(items, one)


def parse_dvol(payload: Any, currency: str, resolution: str) -> Parsed[ImpliedVol]:
    """Parse Deribit ``get_volatility_index_data`` (``result.data``: [ts, open, high, low, close])."""
    if isinstance(payload, dict) and "error" in payload:
        error = payload["error"]
        raise FeedError("api", f"deribit volatility index: {str(error)[:120]}")
    result = envelope(payload, "result", "deribit volatility index")
    rows = items_list(envelope(result, "data", "deribit volatility index result"), "deribit dvol data")

    def one(item: Any) -> ImpliedVol:
        if not isinstance(item, list) or len(item) != 5:
            raise BadItem(f"candle is not [ts, open, high, low, close]: {str(item)[:40]}")
        values = {"ts": item[0], "open": item[1], "high": item[2], "low": item[3], "close": item[4]}
        o, h, lo, c = (num(values, k, positive=True) for k in ("open", "high", "low", "close"))
        return ImpliedVol(currency, ts_ms(values, "ts"), "deribit", resolution, o, h, lo, c)

    return parse_items(rows, one)


def parse_okx_open_interest(payload: Any, watched: dict[str, str]) -> Parsed[OpenInterest]:
    """Parse OKX open-interest of every swap for the watched ones (instId -> canonical symbol)."""
    items = okx_data(payload, "okx open-interest")

    def one(item: Any) -> OpenInterest | None:
        symbol = watched.get(text(item, "instId"))
        if symbol is None:
            return None
        coins = num(item, "oiCcy", non_negative=True)
        usd = num(item, "oiUsd", non_negative=True)
        return OpenInterest(symbol, ts_ms(item, "ts"), "okx", coins, usd)

    return parse_items(items, one)


def parse_okx_funding(payload: Any, symbol: str) -> Parsed[Funding]:
    """Parse OKX funding-rate: the upcoming settlement's rate, an estimate at the answer's ``ts``."""
    items = okx_data(payload, "okx funding-rate")

    def one(item: Any) -> Funding:
        upcoming = ts_ms(item, "fundingTime")
        return Funding(symbol, ts_ms(item, "ts"), "okx", num(item, "fundingRate"), None, upcoming, False)

    return parse_items(items, one)


DEPTH_BANDS_BP = (50, 100, 200)
BINANCE_DEPTH_LEVELS = 1000
BYBIT_DEPTH_LEVELS = 200


def levels(rows: Any, what: str) -> list[tuple[float, float]]:
    """Return [(price, size)] of a book side given as [["price", "size"], ...]."""
    found = []
    for row in items_list(rows, what):
        if not isinstance(row, list) or len(row) < 2:
            raise PayloadError(f"{what}: level is not [price, size]: {str(row)[:40]}")
        values = {"price": row[0], "size": row[1]}
        found.append((num(values, "price", positive=True), num(values, "size", non_negative=True)))
    return found


def depth_bands(
    symbol: str, ts: int, source: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]
) -> list[DepthBand]:
    """Sum each side within every band of the mid price, in USD (price x base size), saying if complete."""
    if not bids or not asks:
        raise PayloadError(f"{source} depth of {symbol}: an empty side")
    mid = (max(p for p, _ in bids) + min(p for p, _ in asks)) / 2
    lowest_bid, highest_ask = min(p for p, _ in bids), max(p for p, _ in asks)
    rows = []
    for bp in DEPTH_BANDS_BP:
        low, high = mid * (1 - bp / 10_000), mid * (1 + bp / 10_000)
        bid_usd = sum(p * q for p, q in bids if p >= low)
        ask_usd = sum(p * q for p, q in asks if p <= high)
        rows.append(DepthBand(symbol, ts, source, bp, bid_usd, ask_usd, lowest_bid < low, highest_ask > high))
    return rows


def parse_binance_depth(payload: Any, symbol: str) -> list[DepthBand]:
    """Parse ``/fapi/v1/depth`` (bids/asks of [price, base qty], ``T`` the transaction time)."""
    bids = levels(envelope(payload, "bids", "binance depth"), "binance depth bids")
    asks = levels(envelope(payload, "asks", "binance depth"), "binance depth asks")
    try:
        ts = ts_ms(payload, "T")
    except BadItem as exc:
        raise PayloadError(f"binance depth: {exc}") from None
    return depth_bands(symbol, ts, "binance", bids, asks)


def parse_bybit_depth(payload: Any, symbol: str) -> list[DepthBand]:
    """Parse ``/v5/market/orderbook`` (``result.b``/``result.a`` of [price, size], ``result.ts``)."""
    code = envelope(payload, "retCode", "bybit orderbook")
    if code != 0:
        message = str(payload.get("retMsg"))[:80]
        kind: ErrorKind = "unknown_symbol" if code == 10001 and "symbol" in message.lower() else "api"
        raise FeedError(kind, f"bybit orderbook: retCode {code} ({message})")
    result = envelope(payload, "result", "bybit orderbook")
    bids = levels(envelope(result, "b", "bybit orderbook"), "bybit orderbook bids")
    asks = levels(envelope(result, "a", "bybit orderbook"), "bybit orderbook asks")
    try:
        ts = ts_ms(result, "ts")
    except BadItem as exc:
        raise PayloadError(f"bybit orderbook: {exc}") from None
    return depth_bands(symbol, ts, "bybit", bids, asks)


def parse_hyperliquid(
    payload: Any, coins: dict[str, str], at: int
) -> tuple[Parsed[Funding], Parsed[OpenInterest]]:
    """Parse ``metaAndAssetCtxs`` ([meta, ctxs]) for the watched coins (coin -> canonical symbol).

    A 1000-unit coin (``kPEPE``) counts for its coin (PEPE): mark price per coin, open interest in coins.
    """
    pair = items_list(payload, "hyperliquid metaAndAssetCtxs")
    if len(pair) != 2:
        raise PayloadError(f"hyperliquid metaAndAssetCtxs: expected [meta, ctxs], got {len(pair)} items")
    universe = items_list(envelope(pair[0], "universe", "hyperliquid meta"), "hyperliquid universe")
    contexts = items_list(pair[1], "hyperliquid asset contexts")
    if len(universe) != len(contexts):
        raise PayloadError(f"hyperliquid: {len(universe)} coins but {len(contexts)} asset contexts")
    funding: Parsed[Funding] = Parsed()
    interest: Parsed[OpenInterest] = Parsed()
    for meta, ctx in zip(universe, contexts, strict=True):
        try:
            name = text(meta, "name")
            symbol = symbol_of(name, coins)
            if symbol is None:
                continue
            mark, coins_open = per_coin(
                name, num(ctx, "markPx", positive=True), num(ctx, "openInterest", non_negative=True)
            )
            rate = num(ctx, "funding")
        except BadItem as exc:
            funding.skipped.append(str(exc))
            continue
        funding.rows.append(Funding(symbol, at, "hyperliquid", rate, mark, None, False))
        interest.rows.append(OpenInterest(symbol, at, "hyperliquid", coins_open, coins_open * mark))
    return funding, interest


class PositioningFeed(Feed):
    """Long/short ratios (Binance, Bybit), DVOL (Deribit), Hyperliquid open interest and funding."""

    name = "positioning"

    def __init__(
        self, config: PositioningFeedConfig, clients: dict[str, HttpClient], context: FeedContext
    ) -> None:
        self.config = config
        self.clients = clients
        self.context = context
        self.symbols = list(context.symbols)
        # Each venue's own name for a market (1000PEPEUSDT on Binance); rows keep the canonical one.
        self.binance_names = VenueNames("binance_futures", self.symbols, context.instruments, "perp")
        self.bybit_names = VenueNames("bybit", self.symbols, context.instruments, "perp")
        registry, tuning = context.registry, context.tuning
        stale = config.stale_after_seconds
        self.pollers: list[tuple[Poller, float]] = []

        def poller(name: str, kinds: set[str], sync: Any, symbols: Sequence[str]) -> None:
            health = registry.register(f"{self.name}.{name}", kinds, list(symbols), stale_after_s=stale)
            backoff = Backoff(tuning.poll_backoff_base_s, tuning.poll_backoff_cap_s)
            made = Poller(f"{self.name}.{name}", sync, health, context.failures, context.now_ms, backoff)
            self.pollers.append((made, config.poll_seconds))

        if config.long_short:
            poller("long_short", {"long_short"}, self.poll_long_short, self.symbols)
        self.currencies = [c for c in DVOL_CURRENCIES if c in {short_symbol(s) for s in self.symbols}]
        if config.implied_vol and self.currencies:
            poller("dvol", {"implied_vol"}, self.poll_dvol, [f"{c}USDT" for c in self.currencies])
        if config.hyperliquid:
            poller("hyperliquid", {"funding", "open_interest"}, self.poll_hyperliquid, self.symbols)
        if config.okx:
            poller("okx", {"funding", "open_interest"}, self.poll_okx, self.symbols)
        if config.depth:
            poller("depth", {"depth"}, self.poll_depth, self.symbols)
        self.coins = {short_symbol(s): s for s in self.symbols if s.endswith("USDT")}
        if config.okx_rubik:
            self.rubik_pacers = {
                path: Pacer(OKX_RUBIK_REQUESTS, OKX_RUBIK_WINDOW_S) for path in OKX_RUBIK_PATHS.values()
            }
            poller("okx_rubik", {"long_short"}, self.poll_okx_rubik, list(self.coins.values()))
        self.gate_contracts: dict[str, Instrument] = {}
        self.gate_contracts_at: int | None = None
        if config.gate:
            poller("gate", {"funding", "open_interest"}, self.poll_gate, self.symbols)
        if config.deribit_book and self.currencies:
            books = [f"{c}USDT" for c in self.currencies]
            poller("deribit_book", {"funding", "open_interest"}, self.poll_deribit_book, books)
        if config.hyperliquid_predicted:
            poller("hyperliquid_predicted", {"predicted_funding"}, self.poll_predicted, self.symbols)

    def jobs(self) -> list[PollJob]:
        """Return the positioning polls."""
        return [PollJob(p.name, every, p.run) for p, every in self.pollers]

    async def backfill(self) -> None:
        """Fetch the ratio and DVOL history Binance, OKX and Deribit keep (30 days), hourly."""
        now = self.context.now_ms()
        start = now - int(self.config.backfill_days * DAY_MS)
        if start >= now:
            return
        for poll, _ in self.pollers:
            if poll.name.endswith("long_short"):
                await poll.run(lambda: self._ratios(start, now, "1h"))
            elif poll.name.endswith("dvol"):
                await poll.run(lambda: self._dvol(start, now, "3600", "1h"))
            elif poll.name.endswith("okx_rubik"):
                # OKX keeps 30 days of its hourly readings (and two days of 5-minute ones).
                await poll.run(lambda: self._okx_rubik(max(start, now - 30 * DAY_MS), now, "1H"))

    # -- long/short ------------------------------------------------------------------------------------
    async def poll_long_short(self) -> int | None:
        """Store the newest ratio readings of every watched symbol."""
        now = self.context.now_ms()
        return await self._ratios(now - 6 * PERIOD_MS[self.config.period], now, self.config.period)

    async def _ratios(self, start: int, end: int, period: str) -> int | None:
        async def binance(symbol: str) -> list[LongShort]:
            rows: list[LongShort] = []
            for metric, path in BINANCE_RATIOS.items():
                rows += await self._binance_ratio(path, symbol, metric, period, start, end)
            return rows

        async def bybit(symbol: str) -> list[LongShort]:
            return await self._bybit_ratio(symbol, period, start, end)

        rows: list[LongShort] = []
        # One venue's trouble with a symbol never costs the other venue's readings of it.
        for venue, call in (("binance", binance), ("bybit", bybit)):
            results = await self._each(
                self.symbols, call, f"{self.name}.long_short.{venue}", venue=f"{self.name}.{venue}"
            )
            rows += [row for batch in results for row in batch]
        self.context.ingest.long_short(rows)
        return max((r.ts for r in rows), default=None)

    async def _binance_ratio(
        self, path: str, symbol: str, metric: LongShortMetric, period: str, start: int, end: int
    ) -> list[LongShort]:
        rows: list[LongShort] = []
        step = PERIOD_MS[period] * MAX_POINTS
        for page in range(start, end, step):
            params: dict[str, str | int] = {
                "symbol": self.binance_names.venue_symbol(symbol),
                "period": period,
                "limit": MAX_POINTS,
                "startTime": page,
                "endTime": min(end, page + step - 1),
            }
            payload = await self.clients["binance"].get_json(path, params, weight=1)
            parsed = parse_binance_ratio(payload, symbol, metric, period)
            self.context.failures.skipped(f"{self.name}.long_short:item", parsed.skipped)
            rows += parsed.rows
        return rows

    async def _bybit_ratio(self, symbol: str, period: str, start: int, end: int) -> list[LongShort]:
        client = self.clients.get("bybit")
        if client is None:
            return []
        params: dict[str, str | int] = {
            "category": "linear",
            "symbol": self.bybit_names.venue_symbol(symbol),
            "period": BYBIT_PERIODS[period],
            "startTime": start,
            "endTime": end,
            "limit": MAX_POINTS,
        }
        try:
            payload = await client.get_json("/v5/market/account-ratio", params)
        except FeedError as exc:
            if exc.kind != "unknown_symbol":
                raise
            return []  # listed on Binance, not on Bybit: the Binance readings still count
        parsed = parse_bybit_ratio(payload, symbol, period)
        self.context.failures.skipped(f"{self.name}.long_short:item", parsed.skipped)
        return parsed.rows

    async def _each(
        self, symbols: Sequence[str], call: Callable[[str], Awaitable[T]], key: str, venue: str | None = None
    ) -> list[T]:
        """Run ``call`` per symbol; failures are logged under ``key``, rejections counted under ``venue``.

        ``venue`` defaults to ``key``.
        """
        rejections = self.context.registry.rejections
        return await each_symbol(symbols, call, self.context.failures, key, rejections, venue or key)

    async def _each_currency(self, poll: str, call: Any) -> list[Any]:
        """Run ``call`` per watched Deribit currency (as BTCUSDT, ETHUSDT); one failing keeps the other."""
        return await self._each([f"{c}USDT" for c in self.currencies], call, f"{self.name}.{poll}")

    # -- DVOL ------------------------------------------------------------------------------------------
    async def poll_dvol(self) -> int | None:
        """Store the last hour of DVOL at one-minute resolution for BTC and ETH."""
        now = self.context.now_ms()
        return await self._dvol(now - HOUR_MS, now, "60", "1m")

    async def _dvol(self, start: int, end: int, resolution: str, name: str) -> int | None:
        async def one(symbol: str) -> list[ImpliedVol]:
            currency = short_symbol(symbol)
            params: dict[str, str | int] = {
                "currency": currency,
                "start_timestamp": start,
                "end_timestamp": end,
                "resolution": resolution,
            }
            payload = await self.clients["deribit"].get_json(
                "/api/v2/public/get_volatility_index_data", params
            )
            parsed = parse_dvol(payload, currency, name)
            self.context.failures.skipped(f"{self.name}.dvol:item", parsed.skipped)
            return parsed.rows

        rows = [row for batch in await self._each_currency("dvol", one) for row in batch]
        self.context.ingest.implied_vol(rows)
        return max((r.ts for r in rows), default=None)

    # -- order-book depth ------------------------------------------------------------------------------
    async def poll_depth(self) -> int | None:
        """Store each watched market's Binance and Bybit book summed within the bands."""

        async def binance(symbol: str) -> list[DepthBand]:
            params: dict[str, str | int] = {
                "symbol": self.binance_names.venue_symbol(symbol),
                "limit": BINANCE_DEPTH_LEVELS,
            }
            return parse_binance_depth(
                await self.clients["binance"].get_json("/fapi/v1/depth", params), symbol
            )

        async def bybit(symbol: str) -> list[DepthBand]:
            params: dict[str, str | int] = {
                "category": "linear",
                "symbol": self.bybit_names.venue_symbol(symbol),
                "limit": BYBIT_DEPTH_LEVELS,
            }
            return parse_bybit_depth(
                await self.clients["bybit"].get_json("/v5/market/orderbook", params), symbol
            )

        rows: list[DepthBand] = []
        for venue, call in (("binance", binance), ("bybit", bybit)):
            results = await self._each(self.symbols, call, f"{self.name}.depth.{venue}")
            rows += [row for batch in results for row in batch]
        self.context.ingest.depth(rows)
        return max((r.ts for r in rows), default=None)

    # -- OKX -----------------------------------------------------------------------------------------
    async def poll_okx(self) -> int | None:
        """Store every watched swap's open interest (one answer for all) and upcoming funding rate."""
        swaps = {f"{short_symbol(s)}-USDT-SWAP": s for s in self.symbols if s.endswith("USDT")}
        client = self.clients["okx"]
        payload = await client.get_json("/api/v5/public/open-interest", {"instType": "SWAP"})
        interest = parse_okx_open_interest(payload, swaps)
        self.context.failures.skipped(f"{self.name}.okx:item", interest.skipped)

        async def funding(symbol: str) -> list[Funding]:
            inst = f"{short_symbol(symbol)}-USDT-SWAP"
            parsed = parse_okx_funding(
                await client.get_json("/api/v5/public/funding-rate", {"instId": inst}), symbol
            )
            self.context.failures.skipped(f"{self.name}.okx:item", parsed.skipped)
            return parsed.rows

        results = await self._each(list(swaps.values()), funding, f"{self.name}.okx")
        rates = [row for rows in results for row in rows]
        self.context.ingest.open_interest(interest.rows)
        self.context.ingest.funding(rates)
        return max((r.ts for r in interest.rows), default=None)

    # -- Hyperliquid -----------------------------------------------------------------------------------
    async def poll_hyperliquid(self) -> int | None:
        """Store every watched coin's open interest (USD at the mark price) and hourly funding."""
        at = self.context.now_ms()
        payload = await self.clients["hyperliquid"].post_json("/info", {"type": "metaAndAssetCtxs"})
        funding, interest = parse_hyperliquid(payload, watched_by_coin(self.symbols), at)
        self.context.failures.skipped(f"{self.name}.hyperliquid:item", funding.skipped)
        self.context.ingest.funding(funding.rows)
        self.context.ingest.open_interest(interest.rows)
        return at if funding.rows else None

    # -- OKX rubik -------------------------------------------------------------------------------------
    async def poll_okx_rubik(self) -> int | None:
        """Store the newest OKX accounts long/short and taker buy/sell readings of every watched coin."""
        now = self.context.now_ms()
        period = OKX_RUBIK_PERIODS[self.config.period]
        step = PERIOD_MS["1h"] if period == "1H" else PERIOD_MS["5m"]
        return await self._okx_rubik(now - 6 * step, now, period)

    async def _okx_rubik(self, start: int, end: int, period: str) -> int | None:
        client = self.clients["okx"]

        async def one(symbol: str) -> list[LongShort]:
            ccy = short_symbol(symbol)
            rows: list[LongShort] = []
            for metric, path in OKX_RUBIK_PATHS.items():
                params: dict[str, str | int] = {"ccy": ccy, "period": period, "begin": start, "end": end}
                if metric == "taker_volume":
                    params["instType"] = "CONTRACTS"
                await self.rubik_pacers[path].turn()
                payload = await client.get_json(path, params)
                parse = parse_okx_long_short if metric == "accounts" else parse_okx_taker_volume
                parsed = parse(payload, symbol, period)
                self.context.failures.skipped(f"{self.name}.okx_rubik:item", parsed.skipped)
                rows += parsed.rows
            return rows

        results = await self._each(list(self.coins.values()), one, f"{self.name}.okx_rubik")
        rows = [row for batch in results for row in batch]
        self.context.ingest.long_short(rows)
        return max((r.ts for r in rows), default=None)

    # -- Gate ------------------------------------------------------------------------------------------
    async def _gate_watched(self) -> dict[str, Instrument]:
        """Return the watched Gate contracts by name, reading Gate's contract list once a day."""
        now = self.context.now_ms()
        if self.gate_contracts_at is None or now - self.gate_contracts_at >= GATE_CONTRACTS_MAX_AGE_MS:
            listed = parse_gate(await self.clients["gate"].get_json(GATE_CONTRACTS_PATH, None))
            self.context.failures.skipped(f"{self.name}.gate:contract", listed.skipped)
            watched = set(self.symbols)
            self.gate_contracts = {i.symbol: i for i in listed.rows if i.canonical in watched and i.listed}
            self.gate_contracts_at = now
        return self.gate_contracts

    async def poll_gate(self) -> int | None:
        """Store every watched Gate contract's open interest (coins and USD) and running funding rate."""
        watched = await self._gate_watched()
        at = self.context.now_ms()
        payload = await self.clients["gate"].get_json(GATE_TICKERS_PATH, None)
        funding, interest = parse_gate_tickers(payload, watched, at)
        self.context.failures.skipped(f"{self.name}.gate:item", funding.skipped)
        self.context.ingest.funding(funding.rows)
        self.context.ingest.open_interest(interest.rows)
        return at if funding.rows else None

    # -- Deribit book summaries ------------------------------------------------------------------------
    async def poll_deribit_book(self) -> int | None:
        """Store the BTC and ETH perpetuals' open interest (USD, one side) and 8-hour funding."""

        async def one(symbol: str) -> tuple[list[Funding], list[OpenInterest]]:
            currency = short_symbol(symbol)
            params: dict[str, str | int] = {"currency": currency, "kind": "future"}
            payload = await self.clients["deribit"].get_json(
                "/api/v2/public/get_book_summary_by_currency", params
            )
            rates, oi = parse_deribit_book_summary(payload, {f"{currency}-PERPETUAL": symbol})
            self.context.failures.skipped(f"{self.name}.deribit_book:item", rates.skipped)
            return rates.rows, oi.rows

        results = await self._each_currency("deribit_book", one)
        funding = [row for rates, _ in results for row in rates]
        interest = [row for _, oi in results for row in oi]
        self.context.ingest.funding(funding)
        self.context.ingest.open_interest(interest)
        return max((r.ts for r in interest), default=None)

    # -- Hyperliquid predicted funding -----------------------------------------------------------------
    async def poll_predicted(self) -> int | None:
        """Store Hyperliquid's forecast of the next funding rate on itself, Binance and Bybit."""
        at = self.context.now_ms()
        payload = await self.clients["hyperliquid"].post_json("/info", {"type": "predictedFundings"})
        parsed = parse_predicted_fundings(payload, self.coins, at)
        self.context.failures.skipped(f"{self.name}.hyperliquid_predicted:item", parsed.skipped)
        self.context.ingest.predicted_funding(parsed.rows)
        return at if parsed.rows else None

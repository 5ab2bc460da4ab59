"""The market queries (/price, /liquidations, /funding, /oi, /fng) and the views they return."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.errors import UserError
from bot.parsing import format_duration
from bot.services.base import ServiceBase
from bot.services.derivatives import (
    FundingView,
    OpenInterestView,
    funding_view,
    open_interest_view,
)
from detectors.base import pct_change
from detectors.positioning import VenueFigure, aggregate, one_side
from feeds.liq_coverage import coverage, source_of_feed
from storage.rows import DAY_MS, HOUR_MS, INTERVAL_MS, OpenInterest

PREDICTED_FRESH_MS = 2 * HOUR_MS

# Binance, Bybit and OKX settle USD-M perpetual funding every 8 hours at 00:00, 08:00 and 16:00 UTC.
FUNDING_INTERVAL_MS = 8 * HOUR_MS
# Liquidation windows people may ask about: from a few minutes to the week the "usual" is measured over.
MIN_WINDOW_S = 5 * 60
MAX_WINDOW_S = 7 * 86_400
USUAL_DAYS = 7
# A price older than this is shown as stale (the feed watchdog has its own, configurable, thresholds).
STALE_PRICE_S = 15 * 60


@dataclass(frozen=True, slots=True)
class PriceView:
    """Last price of a symbol with its 24-hour range and where it came from."""

    symbol: str
    price: float
    at: int
    change_24h_pct: float | None
    high_24h: float
    low_24h: float
    volume_24h: float
    quote_volume_24h: float | None
    source: str
    interval: str
    age_s: float
    stale: bool


@dataclass(frozen=True, slots=True)
class SourceLiquidations:
    """Liquidated USD of one exchange/source by position side."""

    source: str
    long_usd: float
    short_usd: float


@dataclass(frozen=True, slots=True)
class VenueCoverage:
    """One enabled liquidation venue: what its number means and whether its feed delivers now."""

    source: str
    name: str
    label: str  # exact, lower bound, partial
    why: str
    state: str  # the feed's state: ok, degraded, stale, ...

    @property
    def down(self) -> bool:
        """Tell whether the venue's feed delivers nothing now (its numbers are missing from the total).

        Stale, or standing by because the venue refuses this location (HTTP 451): either way its
        liquidations are not in the total.
        """
        return self.state in ("stale", "standby")


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """One large liquidation, or one large hourly bucket for sources that only publish totals."""

    symbol: str
    ts: int
    source: str
    side: str
    usd: float
    price: float | None
    aggregated: bool


@dataclass(frozen=True, slots=True)
class LiquidationsView:
    """Liquidations over a window, by side and source, compared with the usual for such a window."""

    symbol: str | None
    window_s: int
    start: int
    end: int
    long_usd: float
    short_usd: float
    by_source: tuple[SourceLiquidations, ...]
    largest: tuple[LiquidationEvent, ...]
    usual_usd: float | None
    usual_days: int
    latest_at: int | None
    # Every enabled liquidation venue, in the order the feeds run (empty without live feeds: replay).
    venues: tuple[VenueCoverage, ...] = ()

    @property
    def without(self) -> tuple[str, ...]:
        """Return the venues whose feed is down: the total is without them."""
        return tuple(v.name for v in self.venues if v.down)

    def coverage_of(self, source: str) -> VenueCoverage | None:
        """Return an enabled venue's coverage by its source name."""
        return next((v for v in self.venues if v.source == source), None)

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd

    @property
    def ratio_to_usual(self) -> float | None:
        """Return the total as a multiple of the usual window, or None without a baseline."""
        if self.usual_usd is None or self.usual_usd <= 0:
            return None
        return self.total_usd / self.usual_usd


@dataclass(frozen=True, slots=True)
class FearGreedSince:
    """The last earlier day the index was at least as high (or as low) as today."""

    date: str | None  # None: never, within the stored history
    value: int | None
    days: int  # days since then (or the days of history searched)


@dataclass(frozen=True, slots=True)
class FearGreedView:
    """Today's Fear & Greed value, its published classification and how it compares."""

    value: int
    classification: str | None
    date: str
    at: int
    yesterday: int | None
    last_week: int | None
    highest_since: FearGreedSince
    lowest_since: FearGreedSince
    source: str

    @property
    def change_1d(self) -> int | None:
        """Return the change since yesterday."""
        return None if self.yesterday is None else self.value - self.yesterday

    @property
    def change_7d(self) -> int | None:
        """Return the change since a week ago."""
        return None if self.last_week is None else self.value - self.last_week


def next_funding_time(now: int) -> int:
    """Return the next 8-hourly funding settlement (00:00/08:00/16:00 UTC) strictly after ``now``."""
    return (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


class MarketQueries(ServiceBase):
    """Answer the market questions from the stored history, as of the injected clock."""

    def price(self, symbol: str) -> PriceView:
        """Return the last price of ``symbol`` with its 24h change, range, volume, source and age."""
        name = self.resolve_symbol(symbol)
        now = self.now_ms()
        found = self._recent_candles(name, now, DAY_MS)
        if found is None:
            raise UserError(f"No price data for {name} yet; the spot feed has not delivered any candles.")
        interval, rows = found
        length = INTERVAL_MS[interval]
        last = rows[-1]
        window = [c for c in rows if c.open_time >= now - DAY_MS]
        if not window:
            window = [last]
        # The 24h change compares with the price 24 hours ago: the open of the first candle in the window.
        first = window[0]
        quote = [c.quote_volume for c in window if c.quote_volume is not None]
        at = min(last.open_time + length, now)
        age = max(0.0, (now - at) / 1000)
        return PriceView(
            symbol=name,
            price=last.c,
            at=at,
            change_24h_pct=pct_change(last.c, first.o) if first.open_time <= now - DAY_MS + length else None,
            high_24h=max(c.h for c in window),
            low_24h=min(c.l for c in window),
            volume_24h=sum(c.volume for c in window),
            quote_volume_24h=sum(quote) if len(quote) == len(window) else None,
            source=last.source,
            interval=interval,
            age_s=age,
            stale=age > max(STALE_PRICE_S, 2 * length / 1000),
        )

    def liquidations(self, symbol: str | None, window_s: int) -> LiquidationsView:
        """Return long vs short liquidations over the last ``window_s`` (one symbol or all).

        By source, with the largest events and the average of such a window over the previous week.
        """
        name = self.resolve_symbol(symbol) if symbol is not None else None
        if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
            raise UserError(
                f"The window must be between {format_duration(MIN_WINDOW_S)} and "
                f"{format_duration(MAX_WINDOW_S)}; you asked for {format_duration(window_s)}."
            )
        now = self.now_ms()
        window_ms = window_s * 1000
        start = now - window_ms
        totals = self.repo.liquidation_totals(name, start, now)
        largest = [
            LiquidationEvent(r.symbol, r.ts, r.source, r.side, r.usd, r.price, False)
            for r in self.repo.largest_liquidations(name, start, now, 5)
        ]
        if not largest:
            largest = [
                LiquidationEvent(r.symbol, r.ts, r.source, r.side, r.usd, None, True)
                for r in self.repo.largest_liquidation_buckets(name, start, now, 5)
            ]
        baseline_start = start - USUAL_DAYS * DAY_MS
        latest = self.repo.last_liquidation_time(name, now)
        usual: float | None = None
        if latest is not None and self.repo.last_liquidation_time(name, start) is not None:
            before = self.repo.liquidation_totals(name, baseline_start, start)
            if before.count:
                usual = before.total_usd * window_ms / (USUAL_DAYS * DAY_MS)
        by_source = tuple(
            SourceLiquidations(source, pair[0], pair[1])
            for source, pair in sorted(totals.by_source.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
        )
        return LiquidationsView(
            symbol=name,
            window_s=window_s,
            start=start,
            end=now,
            long_usd=totals.long_usd,
            short_usd=totals.short_usd,
            by_source=by_source,
            largest=tuple(largest),
            usual_usd=usual,
            usual_days=USUAL_DAYS,
            latest_at=latest,
            venues=self.liquidation_venues(),
        )

    def liquidation_venues(self) -> tuple[VenueCoverage, ...]:
        """Return every enabled liquidation venue with its coverage and its feed's state now."""
        found: list[VenueCoverage] = []
        for status in self.feeds.statuses():
            source = source_of_feed(status.name)
            stated = coverage(source) if source is not None else None
            if stated is not None:
                found.append(
                    VenueCoverage(stated.source, stated.name, stated.label, stated.why, status.state)
                )
        return tuple(found)

    def funding(self, symbol: str | None = None) -> FundingView:
        """Return funding of ``symbol`` (default: the first configured) per venue, each at its own interval.

        Each venue's rate is annualised with its interval and has its next settlement; the 24h change and
        7-day average come from one venue's settled history (named), with a cross-venue line (see
        ``bot.services.derivatives``).
        """
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        view = funding_view(name, self.repo.funding(name, now - 8 * DAY_MS, now + 1), now, self.instruments)
        if view is None:
            raise UserError(f"No funding data for {name} yet; the futures feeds have not reported any.")
        # Weighted by each venue's newest USD open interest of the last day (detectors.positioning).
        newest: dict[str, OpenInterest] = {}
        for row in self.repo.open_interest(name, now - DAY_MS, now + 1):
            newest[row.source] = one_side(row.source, row)
        figures = [
            VenueFigure(v.source, newest[v.source].usd if v.source in newest else None, v.rate, v.interval_h)
            for v in view.by_source
        ]
        market = aggregate(figures)
        # A forecast is for the next settlement: one made more than two hours ago is about a past one.
        predicted = tuple(self.repo.latest_predicted_funding(name, now - PREDICTED_FRESH_MS))
        if not market.weighted:
            return replace(view, predicted=predicted)
        weighted = sum(1 for f in figures if f.oi_usd)
        return replace(
            view, oi_weighted_per_8h=market.rate_per_8h, oi_weighted_venues=weighted, predicted=predicted
        )

    def open_interest(self, symbol: str | None = None) -> OpenInterestView:
        """Return the open interest of ``symbol`` (default: the first configured) per venue and summed.

        Each venue's figure counts one side of the market; the changes are the sum's.
        """
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        rows = self.repo.open_interest(name, now - 8 * DAY_MS, now + 1)
        funding = funding_view(
            name, self.repo.funding(name, now - 8 * DAY_MS, now + 1), now, self.instruments
        )
        upcoming = funding.next_funding_at if funding is not None else next_funding_time(now)
        view = open_interest_view(name, rows, now, upcoming)
        if view is None:
            raise UserError(f"No open-interest data for {name} yet; the futures feeds have not reported any.")
        return view

    def fear_greed(self) -> FearGreedView:
        """Return today's Fear & Greed Index with its changes and since when it was last this high and low.

        The changes compare with yesterday and last week.
        """
        now = self.now_ms()
        rows = self.repo.fear_greed(None, now + 1)
        if not rows:
            raise UserError("No Fear & Greed data yet; the index is fetched once a day from alternative.me.")
        today = rows[-1]
        by_ts = {r.ts: r.value for r in rows}

        def since(higher: bool) -> FearGreedSince:
            for row in reversed(rows[:-1]):
                if (row.value >= today.value) if higher else (row.value <= today.value):
                    return FearGreedSince(row.date, row.value, (today.ts - row.ts) // DAY_MS)
            return FearGreedSince(None, None, (today.ts - rows[0].ts) // DAY_MS)

        return FearGreedView(
            value=today.value,
            classification=today.classification,
            date=today.date,
            at=today.ts,
            yesterday=by_ts.get(today.ts - DAY_MS),
            last_week=by_ts.get(today.ts - 7 * DAY_MS),
            highest_since=since(True),
            lowest_since=since(False),
            source=today.source,
        )

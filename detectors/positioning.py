"""Positioning across venues: open interest summed in USD, funding weighted by it, and who moved it.

Pure functions over per-venue figures, shared by the detectors (``squeeze``, ``crowding``) and by the
services behind ``/oi``, ``/funding`` and ``/positioning``, so an alert and a reply compute one number the
same way:

- open interest: each venue's figure counts one side of the market (a venue that counts both is halved
  before it gets here), in USD; the market's figure is their sum;
- funding: each venue's rate is put on one footing (per 8 hours, with that venue's own funding interval)
  and the market's rate is their average weighted by each venue's USD open interest; a venue without an
  open-interest figure weighs nothing, and with no weights at all the plain average is used (said so);
- annualised: rate × settlements a day × 365, with each venue's interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from detectors.base import EtfFlowPoint, FundingPoint, OpenInterestPoint, Snapshot
from detectors.etf_flow import streak
from detectors.series import point_at
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    INTERVAL_MS,
    EtfFlow,
    Funding,
    ImpliedVol,
    LongShort,
    OpenInterest,
    funding_interval_ms,
)

Basis = Literal["contracts", "usd"]

# Funding is compared per 8 h, the interval most venues settle at.
BASE_INTERVAL_H = 8.0
# Venues whose interval is fixed and documented, and that publish no settlements to measure it from:
# Hyperliquid pays funding every hour (its docs, "Funding": "paid every hour"); Deribit's funding accrues
# continuously and its book summary states it per 8 hours ("funding_8h").
KNOWN_INTERVAL_H = {"hyperliquid": 1.0, "deribit": 8.0}
DAYS_A_YEAR = 365


# Which side of the market each source's open interest counts. Binance /fapi/v1/openInterest and
# openInterestHist, and Bybit /v5/market/tickers openInterest (docs/v5/market/open-interest.mdx:
# "Returns single side data") count one side: the contracts held long (= held short). A source that
# counted both sides would be halved before being added up; none of the present ones does.
OI_SIDES = {
    "binance": "one side",
    "bybit": "one side",
    "okx": "one side",
    "coinglass": "one side",
    # metaAndAssetCtxs openInterest: the coins held long (= held short) on the venue.
    "hyperliquid": "one side",
    # Gate tickers total_size ("Contract total size"): the contracts open, one side; its contract_stats
    # open_interest_usd is that times quanto_multiplier times the mark price (feeds.positioning_venues).
    "gate": "one side",
    # Deribit book summary open_interest: "the total amount of outstanding contracts" (USD for a perpetual).
    "deribit": "one side",
}
TWO_SIDED = "both sides"
# Venues whose open interest is a count of USD contracts (inverse perpetuals): their coin worth, usd/mark,
# falls as the price rises with no position changed. Deribit's BTC/ETH-PERPETUAL are inverse ($10 a
# contract, the book summary's open_interest in USD).
INVERSE_OI = frozenset({"deribit"})


def one_side(source: str, row: OpenInterest) -> OpenInterest:
    """Return a row counted on one side of the market (halved if its source counts both)."""
    if OI_SIDES.get(source) != TWO_SIDED:
        return row
    half = row._replace(
        contracts=row.contracts / 2 if row.contracts is not None else None,
        usd=row.usd / 2 if row.usd is not None else None,
    )
    return half


class VenueFigure(NamedTuple):
    """One venue's newest open interest (USD, one side) and funding rate (decimal per its interval)."""

    source: str
    oi_usd: float | None
    rate: float | None
    interval_h: float = BASE_INTERVAL_H

    @property
    def rate_per_8h(self) -> float | None:
        """Return the rate scaled to 8 hours (venues settle every 1, 4 or 8 h)."""
        return None if self.rate is None else self.rate * BASE_INTERVAL_H / self.interval_h

    @property
    def annualized_pct(self) -> float | None:
        """Return the rate as a yearly percentage at this venue's settlements a day."""
        return None if self.rate is None else self.rate * (24 / self.interval_h) * DAYS_A_YEAR * 100


class Aggregate(NamedTuple):
    """The market's open interest and funding over every venue that reported."""

    oi_usd: float | None
    rate_per_8h: float | None
    weighted: bool  # True: funding weighted by USD open interest; False: plain mean (no OI known)
    venues: tuple[VenueFigure, ...]

    @property
    def annualized_pct(self) -> float | None:
        """Return the market's funding as a yearly percentage."""
        if self.rate_per_8h is None:
            return None
        return self.rate_per_8h * (24 / BASE_INTERVAL_H) * DAYS_A_YEAR * 100

    def share(self, source: str) -> float | None:
        """Return a venue's share of the summed open interest (0..1), or None."""
        for venue in self.venues:
            if venue.source == source and venue.oi_usd is not None and self.oi_usd:
                return venue.oi_usd / self.oi_usd
        return None


def aggregate(figures: Iterable[VenueFigure]) -> Aggregate:
    """Sum open interest and weight funding by it over the venues given."""
    venues = tuple(sorted(figures, key=lambda f: -(f.oi_usd or 0.0)))
    with_oi = [f.oi_usd for f in venues if f.oi_usd is not None]
    total = sum(with_oi) if with_oi else None
    weights = [(f.rate_per_8h, f.oi_usd) for f in venues if f.rate_per_8h is not None and f.oi_usd]
    weight = sum(w for _, w in weights if w)
    if weight > 0:
        rate: float | None = sum(r * w for r, w in weights if r is not None and w) / weight
        return Aggregate(total, rate, True, venues)
    rates = [f.rate_per_8h for f in venues if f.rate_per_8h is not None]
    rate = sum(rates) / len(rates) if rates else None
    return Aggregate(total, rate, False, venues)


class VenueChange(NamedTuple):
    """How one venue's open interest moved over a window, and its part of the market's move."""

    source: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        """Return after minus before."""
        return self.after - self.before

    @property
    def pct(self) -> float:
        """Return the venue's own change in percent."""
        return (self.after / self.before - 1) * 100 if self.before else 0.0


class MarketChange(NamedTuple):
    """The summed open interest of the venues seen at both ends of a window, and each venue's part."""

    before: float
    after: float
    venues: tuple[VenueChange, ...]  # largest contribution (absolute) first

    @property
    def pct(self) -> float:
        """Return the summed change in percent."""
        return (self.after / self.before - 1) * 100 if self.before else 0.0

    def drivers(self, share: float = 0.25) -> tuple[VenueChange, ...]:
        """Return the venues whose move, the market's way, is at least ``share`` of the summed move.

        With a flat market (no net move) the venues with the largest moves either way are named.
        """
        net = self.after - self.before
        if net == 0:
            return self.venues[:1]
        return tuple(v for v in self.venues if v.delta * net > 0 and abs(v.delta) >= share * abs(net))


def market_change(
    before: Mapping[str, float | None], after: Mapping[str, float | None]
) -> MarketChange | None:
    """Sum the venues known at both ends (a venue missing at one end would read as a jump) and rank them."""
    both = [
        VenueChange(s, b, a)
        for s, b in before.items()
        if b is not None and (a := after.get(s)) is not None and b > 0
    ]
    if not both:
        return None
    ranked = tuple(sorted(both, key=lambda v: (-abs(v.delta), v.source)))
    return MarketChange(sum(v.before for v in both), sum(v.after for v in both), ranked)


def describe_drivers(change: MarketChange) -> str:
    """Return "binance +2.1%, bybit +0.4%" for the venues driving the move (all venues if none stands out)."""
    named = change.drivers() or change.venues
    return ", ".join(f"{v.source} {v.pct:+.1f}%" for v in named)


def zscore(value: float, history: Sequence[float]) -> float | None:
    """Return how many standard deviations ``value`` is from the mean of ``history`` (None if undefined)."""
    n = len(history)
    if n < 2:
        return None
    mean = sum(history) / n
    var = sum((x - mean) ** 2 for x in history) / (n - 1)
    if var <= 0:
        return None
    return (value - mean) / math.sqrt(var)


# --- reading stored rows (the services and digests) ------------------------------------------------------

METRIC_ORDER = ("accounts", "top_accounts", "top_positions", "taker_volume")


@dataclass(frozen=True, slots=True)
class LongShortLine:
    """One venue's newest reading of one long/short kind."""

    source: str
    metric: str
    ratio: float
    long_share: float | None
    at: int
    period: str


@dataclass(frozen=True, slots=True)
class DvolLine:
    """The newest DVOL of a coin and its change over 24 hours."""

    currency: str
    close: float
    at: int
    change_24h_pct: float | None
    source: str


@dataclass(frozen=True, slots=True)
class EtfLine:
    """The newest known day of an asset's US spot ETF net flows, as read from its source."""

    asset: str
    date: str
    net_usd: float
    source: str
    fetched_at: int
    days_in_a_row: int  # trading days in a row with this day's sign (0 for a flat day)


# The ETF flows /positioning and the digest show: US spot funds exist for these coins only.
ETF_ASSETS = ("BTC", "ETH")
# An ETF day older than this is not "the last flow" any more (the feed has stopped).
ETF_FRESH_MS = 10 * DAY_MS


def etf_window(at: int) -> tuple[int, int]:
    """Return the [start, end) of trading days whose figures are known at ``at`` (a day ends first)."""
    return at - ETF_FRESH_MS, at - DAY_MS + 1


def etf_line(rows: Sequence[EtfFlow]) -> EtfLine | None:
    """Return the newest day of the rows (its source's), with how many days in a row share its sign."""
    if not rows:
        return None
    last = max(rows, key=lambda r: (r.ts, r.fetched_at))
    same = sorted((r for r in rows if r.source == last.source), key=lambda r: r.ts)
    points = [EtfFlowPoint(r.ts, r.date, r.net_usd, r.source) for r in same]
    run = streak(points, len(points) - 1)
    return EtfLine(last.asset, last.date, last.net_usd, last.source, last.fetched_at, run)


# A venue's open interest older than this is not the market now: twice the longest poll any feed may be
# configured to (an hour), so one late poll is not a gap. /positioning and the digest both leave such a
# venue out of the sum and name it ("without gate"), rather than add a figure from hours ago.
OI_FRESH_MS = 2 * HOUR_MS


def fresh_open_interest(
    rows: Sequence[OpenInterest], now: int, fresh_ms: int = OI_FRESH_MS
) -> tuple[list[OpenInterest], tuple[str, ...]]:
    """Return the rows of the last ``fresh_ms`` and the venues (sorted) whose newest row is older."""
    fresh = [r for r in rows if r.ts >= now - fresh_ms]
    seen = {r.source for r in fresh}
    return fresh, tuple(sorted({r.source for r in rows} - seen))


def venue_figures(
    symbol: str,
    oi_rows: Sequence[OpenInterest],
    funding_rows: Sequence[Funding],
    interval_h: dict[str, float],
) -> list[VenueFigure]:
    """Return each venue's newest open interest (one side, USD) and funding rate from stored rows."""
    newest_oi: dict[str, OpenInterest] = {}
    for row in sorted(oi_rows, key=lambda r: r.ts):
        newest_oi[row.source] = one_side(row.source, row)
    newest_rate: dict[str, Funding] = {}
    for f in sorted(funding_rows, key=lambda r: (r.ts, r.settled)):
        newest_rate[f.source] = f
    return [
        VenueFigure(
            source,
            newest_oi[source].usd if source in newest_oi else None,
            newest_rate[source].rate if source in newest_rate else None,
            interval_h.get(source, 8.0),
        )
        for source in sorted(set(newest_oi) | set(newest_rate))
    ]


def newest_long_short(rows: Sequence[LongShort]) -> tuple[LongShortLine, ...]:
    """Return the newest reading per (metric, venue), in a fixed metric order."""
    newest: dict[tuple[str, str], LongShort] = {}
    for row in sorted(rows, key=lambda r: r.ts):
        newest[(row.metric, row.source)] = row
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    return tuple(
        LongShortLine(r.source, r.metric, r.ratio, r.long_share, r.ts, r.period)
        for (_, _), r in sorted(newest.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))
    )


def dvol_line(rows: Sequence[ImpliedVol]) -> DvolLine | None:
    """Return the newest DVOL close with its change from the newest close at least 24 hours older.

    Closes are compared at the times they hold, their candles' ends: the stored rows mix hourly candles
    (the backfill) and minute ones (the live poll), keyed by their starts.
    """
    if not rows:
        return None
    ordered = sorted((closed_at(r), r) for r in rows)
    at, last = ordered[-1]
    before = [r for t, r in ordered if t <= at - DAY_MS]
    change = (last.close / before[-1].close - 1) * 100 if before else None
    return DvolLine(last.currency, last.close, at, change, last.source)


def closed_at(row: ImpliedVol) -> int:
    """Return when a volatility-index candle's close held: its end (its start for an unknown resolution)."""
    return row.ts + INTERVAL_MS.get(row.resolution, 0)


# --- reading a snapshot ---------------------------------------------------------------------------------


def interval_hours(points: Sequence[FundingPoint], source: str = "", stated: float | None = None) -> float:
    """Return a venue's funding interval, in the order /funding and /positioning read it.

    Documented for the venue, else ``stated`` by its instrument list for the market, else the spacing of
    its settlements, else 8 h.
    """
    if source in KNOWN_INTERVAL_H:
        return KNOWN_INTERVAL_H[source]
    if stated:
        return stated
    settled = [p.ts for p in points if p.settled]
    spacings = sorted(b - a for a, b in itertools.pairwise(settled) if b > a)
    if not spacings:
        return BASE_INTERVAL_H
    return funding_interval_ms(spacings[len(spacings) // 2]) / HOUR_MS


def interval_hours_of_rows(source: str, rows: Sequence[Funding], stated: float | None = None) -> float:
    """Return a venue's funding interval from stored rows (documented, stated, settlements, or 8 h)."""
    return interval_hours([FundingPoint(r.ts, r.rate, r.settled, r.source) for r in rows], source, stated)


def figures_at(snapshot: Snapshot, t: int, oi_max_age_ms: int, funding_max_age_ms: int) -> list[VenueFigure]:
    """Return each venue's open interest (USD) and funding rate as known at ``t``."""
    # Each venue's newest point at t within the age is all point_at reads: the window's others cost a
    # point object each (a squeeze rule reads three such windows an hour, bench.replay).
    oi = snapshot.open_interest_by_source(since=t - oi_max_age_ms, until=t, count=1)
    # A day and an hour holds three 8-hourly settlements: enough to tell the interval from their spacing.
    funding = snapshot.funding_by_source(since=t - max(funding_max_age_ms, DAY_MS + HOUR_MS))
    figures = []
    for source in sorted(set(oi) | set(funding)):
        point = point_at(oi.get(source, ()), t, oi_max_age_ms)
        rates = funding.get(source, ())
        rate = point_at(rates, t, funding_max_age_ms)
        figures.append(
            VenueFigure(
                source,
                point.usd if point is not None else None,
                rate.rate if rate is not None else None,
                interval_hours(rates, source, snapshot.funding_interval_h(source)),
            )
        )
    return figures


def oi_market_change(
    snapshot: Snapshot, start: int, end: int, max_age_ms: int
) -> tuple[MarketChange, Basis] | None:
    """Return the summed open interest at ``start`` and ``end`` over the venues known at both.

    Contracts (base units) when every such venue has them at both ends (USD moves with price), else USD.
    An inverse venue's USD contracts are counted in coins at the end's price at both ends.
    """
    # The newest point of each venue at each end within the age, read as one point each (point_at of the
    # whole window read every point in between); venues in the order the snapshot gives them, as before.
    at_start = snapshot.open_interest_by_source(since=start - max_age_ms, until=start, count=1)
    at_end = snapshot.open_interest_by_source(since=end - max_age_ms, until=end, count=1)
    known = {s: (at_start[s][-1], p[-1]) for s, p in at_end.items() if s in at_start}
    if not known:
        return None
    use_contracts = all(a.contracts and b.contracts for a, b in known.values())

    def value(source: str, p: OpenInterestPoint, end: OpenInterestPoint) -> float | None:
        if not use_contracts:
            return p.usd
        if source in INVERSE_OI and p.usd is not None and end.usd and end.contracts:
            # USD contracts in coins at one price (the window's end), so only positions move the figure.
            return p.usd * end.contracts / end.usd
        return p.contracts

    change = market_change(
        {s: value(s, a, b) for s, (a, b) in known.items()}, {s: value(s, b, b) for s, (_, b) in known.items()}
    )
    return None if change is None else (change, "contracts" if use_contracts else "usd")

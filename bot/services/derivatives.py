"""What /funding and /oi show: per venue, with each venue's own funding interval, and across venues.

Funding: each venue's newest rate with the interval it settles at (the venue's instrument list when read:
Bybit ``fundingInterval``, Binance ``fundingInfo``; else the spacing of its stored settlements rounded to
the hour; else 8 h, said to be a guess), annualised with that interval, and the next settlement the venue
announced (else the next one on that interval's UTC grid, said to be estimated). The 24 h change and the
7-day average come from the settled history of one venue, the one with the most settlements stored, and
the view says which. A cross-venue line puts every venue's rate per 8 h.

Open interest: each venue's newest figure, one side of the market (see ``OI_SIDES``), and their sum.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from detectors.positioning import KNOWN_INTERVAL_H, OI_SIDES, one_side
from feeds.instruments import InstrumentRegistry, stated_funding_interval
from storage.rows import DAY_MS, HOUR_MS, Funding, OpenInterest, PredictedFunding, funding_interval_ms

DEFAULT_INTERVAL_H = 8.0


@dataclass(frozen=True, slots=True)
class FundingSourceView:
    """One venue's newest funding rate, its interval and its next settlement."""

    source: str
    rate: float
    at: int
    settled: bool
    interval_h: float = DEFAULT_INTERVAL_H
    interval_from: str = "assumed"  # "instrument list", "settlements" or "assumed"
    next_funding_at: int | None = None
    next_funding_estimated: bool = True

    @property
    def annualized_pct(self) -> float:
        """Return the rate as a yearly percentage at this venue's settlements per day."""
        return self.rate * (24 / self.interval_h) * 365 * 100

    @property
    def per_8h(self) -> float:
        """Return the rate scaled to an 8-hour period (to compare venues with different intervals)."""
        return self.rate * 8 / self.interval_h


@dataclass(frozen=True, slots=True)
class FundingView:
    """Funding of a symbol: the venue shown, its history, every venue, and all of them together."""

    symbol: str
    rate: float
    at: int
    source: str
    settled: bool
    rate_24h_ago: float | None
    average_7d: float | None
    next_funding_at: int
    next_funding_estimated: bool
    by_source: tuple[FundingSourceView, ...]
    interval_h: float = DEFAULT_INTERVAL_H
    interval_from: str = "assumed"
    history_source: str = ""  # the venue whose settlements the change and average come from
    history_settlements: int = 0
    # The market's rate per 8 h weighted by each venue's USD open interest (None: no open interest known).
    oi_weighted_per_8h: float | None = None
    oi_weighted_venues: int = 0
    # Forecasts of each venue's next settlement (Hyperliquid's predictedFundings): shown as forecasts,
    # never counted in the rates above.
    predicted: tuple[PredictedFunding, ...] = ()

    @property
    def oi_weighted_annualized_pct(self) -> float | None:
        """Return the open-interest-weighted rate as a yearly percentage."""
        return None if self.oi_weighted_per_8h is None else self.oi_weighted_per_8h * 3 * 365 * 100

    @property
    def change_24h(self) -> float | None:
        """Return the rate change over 24 hours (decimal), or None."""
        return None if self.rate_24h_ago is None else self.rate - self.rate_24h_ago

    @property
    def annualized_pct(self) -> float:
        """Return the rate as a yearly percentage at the shown venue's interval."""
        return self.rate * (24 / self.interval_h) * 365 * 100

    @property
    def cross_venue_per_8h(self) -> float | None:
        """Return the venues' mean rate per 8 h, or None with fewer than two venues."""
        rates = [s.per_8h for s in self.by_source]
        return sum(rates) / len(rates) if len(rates) >= 2 else None

    @property
    def cross_venue_annualized_pct(self) -> float | None:
        """Return the venues' mean annualised rate, or None with fewer than two venues."""
        rates = [s.annualized_pct for s in self.by_source]
        return sum(rates) / len(rates) if len(rates) >= 2 else None


def _interval(
    source: str, symbol: str, rows: Sequence[Funding], registry: InstrumentRegistry | None
) -> tuple[float, str]:
    """Return (hours, where from) for one source's funding interval."""
    if source in KNOWN_INTERVAL_H:
        return KNOWN_INTERVAL_H[source], "venue documents"
    stated = stated_funding_interval(registry, source, symbol)
    if stated is not None:
        return stated, "instrument list"
    settled = sorted(r.ts for r in rows if r.settled)
    spacings = [b - a for a, b in itertools.pairwise(settled) if b > a]
    if spacings:
        return funding_interval_ms(int(statistics.median(spacings))) / HOUR_MS, "settlements"
    return DEFAULT_INTERVAL_H, "assumed"


def funding_interval_of(
    source: str, symbol: str, rows: Sequence[Funding], registry: InstrumentRegistry | None
) -> float:
    """Return one venue's funding interval in hours (documented, instrument list, settlements, else 8)."""
    return _interval(source, symbol, rows, registry)[0]


def _next(row: Funding, interval_h: float, now: int) -> tuple[int, bool]:
    """Return (next settlement, estimated?): the venue's announced time, else the interval's UTC grid."""
    if row.next_funding_time is not None and row.next_funding_time > now:
        return row.next_funding_time, False
    step = int(interval_h * HOUR_MS)
    return (now // step + 1) * step, True


def funding_view(
    symbol: str, rows: Sequence[Funding], now: int, registry: InstrumentRegistry | None
) -> FundingView | None:
    """Build /funding from the stored rows of the last days (None when there are none)."""
    if not rows:
        return None
    by_source: dict[str, list[Funding]] = {}
    for row in rows:
        by_source.setdefault(row.source, []).append(row)
    views: list[FundingSourceView] = []
    for source, own in sorted(by_source.items()):
        newest = max(own, key=lambda r: (r.ts, r.settled))
        hours, where = _interval(source, symbol, own, registry)
        upcoming, estimated = _next(newest, hours, now)
        views.append(
            FundingSourceView(
                source, newest.rate, newest.ts, newest.settled, hours, where, upcoming, estimated
            )
        )

    # The venue shown is the one with a settled history to compare against (the most settlements),
    # not whichever wrote last: a venue polled every minute has minutes of snapshots, not a history.
    def settlements(source: str) -> int:
        return sum(1 for r in by_source[source] if r.settled)

    shown = max(views, key=lambda v: (settlements(v.source), v.at))
    history = sorted((r for r in by_source[shown.source] if r.settled), key=lambda r: r.ts)
    if not history:
        history = sorted(by_source[shown.source], key=lambda r: r.ts)
    day_ago = [r for r in history if r.ts <= shown.at - DAY_MS]
    week = [r.rate for r in history if r.ts > now - 7 * DAY_MS]
    return FundingView(
        symbol=symbol,
        rate=shown.rate,
        at=shown.at,
        source=shown.source,
        settled=shown.settled,
        rate_24h_ago=day_ago[-1].rate if day_ago else None,
        average_7d=sum(week) / len(week) if week else None,
        next_funding_at=shown.next_funding_at or now,
        next_funding_estimated=shown.next_funding_estimated,
        by_source=tuple(views),
        interval_h=shown.interval_h,
        interval_from=shown.interval_from,
        history_source=shown.source,
        history_settlements=settlements(shown.source),
    )


@dataclass(frozen=True, slots=True)
class OpenInterestSourceView:
    """One venue's newest open interest, counted on one side of the market."""

    source: str
    usd: float | None
    contracts: float | None
    at: int
    sides: str = "one side"


@dataclass(frozen=True, slots=True)
class OpenInterestView:
    """Open interest of a symbol: every venue, their sum, and the changes of the sum."""

    symbol: str
    usd: float | None
    contracts: float | None
    at: int
    source: str  # the venues summed, "binance+bybit"
    change_1h_pct: float | None
    change_24h_pct: float | None
    change_7d_pct: float | None
    next_funding_at: int
    by_source: tuple[OpenInterestSourceView, ...] = ()


def _pct(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100


def open_interest_view(
    symbol: str, rows: Sequence[OpenInterest], now: int, next_funding_at: int
) -> OpenInterestView | None:
    """Build /oi from the stored rows of the last days (None when there are none)."""
    if not rows:
        return None
    by_source: dict[str, list[OpenInterest]] = {}
    for row in sorted(rows, key=lambda r: r.ts):
        by_source.setdefault(row.source, []).append(one_side(row.source, row))
    views = tuple(
        OpenInterestSourceView(s, own[-1].usd, own[-1].contracts, own[-1].ts, OI_SIDES.get(s, "one side"))
        for s, own in sorted(by_source.items())
    )

    def value(row: OpenInterest) -> float | None:
        return row.usd if row.usd is not None else row.contracts

    def total(at: int | None) -> float | None:
        """Sum the venues' values at ``at`` (newest when None); None when one has none then."""
        found = 0.0
        for own in by_source.values():
            older = own if at is None else [r for r in own if r.ts <= at]
            if not older or value(older[-1]) is None:
                return None
            found += value(older[-1]) or 0.0
        return found

    newest = max(v.at for v in views)
    usd_values = [v.usd for v in views]
    contracts = [v.contracts for v in views]
    now_total = total(None)
    return OpenInterestView(
        symbol=symbol,
        usd=sum(u for u in usd_values if u is not None) if all(u is not None for u in usd_values) else None,
        contracts=sum(c for c in contracts if c is not None)
        if all(c is not None for c in contracts)
        else None,
        at=newest,
        source="+".join(v.source for v in views),
        change_1h_pct=_pct(now_total, total(newest - HOUR_MS)),
        change_24h_pct=_pct(now_total, total(newest - DAY_MS)),
        change_7d_pct=_pct(now_total, total(newest - 7 * DAY_MS)),
        next_funding_at=next_funding_at,
        by_source=views,
    )

"""What /positioning shows: open interest summed over venues, funding weighted by it, long/short, DVOL.

Every figure is computed from the stored rows (``storage.repo``) by the same functions the detectors use
(``detectors.positioning``): each venue's newest open interest (one side, USD) within the last day, its
newest funding rate put per 8 h with its own interval, the market's rate weighted by USD open interest;
each venue's newest long/short reading of every kind within the last day; the newest DVOL of the symbol's
base coin with its change over 24 hours; for BTC and ETH the last day of US spot ETF net flows known (its
date, net USD, source and read time).  /depth: each venue's newest order-book snapshot of the last 15
minutes summed within ±0.5/1/2 % of the mid, and their sum; a band is complete only when every snapshot in
it reached past its edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import UserError
from bot.services.base import ServiceBase
from bot.services.derivatives import funding_interval_of
from detectors.base import short_symbol
from detectors.positioning import (
    ETF_ASSETS,
    Aggregate,
    DvolLine,
    EtfLine,
    LongShortLine,
    aggregate,
    dvol_line,
    etf_line,
    etf_window,
    fresh_open_interest,
    newest_long_short,
    venue_figures,
)
from storage.rows import DAY_MS, MINUTE_MS, DepthBand

# Depth older than this is not the book now (polled every few minutes).
DEPTH_FRESH_MS = 15 * MINUTE_MS

# Readings older than this are not "now" (a venue that stopped answering is left out, not shown stale).
FRESH_MS = DAY_MS


@dataclass(frozen=True, slots=True)
class PositioningView:
    """/positioning of one market."""

    symbol: str
    at: int
    market: Aggregate
    long_short: tuple[LongShortLine, ...]
    dvol: DvolLine | None
    etf: EtfLine | None = None  # BTC and ETH: the last US spot ETF day known ([feeds.etf])
    without: tuple[str, ...] = ()  # venues whose open interest stopped (seen in the day, not in OI_FRESH_MS)


@dataclass(frozen=True, slots=True)
class DepthBandView:
    """Bid and ask USD within one band of the mid, summed over venues or for one."""

    band_bp: int
    bid_usd: float
    ask_usd: float
    complete: bool  # every side of every venue counted reached past the band's edge


@dataclass(frozen=True, slots=True)
class VenueDepth:
    """One venue's newest snapshot, summed per band."""

    source: str
    at: int
    bands: tuple[DepthBandView, ...]


@dataclass(frozen=True, slots=True)
class DepthView:
    """/depth of one market: each venue's bands and their sums."""

    symbol: str
    venues: tuple[VenueDepth, ...]
    total: tuple[DepthBandView, ...]


def depth_view(symbol: str, rows: Sequence[DepthBand]) -> DepthView | None:
    """Group each venue's newest bands and sum them per band (None without rows)."""
    if not rows:
        return None
    by_venue: dict[str, list[DepthBand]] = {}
    for row in rows:
        by_venue.setdefault(row.source, []).append(row)
    venues = tuple(
        VenueDepth(
            source,
            max(r.ts for r in own),
            tuple(
                DepthBandView(r.band_bp, r.bid_usd, r.ask_usd, r.bid_complete and r.ask_complete)
                for r in sorted(own, key=lambda r: r.band_bp)
            ),
        )
        for source, own in sorted(by_venue.items())
    )
    total = tuple(
        DepthBandView(
            bp,
            sum(r.bid_usd for r in rows if r.band_bp == bp),
            sum(r.ask_usd for r in rows if r.band_bp == bp),
            all(r.bid_complete and r.ask_complete for r in rows if r.band_bp == bp),
        )
        for bp in sorted({r.band_bp for r in rows})
    )
    return DepthView(symbol, venues, total)


class PositioningQueries(ServiceBase):
    """/positioning and /depth."""

    def depth(self, symbol: str | None = None) -> DepthView:
        """Return the order-book depth of ``symbol`` per venue and summed, from the last 15 minutes."""
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        view = depth_view(name, self.repo.latest_depth(name, now - DEPTH_FRESH_MS))
        if view is None:
            raise UserError(
                f"No order-book depth for {name} in the last 15 minutes; the depth poll has sent none."
            )
        return view

    def positioning(self, symbol: str | None = None) -> PositioningView:
        """Return the positioning of ``symbol`` (default: the first configured) across venues."""
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        funding = self.repo.funding(name, now - 8 * DAY_MS, now + 1)
        oi, without = fresh_open_interest(self.repo.open_interest(name, now - FRESH_MS, now + 1), now)
        intervals = {
            source: funding_interval_of(
                source, name, [r for r in funding if r.source == source], self.instruments
            )
            for source in {r.source for r in funding}
        }
        fresh_funding = [r for r in funding if r.ts >= now - FRESH_MS]
        market = aggregate(venue_figures(name, oi, fresh_funding, intervals))
        ratios = newest_long_short(self.repo.long_short(name, now - FRESH_MS, now + 1))
        dvol = dvol_line(self.repo.implied_vol(short_symbol(name), now - 2 * DAY_MS, now + 1))
        asset = short_symbol(name)
        etf = etf_line(self.repo.etf_flows(asset, *etf_window(now))) if asset in ETF_ASSETS else None
        if not market.venues and not ratios and dvol is None and etf is None:
            raise UserError(
                f"No positioning data for {name} yet; the futures and positioning feeds have sent none."
            )
        return PositioningView(name, now, market, ratios, dvol, etf, without)

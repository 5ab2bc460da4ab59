"""What /positioning shows: open interest summed over venues, funding weighted by it, long/short, DVOL.

Every figure is computed from the stored rows (``storage.repo``) by the same functions the detectors use
(``detectors.positioning``): each venue's newest open interest (one side, USD) within the last day, its
newest funding rate put per 8 h with its own interval, the market's rate weighted by USD open interest;
each venue's newest long/short reading of every kind within the last day; the newest DVOL of the symbol's
base coin with its change over 24 hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import UserError
from bot.services.base import ServiceBase
from bot.services.derivatives import funding_interval_of, one_side
from detectors.base import short_symbol
from detectors.positioning import Aggregate, VenueFigure, aggregate
from storage.rows import DAY_MS, Funding, ImpliedVol, LongShort, OpenInterest

# Readings older than this are not "now" (a venue that stopped answering is left out, not shown stale).
FRESH_MS = DAY_MS
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
class PositioningView:
    """/positioning of one market."""

    symbol: str
    at: int
    market: Aggregate
    long_short: tuple[LongShortLine, ...]
    dvol: DvolLine | None


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
    """Return the newest DVOL close with its change from the newest close at least 24 hours older."""
    if not rows:
        return None
    ordered = sorted(rows, key=lambda r: r.ts)
    last = ordered[-1]
    before = [r for r in ordered if r.ts <= last.ts - DAY_MS]
    change = (last.close / before[-1].close - 1) * 100 if before else None
    return DvolLine(last.currency, last.close, last.ts, change, last.source)


class PositioningQueries(ServiceBase):
    """/positioning."""

    def positioning(self, symbol: str | None = None) -> PositioningView:
        """Return the positioning of ``symbol`` (default: the first configured) across venues."""
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        funding = self.repo.funding(name, now - 8 * DAY_MS, now + 1)
        oi = self.repo.open_interest(name, now - FRESH_MS, now + 1)
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
        if not market.venues and not ratios and dvol is None:
            raise UserError(
                f"No positioning data for {name} yet; the futures and positioning feeds have sent none."
            )
        return PositioningView(name, now, market, ratios, dvol)

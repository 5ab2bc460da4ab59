"""What /positioning shows: open interest summed over venues, funding weighted by it, long/short, DVOL.

Every figure is computed from the stored rows (``storage.repo``) by the same functions the detectors use
(``detectors.positioning``): each venue's newest open interest (one side, USD) within the last day, its
newest funding rate put per 8 h with its own interval, the market's rate weighted by USD open interest;
each venue's newest long/short reading of every kind within the last day; the newest DVOL of the symbol's
base coin with its change over 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UserError
from bot.services.base import ServiceBase
from bot.services.derivatives import funding_interval_of
from detectors.base import short_symbol
from detectors.positioning import (
    Aggregate,
    DvolLine,
    LongShortLine,
    aggregate,
    dvol_line,
    newest_long_short,
    venue_figures,
)
from storage.rows import DAY_MS

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

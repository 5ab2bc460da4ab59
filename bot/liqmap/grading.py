"""Grade the map: compare each sweep's modelled USD with what the venues really liquidated then and there.

For each sweep of at least ``min_sweep_usd`` and each liquidation source with rows in its window:

- a source that reports single liquidations (price and quantity) counts those of the swept side whose
  price lies in the band, widened by 1% either way (venues report the fill or bankruptcy price, beyond the
  liquidation price by up to the maintenance margin): basis "events in band";
- a source that only publishes totals per hour (CoinGlass in the bundled data: Binance + Bybit + OKX
  together, no prices) counts the swept side's USD of the hours of the window: basis "hourly totals".
  The band cannot be checked there; the window is the candles that were consuming the band.

A sweep is a hit when realized USD is within ``hit_factor`` of the modelled USD either way. The grades are
stored by ``store_grades`` (one row per sweep and source, re-grading updates it) and summarised per venue.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from bot.liqmap.build import MapBuild
from detectors.liqmap.sweeps import Sweep
from storage.repo import LiqMapGrade, Repo

# How far outside the band a reported liquidation price still counts (fraction of price).
BAND_TOLERANCE = 0.01
# A realized USD of zero is scored as this ratio (log error 3: a thousandfold miss), not as infinity.
FLOOR_RATIO = 1e-3


def _realized(repo: Repo, sweep: Sweep) -> dict[str, tuple[float, str]]:
    """Return the realized USD of the sweep's side and its basis, per source with rows in the window."""
    low, high = sweep.low * (1 - BAND_TOLERANCE), sweep.high * (1 + BAND_TOLERANCE)
    totals: dict[str, list[float]] = {}
    kinds: dict[str, set[str]] = {}
    for row in repo.liquidations(sweep.symbol, sweep.start, sweep.end):
        pair = totals.setdefault(row.source, [0.0])
        bucket = row.qty == 0 and row.price == 0
        kinds.setdefault(row.source, set()).add("hourly totals" if bucket else "events in band")
        if row.side != sweep.side:
            continue
        if bucket or low <= row.price <= high:
            pair[0] += row.usd
    return {source: (usd[0], " + ".join(sorted(kinds[source]))) for source, usd in totals.items()}


def grade_build(repo: Repo, build: MapBuild, graded_at: int) -> list[LiqMapGrade]:
    """Grade every sweep of a build against each liquidation source and return the grades (not stored)."""
    grades: list[LiqMapGrade] = []
    for sweep in build.sweeps:
        if sweep.modelled_usd < build.params.min_sweep_usd:
            continue
        for source, (usd, basis) in sorted(_realized(repo, sweep).items()):
            grades.append(
                LiqMapGrade(
                    sweep.symbol,
                    source,
                    sweep.venue,
                    sweep.side,
                    sweep.low,
                    sweep.high,
                    sweep.start,
                    sweep.end,
                    sweep.modelled_usd,
                    usd,
                    basis,
                    graded_at,
                )
            )
    return grades


def store_grades(repo: Repo, grades: Iterable[LiqMapGrade]) -> int:
    """Store grades (updating those of the same sweeps) in one transaction; return how many."""
    rows = list(grades)
    if rows:
        with repo.transaction():
            repo.save_liqmap_grades(rows)
    return len(rows)


def is_hit(grade: LiqMapGrade, hit_factor: float) -> bool:
    """Return whether realized USD is within ``hit_factor`` of the modelled USD."""
    ratio = grade.ratio
    return ratio is not None and 1 / hit_factor <= ratio <= hit_factor


def log_error(grade: LiqMapGrade) -> float:
    """Return |log10(realized / modelled)|: 0 is exact, 1 a tenfold miss."""
    ratio = max(grade.ratio or 0.0, FLOOR_RATIO)
    return abs(math.log10(ratio))


@dataclass(frozen=True, slots=True)
class VenueAccuracy:
    """The running grade of the map against one venue's realized liquidations."""

    venue: str
    sweeps: int
    hits: int
    median_log_error: float
    modelled_usd: float
    realized_usd: float

    @property
    def hit_rate(self) -> float:
        """Return the share of sweeps that were hits."""
        return self.hits / self.sweeps if self.sweeps else 0.0

    @property
    def typical_factor(self) -> float:
        """Return the median miss as a factor (1.0 exact, 2.0 off by half or double)."""
        return float(10**self.median_log_error)


def accuracy(grades: Iterable[LiqMapGrade], hit_factor: float) -> list[VenueAccuracy]:
    """Summarise grades per liquidation venue, most sweeps first."""
    by_venue: dict[str, list[LiqMapGrade]] = {}
    for grade in grades:
        by_venue.setdefault(grade.venue, []).append(grade)
    out = [
        VenueAccuracy(
            venue,
            len(rows),
            sum(is_hit(g, hit_factor) for g in rows),
            statistics.median(log_error(g) for g in rows),
            sum(g.modelled_usd for g in rows),
            sum(g.realized_usd for g in rows),
        )
        for venue, rows in by_venue.items()
    ]
    return sorted(out, key=lambda a: (-a.sweeps, a.venue))

"""Clusters of the map: the bands holding the most modelled USD, and the nearest above and below a price.

A cluster is found greedily: take the fullest bin left on a side, sum the bins within half a cluster width
either way into one band, set them aside, repeat. The bands are then all as wide (``cluster_width_pct``),
so their USD compare fairly, and a smear of small bins never becomes one band many percent wide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from detectors.liqmap.model import LiqMap
from detectors.liqmap.tiers import Side


class Cluster(NamedTuple):
    """A band of modelled liquidations on one side: price from ``low`` to ``high``, ``usd`` in it."""

    side: Side
    low: float
    high: float
    usd: float
    peak: float  # the fullest bin's liquidation price

    @property
    def mid(self) -> float:
        """Return the middle of the band."""
        return (self.low + self.high) / 2

    def distance_pct(self, price: float) -> float:
        """Return how far the band's nearer edge is from ``price`` (%; negative below, 0 inside)."""
        if self.low <= price <= self.high:
            return 0.0
        edge = self.low if self.low > price else self.high
        return (edge - price) / price * 100

    def distance_usd(self, price: float) -> float:
        """Return the price move to the band's nearer edge (negative below, 0 inside)."""
        return self.distance_pct(price) * price / 100

    def describe(self) -> str:
        """Return "$95,000–$96,000 shorts" style text (prices rounded to 4 significant digits)."""
        return f"{_round_price(self.low)}–{_round_price(self.high)} {self.side}s"


def _round_price(value: float) -> str:
    digits = max(0, 4 - math.floor(math.log10(value)) - 1) if value > 0 else 0
    return f"${value:,.{digits}f}"


def find_clusters(liqmap: LiqMap, side: Side, *, min_usd: float | None = None) -> list[Cluster]:
    """Return up to ``max_clusters`` clusters of one side, largest first."""
    params = liqmap.params
    floor = params.min_cluster_usd if min_usd is None else min_usd
    half = max(0, round(params.cluster_width_pct / params.bin_pct) // 2)
    remaining = {k: v for k, v in liqmap.side_bins(side).items() if v > 0}
    found: list[Cluster] = []
    # Fullest bin first (ties: the higher price), each taking the bins around it that are still free.
    for peak in sorted(remaining, key=lambda k: (-remaining[k], -k)):
        if len(found) >= params.max_clusters:
            break
        if peak not in remaining:
            continue
        if remaining[peak] * (2 * half + 1) < floor:
            break  # no band around this bin or a smaller one can reach the floor
        members = [k for k in range(peak - half, peak + half + 1) if k in remaining]
        usd = sum(remaining.pop(k) for k in members)
        if usd >= floor:
            low, high = liqmap.bin_low(peak - half), liqmap.bin_low(peak + half + 1)
            found.append(Cluster(side, low, high, usd, liqmap.bin_center(peak)))
    return found


def all_clusters(liqmap: LiqMap, *, min_usd: float | None = None) -> list[Cluster]:
    """Return the clusters of both sides, largest first."""
    both = find_clusters(liqmap, "long", min_usd=min_usd) + find_clusters(liqmap, "short", min_usd=min_usd)
    return sorted(both, key=lambda c: -c.usd)


def nearest(clusters: Iterable[Cluster], price: float) -> tuple[Cluster | None, Cluster | None]:
    """Return the nearest cluster above ``price`` and the nearest below it (a band around it is both)."""
    listed = list(clusters)
    above = [c for c in listed if c.high >= price]
    below = [c for c in listed if c.low <= price]
    return (
        min(above, key=lambda c: (max(c.low - price, 0.0), -c.usd), default=None),
        min(below, key=lambda c: (max(price - c.high, 0.0), -c.usd), default=None),
    )

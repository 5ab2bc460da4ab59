"""What /liqmap and ``tripwire liqmap`` show: the map at a time, its nearest clusters and the heatmap's data.

``map_view`` builds the map from stored rows, grades its sweeps (storing the grades), and returns a frozen
``LiqMapView`` that the text, the embed and the chart all read.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UserError
from bot.liqmap.build import MapBuild, build_map
from bot.liqmap.grading import grade_build
from detectors.base import format_usd
from detectors.liqmap.clusters import Cluster, nearest
from detectors.liqmap.params import LiqMapParams
from storage.repo import LiqMapGrade, Repo

MIN_RANGE_PCT = 2.0
MAX_RANGE_PCT = 50.0
DEFAULT_RANGE_PCT = 12.0
# The chart labels this many of the largest clusters in its price range.
LABELLED_CLUSTERS = 5


@dataclass(frozen=True, slots=True)
class HeatmapData:
    """The heatmap: one column per candle close, one row per price bin (USD of both sides)."""

    times: tuple[int, ...]  # candle close times, UTC ms
    bin_edges: tuple[float, ...]  # len(rows) + 1 prices, lowest first
    rows: tuple[tuple[float, ...], ...]  # rows[i][j]: USD in bin i at time j
    closes: tuple[float, ...]
    profile: tuple[tuple[float, float], ...]  # per bin: (long USD, short USD) open at the end


@dataclass(frozen=True, slots=True)
class LiqMapView:
    """The map of one symbol at one time, with what a reader needs to act on it."""

    symbol: str
    venues: tuple[str, ...]
    at: int
    price: float
    range_pct: float
    clusters: tuple[Cluster, ...]  # in range, largest first
    above: Cluster | None
    below: Cluster | None
    open_usd: float
    heatmap: HeatmapData
    realized: tuple[tuple[int, float, float], ...]  # (hour, long USD, short USD) over the window
    grades: tuple[LiqMapGrade, ...]  # the sweeps graded while building (not stored yet)

    @property
    def low(self) -> float:
        """Return the bottom of the shown price range."""
        return self.price * (1 - self.range_pct / 100)

    @property
    def high(self) -> float:
        """Return the top of the shown price range."""
        return self.price * (1 + self.range_pct / 100)

    def cluster_line(self, cluster: Cluster) -> str:
        """Return one cluster as text: side, band, modelled USD, distance in % and USD."""
        distance = cluster.distance_pct(self.price)
        move = cluster.distance_usd(self.price)
        where = "around the price" if distance == 0 else f"{distance:+.2f}% ({'+' if move > 0 else '−'}"
        where += "" if distance == 0 else f"{format_usd(abs(move))})"
        return f"{cluster.describe()}: {format_usd(cluster.usd)} modelled, {where}"

    def text(self) -> str:
        """Return the nearest clusters above and below, as ``tripwire liqmap`` prints and /liqmap says."""
        lines = [
            f"{self.symbol} liquidation map at {_utc(self.at)} UTC, price {self.price:,.2f} "
            f"({', '.join(self.venues)}; modelled from open interest, {format_usd(self.open_usd)} open)"
        ]
        lines.append("above: " + (self.cluster_line(self.above) if self.above else "no cluster in range"))
        lines.append("below: " + (self.cluster_line(self.below) if self.below else "no cluster in range"))
        return "\n".join(lines)


def check_range(range_pct: float | None) -> float:
    """Return the price range (± % around the price) to show, or raise UserError."""
    if range_pct is None:
        return DEFAULT_RANGE_PCT
    if not MIN_RANGE_PCT <= range_pct <= MAX_RANGE_PCT:
        raise UserError(
            f"The range is ± % around the price, from {MIN_RANGE_PCT:g} to {MAX_RANGE_PCT:g}; "
            f"you gave {range_pct:g}."
        )
    return range_pct


def map_view(
    repo: Repo,
    symbol: str,
    params: LiqMapParams,
    at: int,
    *,
    range_pct: float | None = None,
    venue: str | None = None,
) -> LiqMapView:
    """Build, grade and describe the map of ``symbol`` as of ``at`` (reads only: store ``grades`` after)."""
    shown = check_range(range_pct)
    build = build_map(repo, symbol, params, at, venue=venue)
    if not build.bars:
        raise UserError(f"no closed hourly candle of {symbol} before {_utc(at)} UTC")
    grades = grade_build(repo, build, at)
    combined = build.combined
    price = build.price
    low, high = price * (1 - shown / 100), price * (1 + shown / 100)
    in_range = [c for c in build.clusters() if c.high >= low and c.low <= high]
    above, below = nearest(in_range, price)
    start = build.bars[0].open_time
    return LiqMapView(
        symbol=symbol,
        venues=tuple(sorted(build.maps)),
        at=build.bars[-1].close_time,
        price=price,
        range_pct=shown,
        clusters=tuple(in_range),
        above=above,
        below=below,
        open_usd=combined.open_usd,
        heatmap=_heatmap(build, low, high),
        realized=tuple(repo.liquidation_hours(symbol, start, build.bars[-1].close_time)),
        grades=tuple(grades),
    )


def _heatmap(build: MapBuild, low: float, high: float) -> HeatmapData:
    """Return the heatmap's matrix over the price range (rows: bins from low to high)."""
    grid = build.combined
    first, last = grid.bin_of(low), grid.bin_of(high)
    keys = range(first, last + 1)
    rows = tuple(
        tuple(longs.get(k, 0.0) + shorts.get(k, 0.0) for _, longs, shorts in build.columns) for k in keys
    )
    edges = tuple(grid.bin_low(k) for k in range(first, last + 2))
    profile = tuple((grid.longs.get(k, 0.0), grid.shorts.get(k, 0.0)) for k in keys)
    return HeatmapData(
        tuple(t for t, _, _ in build.columns), edges, rows, tuple(b.c for b in build.bars), profile
    )


def _utc(ms: int) -> str:
    from bot.charts.data import utc_text

    return utc_text(ms)

"""Build the liquidation map of a symbol from stored candles and open interest, one model per venue.

Each open-interest source is a venue with its own map (its own margin tiers); the combined map is their
sum. The build walks hourly candles from ``build_days`` before ``end``; each step's open interest is the
newest point of that source at or before the candle's close, and the long/short split of what it opens is
the newest stored long/short ratio at or before the candle's close (``long_shares``; the configured
``long_share`` when none is stored). Every step can be kept as a column of the
heatmap (``columns``) and is fed to the sweep trackers.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from bot.charts.data import load_candles
from bot.errors import UserError
from detectors.base import Bar
from detectors.liqmap.clusters import Cluster, all_clusters
from detectors.liqmap.model import LiqMap
from detectors.liqmap.params import LiqMapParams
from detectors.liqmap.sweeps import Sweep, SweepTracker
from storage.repo import Repo
from storage.rows import DAY_MS, LongShort, LongShortMetric, OpenInterest

# The map steps hourly: the open interest the bundled data and the venues' history endpoints give, and
# 24 columns a day draw a readable heatmap.
STEP_INTERVAL = "1h"
# Which stored ratio splits opened positions, best first: the top traders' *position* ratio weighs
# positions by size, as the map's USD does; the global *account* ratio counts accounts whatever their
# size, so it is the fallback. Taker volume is a flow of fills, not who holds the positions.
LONG_SHORT_METRICS: tuple[LongShortMetric, ...] = ("top_positions", "accounts")
# Binance publishes both ratios for every USDⓈ-M market; another venue's series is used only without it.
PREFERRED_RATIO_SOURCE = "binance"


@dataclass
class MapBuild:
    """The maps of one symbol at ``end``, with what happened on the way."""

    symbol: str
    params: LiqMapParams
    end: int
    bars: list[Bar]
    maps: dict[str, LiqMap]
    sweeps: list[Sweep] = field(default_factory=list)
    # (close time, long bins, short bins) per candle, combined over venues: the heatmap's columns.
    columns: list[tuple[int, dict[int, float], dict[int, float]]] = field(default_factory=list)

    @property
    def price(self) -> float:
        """Return the last close."""
        return self.bars[-1].c

    @property
    def combined(self) -> LiqMap:
        """Return one map holding every venue's open bins (the bins are the same grid)."""
        total = LiqMap(self.params, self.symbol, "+".join(sorted(self.maps)))
        for m in self.maps.values():
            for key, usd in m.longs.items():
                total.longs[key] = total.longs.get(key, 0.0) + usd
            for key, usd in m.shorts.items():
                total.shorts[key] = total.shorts.get(key, 0.0) + usd
            total.opened += m.opened
            total.consumed += m.consumed
            total.removed += m.removed
        return total

    def clusters(self) -> list[Cluster]:
        """Return the combined map's clusters, largest first."""
        return all_clusters(self.combined)


def _oi_by_source(rows: list[OpenInterest]) -> dict[str, list[OpenInterest]]:
    by_source: dict[str, list[OpenInterest]] = {}
    for row in rows:
        if row.usd:
            by_source.setdefault(row.source, []).append(row)
    return by_source


class LongShares:
    """The long share of new positions at any time, from one stored long/short series (or none)."""

    def __init__(self, rows: list[LongShort]) -> None:
        series = _ratio_series(rows)
        self.times = [r.ts for r in series]
        self.shares = [r.ratio / (1 + r.ratio) for r in series]

    def at(self, ts: int) -> float | None:
        """Return the long share of the newest reading at or before ``ts`` (None when there is none)."""
        at = bisect.bisect_right(self.times, ts) - 1
        return self.shares[at] if at >= 0 else None


def _ratio_series(rows: list[LongShort]) -> list[LongShort]:
    """Return the one series (metric, source) to use, oldest first: see ``LONG_SHORT_METRICS``."""
    usable = [r for r in rows if r.ratio >= 0 and r.metric in LONG_SHORT_METRICS]
    if not usable:
        return []
    best = min(
        {(r.metric, r.source) for r in usable},
        key=lambda k: (LONG_SHORT_METRICS.index(k[0]), k[1] != PREFERRED_RATIO_SOURCE, k[1]),
    )
    return sorted((r for r in usable if (r.metric, r.source) == best), key=lambda r: r.ts)


def build_map(
    repo: Repo,
    symbol: str,
    params: LiqMapParams,
    end: int,
    *,
    venue: str | None = None,
    keep_columns: bool = True,
) -> MapBuild:
    """Build the map of ``symbol`` from ``build_days`` before ``end`` up to ``end`` (UTC ms)."""
    start = end - int(params.build_days * DAY_MS)
    oi = _oi_by_source(repo.open_interest(symbol, start, end + 1))
    if venue is not None:
        if venue not in oi:
            known = ", ".join(sorted(oi)) or "none"
            raise UserError(f"no open interest of {symbol} from {venue} is stored (sources: {known})")
        oi = {venue: oi[venue]}
    if not oi:
        raise UserError(
            f"no open interest of {symbol} is stored before {_utc(end)} UTC: the map is built from its "
            "changes"
        )
    bars = [b for b in load_candles(repo, symbol, STEP_INTERVAL, start, end).bars if b.close_time <= end]
    maps = {source: LiqMap(params, symbol, source) for source in oi}
    build = MapBuild(symbol, params, end, bars, maps)
    trackers = {source: SweepTracker(m) for source, m in maps.items()}
    times = {source: [r.ts for r in rows] for source, rows in oi.items()}
    # A reading from before the window still tells the split of the window's first hours.
    long_shares = LongShares(repo.long_short(symbol, start - DAY_MS, end + 1))
    for bar in bars:
        long_share = long_shares.at(bar.close_time)
        for source, m in maps.items():
            at = bisect.bisect_right(times[source], bar.close_time) - 1
            step = m.step(bar, oi[source][at].usd if at >= 0 else None, long_share)
            build.sweeps += trackers[source].add(step)
        if keep_columns:
            build.columns.append((bar.close_time, *_column(maps)))
    for tracker in trackers.values():
        build.sweeps += tracker.open_sweeps()
    return build


def _column(maps: dict[str, LiqMap]) -> tuple[dict[int, float], dict[int, float]]:
    if len(maps) == 1:
        (only,) = maps.values()
        return dict(only.longs), dict(only.shorts)
    longs: dict[int, float] = {}
    shorts: dict[int, float] = {}
    for m in maps.values():
        for key, usd in m.longs.items():
            longs[key] = longs.get(key, 0.0) + usd
        for key, usd in m.shorts.items():
            shorts[key] = shorts.get(key, 0.0) + usd
    return longs, shorts


def _utc(ms: int) -> str:
    from bot.charts.data import utc_text

    return utc_text(ms)

"""The shared part of the liquidation-map rules: the modelled map kept on the detector instance.

A rule keeps its symbol's map (``detectors.liqmap``) on the detector instance and advances it by every
closed base candle, with the open interest known at its close (the snapshot's preferred source; its name
picks the margin tiers through ``[liqmap] venue_tiers``). On the first evaluation, and after a restart, the
map is rebuilt from the history in memory (``build_days`` of candles; the memory keeps 8 days of open
interest, so a rebuilt map knows fewer old positions than /liqmap's, built from the database); those
candles only teach the map, they never fire. The model's assumptions are the process's ``[liqmap]``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors.base import (
    MAX_USD,
    Bar,
    Detector,
    DetectorSettings,
    OpenInterestPoint,
    Signal,
    Snapshot,
)
from detectors.latch import latched_signals
from detectors.liqmap.clusters import Cluster, find_clusters
from detectors.liqmap.model import LiqMap
from detectors.liqmap.params import LiqMapParams, active_params
from detectors.liqmap.tiers import Side
from storage.rows import DAY_MS, HOUR_MS


class LiqClusterSettings(DetectorSettings):
    """Options shared by the liquidation-map rules."""

    min_usd: float = Field(
        50_000_000, gt=0, le=MAX_USD, description="Smallest modelled cluster (USD) that counts."
    )
    side: Literal["long", "short", "either"] = Field(
        "either", description="Clusters of liquidated longs (below price), shorts (above) or either."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back the map is built (the process's [liqmap] build_days)."""
        days = int(active_params().build_days * DAY_MS)
        return {"candles": days, "open_interest": days}


class MapState:
    """The detector's map and how far it has read (kept on the instance, rebuilt after a restart)."""

    def __init__(self, liqmap: LiqMap) -> None:
        self.map = liqmap
        self.last_close: int | None = None


class LiqClusterRule(Detector[LiqClusterSettings]):
    """Advance a modelled map by closed candles; subclasses decide what fires."""

    uses: ClassVar[tuple[str, ...]] = ("candles", "open_interest")

    def _sides(self) -> tuple[Side, ...]:
        side = self.settings.side
        if side == "long":
            return ("long",)
        return ("short",) if side == "short" else ("long", "short")

    def _new_bars(self, snapshot: Snapshot, params: LiqMapParams) -> tuple[MapState, Sequence[Bar]]:
        """Return the map (new when there is none or the settings changed) and the candles it has not read."""
        held: MapState | None = self.__dict__.get("_liqmap")
        if held is None or held.map.params is not params:
            points = snapshot.open_interest(count=1)
            venue = points[-1].source if points else "unknown"
            held = MapState(LiqMap(params, self.symbol, venue))
            self.__dict__["_liqmap"] = held
        since = snapshot.now - int(params.build_days * DAY_MS) if held.last_close is None else held.last_close
        bars = [
            b
            for b in snapshot.candles(since=since)
            if held.last_close is None or b.close_time > held.last_close
        ]
        return held, bars

    def _oi_at(self, points: Sequence[OpenInterestPoint], times: list[int], close: int) -> float | None:
        at = bisect.bisect_right(times, close) - 1
        return points[at].usd if at >= 0 else None

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Advance the map by the new closed candles, testing each against the clusters."""
        params = active_params()
        held, bars = self._new_bars(snapshot, params)
        first = state.get("ts") is None
        if not bars:
            return [] if first else latched_signals(self, state)
        points = snapshot.open_interest(since=bars[0].open_time - 2 * HOUR_MS)
        times = [p.ts for p in points]
        for bar in bars:
            learn = first or bar.close_time <= state.get("ts", 0)
            before = {
                side: find_clusters(held.map, side, min_usd=self.settings.min_usd) for side in self._sides()
            }
            held.map.step(bar, self._oi_at(points, times, bar.close_time))
            held.last_close = bar.close_time
            self._after_step(snapshot, state, held.map, bar, before, learn)
        state["ts"] = bars[-1].close_time
        return [] if first else latched_signals(self, state)

    def _after_step(
        self,
        snapshot: Snapshot,
        state: dict[str, Any],
        liqmap: LiqMap,
        bar: Bar,
        before: dict[Side, list[Cluster]],
        learn: bool,
    ) -> None:
        raise NotImplementedError

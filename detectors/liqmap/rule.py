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
from detectors.liqmap.clusters import Cluster
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


class LiqClusterRule(Detector[LiqClusterSettings]):
    """Advance a modelled map by closed candles; subclasses decide what fires."""

    uses: ClassVar[tuple[str, ...]] = ("candles", "open_interest")

    def _sides(self) -> tuple[Side, ...]:
        side = self.settings.side
        if side == "long":
            return ("long",)
        return ("short",) if side == "short" else ("long", "short")

    def _map(self, snapshot: Snapshot, params: LiqMapParams, state: dict[str, Any]) -> LiqMap:
        """Return the rule's map as its state last saved it, or a new one when there is none.

        The map is saved in the rule's state after every candle it reads, so a restarted bot (or a replay
        resumed on its database) goes on from exactly the map it had: rebuilding from the history in
        memory would start from fewer positions and answer differently. The instance keeps the live
        object so that reading it back is needed only after a restart.
        """
        held: LiqMap | None = self.__dict__.get("_liqmap")
        saved = state.get("map")
        fingerprint = params.fingerprint()
        if saved is not None and saved.get("p") == fingerprint:
            if held is None or held.params is not params or held.last_close_time != saved.get("t"):
                held = LiqMap.from_state(params, self.symbol, saved)
        elif held is None or held.params is not params or saved is None:
            points = snapshot.open_interest(count=1)
            held = LiqMap(params, self.symbol, points[-1].source if points else "unknown")
        self.__dict__["_liqmap"] = held
        return held

    def _new_bars(self, snapshot: Snapshot, liqmap: LiqMap) -> Sequence[Bar]:
        """Return the closed candles the map has not read (from ``build_days`` back for a new map)."""
        last = liqmap.last_close_time
        if last is None:
            return snapshot.candles(since=snapshot.now - int(liqmap.params.build_days * DAY_MS))
        return [b for b in snapshot.candles(since=last) if b.close_time > last]

    def _oi_at(self, points: Sequence[OpenInterestPoint], times: list[int], close: int) -> float | None:
        at = bisect.bisect_right(times, close) - 1
        return points[at].usd if at >= 0 else None

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Advance the map by the new closed candles, testing each against the clusters."""
        params = active_params()
        liqmap = self._map(snapshot, params, state)
        bars = self._new_bars(snapshot, liqmap)
        first = state.get("ts") is None
        if not bars:
            return [] if first else latched_signals(self, state)
        points = snapshot.open_interest(since=bars[0].open_time - 2 * HOUR_MS)
        times = [p.ts for p in points]
        for bar in bars:
            learn = first or bar.close_time <= state.get("ts", 0)
            before = self._before_step(liqmap, bar)
            liqmap.step(bar, self._oi_at(points, times, bar.close_time))
            self._after_step(snapshot, state, liqmap, bar, before, learn)
        state["ts"] = bars[-1].close_time
        state["map"] = liqmap.to_state(params.fingerprint())
        return [] if first else latched_signals(self, state)

    def _before_step(self, liqmap: LiqMap, bar: Bar) -> dict[Side, list[Cluster]]:
        """Return what a rule needs to know about the map before a candle changes it (default: nothing)."""
        return {}

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

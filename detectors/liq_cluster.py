"""Liquidation-map alerts: price nears a modelled cluster (``liq_cluster_near``) or sweeps one (``_swept``).

Both keep the symbol's modelled map (``detectors.liqmap``) on the detector instance and advance it by
every closed base candle, with the open interest known at its close (the snapshot's preferred source; its
name picks the margin tiers). On the first evaluation, and after a restart, the map is rebuilt from the
history in memory (``build_days`` of candles and open interest); those candles only teach the map, they
never fire. The model's assumptions are the process's ``[liqmap]`` settings (``active_params``).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.base import (
    MAX_USD,
    Bar,
    Detector,
    DetectorSettings,
    OpenInterestPoint,
    Signal,
    Snapshot,
    format_price,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, latched_signals, release_latch
from detectors.liqmap.clusters import Cluster, find_clusters, nearest
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


class LiqClusterNearSettings(LiqClusterSettings):
    """Options of a liq_cluster_near rule."""

    pct: float = Field(1.0, gt=0, le=20, description="Fire when price is within this % of a cluster's edge.")
    rearm_ratio: float = Field(
        1.5, ge=1, le=10, description="Fire again only after price moves beyond pct × this from it."
    )


class _MapState:
    """The detector's map and how far it has read (kept on the instance, rebuilt after a restart)."""

    def __init__(self, liqmap: LiqMap) -> None:
        self.map = liqmap
        self.last_close: int | None = None


class _LiqClusterBase(Detector[LiqClusterSettings]):
    """Advance a modelled map by closed candles; subclasses decide what fires."""

    uses: ClassVar[tuple[str, ...]] = ("candles", "open_interest")

    def _sides(self) -> tuple[Side, ...]:
        side = self.settings.side
        if side == "long":
            return ("long",)
        return ("short",) if side == "short" else ("long", "short")

    def _new_bars(self, snapshot: Snapshot, params: LiqMapParams) -> tuple[_MapState, Sequence[Bar]]:
        """Return the map (new when there is none or the settings changed) and the candles it has not read."""
        held: _MapState | None = self.__dict__.get("_liqmap")
        if held is None or held.map.params is not params:
            points = snapshot.open_interest(count=1)
            venue = points[-1].source if points else "unknown"
            held = _MapState(LiqMap(params, self.symbol, venue))
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


class LiqClusterNear(_LiqClusterBase):
    """Price comes within X% of a modelled liquidation cluster of at least $N."""

    name: ClassVar[str] = "liq_cluster_near"
    description: ClassVar[str] = "Price comes within X% of a modelled liquidation cluster of at least $N"
    Settings: ClassVar[type[DetectorSettings]] = LiqClusterNearSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "cluster_low": values.price("Band from"),
        "cluster_high": values.price("Band to"),
        "modelled_usd": values.usd("Modelled"),
        "distance_pct": values.change("Distance"),
        "price": values.price("Price"),
        "side": values.text("Side"),
    }

    def _after_step(
        self,
        snapshot: Snapshot,
        state: dict[str, Any],
        liqmap: LiqMap,
        bar: Bar,
        before: dict[Side, list[Cluster]],
        learn: bool,
    ) -> None:
        s = self.settings
        assert isinstance(s, LiqClusterNearSettings)
        for side in self._sides():
            clusters = find_clusters(liqmap, side, min_usd=s.min_usd)
            above, below = nearest(clusters, bar.c)
            cluster = above if side == "short" else below
            distance = abs(cluster.distance_pct(bar.c)) if cluster is not None else None
            edge(
                state,
                f"near:{side}",
                active=distance is not None and distance <= s.pct,
                rearm=distance is None or distance > s.pct * s.rearm_ratio,
                build=partial(self._payload, cluster, bar) if cluster is not None else dict,
                learn=learn,
            )

    def _payload(self, cluster: Cluster, bar: Bar) -> dict[str, Any]:
        distance = cluster.distance_pct(bar.c)
        return {
            "kind": f"liq_cluster_near_{cluster.side}",
            "severity": "warning",
            "title": (
                f"{short_symbol(self.symbol)} {distance:+.2f}% from the {cluster.describe()} cluster "
                f"({format_usd(cluster.usd)} modelled)"
            ),
            "values": {
                "cluster_low": cluster.low,
                "cluster_high": cluster.high,
                "modelled_usd": round(cluster.usd),
                "distance_pct": round(distance, 3),
                "price": bar.c,
                "side": cluster.side,
            },
            "at": bar.close_time,
            "direction": "up" if cluster.side == "short" else "down",
        }


class LiqClusterSwept(_LiqClusterBase):
    """A candle crosses a whole modelled liquidation cluster of at least $N; says what was realized."""

    name: ClassVar[str] = "liq_cluster_swept"
    description: ClassVar[str] = "A candle sweeps a modelled liquidation cluster of at least $N"
    Settings: ClassVar[type[DetectorSettings]] = LiqClusterSettings
    uses: ClassVar[tuple[str, ...]] = ("candles", "open_interest", "liquidations")
    value_specs: ClassVar[values.ValueSpecs] = {
        "cluster_low": values.price("Band from"),
        "cluster_high": values.price("Band to"),
        "modelled_usd": values.usd("Modelled"),
        "realized_usd": values.usd("Realized"),
        "venues": values.count("Venues"),
        "side": values.text("Side"),
    }

    def _after_step(
        self,
        snapshot: Snapshot,
        state: dict[str, Any],
        liqmap: LiqMap,
        bar: Bar,
        before: dict[Side, list[Cluster]],
        learn: bool,
    ) -> None:
        fired: set[str] = set()
        for side, clusters in before.items():
            crossed = [c for c in clusters if (bar.h >= c.high if side == "short" else bar.l <= c.low)]
            if crossed:
                # Clusters one candle crossed together are one sweep: one alert, their bands and USD joined
                # (the candle's realized liquidations cannot be told apart between them).
                swept = Cluster(
                    side,
                    min(c.low for c in crossed),
                    max(c.high for c in crossed),
                    sum(c.usd for c in crossed),
                    max(crossed, key=lambda c: c.usd).peak,
                )
                key = f"swept:{side}:{swept.low:.6g}"
                build = partial(self._payload, snapshot, swept, bar)
                edge(state, key, active=True, rearm=False, build=build, learn=learn)
                fired.add(key)
        # A sweep is one candle's event: re-arm every band this candle did not sweep (bands come and go,
        # so their keys must not pile up in the state).
        off: list[str] = state.get("off", [])
        for key in [k for k in off if k.startswith("swept:") and k not in fired]:
            off.remove(key)
            release_latch(state, key)

    def _payload(self, snapshot: Snapshot, cluster: Cluster, bar: Bar) -> dict[str, Any]:
        realized = snapshot.liquidations(bar.open_time, bar.close_time)
        side_usd = realized.short_usd if cluster.side == "short" else realized.long_usd
        index = 1 if cluster.side == "short" else 0
        venues = sum(1 for pair in realized.by_source.values() if pair[index] > 0)
        return {
            "kind": f"liq_cluster_swept_{cluster.side}",
            "severity": "warning",
            "title": (
                f"{short_symbol(self.symbol)} {format_price(cluster.low)}–{format_price(cluster.high)} "
                "cluster "
                f"swept: modelled {format_usd(cluster.usd)} of {cluster.side}s, {format_usd(side_usd)} "
                f"realized across {venues} venue{'s' if venues != 1 else ''}"
            ),
            "values": {
                "cluster_low": cluster.low,
                "cluster_high": cluster.high,
                "modelled_usd": round(cluster.usd),
                "realized_usd": round(side_usd),
                "venues": venues,
                "side": cluster.side,
            },
            "at": bar.close_time,
            "direction": "up" if cluster.side == "short" else "down",
        }

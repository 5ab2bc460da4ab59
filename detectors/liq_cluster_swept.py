"""A candle sweeps a modelled liquidation cluster of at least $N; the alert says what was realized."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from detectors import values
from detectors.base import (
    Bar,
    DetectorSettings,
    Snapshot,
    format_price,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, release_latch
from detectors.liqmap.clusters import Cluster, find_clusters
from detectors.liqmap.model import LiqMap
from detectors.liqmap.rule import LiqClusterRule, LiqClusterSettings
from detectors.liqmap.tiers import Side


class LiqClusterSwept(LiqClusterRule):
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

    def _before_step(self, liqmap: LiqMap, bar: Bar) -> dict[Side, list[Cluster]]:
        """Return the clusters of each side this candle reaches into (only those can be swept by it)."""
        before: dict[Side, list[Cluster]] = {}
        for side in self._sides():
            bins = liqmap.side_bins(side)
            if not bins:
                continue
            # A candle that reaches no bin of a side consumes nothing there and crosses no cluster.
            reached = (
                max(bins) >= liqmap.first_bin_reached_below(bar.l)
                if side == "long"
                else min(bins) <= liqmap.last_bin_reached_above(bar.h)
            )
            if reached:
                before[side] = find_clusters(liqmap, side, min_usd=self.settings.min_usd)
        return before

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

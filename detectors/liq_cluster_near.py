"""Price comes within X% of a modelled liquidation cluster of at least $N (``detectors.liqmap``)."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from pydantic import Field

from detectors import values
from detectors.base import (
    Bar,
    DetectorSettings,
    Snapshot,
    format_usd,
    short_symbol,
)
from detectors.latch import edge
from detectors.liqmap.clusters import Cluster, find_clusters, nearest
from detectors.liqmap.model import LiqMap
from detectors.liqmap.rule import LiqClusterRule, LiqClusterSettings
from detectors.liqmap.tiers import Side


class LiqClusterNearSettings(LiqClusterSettings):
    """Options of a liq_cluster_near rule."""

    pct: float = Field(1.0, gt=0, le=20, description="Fire when price is within this % of a cluster's edge.")
    rearm_ratio: float = Field(
        1.5, ge=1, le=10, description="Fire again only after price moves beyond pct × this from it."
    )


class LiqClusterNear(LiqClusterRule):
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

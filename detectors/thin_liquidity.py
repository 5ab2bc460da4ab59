"""Thin liquidity: the order book within a band of the price is X% below its average of the last day.

Books thin out before and during violent moves (market makers pull quotes), which is when a cascade runs
furthest. The rule reads each venue's newest snapshot (``[feeds.positioning] depth``) summed within
``band_pct`` of the mid, bids, asks or both, against that venue's average over ``average_hours``, summed
over the venues that have both. A snapshot that stopped inside the band is a lower bound: the rule never
compares a band that is not complete in the snapshot read now (it would read a thin book where the venue
only sent fewer levels), and averages only the complete ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.base import (
    DepthPoint,
    Detector,
    DetectorSettings,
    Quiet,
    Signal,
    Snapshot,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, latched_signals
from storage.rows import HOUR_MS, MINUTE_MS

# A venue's newest snapshot older than this is not the book now (polled every few minutes).
FRESH_MS = 15 * MINUTE_MS
BANDS_BP = {"0.5": 50, "1": 100, "2": 200}


class ThinLiquiditySettings(DetectorSettings):
    """Options of a thin_liquidity rule."""

    band_pct: Literal["0.5", "1", "2"] = Field("1", description="Band around the mid price summed (%).")
    side: Literal["bids", "asks", "both"] = Field("both", description="Which side of the book to watch.")
    drop_pct: float = Field(40.0, gt=0, lt=100, description="Fire when the book is this % below its average.")
    average_hours: float = Field(24, ge=1, le=48, description="Hours the average covers.")

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"depth": int(self.average_hours * HOUR_MS)}


def _side_usd(point: DepthPoint, side: str) -> float:
    if side == "bids":
        return point.bid_usd
    if side == "asks":
        return point.ask_usd
    return point.bid_usd + point.ask_usd


class ThinLiquidity(Detector[ThinLiquiditySettings]):
    """The order book within a band of the price is X% thinner than its average of the last day."""

    name: ClassVar[str] = "thin_liquidity"
    description: ClassVar[str] = (
        "Order-book liquidity within a band of the price X% below its average of the day"
    )
    Settings: ClassVar[type[DetectorSettings]] = ThinLiquiditySettings
    uses: ClassVar[tuple[str, ...]] = ("depth",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "usd": values.usd("Liquidity now"),
        "average_usd": values.usd("Average"),
        "drop_pct": values.change("Change"),
        "venues": values.text("Venues"),
    }
    # Whether the last read found a venue to compare (``quiet``); True until a read says otherwise.
    _venues_read: bool = True

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Compare the newest snapshots with their average; latch while the book stays thin."""
        s = self.settings
        learn = "t" not in state
        reading = self.read(snapshot)
        if reading is not None:
            usd, average, venues = reading
            drop = (1 - usd / average) * 100
            edge(
                state,
                "thin",
                active=drop >= s.drop_pct,
                rearm=drop < s.drop_pct / 2,
                build=partial(self._payload, usd, average, drop, venues, snapshot.now),
                learn=learn,
            )
        state["t"] = snapshot.now
        return [] if learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Sleep until new depth while no venue could be read and nothing is latched; else return None.

        With a venue read, the day's average slides with the clock, so no quiet is exact. With none, time
        alone never makes one readable (its newest snapshot only grows staler, its window only loses
        points), so only new depth rows can change the outcome: without them a rule evaluated at every
        tick of a replay that has no depth was a tenth of its engine's time (bench.replay).
        """
        if self._venues_read or state.get("latch"):
            return None
        return Quiet(unchanged=("depth",), now_key="t")

    def read(self, snapshot: Snapshot) -> tuple[float, float, tuple[str, ...]] | None:
        """Return (liquidity now, its average, venues) over venues with a fresh complete snapshot."""
        s = self.settings
        now = snapshot.now
        by_source = snapshot.depth(BANDS_BP[s.band_pct], since=now - int(s.average_hours * HOUR_MS))
        usd = average = 0.0
        venues = []
        for source, points in sorted(by_source.items()):
            newest = points[-1]
            # A snapshot that stopped inside the band holds a floor, not the book: it is no part of the
            # average either (shallow snapshots earlier in the day would pull it down and hide a thinning).
            complete = [p for p in points if p.complete]
            if now - newest.ts > FRESH_MS or not newest.complete or len(complete) < 2:
                continue
            usd += _side_usd(newest, s.side)
            average += sum(_side_usd(p, s.side) for p in complete) / len(complete)
            venues.append(source)
        self._venues_read = bool(venues)
        return (usd, average, tuple(venues)) if venues and average > 0 else None

    def _payload(
        self, usd: float, average: float, drop: float, venues: tuple[str, ...], at: int
    ) -> dict[str, Any]:
        s = self.settings
        side = {"bids": "bid", "asks": "ask", "both": "bid and ask"}[s.side]
        return {
            "kind": "thin_liquidity",
            "severity": "warning",
            "title": (
                f"{short_symbol(self.symbol)} order book thin: {format_usd(usd)} of {side} liquidity within "
                f"±{s.band_pct}%, {drop:.0f}% below its {s.average_hours:g}h average ({format_usd(average)})"
            ),
            "values": {
                "usd": round(usd, 2),
                "average_usd": round(average, 2),
                "drop_pct": round(-drop, 2),
                "venues": ", ".join(venues),
            },
            "at": at,
            "stateful": True,
            "direction": "down",
        }

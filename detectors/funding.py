"""Funding rate beyond a threshold, and sign flips, judged on settled rates at settlement times.

Estimates move all the time between settlements; only the settled rate is what positions actually paid,
so that is what this detector looks at (an extreme lasts as long as settlements stay beyond it).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

from pydantic import Field, model_validator

from detectors import values
from detectors.base import (
    MAX_FUNDING_PCT,
    Detector,
    DetectorSettings,
    FundingPoint,
    Quiet,
    Signal,
    Snapshot,
    short_symbol,
)
from detectors.latch import edge, latched_signals, latches_settled, release_latch, set_latch
from detectors.text import format_rate, format_window
from storage.rows import HOUR_MS, funding_interval_ms

FLIP_KEYS = ("flip_negative", "flip_positive")


class FundingSettings(DetectorSettings):
    """Options of a funding rule (rates in percent per funding interval, as venues show them)."""

    # Within +-MAX_FUNDING_PCT: venues clamp funding to a few percent per interval, so a threshold beyond it
    # is a typo that never fires.
    high_pct: float | None = Field(
        0.05,
        gt=0,
        le=MAX_FUNDING_PCT,
        description="Fire while the settled rate is at or above this (longs paying); none: off.",
    )
    low_pct: float | None = Field(
        -0.03,
        lt=0,
        ge=-MAX_FUNDING_PCT,
        description="Fire while the settled rate is at or below this (shorts paying); none: off.",
    )
    flips: bool = Field(True, description="Also report when the rate changes sign.")
    flip_min_pct: float = Field(
        0.005,
        ge=0,
        le=MAX_FUNDING_PCT,
        description="A sign change counts once the rate is at least this far (%) past zero, so a rate "
        "hovering around zero does not flip back and forth.",
    )

    @model_validator(mode="after")
    def _something_to_watch(self) -> FundingSettings:
        if self.high_pct is None and self.low_pct is None and not self.flips:
            raise ValueError("set high_pct, low_pct or flips, or the rule watches nothing")
        return self

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the last 12 settlements (8h apart at most), then each new one."""
        return {"funding": 13 * 8 * HOUR_MS}


class Funding(Detector[FundingSettings]):
    """Funding rate beyond a threshold, and sign flips, at settlement times."""

    name: ClassVar[str] = "funding"
    description: ClassVar[str] = "Settled funding rate beyond a threshold (while it lasts), and sign flips"
    Settings: ClassVar[type[DetectorSettings]] = FundingSettings
    uses: ClassVar[tuple[str, ...]] = ("funding",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "rate_pct": values.funding("Rate"),
        "previous_rate_pct": values.funding("Previous rate"),
        "threshold_pct": values.funding("Threshold"),
        "period_hours": values.duration("Funding interval", unit="hours"),
        "settled_at": values.time("Funding time"),
        "source": values.text("Source"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Process the settlements since the last evaluation; return extremes and recent flips."""
        last = state.get("ts")
        if last is None:
            self._learn(snapshot, state)
            return []
        # Venues settle at most hourly: nothing new can have settled within an hour of the last one.
        if snapshot.now < last + HOUR_MS:
            return latched_signals(self, state)
        for point in snapshot.funding(since=last + 1, settled_only=True):
            self._step(state, point)
        return latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet for the hour after a settlement, then until new funding rows arrive."""
        if not latches_settled(state):
            return None
        last = state.get("ts")
        if last is not None and now < last + HOUR_MS:
            return Quiet(until=int(last) + HOUR_MS)  # evaluate's own shortcut, whatever the data
        # Past that hour (or before any settlement) evaluate reads the settled rates up to now: the same
        # rows give the same answer.
        return Quiet(unchanged=("funding",))

    def _learn(self, snapshot: Snapshot, state: dict[str, Any]) -> None:
        recent = snapshot.funding(count=12, settled_only=True)
        if not recent:
            return
        s = self.settings
        # The sign regime is that of the latest rate clearly off zero (positive, the usual state, if none).
        state["sign"] = 1
        for point in reversed(recent):
            if abs(point.rate) * 100 >= s.flip_min_pct:
                state["sign"] = 1 if point.rate > 0 else -1
                break
        self._extremes(state, recent[-1], learn=True)
        state["ts"] = recent[-1].ts
        state["rate"] = recent[-1].rate

    def _step(self, state: dict[str, Any], point: FundingPoint) -> None:
        s = self.settings
        # The interval the venue means, not the raw spacing of its late-stamped settlements ("per 479m").
        period = funding_interval_ms(point.ts - state["ts"])
        self._extremes(state, point, learn=False, period=period)
        if s.flips:
            # A flip is news for one funding period: drop the previous one at the next settlement.
            for key in FLIP_KEYS:
                release_latch(state, key)
            pct = point.rate * 100
            sign = 1 if pct >= s.flip_min_pct else -1 if pct <= -s.flip_min_pct else 0
            if sign and sign != state.get("sign", 1):
                state["sign"] = sign
                set_latch(state, FLIP_KEYS[sign > 0], {"signal": self._flip(point, state["rate"], period)})
        state["ts"] = point.ts
        state["rate"] = point.rate

    def _extremes(self, state: dict[str, Any], point: FundingPoint, *, learn: bool, period: int = 0) -> None:
        s = self.settings
        pct = point.rate * 100
        for key, limit in (("high", s.high_pct), ("low", s.low_pct)):
            if limit is None:
                continue
            hit = pct >= limit if key == "high" else pct <= limit
            edge(
                state,
                key,
                active=hit,
                rearm=not hit,
                build=partial(self._extreme, key, point, period),
                learn=learn,
            )

    def _per(self, period: int) -> str:
        return f"per {format_window(period)}" if period > 0 else "per funding interval"

    def _extreme(self, key: str, point: FundingPoint, period: int) -> dict[str, Any]:
        s = self.settings
        high = key == "high"
        who = "longs paying shorts" if high else "shorts paying longs"
        asset = short_symbol(self.symbol)
        return {
            "kind": f"funding_{key}",
            "severity": "warning",
            "title": f"{asset} funding at {format_rate(point.rate)} {self._per(period)} ({who})",
            "values": {
                "rate_pct": round(point.rate * 100, 6),
                "threshold_pct": s.high_pct if high else s.low_pct,
                "settled_at": point.ts,
                "period_hours": period / HOUR_MS if period else None,
                "source": point.source,
            },
            "at": point.ts,
            "stateful": True,
            "direction": "up" if high else "down",
        }

    def _flip(self, point: FundingPoint, previous: float, period: int) -> dict[str, Any]:
        negative = point.rate < 0
        return {
            "kind": "funding_flip",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} funding flipped {'negative' if negative else 'positive'}: "
                f"{format_rate(point.rate)} {self._per(period)} (was {format_rate(previous)})"
            ),
            "values": {
                "rate_pct": round(point.rate * 100, 6),
                "previous_rate_pct": round(previous * 100, 6),
                "settled_at": point.ts,
                "period_hours": period / HOUR_MS if period else None,
                "source": point.source,
            },
            "at": point.ts,
            "direction": "down" if negative else "up",
        }

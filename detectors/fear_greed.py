"""The Crypto Fear & Greed Index changes regime, or reaches its highest/lowest in a long time.

Market-wide: one rule watches the index, not a trading pair. Each published day is judged once: a
regime change (the published classification differs from the current regime) and how long it had been
since the index was this high (or low), with the date of that last time ("61, its highest since
2025-10-10"). The alert for a day stays active until the next day is published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from pydantic import Field

from detectors import values
from detectors.base import Detector, DetectorSettings, FearGreedPoint, Quiet, Signal, Snapshot
from detectors.latch import latched_signals, latches_settled, release_latch, set_latch
from storage.rows import DAY_MS


class FearGreedSettings(DetectorSettings):
    """Options of a fear_greed rule."""

    regime_change: bool = Field(True, description="Report a change of the published classification.")
    min_change: int = Field(
        3,
        ge=0,
        le=100,
        description="Ignore a classification change when the value moved fewer points than this since the "
        "day before (a value sitting on a band edge would otherwise flip the regime daily).",
    )
    record_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Also report a value that is the highest (or lowest) in at least this many days; 0: off.",
    )
    lookback_days: int = Field(
        3650, ge=30, le=20_000, description="How far back to look for the last time the index was this high."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"fear_greed": self.lookback_days * DAY_MS}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads of a symbol's series: nothing (the index is kept whole)."""
        return {}


class Since(NamedTuple):
    """The last earlier day the index was at least as high (or as low) as today."""

    date: str | None  # None: never within the lookback
    value: int | None
    days: int  # days since then, or the days of history searched when never
    first_date: str | None  # oldest day searched


def since(points: Sequence[FearGreedPoint], today: FearGreedPoint, higher: bool) -> Since:
    """Return the last day before ``today`` whose value was at least (``higher``) or at most today's."""
    for point in reversed(points):
        if point.ts >= today.ts:
            continue
        if (point.value >= today.value) if higher else (point.value <= today.value):
            return Since(point.date, point.value, (today.ts - point.ts) // DAY_MS, None)
    first = points[0] if points and points[0].ts < today.ts else None
    days = (today.ts - first.ts) // DAY_MS if first else 0
    return Since(None, None, days, first.date if first else None)


class FearGreed(Detector[FearGreedSettings]):
    """Fear & Greed regime changes and multi-week highs/lows."""

    name: ClassVar[str] = "fear_greed"
    description: ClassVar[str] = (
        "Fear & Greed Index: regime change, and highest/lowest in N days (with the date it was last there)"
    )
    Settings: ClassVar[type[DetectorSettings]] = FearGreedSettings
    market_wide: ClassVar[bool] = True
    uses: ClassVar[tuple[str, ...]] = ("fear_greed",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "value": values.count("Index"),
        "classification": values.text("Classification"),
        "previous_value": values.count("Previous value"),
        "previous_regime": values.text("Previous classification"),
        "highest_since": values.date("Highest since"),
        "highest_since_value": values.count("Value then"),
        "lowest_since": values.date("Lowest since"),
        "lowest_since_value": values.count("Value then"),
        "days_since": values.count("Days since then"),
        "date": values.date("Day"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Judge every day published since the last evaluation; return the latest day's alert."""
        newest = snapshot.fear_greed(count=1)
        if not newest:
            return []
        top = newest[-1]
        last = state.get("ts")
        if last is None:
            # First evaluation: the current regime is whatever was published last.
            state.update(ts=top.ts, value=top.value, regime=top.classification)
            return []
        if top.ts <= last:
            return latched_signals(self, state)
        s = self.settings
        history = snapshot.fear_greed(since=top.ts - s.lookback_days * DAY_MS)
        for point in history:
            if point.ts > last:
                self._step(state, point, history)
        return latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until a new Fear & Greed value arrives: evaluate reads nothing else."""
        return Quiet(unchanged=("fear_greed",)) if latches_settled(state) else None

    def _step(self, state: dict[str, Any], point: FearGreedPoint, history: Sequence[FearGreedPoint]) -> None:
        s = self.settings
        for key in list(state.get("latch", {})):
            release_latch(state, key)  # yesterday's news
        previous, regime = int(state["value"]), state.get("regime")
        label = point.classification
        changed = (
            s.regime_change
            and label is not None
            and regime is not None
            and label != regime
            and abs(point.value - previous) >= s.min_change
        )
        if label is not None and (regime is None or changed):
            state["regime"] = label
        rising = point.value >= previous
        last_time = since(history, point, higher=rising)
        record = s.record_days > 0 and last_time.days >= s.record_days and point.value != previous
        if changed or record:
            kind = "regime_change" if changed else ("record_high" if rising else "record_low")
            payload = self._payload(kind, point, previous, regime, last_time, rising)
            set_latch(state, f"{kind}:{point.date}", {"signal": payload})
        state["ts"] = point.ts
        state["value"] = point.value

    def _payload(
        self,
        kind: str,
        point: FearGreedPoint,
        previous: int,
        regime: str | None,
        last_time: Since,
        rising: bool,
    ) -> dict[str, Any]:
        label = point.classification or "unlabelled"
        extreme = "highest" if rising else "lowest"
        if last_time.date is not None:
            context = f"{extreme} since {last_time.date}"
        elif last_time.first_date is not None:
            context = f"{extreme} since records began here ({last_time.first_date})"
        else:
            context = ""
        head = f"Fear & Greed {point.value} ({label}), {'up' if rising else 'down'} from {previous}"
        if kind == "regime_change":
            head = f"Fear & Greed now {label} ({point.value}), {'up' if rising else 'down'} from {previous}"
        title = f"{head}: {context}" if context and (kind != "regime_change" or last_time.days >= 7) else head
        return {
            "kind": kind,
            "severity": "warning" if kind == "regime_change" and "extreme" in label.lower() else "info",
            "title": title,
            "values": {
                "date": point.date,
                "value": point.value,
                "classification": point.classification,
                "previous_value": previous,
                "previous_regime": regime,
                f"{extreme}_since": last_time.date,
                f"{extreme}_since_value": last_time.value,
                "days_since": last_time.days,
            },
            "at": point.ts,
            "direction": "up" if rising else "down",
        }

"""Open interest changes by at least X% within a window (leverage piling in or being flushed out)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field

from detectors import values
from detectors.base import (
    Detector,
    DetectorSettings,
    OpenInterestPoint,
    Quiet,
    Signal,
    Snapshot,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, latched_signals, latches_settled
from detectors.series import point_at
from detectors.text import format_amount, format_pct, format_window
from storage.rows import HOUR_MS, MINUTE_MS


class OiChange(NamedTuple):
    """Open interest at two times and the change between them."""

    before: float
    after: float
    pct: float
    basis: Literal["contracts", "usd"]
    start: int
    end: int

    def describe(self) -> str:
        """Return "from → to" in the basis' units."""
        if self.basis == "usd":
            return f"{format_usd(self.before)} → {format_usd(self.after)}"
        return f"{format_amount(self.before)} → {format_amount(self.after)} contracts"


def oi_change(a: OpenInterestPoint | None, b: OpenInterestPoint | None) -> OiChange | None:
    """Return the change from ``a`` to ``b``, in contracts when both have them (USD moves with price)."""
    if a is None or b is None:
        return None
    if a.contracts and b.contracts:
        return OiChange(
            a.contracts, b.contracts, (b.contracts / a.contracts - 1) * 100, "contracts", a.ts, b.ts
        )
    if a.usd and b.usd:
        return OiChange(a.usd, b.usd, (b.usd / a.usd - 1) * 100, "usd", a.ts, b.ts)
    return None


class OpenInterestSettings(DetectorSettings):
    """Options of an open_interest rule."""

    pct: float = Field(5.0, gt=0, le=1000, description="Smallest change of open interest that fires (%).")
    window_hours: float = Field(4, gt=0, le=24 * 7, description="Window the change is measured over.")
    direction: Literal["up", "down", "either"] = Field("either", description="Which changes fire.")
    rearm_ratio: float = Field(
        0.5, ge=0, lt=1, description="Fire again only after the change shrinks below this fraction of pct."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"open_interest": int(self.window_hours * HOUR_MS)}


class OpenInterest(Detector[OpenInterestSettings]):
    """Open interest rises or falls by X% within a window."""

    name: ClassVar[str] = "open_interest"
    description: ClassVar[str] = "Open interest changes by at least X% within a window"
    Settings: ClassVar[type[DetectorSettings]] = OpenInterestSettings
    uses: ClassVar[tuple[str, ...]] = ("open_interest",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "change_pct": values.change("Change"),
        "from": values.open_interest("From"),
        "to": values.open_interest("To"),
        "from_time": values.time("Since"),
        "window_hours": values.duration("Window", unit="hours"),
        # Shown by the amounts themselves ($ or contracts).
        "basis": values.hidden(),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Measure the change at every open-interest point since the last evaluation."""
        s = self.settings
        last = state.get("ts")
        # The new points (only the newest on the first evaluation), and below the older ones their
        # references can be: a window's worth of points built for every new one was most of this rule's
        # cost in a year's replay (bench.replay, py-spy).
        points = snapshot.open_interest(count=1) if last is None else snapshot.open_interest(since=last + 1)
        if not points:
            return [] if last is None else latched_signals(self, state)
        top = points[-1]
        window = int(s.window_hours * HOUR_MS)
        # A reference this much older than the window's start still counts (a missed poll, an hourly gap).
        max_age = max(window // 4, 10 * MINUTE_MS)
        first = top.ts if last is None else last + 1
        references = snapshot.open_interest(since=first - window - max_age, until=top.ts - window)
        for p in points:
            change = oi_change(point_at(references, p.ts - window, max_age), p)
            if change is None:
                if last is None:
                    return []  # nothing to learn from yet
                continue
            for direction, sign in (("up", 1.0), ("down", -1.0)):
                if s.direction not in ("either", direction):
                    continue
                edge(
                    state,
                    direction,
                    active=sign * change.pct >= s.pct,
                    rearm=sign * change.pct < s.pct * s.rearm_ratio,
                    build=partial(self._payload, change),
                    learn=last is None,
                )
        state["ts"] = top.ts
        return [] if last is None else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until new open-interest rows arrive: evaluate reads nothing else."""
        return Quiet(unchanged=("open_interest",)) if latches_settled(state) else None

    def _payload(self, change: OiChange) -> dict[str, Any]:
        s = self.settings
        up = change.pct > 0
        window = format_window(change.end - change.start)
        return {
            "kind": "oi_up" if up else "oi_down",
            "severity": "warning" if abs(change.pct) >= 2 * s.pct else "info",
            "title": (
                f"{short_symbol(self.symbol)} open interest {format_pct(change.pct)} in {window} "
                f"({change.describe()})"
            ),
            "values": {
                "change_pct": round(change.pct, 3),
                "from": change.before,
                "to": change.after,
                "basis": change.basis,
                "from_time": change.start,
                "window_hours": s.window_hours,
            },
            "at": change.end,
            "direction": "up" if up else "down",
        }

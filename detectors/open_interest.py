"""Open interest changes by at least X% within a window (leverage piling in or being flushed out).

With ``rebuild_pct`` set the rule also watches what follows a flush (open interest down at least ``pct``
within ``window_hours``): the drop runs from the window's first value to the lowest value after it, and
once ``rebuild_pct`` percent of it has come back the rule says so, with how long it took from the low.
A rebuild not seen within ``rebuild_within_hours`` of the flush is forgotten. ``changes = false`` keeps
only those rebuild alerts. Left unset, the rule is exactly the change alert it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal, NamedTuple, Self

from pydantic import Field, model_validator

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
from detectors.latch import edge, latched_signals, latches_settled, release_latch, set_latch
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
    rebuild_pct: float | None = Field(
        None,
        gt=0,
        le=100,
        description="After a flush (down pct within window_hours), fire once this % of the drop is back.",
    )
    # Leverage that takes longer than a month to come back is a new regime, not a rebuild of that flush.
    rebuild_within_hours: float = Field(
        7 * 24, gt=0, le=30 * 24, description="Forget a flush whose rebuild has not come within this long."
    )
    changes: bool = Field(True, description="Alert on the changes themselves (false: only rebuilds).")

    @model_validator(mode="after")
    def _can_fire(self) -> Self:
        """Refuse a rule that watches neither changes nor rebuilds."""
        if not self.changes and self.rebuild_pct is None:
            raise ValueError("with `changes = false` set `rebuild_pct`, or the rule can never fire")
        return self

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"open_interest": int(self.window_hours * HOUR_MS)}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the window before each new point, its tolerance, an hour of slack."""
        window = int(self.window_hours * HOUR_MS)
        return {"open_interest": window + max(window // 4, 10 * MINUTE_MS) + HOUR_MS}


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
        # A rebuild after a flush (rebuild_pct).
        "regained_pct": values.percent("Regained of the drop"),
        "flush_pct": values.change("Flush"),
        "before_flush": values.open_interest("Before the flush"),
        "low": values.open_interest("Low"),
        "now": values.open_interest("Now"),
        "flush_from": values.time("Flush began"),
        "low_at": values.time("Low at"),
        "rebuilt_in_s": values.duration("Took from the low"),
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
        # One new point (the usual evaluation) needs one reference: the newest at or before its window's
        # start, all ``point_at`` reads; building the hour of points before it was half this rule's cost
        # in a year's replay (bench.replay).
        references = snapshot.open_interest(
            since=first - window - max_age, until=top.ts - window, count=1 if len(points) == 1 else None
        )
        for p in points:
            change = oi_change(point_at(references, p.ts - window, max_age), p)
            if s.rebuild_pct is not None and last is not None:
                self._follow_flush(state, change, p)
            if change is None:
                if last is None:
                    return []  # nothing to learn from yet
                continue
            for direction, sign in (("up", 1.0), ("down", -1.0)):
                if not s.changes or s.direction not in ("either", direction):
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

    def _follow_flush(self, state: dict[str, Any], change: OiChange | None, point: OpenInterestPoint) -> None:
        """Start following a flush, move its low, and latch the rebuild once enough of the drop is back."""
        s = self.settings
        flush = state.get("flush")
        if flush is None:
            if change is not None and change.pct <= -s.pct:
                release_latch(state, "rebuild")  # a new flush: the last rebuild's news is over
                state["flush"] = {
                    "basis": change.basis,
                    "peak": change.before,
                    "peak_t": change.start,
                    "low": change.after,
                    "low_t": change.end,
                    "t": change.end,
                }
            return
        value = point.contracts if flush["basis"] == "contracts" else point.usd
        if not value:
            return  # this point lacks the flush's unit: wait for one that has it
        if point.ts - flush["t"] > s.rebuild_within_hours * HOUR_MS:
            del state["flush"]
            self._follow_flush(state, change, point)  # it may start the next flush
            return
        if value < flush["low"]:
            flush.update(low=value, low_t=point.ts)
            return
        drop = flush["peak"] - flush["low"]
        regained = (value - flush["low"]) / drop * 100 if drop > 0 else 0.0
        if regained >= (s.rebuild_pct or 0.0):
            del state["flush"]
            set_latch(state, "rebuild", {"signal": self._rebuild_payload(flush, value, point.ts, regained)})

    def _rebuild_payload(
        self, flush: dict[str, Any], value: float, at: int, regained: float
    ) -> dict[str, Any]:
        asset = short_symbol(self.symbol)
        drop_pct = (flush["low"] / flush["peak"] - 1) * 100
        took = at - flush["low_t"]
        usd = flush["basis"] == "usd"
        unit = format_usd if usd else (lambda v: f"{format_amount(v)} contracts")
        return {
            "kind": "oi_rebuild",
            "severity": "info",
            "title": (
                f"{asset} open interest rebuilt {regained:.0f}% of its {format_pct(drop_pct)} flush "
                f"in {values.format_duration(took / 1000)} from the low "
                f"({unit(flush['low'])} → {unit(value)}, was {unit(flush['peak'])})"
            ),
            "values": {
                "regained_pct": round(regained, 2),
                "flush_pct": round(drop_pct, 3),
                "before_flush": flush["peak"],
                "low": flush["low"],
                "now": value,
                "basis": flush["basis"],
                "flush_from": flush["peak_t"],
                "low_at": flush["low_t"],
                "rebuilt_in_s": took // 1000,
            },
            "at": at,
            "direction": "up",
        }

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

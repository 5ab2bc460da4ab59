"""Price moves at least X% within a window ("ETH +5.2% in 24h"), measured close to close."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from detectors import values
from detectors.bars import bar_closing_at, new_closed_bars, quiet_until_next_bar
from detectors.base import (
    Bar,
    Detector,
    DetectorSettings,
    Quiet,
    Signal,
    Snapshot,
    format_price,
    short_symbol,
)
from detectors.latch import edge, latched_signals
from detectors.text import format_pct, format_window
from storage.rows import HOUR_MS, interval_ms

StepInterval = Literal["5m", "15m", "1h", "4h", "1d"]


class PctMoveSettings(DetectorSettings):
    """Options of a pct_move rule."""

    pct: float = Field(5.0, gt=0, le=1000, description="Smallest move that fires, in percent.")
    window_hours: float = Field(24, gt=0, le=24 * 90, description="Window the move is measured over.")
    direction: Literal["up", "down", "either"] = Field("either", description="Which moves fire.")
    interval: StepInterval = Field(
        "1h",
        description="Candle closes the move is measured on (also how often it is checked); 1h makes live "
        "one-minute data and hourly replays agree.",
    )
    rearm_ratio: float = Field(
        0.5, ge=0, lt=1, description="Fire again only after the move shrinks below this fraction of pct."
    )

    @model_validator(mode="after")
    def _window_is_whole_candles(self) -> PctMoveSettings:
        if (self.window_hours * HOUR_MS) % interval_ms(self.interval):
            raise ValueError(f"window_hours must be a whole number of {self.interval} candles")
        return self

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"candles": int(self.window_hours * HOUR_MS) + interval_ms(self.interval)}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the window before each new candle, and a few candles of slack."""
        return {self.interval: int(self.window_hours * HOUR_MS) + 3 * interval_ms(self.interval)}


def change_pct(now_price: float, then_price: float) -> float:
    """Return the change from ``then_price`` to ``now_price`` in percent."""
    return (now_price / then_price - 1.0) * 100.0


class PctMove(Detector[PctMoveSettings]):
    """Price changes by at least X% within a window."""

    name: ClassVar[str] = "pct_move"
    description: ClassVar[str] = (
        "Price moves at least X% within a window (close to close), up, down or either"
    )
    Settings: ClassVar[type[DetectorSettings]] = PctMoveSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "change_pct": values.change("Change"),
        "price": values.price("Price"),
        "from_price": values.price("From"),
        "from_time": values.time("Since"),
        "window_hours": values.duration("Window", unit="hours"),
        "threshold_pct": values.percent("Threshold"),
        "basis": values.text("Based on"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Measure the move at every candle closed since the last evaluation; return the latched moves."""
        s = self.settings
        window_ms = int(s.window_hours * HOUR_MS)
        span = window_ms // interval_ms(s.interval)
        step = new_closed_bars(snapshot, state, s.interval, span)
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        for i in range(step.first_new, len(bars)):
            bar = bars[i]
            # The reference is the close one window earlier; on finer base data than the interval the
            # snapshot returns base candles, so look it up by time rather than by position.
            ref = bar_closing_at(bars, i - window_ms // bar.interval_ms, bar.close_time - window_ms)
            if ref is None:
                if step.learn:
                    return []  # not enough history to learn from yet: stay un-initialised
                state["t"] = bar.open_time
                continue
            self._step(state, bar, ref, window_ms, learn=step.learn)
            state["t"] = bar.open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _step(self, state: dict[str, Any], bar: Bar, ref: Bar, window_ms: int, *, learn: bool) -> None:
        s = self.settings
        change = change_pct(bar.c, ref.c)
        for direction, sign in (("up", 1.0), ("down", -1.0)):
            if s.direction not in ("either", direction):
                continue
            signed = sign * change
            edge(
                state,
                direction,
                active=signed >= s.pct,
                rearm=signed < s.pct * s.rearm_ratio,
                build=lambda: self._payload(bar, ref, change, window_ms),
                learn=learn,
            )

    def _payload(self, bar: Bar, ref: Bar, change: float, window_ms: int) -> dict[str, Any]:
        s = self.settings
        window = format_window(window_ms)
        up = change > 0
        title = f"{short_symbol(self.symbol)} {format_pct(change)} in {window} (to {format_price(bar.c)})"
        return {
            "kind": "move_up" if up else "move_down",
            "severity": "critical" if abs(change) >= 2 * s.pct else "warning",
            "title": title,
            "values": {
                "change_pct": round(change, 3),
                "price": bar.c,
                "from_price": ref.c,
                "from_time": ref.close_time,
                "window_hours": s.window_hours,
                "threshold_pct": s.pct,
                "basis": f"{s.interval} close",
            },
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }

"""A candle's volume is at least K times the average of the candles before it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.bars import new_closed_bars, quiet_until_next_bar
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
from detectors.text import format_amount, format_pct, format_window
from storage.rows import interval_ms


class VolumeSpikeSettings(DetectorSettings):
    """Options of a volume_spike rule."""

    multiple: float = Field(
        4.0, gt=1, le=1000, description="Fire when volume is at least this × the average."
    )
    window: int = Field(24, ge=2, le=1000, description="How many preceding candles the average covers.")
    interval: Literal["5m", "15m", "1h", "4h", "1d"] = Field(
        "1h",
        description="Candle size compared; 1h makes live one-minute data and hourly replays agree.",
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"candles": (self.window + 1) * interval_ms(self.interval)}


class VolumeSpike(Detector[VolumeSpikeSettings]):
    """Volume of a candle is a multiple of its trailing average."""

    name: ClassVar[str] = "volume_spike"
    description: ClassVar[str] = "A candle's volume is at least K× the average of the N candles before it"
    Settings: ClassVar[type[DetectorSettings]] = VolumeSpikeSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "volume": values.amount("Volume"),
        "ratio": values.ratio("Times the average"),
        "average_volume": values.amount("Average volume"),
        "price_change_pct": values.change("Price change"),
        "open": values.price("Open"),
        "close": values.price("Close"),
        "candle_open_time": values.time("Candle opened"),
        "window": values.count("Candles averaged"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Compare every candle closed since the last evaluation with its trailing average."""
        s = self.settings
        step = new_closed_bars(snapshot, state, s.interval, s.window)
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        for i in range(step.first_new, len(bars)):
            bar = bars[i]
            if i < s.window:
                if step.learn:
                    return []  # too little history to know what normal volume is
                state["t"] = bar.open_time
                continue
            average = sum(b.volume for b in bars[i - s.window : i]) / s.window
            ratio = bar.volume / average if average > 0 else 0.0
            edge(
                state,
                "spike",
                active=ratio >= s.multiple,
                # One alert per burst: consecutive heavy candles are the same event.
                rearm=ratio < s.multiple,
                build=partial(self._payload, bar, average, ratio),
                learn=step.learn,
            )
            state["t"] = bar.open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _payload(self, bar: Bar, average: float, ratio: float) -> dict[str, Any]:
        s = self.settings
        asset = short_symbol(self.symbol)
        length = format_window(bar.interval_ms)
        move = (bar.c / bar.o - 1.0) * 100.0 if bar.o else 0.0
        return {
            "kind": "volume_spike",
            "severity": "warning" if ratio >= 2 * s.multiple else "info",
            "title": (
                f"{asset} volume spike: {format_amount(bar.volume)} {asset} in {length}, "
                f"{ratio:.1f}× the {format_window(bar.interval_ms * s.window)} average "
                f"(price {format_pct(move)} to {format_price(bar.c)})"
            ),
            "values": {
                "volume": bar.volume,
                "average_volume": round(average, 6),
                "ratio": round(ratio, 3),
                "window": s.window,
                "candle_open_time": bar.open_time,
                "open": bar.o,
                "close": bar.c,
                "price_change_pct": round(move, 3),
            },
            "at": bar.close_time,
            "direction": "up" if bar.c >= bar.o else "down",
        }

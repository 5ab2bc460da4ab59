"""A candle's volume is at least K times the average of the candles before it; or N candles in a row are.

With ``consecutive = N`` (sustained volume) each of the last N closed candles must trade at least K× the
average of the ``window`` candles before the first of them: the baseline is the volume before the run, so
a run that keeps trading heavy is not measured against itself. ``consecutive = 1`` (the default) is the
single-candle spike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # 48 candles in a row is two days of hourly candles: sustained volume longer than that is a new normal
    # for the average, not a burst.
    consecutive: int = Field(
        1,
        ge=1,
        le=48,
        description="Candles in a row that must each reach multiple × the average before the first of them.",
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"candles": (self.window + self.consecutive) * interval_ms(self.interval)}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the average's candles before the run, and a few of slack."""
        return {self.interval: (self.window + self.consecutive + 3) * interval_ms(self.interval)}


class VolumeSpike(Detector[VolumeSpikeSettings]):
    """Volume of a candle is a multiple of its trailing average."""

    name: ClassVar[str] = "volume_spike"
    description: ClassVar[str] = (
        "A candle's volume (or each of N in a row: sustained) is at least K× the average before it"
    )
    Settings: ClassVar[type[DetectorSettings]] = VolumeSpikeSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "volume": values.amount("Volume"),
        # Sustained volume (consecutive > 1): how many candles in a row; the single spike has no such key.
        "candles": values.count("Candles in a row"),
        "ratio": values.ratio("Times the average"),
        "average_volume": values.amount("Average volume"),
        "price_change_pct": values.change("Price change"),
        "open": values.price("Open"),
        "close": values.price("Close"),
        "candle_open_time": values.time("Candle opened"),
        "window": values.count("Candles averaged"),
        "run_started_at": values.time("Run began"),
        "ratios": values.hidden(),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Compare every candle closed since the last evaluation with its trailing average."""
        s = self.settings
        run = s.consecutive
        step = new_closed_bars(snapshot, state, s.interval, s.window + run - 1)
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        for i in range(step.first_new, len(bars)):
            bar = bars[i]
            first = i - run + 1  # the first candle of the run ending here
            if first < s.window:
                if step.learn:
                    return []  # too little history to know what normal volume is
                state["t"] = bar.open_time
                continue
            average = sum(b.volume for b in bars[first - s.window : first]) / s.window
            ratio = min(b.volume for b in bars[first : i + 1]) / average if average > 0 else 0.0
            build = (
                partial(self._payload, bar, average, ratio)
                if run == 1
                else partial(self._sustained_payload, bars[first : i + 1], average, ratio)
            )
            edge(
                state,
                "spike",
                active=ratio >= s.multiple,
                # One alert per burst: consecutive heavy candles (or runs) are the same event.
                rearm=ratio < s.multiple,
                build=build,
                learn=step.learn,
            )
            state["t"] = bar.open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _sustained_payload(self, run: Sequence[Bar], average: float, ratio: float) -> dict[str, Any]:
        s = self.settings
        asset = short_symbol(self.symbol)
        first, last = run[0], run[-1]
        length = format_window(last.interval_ms)
        volume = sum(b.volume for b in run)
        move = (last.c / first.o - 1.0) * 100.0 if first.o else 0.0
        return {
            "kind": "volume_sustained",
            "severity": "warning" if ratio >= 2 * s.multiple else "info",
            "title": (
                f"{asset} sustained volume: {len(run)} {length} candles in a row at {ratio:.1f}×+ the "
                f"{format_window(last.interval_ms * s.window)} average before them "
                f"({format_amount(volume)} {asset} in {format_window(last.interval_ms * len(run))}, "
                f"price {format_pct(move)} to {format_price(last.c)})"
            ),
            "values": {
                "volume": volume,
                "candles": len(run),
                "average_volume": round(average, 6),
                "ratio": round(ratio, 3),
                "ratios": [round(b.volume / average, 3) for b in run],
                "window": s.window,
                "run_started_at": first.open_time,
                "open": first.o,
                "close": last.c,
                "price_change_pct": round(move, 3),
            },
            "at": last.close_time,
            "direction": "up" if last.c >= first.o else "down",
        }

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

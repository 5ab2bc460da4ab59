"""Sweeps: consecutive candles liquidating one side of the map, joined into one band and one window.

A candle that reaches modelled liquidation prices consumes a contiguous band of bins (shorts from the
previous high up to its high, longs down to its low). Candles that keep consuming the same side extend the
sweep; the first candle that consumes nothing of that side ends it. The sweep's band, modelled USD and
time window are what the grade compares with the realized liquidations (bot/liqmap/grading.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from detectors.liqmap.model import LiqMap, Step
from detectors.liqmap.tiers import Side


class Sweep(NamedTuple):
    """Modelled liquidations of one side consumed between ``start`` and ``end`` in a price band."""

    symbol: str
    venue: str
    side: Side
    low: float
    high: float
    modelled_usd: float
    start: int  # open time of the first candle
    end: int  # close time of the last candle
    candles: int


@dataclass
class _Run:
    low_bin: int
    high_bin: int
    usd: float
    start: int
    end: int
    candles: int


class SweepTracker:
    """Join a map's steps into sweeps, per side."""

    def __init__(self, liqmap: LiqMap) -> None:
        self.liqmap = liqmap
        self._runs: dict[Side, _Run] = {}

    def add(self, step: Step) -> list[Sweep]:
        """Take one step; return the sweeps it ended (a side whose run this candle did not extend)."""
        ended: list[Sweep] = []
        for side in ("long", "short"):
            bins = step.consumed(side)
            run = self._runs.get(side)
            if not bins:
                if run is not None:
                    ended.append(self._sweep(side, self._runs.pop(side)))
                continue
            usd = sum(bins.values())
            low, high = min(bins), max(bins)
            if run is None:
                self._runs[side] = _Run(low, high, usd, step.bar.open_time, step.bar.close_time, 1)
            else:
                run.low_bin, run.high_bin = min(run.low_bin, low), max(run.high_bin, high)
                run.usd += usd
                run.end = step.bar.close_time
                run.candles += 1
        return ended

    def open_sweeps(self) -> list[Sweep]:
        """Return the sweeps still running (their last candle consumed something)."""
        return [self._sweep(side, run) for side, run in self._runs.items()]

    def _sweep(self, side: Side, run: _Run) -> Sweep:
        m = self.liqmap
        return Sweep(
            m.symbol,
            m.venue,
            side,
            m.bin_low(run.low_bin),
            m.bin_low(run.high_bin + 1),
            run.usd,
            run.start,
            run.end,
            run.candles,
        )

"""Several watched assets move X% the same way within a window: one grouped alert naming them all."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from detectors import values
from detectors.bars import bar_closing_at, new_closed_bars, quiet_until_next_bar
from detectors.base import Bar, Detector, DetectorSettings, Quiet, Signal, Snapshot, short_symbol
from detectors.latch import edge, latched_signals
from detectors.pct_move import change_pct
from detectors.text import format_pct, format_window
from storage.rows import HOUR_MS, interval_ms

SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


class CorrelatedMoveSettings(DetectorSettings):
    """Options of a correlated_move rule (the rule's own symbol is always one of the assets)."""

    symbols: list[str] = Field(
        min_length=1,
        max_length=20,
        examples=[["ETHUSDT", "SOLUSDT"]],
        description="The other symbols moving with the rule's symbol.",
    )
    pct: float = Field(3.0, gt=0, le=1000, description="Each asset must move at least this (%)...")
    window_hours: float = Field(24, gt=0, le=24 * 30, description="...within this window (close to close).")
    min_assets: int = Field(2, ge=2, le=21, description="How many assets must move together.")
    direction: Literal["up", "down", "either"] = Field("either", description="Which moves fire.")
    interval: Literal["15m", "1h", "4h"] = Field(
        "1h", description="Candle closes the moves are measured on (also how often they are checked)."
    )
    rearm_ratio: float = Field(
        0.5, ge=0, lt=1, description="Fire again once fewer than min_assets move this fraction of pct."
    )

    @field_validator("symbols")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not SYMBOL.match(symbol):
                raise ValueError(f"{symbol!r} is not a symbol like ETHUSDT")
        if len(set(value)) != len(value):
            raise ValueError("a symbol is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CorrelatedMoveSettings:
        if self.min_assets > len(self.symbols) + 1:
            raise ValueError(
                f"min_assets {self.min_assets} is more than the {len(self.symbols) + 1} assets watched"
            )
        if (self.window_hours * HOUR_MS) % interval_ms(self.interval):
            raise ValueError(f"window_hours must be a whole number of {self.interval} candles")
        return self

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"candles": int(self.window_hours * HOUR_MS) + interval_ms(self.interval)}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads of its symbol and each peer: the window and two candles before it."""
        reach = int(self.window_hours * HOUR_MS) + 3 * max(interval_ms(self.interval), HOUR_MS)
        return {self.interval: reach}


class CorrelatedMove(Detector[CorrelatedMoveSettings]):
    """Two or more watched assets move the same way by X% within a window."""

    name: ClassVar[str] = "correlated_move"
    description: ClassVar[str] = "Two or more watched assets move X% the same way within a window (one alert)"
    Settings: ClassVar[type[DetectorSettings]] = CorrelatedMoveSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "assets": values.change("Moves"),
        "window_hours": values.duration("Window", unit="hours"),
        "threshold_pct": values.percent("Threshold"),
        # Every watched symbol's change, the ones that moved included: for programs.
        "all_changes": values.hidden(),
    }

    def peer_symbols(self) -> tuple[str, ...]:
        """Return the assets compared with the rule's symbol."""
        s = self.settings
        return tuple(s.symbols)

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Measure every asset's move at each of this symbol's candle closes since the last evaluation."""
        s = self.settings
        window = int(s.window_hours * HOUR_MS)
        step = new_closed_bars(snapshot, state, s.interval, window // interval_ms(s.interval))
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        end_times = [b.close_time for b in bars[step.first_new :]]
        moves = {self.symbol: _moves(bars, end_times, window)}
        for symbol in s.symbols:
            peer = snapshot.peer(symbol)
            if peer is not None:
                # A peer's candles may be coarser than this symbol's (hourly history only): reach back far
                # enough for the candle closing at the window's start in either case.
                since = end_times[0] - window - 2 * max(interval_ms(s.interval), HOUR_MS)
                moves[symbol] = _moves(peer.candles(s.interval, since=since), end_times, window)
        for end in end_times:
            changes = {sym: m[end] for sym, m in moves.items() if end in m}
            if self.symbol not in changes and step.learn:
                return []
            for direction, sign in (("up", 1.0), ("down", -1.0)):
                if s.direction not in ("either", direction):
                    continue
                movers = {sym: c for sym, c in changes.items() if sign * c >= s.pct}
                near = sum(1 for c in changes.values() if sign * c >= s.pct * s.rearm_ratio)
                edge(
                    state,
                    direction,
                    active=len(movers) >= s.min_assets,
                    rearm=near < s.min_assets,
                    build=partial(self._payload, direction, movers, changes, end, window, s.pct),
                    learn=step.learn,
                )
        state["t"] = bars[-1].open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _payload(
        self,
        direction: str,
        movers: dict[str, float],
        changes: dict[str, float],
        end: int,
        window: int,
        threshold: float,
    ) -> dict[str, Any]:
        # Biggest mover first; the rule's own symbol leads on ties.
        ordered = sorted(movers.items(), key=lambda kv: (-abs(kv[1]), kv[0] != self.symbol))
        listing = ", ".join(f"{short_symbol(sym)} {format_pct(c)}" for sym, c in ordered)
        return {
            "kind": f"correlated_{direction}",
            "severity": "warning",
            "title": f"{listing} in {format_window(window)}: moving {direction} together",
            "values": {
                "assets": {sym: round(c, 3) for sym, c in ordered},
                "all_changes": {sym: round(c, 3) for sym, c in sorted(changes.items())},
                "window_hours": window / HOUR_MS,
                "threshold_pct": threshold,
            },
            "at": end,
            "direction": "up" if direction == "up" else "down",
        }


def _moves(bars: Sequence[Bar], end_times: list[int], window: int) -> dict[int, float]:
    """Return the close-to-close change (%) over ``window`` ending at each of ``end_times`` found in bars."""
    out: dict[int, float] = {}
    if not bars:
        return out
    step = bars[0].interval_ms
    for end in end_times:
        last = bar_closing_at(bars, len(bars) - 1 - (end_times[-1] - end) // step, end)
        first = bar_closing_at(bars, len(bars) - 1 - (end_times[-1] - end + window) // step, end - window)
        if last is not None and first is not None:
            out[end] = change_pct(last.c, first.c)
    return out

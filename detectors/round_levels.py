"""Price crosses a "psychological" round level: every multiple of a step, with no rule per level.

Each level behaves exactly like a level_cross rule (same arm/latch step, hysteresis, confirmation and
wicks). Only levels within their hysteresis band of the last close keep state: a level farther away is
fully re-armed on the side price is on, which is exactly the state it is re-created with when price
comes back, so dropping it loses nothing and the state stays a handful of entries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from detectors import values
from detectors.base import (
    Detector,
    DetectorSettings,
    Quiet,
    Signal,
    Snapshot,
    check_price,
    format_price,
    short_symbol,
)
from detectors.latch import cached_signal, latches_settled, release_latch, take_latches
from detectors.level_cross import cross_state_step, crossing_reads, pass_closes_inside, quiet_closes
from storage.rows import interval_ms

# A candle crossing more levels than this (a step far too small for the asset) reports only the nearest.
MAX_LEVELS_PER_CANDLE = 20
_CLOSE_WORDS = {"1h": "the hour", "4h": "a 4h candle", "1d": "the day", "1w": "the week"}


class RoundLevelsSettings(DetectorSettings):
    """Options of a round_levels rule."""

    # Between MIN_PRICE and MAX_PRICE (check_price): price / step must stay a finite float (a subnormal step
    # overflowed it and broke every other rule's pass, issue 17), and a step beyond any price has no level.
    step: float = Field(
        gt=0,
        examples=[5000],
        description="Levels are the multiples of this (e.g. 5000 for BTC, 250 for ETH).",
    )
    direction: Literal["up", "down", "either"] = Field("either", description="Which crossings fire.")
    hysteresis_pct: float = Field(
        0.5, ge=0, le=20, description="Re-arm a level only after price comes back this far (%) beyond it."
    )
    confirm: Literal["1h", "4h", "1d", "1w"] | None = Field(
        None, description="Fire only on the close of a candle of this interval beyond the level."
    )
    use_wicks: bool = Field(False, description="Evaluate highs/lows (wicks) instead of closes.")

    _price = field_validator("step")(check_price)

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the candles closed since the last evaluation."""
        return crossing_reads(self.confirm)


def level_key(level: float) -> str:
    """Return the state key of a level: its shortest exact text (95000, 2.5)."""
    return f"{level:.12g}"


class RoundLevels(Detector[RoundLevelsSettings]):
    """Price crosses any multiple of a step."""

    name: ClassVar[str] = "round_levels"
    description: ClassVar[str] = (
        "Price crosses any multiple of a step (round numbers), like level_cross for each"
    )
    Settings: ClassVar[type[DetectorSettings]] = RoundLevelsSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "price": values.price("Price"),
        "level": values.price("Level"),
        "step": values.price("Levels every"),
        "basis": values.text("Based on"),
        "hysteresis_pct": values.percent("Re-arms beyond"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Process the candles closed since the last evaluation; return the latched crossings."""
        s = self.settings
        last_t = state.get("t")
        if last_t is None:
            bars = snapshot.candles(s.confirm, count=1)
            if bars:
                # First evaluation: only learn where price is; no level fires on what it was created into.
                state["t"], state["close"] = bars[-1].open_time, bars[-1].c
            return []
        levels: dict[str, dict[str, Any]] = state.get("levels") or {}
        self._step_bars(state, levels, snapshot, int(last_t) + 1)
        if not levels:
            state.pop("levels", None)
            return []
        state["levels"] = levels
        signals = self._take_signals(levels, float(state["close"]), snapshot)
        if not levels:
            del state["levels"]
        return signals

    def _step_bars(
        self, state: dict[str, Any], levels: dict[str, dict[str, Any]], snapshot: Snapshot, since: int
    ) -> None:
        """Step the levels each candle since ``since`` can cross or come near; move state["t"], ["close"]."""
        s = self.settings
        wick = s.use_wicks and s.confirm is None
        step, band_ratio = s.step, s.hysteresis_pct / 100
        # Candles closing where no level's state can move (the band quiet() sleeps on) only move state["t"]
        # and state["close"]: skip their steps until one leaves it (a day of them after a long sleep).
        settled = all(latches_settled(sub) for sub in levels.values())
        skip = self._quiet_closes(state, levels) if settled and s.confirm is None else None
        if skip is not None:
            rest = pass_closes_inside(state, snapshot, since, skip, wick=wick)
            if rest is None:
                return
            since = rest
        for bar in snapshot.candles(s.confirm, since=since):
            prev = float(state["close"])
            high, low = (bar.h, bar.l) if wick else (bar.c, bar.c)
            lo, hi = min(prev, low, bar.c), max(prev, high, bar.c)
            widen = hi * band_ratio
            # Levels this candle can cross or come near: between the previous close and the candle's
            # extremes, widened by the band so a level price merely approaches starts being tracked. Far
            # from every level with nothing tracked (the common case) there is nothing to do.
            first, last = math.ceil((lo - widen) / step), math.floor((hi + widen) / step)
            if first <= last or levels:
                self._step(levels, range(first, last + 1), prev, high, low, bar.c, bar.close_time)
            state["t"], state["close"] = bar.open_time, bar.c

    def _take_signals(
        self, levels: dict[str, dict[str, Any]], close: float, snapshot: Snapshot
    ) -> list[Signal]:
        """Return the latched crossings in the rule's direction; release far levels and drop idle ones."""
        s = self.settings
        step = s.step
        signals = []
        for key, sub in list(levels.items()):
            level = float(key)
            if abs(close - level) > max(step, self._band(level)):
                # A step or more away, the crossing is old news (price has moved on to the next level);
                # dropping it is safe because a level that far off is in its default state anyway.
                release_latch(sub, "up")
                release_latch(sub, "down")
            for direction, latch in take_latches(sub).items():
                if s.direction in ("either", direction):
                    build = partial(self._signal, level, direction, latch, snapshot)
                    stamp = (latch["at"], latch["price"])
                    signals.append(cached_signal(self, f"{direction}:{key}", stamp, build))
            if not sub.get("latch") and not self._near(level, close):
                del levels[key]  # far from price and nothing to report: its state is the default again
        return signals

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return when evaluating again can change something: a new candle (of the confirm interval).

        Far levels drop their latches at the evaluation after they were reported; a released latch anywhere
        means that evaluation is still to come.
        """
        s = self.settings
        last_t = state.get("t")
        levels: dict[str, dict[str, Any]] = state.get("levels") or {}
        if not all(latches_settled(sub) for sub in levels.values()):
            return None
        if s.confirm is not None and last_t is not None:
            # Candles of that interval opening after last_t cannot close before last_t + 1 + its length.
            return Quiet(until=int(last_t) + 1 + interval_ms(s.confirm))
        # Evaluate reads closed candles only; new ones closing where no level's state can move only advance
        # state["t"] and state["close"] (it reads every candle since then when it runs again). Waking at every
        # candle was a fifth of a year's replay (bench.replay, py-spy).
        closes = self._quiet_closes(state, levels) if last_t is not None else None
        return Quiet(unchanged=("candles",), closes_within=closes, wicks=s.use_wicks)

    def _quiet_closes(
        self, state: dict[str, Any], levels: dict[str, dict[str, Any]]
    ) -> tuple[float, float] | None:
        """Return the prices [low, high] candles may close in (wicks too) without any level's state moving.

        Within it every tracked level keeps its arm flags (``quiet_closes`` of level_cross), stays near price
        (or, latched, within a step) so it is neither dropped nor released, and no other level is crossed
        or come near, so none starts being tracked. Each bound gives way by a billionth for the rounding of
        a level's value (k * step, or read back from its key). None when the last close is not inside.
        """
        s = self.settings
        step = s.step
        close = float(state["close"])
        low, high = -math.inf, math.inf
        for key, sub in levels.items():
            level = float(key)
            band = self._band(level)
            margin = 1e-9 * max(abs(level), step)
            flags = quiet_closes(sub, level, s)
            if flags is None:
                return None
            reach = max(step, band) if sub.get("latch") else band
            low = max(low, flags[0], level - reach) + margin
            high = min(high, flags[1], level + reach) - margin
        # The nearest levels above and below the close that are not tracked: they must not come near.
        k = math.floor(close / step)
        up, down = k + 1, k
        while level_key(up * step) in levels:
            up += 1
        while down > 0 and level_key(down * step) in levels:
            down -= 1
        if down > 0 and down * step >= close:
            return None  # the close sits on an untracked level
        above = up * step
        high = min(high, above - self._band(above) - 1e-9 * max(above, step))
        if down > 0:
            below = down * step
            low = max(low, below + self._band(below) + 1e-9 * max(below, step))
        return (low, high) if low <= close <= high else None

    def _band(self, level: float) -> float:
        s = self.settings
        return level * s.hysteresis_pct / 100

    def _near(self, level: float, close: float) -> bool:
        return abs(close - level) <= self._band(level)

    def _step(
        self,
        levels: dict[str, dict[str, Any]],
        ks: range,
        prev: float,
        high: float,
        low: float,
        close: float,
        at: int,
    ) -> None:
        s = self.settings
        if len(ks) > MAX_LEVELS_PER_CANDLE:
            middle = round(close / s.step)
            ks = range(middle - MAX_LEVELS_PER_CANDLE // 2, middle + MAX_LEVELS_PER_CANDLE // 2 + 1)
        candidates = {level_key(k * s.step): k * s.step for k in ks if k > 0}
        for key in levels:
            candidates.setdefault(key, float(key))
        for key, level in sorted(candidates.items(), key=lambda kv: kv[1]):
            sub = levels.get(key)
            if sub is None:
                # Not tracked: it is in its default state for the side the previous close was on.
                sub = {"armed_up": prev <= level, "armed_down": prev >= level}
            cross_state_step(sub, level, self._band(level), high, low, close, at)
            if sub.get("latch") or self._near(level, close) or key in levels:
                levels[key] = sub

    def _signal(self, level: float, direction: str, latch: dict[str, Any], snapshot: Snapshot) -> Signal:
        s = self.settings
        asset = short_symbol(self.symbol)
        above = direction == "up"
        if s.confirm:
            side = "above" if above else "below"
            title = f"{asset} closed {_CLOSE_WORDS[s.confirm]} {side} {format_price(level)}"
            basis = f"{s.confirm} close"
        else:
            title = f"{asset} {'broke above' if above else 'fell below'} {format_price(level)}"
            basis = "wick (high/low)" if s.use_wicks else f"{snapshot.base_interval or 'candle'} close"
        return self.signal(
            kind=f"cross_{direction}",
            severity="info",
            title=f"{title} (round level)",
            values={
                "level": level,
                "step": s.step,
                "price": latch["price"],
                "direction": direction,
                "basis": basis,
                "hysteresis_pct": s.hysteresis_pct,
            },
            at=int(latch["at"]),
            key=f"{direction}:{level_key(level)}",
            direction="up" if above else "down",
        )

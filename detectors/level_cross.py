"""Price crosses a level: edge-triggered, with a hysteresis band and optional candle-close confirmation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from detectors import values
from detectors.base import (
    Bar,
    Detector,
    DetectorSettings,
    Quiet,
    Signal,
    Snapshot,
    check_price,
    format_price,
    short_symbol,
)
from detectors.latch import cached_signal, latches_settled, release_latch, set_latch, take_latches
from storage.rows import HOUR_MS, interval_ms

__all__ = ["LevelCross", "LevelCrossSettings", "cross_state_step", "take_latches"]

_CLOSE_WORDS = {"1h": "the hour", "4h": "a 4h candle", "1d": "the day", "1w": "the week"}


class LevelCrossSettings(DetectorSettings):
    """Options of a level_cross rule."""

    # Between MIN_PRICE and MAX_PRICE (check_price, after gt=0 so a negative level keeps its plain message):
    # a level no asset can trade at is a typo, and a subnormal one breaks the band's arithmetic (issue 17).
    level: float = Field(gt=0, examples=[95000], description="Price level in the quote currency (USDT).")
    direction: Literal["up", "down", "either"] = Field("either", description="Which crossing fires.")
    hysteresis_pct: float = Field(
        0.5, ge=0, le=20, description="Re-arm only after price comes back this far (%) beyond the level."
    )
    confirm: Literal["1h", "4h", "1d", "1w"] | None = Field(
        None, description="Fire only on the close of a candle of this interval beyond the level."
    )
    use_wicks: bool = Field(False, description="Evaluate highs/lows (wicks) instead of closes.")

    _price = field_validator("level")(check_price)

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the candles closed since the last evaluation, and the forming one."""
        return crossing_reads(self.confirm)


def crossing_reads(confirm: str | None) -> Mapping[str, int]:
    """Return what a crossing rule reads: an hour of base candles, or two candles of ``confirm``.

    Shared with round_levels, which steps the same candles through ``cross_state_step``.
    """
    if confirm is None:
        return {"base": HOUR_MS}
    return {confirm: 2 * interval_ms(confirm)}


def cross_state_step(
    state: dict[str, Any],
    level: float,
    band: float,
    high: float,
    low: float,
    close: float,
    at: int,
) -> list[str]:
    """Advance the arm/latch state by one price observation and return the directions that crossed.

    ``high``/``low`` are the prices tested for crossing up/down (equal to ``close`` when evaluating
    closes). Arming: the up side is armed while price is at or below the level and re-armed only after
    price falls below ``level - band``; the down side mirrors it. Shared with round_levels.
    """
    crossed: list[str] = []
    if state.get("armed_up") is None:
        # First observation: learn which side we are on; a rule never fires on what it was created into.
        state["armed_up"] = close <= level
        state["armed_down"] = close >= level
        return crossed
    if state["armed_up"] and high > level:
        state["armed_up"] = False
        crossed.append("up")
    if state["armed_down"] and low < level:
        state["armed_down"] = False
        crossed.append("down")
    if not state["armed_up"] and low < level - band:
        state["armed_up"] = True
        release_latch(state, "up")
    if not state["armed_down"] and high > level + band:
        state["armed_down"] = True
        release_latch(state, "down")
    for direction in crossed:
        set_latch(state, direction, {"at": at, "price": high if direction == "up" else low})
    return crossed


def pass_closes_inside(
    state: dict[str, Any], snapshot: Snapshot, since: int, band: tuple[float, float], *, wick: bool
) -> int | None:
    """Pass over the base candles from ``since`` whose close (with ``wick``, high and low) stays in ``band``.

    Such candles move no arm flag (``quiet_closes``): only state["t"] and state["close"] move, set here to
    the last one passed. Return the open time of the first candle left to step, None when none is left.
    Read as columns: woken after up to a day of one-minute closes inside its band, a level rule built a
    Bar for each only to pass over it, most of its cost in a year's replay (bench.replay).
    """
    low, high = band
    cols = snapshot.candle_columns(None, since=since)
    t, c = cols.t, cols.c
    n = len(t)
    k = 0
    if wick:
        lows, highs = cols.l, cols.h
        while k < n and low <= c[k] <= high and low <= lows[k] and highs[k] <= high:
            k += 1
    else:
        while k < n and low <= c[k] <= high:
            k += 1
    if k:
        state["t"], state["close"] = t[k - 1], c[k - 1]
    return t[k] if k < n else None


def quiet_closes(state: dict[str, Any], level: float, settings: Any) -> tuple[float, float] | None:
    """Return the closes [low, high] through which ``cross_state_step`` leaves the arm flags as they are.

    The bounds are the very comparisons ``cross_state_step`` makes (same values, same arithmetic), so a close
    inside never moves a flag and one outside may. None before the side of the level is known.
    """
    armed_up, armed_down = state.get("armed_up"), state.get("armed_down")
    if armed_up is None or armed_down is None:
        return None
    band = level * settings.hysteresis_pct / 100
    low, high = -math.inf, math.inf
    if armed_up:
        high = min(high, level)  # a close above crosses up
    else:
        low = max(low, level - band)  # a close below re-arms up
    if armed_down:
        low = max(low, level)  # a close below crosses down
    else:
        high = min(high, level + band)  # a close above re-arms down
    return (low, high) if low <= high else None


class LevelCross(Detector[LevelCrossSettings]):
    """Price crosses a level up, down or either way."""

    name: ClassVar[str] = "level_cross"
    description: ClassVar[str] = (
        "Price crosses a level (edge-triggered, hysteresis, optional candle-close confirmation)"
    )
    Settings: ClassVar[type[DetectorSettings]] = LevelCrossSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "price": values.price("Price"),
        "level": values.price("Level"),
        "basis": values.text("Based on"),
        "hysteresis_pct": values.percent("Re-arms beyond"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Process the candles closed since the last evaluation and return the latched crossings."""
        settings = self.settings
        level = settings.level
        band = level * settings.hysteresis_pct / 100
        interval = settings.confirm
        last_t = state.get("t")
        if interval is not None and last_t is not None and snapshot.now < last_t + 2 * interval_ms(interval):
            # No candle of the confirmation interval can have closed since the last one processed (the
            # next one opens a length later and closes a length after that): answer from the latches.
            return self._latched(state, snapshot)
        wick = settings.use_wicks and interval is None
        since = None if last_t is None else int(last_t) + 1
        inside = quiet_closes(state, level, settings) if since is not None and interval is None else None
        if since is not None and inside is not None:
            # Closes inside the band where no arm flag moves only move state["t"] and state["close"].
            rest = pass_closes_inside(state, snapshot, since, inside, wick=wick)
            bars: Sequence[Bar] = () if rest is None else snapshot.candles(interval, since=rest)
        else:
            bars = snapshot.candles(interval, since=since)
            if last_t is None and bars:
                bars = bars[-1:]  # first evaluation: only learn the current side
        for bar in bars:
            high = bar.h if wick else bar.c
            low = bar.l if wick else bar.c
            cross_state_step(state, level, band, high, low, bar.c, bar.close_time)
            state["t"] = bar.open_time
            state["close"] = bar.c
        if settings.use_wicks and interval is None:
            forming = snapshot.forming()
            if forming is not None and state.get("armed_up") is not None:
                # The candle still forming can already have crossed: tell people now, not at its close.
                probe = dict(state)
                probe["latch"] = {k: dict(v) for k, v in state.get("latch", {}).items()}
                crossed = cross_state_step(probe, level, band, forming.h, forming.l, forming.c, snapshot.now)
                if crossed:
                    state.update(probe)
        return self._latched(state, snapshot)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return when evaluating again can change something: a new candle; None when probing wicks."""
        settings = self.settings
        last_t = state.get("t")
        if not latches_settled(state):
            return None
        if settings.confirm is not None and last_t is not None:
            return Quiet(until=int(last_t) + 2 * interval_ms(settings.confirm))  # evaluate's own shortcut
        if settings.use_wicks and settings.confirm is None:
            return None  # the forming candle is probed at every evaluation
        # Otherwise evaluate reads closed candles only: the same candles give the same answer, and so do
        # new ones closing where no arm flag moves (they only advance state["t"] and state["close"], and
        # evaluate reads every candle since state["t"] when it runs again). Waking at every candle was a
        # fifth of a year's replay (bench.replay, py-spy).
        return Quiet(unchanged=("candles",), closes_within=quiet_closes(state, settings.level, settings))

    def describe_now(self, snapshot: Snapshot, state: Mapping[str, Any]) -> str | None:
        """Say when price is already past the level the way the rule watches (it must come back first)."""
        s = self.settings
        asset, level = short_symbol(self.symbol), format_price(s.level)
        if state.get("armed_up") is None:
            return f"No {asset} candle is stored yet: the rule first learns which side of {level} price is."
        close = format_price(float(state.get("close", s.level)))
        band = s.level * s.hysteresis_pct / 100
        if s.direction == "up" and not state["armed_up"]:
            return (
                f"{asset} is at {close}, above {level} already: the rule fires when price crosses up again, "
                f"once it has been back below {format_price(s.level - band)}."
            )
        if s.direction == "down" and not state["armed_down"]:
            return (
                f"{asset} is at {close}, below {level} already: the rule fires when price crosses down "
                f"again, once it has been back above {format_price(s.level + band)}."
            )
        return None

    def _latched(self, state: dict[str, Any], snapshot: Snapshot) -> list[Signal]:
        settings = self.settings
        signals = []
        for direction, latch in take_latches(state).items():
            if settings.direction not in ("either", direction):
                continue
            build = partial(self._signal, direction, latch, snapshot)
            signals.append(cached_signal(self, direction, (latch["at"], latch["price"]), build))
        return signals

    def _signal(self, direction: str, latch: dict[str, Any], snapshot: Snapshot) -> Signal:
        settings = self.settings
        asset = short_symbol(self.symbol)
        level_text = format_price(settings.level)
        if settings.confirm:
            verb = (
                "closed" + f" {_CLOSE_WORDS[settings.confirm]} " + ("above" if direction == "up" else "below")
            )
            title = f"{asset} {verb} {level_text}"
            basis = f"{settings.confirm} close"
        else:
            title = f"{asset} {'broke above' if direction == 'up' else 'fell below'} {level_text}"
            basis = "wick (high/low)" if settings.use_wicks else f"{snapshot.base_interval or 'candle'} close"
        return self.signal(
            kind=f"cross_{direction}",
            severity="warning",
            title=title,
            values={
                "level": settings.level,
                "price": latch["price"],
                "direction": direction,
                "basis": basis,
                "hysteresis_pct": settings.hysteresis_pct,
            },
            at=int(latch["at"]),
            key=direction,
            direction="up" if direction == "up" else "down",
        )

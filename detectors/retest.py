"""A broken level is retested: price comes back to it after the break, then holds on the new side or loses it.

For a level L, on closed candles of the rule's interval (up-break shown; a down-break mirrors it):

1. **Break**: a close at or above ``L × (1 + break_pct%)`` when the last close beyond that band was below it
   (``L × (1 - break_pct%)`` or lower). Closes inside the band never change the side, so creeping across the
   level is not a break. The first side seen is only learnt.
2. **Touch**: within ``within`` candles after the break candle, a candle's low comes within ``touch_pct``
   of the level (at or below ``L × (1 + touch_pct%)``, through it included). Without one the break ran
   away and is forgotten: no retest.
3. From the touching candle on, **held**: ``hold`` closes in a row above L ("BTC retested $95,000 as
   support and held"); a close at or below L starts the count again. **Failed**: a close at or below
   ``L × (1 - break_pct%)``, which is a break the other way ("BTC lost $95,000 again") and starts a retest of
   the level as resistance.

The level is given (``level``), or every multiple of ``step`` is one (round numbers, as round_levels): each
break of any of them starts its own retest. Or it is the old ``range_days`` high (low) that a close broke
by ``break_pct`` (a range breakout, as range_breakout finds them, on the rule's candles): one such retest
per side at a time, so a trend making new highs every candle does not start one per candle. Only levels
with a retest under way, or within their band of the last close, keep state; any other level is on the
side of the last close, which is exactly the state it would be re-created with. Each outcome is latched
until the level breaks again, so the alert is one condition per retest.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from detectors import values
from detectors.bars import new_closed_bars, quiet_until_next_bar
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
from detectors.latch import latched_signals, release_latch, set_latch
from detectors.round_levels import MAX_LEVELS_PER_CANDLE
from storage.rows import DAY_MS, interval_ms


class RetestSettings(DetectorSettings):
    """Options of a retest rule."""

    # Exactly one of level and step (checked below); both go through check_price as level_cross and
    # round_levels do: a subnormal step overflows price / step (issue 17).
    level: float | None = Field(
        None, gt=0, examples=[95000], description="The level (USDT); or give `step` instead of it."
    )
    step: float | None = Field(
        None, gt=0, description="Every multiple of this is a level (e.g. 5000 for BTC); instead of `level`."
    )
    # 90 days of 15m candles are 8,640 per window: the most a rule reads back on each candle close.
    range_days: int | None = Field(
        None,
        ge=1,
        le=90,
        description="The old N-day high (low) a close breaks is the level; instead of `level`.",
    )
    direction: Literal["up", "down", "either"] = Field(
        "either",
        description="up: retests as support after a break up; down: as resistance after a break down.",
    )
    interval: Literal["15m", "1h", "4h", "1d"] = Field("1h", description="Candles whose closes are judged.")
    break_pct: float = Field(
        0.5, gt=0, le=20, description="A break is a close this far (%) beyond the level; a failure, back."
    )
    touch_pct: float = Field(
        0.2, ge=0, le=20, description="A retest is a low (high) within this far (%) of the level."
    )
    within: int = Field(
        24, ge=1, le=1000, description="Candles after the break in which the retest must come."
    )
    hold: int = Field(3, ge=1, le=100, description="Closes in a row on the new side that make it held.")

    @field_validator("level", "step")
    @classmethod
    def _price(cls, value: float | None) -> float | None:
        """Refuse a level or step no asset can trade at."""
        return value if value is None else check_price(value)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        """Require exactly one of level, step and range_days."""
        if [self.level, self.step, self.range_days].count(None) != 2:
            raise ValueError(
                "give one of `level` (one price), `step` (every multiple of it) or `range_days` "
                "(the N-day high or low a close breaks)"
            )
        return self

    def range_candles(self) -> int:
        """Return how many candles of the interval the range covers (0 without range_days)."""
        return (self.range_days or 0) * DAY_MS // interval_ms(self.interval)

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        if self.range_days is None:
            return {}
        return {"candles": self.range_days * DAY_MS + interval_ms(self.interval)}


def level_key(level: float) -> str:
    """Return the state key of a level: its shortest exact text (95000, 2.5)."""
    return f"{level:.12g}"


def _side(close: float, level: float, band: float) -> str | None:
    """Return the side a close is on when beyond the band, else None."""
    if close >= level + band:
        return "above"
    if close <= level - band:
        return "below"
    return None


class Retest(Detector[RetestSettings]):
    """A broken level retested: held on the new side, or lost again."""

    name: ClassVar[str] = "retest"
    description: ClassVar[str] = (
        "A broken level is retested: price comes back to it, then holds on the new side or loses it"
    )
    Settings: ClassVar[type[DetectorSettings]] = RetestSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "level": values.price("Level"),
        "outcome": values.text("Outcome"),
        "level_was": values.text("Level was"),
        "break_price": values.price("Break close"),
        "broke_at": values.time("Broke at"),
        "touch_price": values.price("Came back to"),
        "touched_at": values.time("Came back by"),  # the close of the candle whose low (high) came back
        "close": values.price("Close"),
        "candles_since_break": values.count("Candles since the break"),
        "interval": values.text("Candle size"),
        "break_pct": values.percent("Break margin"),
        "touch_pct": values.percent("Touch margin"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Step every level near price through the candles closed since the last evaluation."""
        s = self.settings
        context = s.range_candles()
        step = new_closed_bars(snapshot, state, s.interval, context)
        if step is None:
            return latched_signals(self, state)
        if step.learn:
            # First evaluation: only learn where price is; no level breaks into a rule's creation.
            state["t"], state["close"] = step.bars[-1].open_time, step.bars[-1].c
            return []
        levels: dict[str, dict[str, Any]] = state.get("levels") or {}
        ranges = rolling_range(step.bars, step.first_new, context) if context else None
        for bar in step.bars[step.first_new :]:
            prev = float(state["close"])
            if ranges is not None:
                self._range_break(levels, next(ranges), bar)
            for key, level in self._candidates(levels, prev, bar.c):
                sub = levels.get(key)
                if sub is None:
                    # Not tracked: the last close was beyond its band, on the side it is on.
                    sub = {"side": "above" if prev > level else "below"} if prev != level else {}
                self._step(state, key, level, sub, bar)
                if "ep" in sub or _side(bar.c, level, self._band(level)) != sub.get("side"):
                    levels[key] = sub
                else:
                    levels.pop(key, None)  # back to what an untracked level is
            state["t"], state["close"] = bar.open_time, bar.c
        if levels:
            state["levels"] = levels
        else:
            state.pop("levels", None)
        return latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _band(self, level: float) -> float:
        s = self.settings
        return level * s.break_pct / 100

    def _candidates(
        self, levels: dict[str, dict[str, Any]], prev: float, close: float
    ) -> Iterable[tuple[str, float]]:
        """Return the levels a candle closing at ``close`` after ``prev`` can change: tracked or near."""
        s = self.settings
        if s.level is not None:
            return [(level_key(s.level), s.level)]
        if s.range_days is not None:
            return sorted(((key, float(key)) for key in levels), key=lambda kv: kv[1])
        step = s.step or 1.0  # the validator makes step set when level is not
        widen = max(prev, close) * s.break_pct / 100
        first = max(1, math.ceil((min(prev, close) - widen) / step))
        last = math.floor((max(prev, close) + widen) / step)
        if last - first >= MAX_LEVELS_PER_CANDLE:  # a step far too small: round_levels' cap, near the close
            middle = round(close / step)
            first, last = middle - MAX_LEVELS_PER_CANDLE // 2, middle + MAX_LEVELS_PER_CANDLE // 2
        found = {level_key(k * step): k * step for k in range(max(1, first), last + 1)}
        for key in levels:
            found.setdefault(key, float(key))
        return sorted(found.items(), key=lambda kv: kv[1])

    def _range_break(
        self, levels: dict[str, dict[str, Any]], extremes: tuple[float, float] | None, bar: Bar
    ) -> None:
        """Track the old range high (low) a close broke as a level, so ``_step`` starts its retest."""
        s = self.settings
        if extremes is None:
            return  # not yet a whole range of candles: no range to break
        for high, extreme in zip((True, False), extremes, strict=True):
            direction = "up" if high else "down"
            if any(sub.get("range") and sub.get("ep", {}).get("dir") == direction for sub in levels.values()):
                continue  # one range retest per side at a time
            band = self._band(extreme)
            if (bar.c >= extreme + band) if high else (bar.c <= extreme - band):
                levels[level_key(extreme)] = {
                    "side": "below" if high else "above",
                    "range": f"{s.range_days}-day {'high' if high else 'low'}",
                }

    def _step(self, state: dict[str, Any], key: str, level: float, sub: dict[str, Any], bar: Bar) -> None:
        """Advance one level's retest by one closed candle, then see whether the candle broke it."""
        episode = sub.get("ep")
        if episode is not None:
            self._advance(state, key, level, sub, episode, bar)
        side = _side(bar.c, level, self._band(level))
        if side is None or side == sub.get("side"):
            return
        if sub.get("side") is not None:
            for old in ("held_up", "held_down", "failed_up", "failed_down"):
                latch = state.get("latch", {}).get(f"{old}:{key}")
                if latch is not None and latch["signal"]["at"] < bar.close_time:
                    release_latch(state, f"{old}:{key}")  # a new break: the last retest's outcome is over
            sub["ep"] = {
                "dir": "up" if side == "above" else "down",
                "at": bar.close_time,
                "price": bar.c,
                "n": 0,
                "holds": 0,
            }
            if "range" in sub:
                sub["ep"]["range"] = sub["range"]
        sub["side"] = side

    def _advance(
        self,
        state: dict[str, Any],
        key: str,
        level: float,
        sub: dict[str, Any],
        episode: dict[str, Any],
        bar: Bar,
    ) -> None:
        """Move a retest on by one candle: touch, hold count, held, failed or expired."""
        s = self.settings
        sign = 1.0 if episode["dir"] == "up" else -1.0
        episode["n"] += 1
        if "touch" not in episode:
            extreme = bar.l if sign > 0 else bar.h
            if sign * (extreme - level) <= level * s.touch_pct / 100:
                episode["touch"] = [bar.close_time, extreme]
            elif episode["n"] >= s.within:
                del sub["ep"]  # price ran away from the level: no retest to report
                return
            else:
                return
        beyond = sign * (bar.c - level)
        if beyond <= -self._band(level):
            del sub["ep"]  # the close below the band is a break the other way: _step starts that retest
            self._report(state, key, level, episode, bar, held=False)
            return
        episode["holds"] = episode["holds"] + 1 if beyond > 0 else 0
        if episode["holds"] >= s.hold:
            del sub["ep"]
            self._report(state, key, level, episode, bar, held=True)

    def _report(
        self, state: dict[str, Any], key: str, level: float, episode: dict[str, Any], bar: Bar, *, held: bool
    ) -> None:
        s = self.settings
        up = episode["dir"] == "up"
        if s.direction not in ("either", episode["dir"]):
            return
        outcome = "held" if held else "failed"
        asset, where = short_symbol(self.symbol), format_price(level)
        if "range" in episode:
            where = f"its old {episode['range']} {where}"
        role = "support" if up else "resistance"
        if held:
            title = (
                f"{asset} retested {where} as {role} and "
                f"{'held' if up else 'was rejected'}: {s.hold} {s.interval} "
                f"close{'s' if s.hold > 1 else ''} {'above' if up else 'below'} (now {format_price(bar.c)})"
            )
        else:
            title = (
                f"{asset} {'lost' if up else 'reclaimed'} {where} again: the retest as {role} failed "
                f"({s.interval} close {format_price(bar.c)})"
            )
        touched_at, touch_price = episode["touch"]
        payload = {
            "kind": f"retest_{outcome}",
            # Losing a level just reclaimed (or reclaiming one just lost) is the news that asks for action.
            "severity": "info" if held else "warning",
            "title": title,
            "values": {
                "level": level,
                "outcome": f"{outcome} as {role}",
                **({"level_was": f"the {episode['range']}"} if "range" in episode else {}),
                "break_price": episode["price"],
                "broke_at": episode["at"],
                "touch_price": touch_price,
                "touched_at": touched_at,
                "close": bar.c,
                "candles_since_break": episode["n"],
                "interval": s.interval,
                "break_pct": s.break_pct,
                "touch_pct": s.touch_pct,
            },
            "at": bar.close_time,
            "direction": ("up" if up else "down") if held else ("down" if up else "up"),
        }
        set_latch(state, f"{outcome}_{episode['dir']}:{key}", {"signal": payload})


def rolling_range(bars: Sequence[Bar], first: int, count: int) -> Iterator[tuple[float, float] | None]:
    """Yield for each bar from index ``first`` the highest high and lowest low of the ``count`` before it.

    None while fewer than ``count`` bars precede it. Monotonic queues keep it O(1) per bar, so a catch-up
    over thousands of candles with a 90-day window stays linear.
    """
    highs: deque[int] = deque()
    lows: deque[int] = deque()
    start = max(0, first - count)
    for i in range(start, len(bars)):
        if i >= first:
            while highs and highs[0] < i - count:
                highs.popleft()
            while lows and lows[0] < i - count:
                lows.popleft()
            yield (bars[highs[0]].h, bars[lows[0]].l) if i - start >= count and highs else None
        while highs and bars[highs[-1]].h <= bars[i].h:
            highs.pop()
        highs.append(i)
        while lows and bars[lows[-1]].l >= bars[i].l:
            lows.pop()
        lows.append(i)

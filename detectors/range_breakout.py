"""Price makes a new N-day high or low, and the alert says how long it had been ("a 2-month high").

The N-day range is the highs and lows of the N complete UTC days before today plus today so far. The
daily extremes are read once per day from daily candles; within the day only the new candles are looked
at. After a breakout the side stays quiet while price keeps extending; it re-arms when price closes back
inside the old range (a failed breakout) or after ``rearm_days`` without a new extreme.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal, NamedTuple

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
from detectors.latch import edge, is_armed, latched_signals
from detectors.market_history import bucket_start
from detectors.text import format_age, iso_date, with_article
from storage.rows import DAY_MS, interval_ms


class RangeBreakoutSettings(DetectorSettings):
    """Options of a range_breakout rule."""

    days: int = Field(30, ge=2, le=730, description="Size of the range: a new high/low over this many days.")
    direction: Literal["up", "down", "either"] = Field(
        "either", description="up: new highs, down: new lows, either: both."
    )
    interval: Literal["5m", "15m", "1h", "4h"] = Field(
        "1h", description="Candles checked against the range (1h makes live and hourly replays agree)."
    )
    close_beyond: bool = Field(
        False, description="Require a candle to close beyond the old extreme, not just trade through it."
    )
    hysteresis_pct: float = Field(
        1.0, ge=0, le=50, description="Re-arm once price closes this far (%) back inside the old range."
    )
    rearm_days: float = Field(
        7, gt=0, le=365, description="...or once this many days pass without a new extreme."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"candles": self.days * DAY_MS}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the range's daily candles (two days' margin), and today's."""
        # An alert says when price was last this high in all the daily history kept (``last_seen``): a
        # bounded history answers that from the record highs and lows of the days it drops (DailyRecords),
        # so only the range is kept whole (800 days of 500 symbols were 19 MB, bench.memory).
        return {"1d": (self.days + 2) * DAY_MS, self.interval: DAY_MS + 2 * interval_ms(self.interval)}


class LastSeen(NamedTuple):
    """When price was last at least as extreme, looked up in daily candles."""

    date: str | None  # None: not within the daily history kept
    price: float | None
    days: float  # days since then, or days of history searched
    first_date: str | None


def last_seen(snapshot: Snapshot, before: int, price: float, high: bool, at: int) -> LastSeen:
    """Return the last day opening before ``before`` whose high (low) reached ``price``."""
    reach = snapshot.daily_reach(price, high=high, before=before)
    if reach.open_time is not None:
        return LastSeen(iso_date(reach.open_time), reach.extreme, (at - reach.open_time) / DAY_MS, None)
    first = reach.first_open_time
    return LastSeen(
        None,
        None,
        (at - first) / DAY_MS if first is not None else 0.0,
        iso_date(first) if first is not None else None,
    )


class RangeBreakout(Detector[RangeBreakoutSettings]):
    """A new N-day high or low, with how long it had been since price was there."""

    name: ClassVar[str] = "range_breakout"
    description: ClassVar[str] = (
        'A new N-day high or low, saying how long it had been since ("a 2-month high")'
    )
    Settings: ClassVar[type[DetectorSettings]] = RangeBreakoutSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "price": values.price("Price"),
        "previous_extreme": values.price("Previous extreme"),
        "since_date": values.date("Last this far"),
        "since_price": values.price("Price then"),
        "days_since": values.duration("Time since", unit="days"),
        "range_days": values.duration("Range", unit="days"),
        "history_from": values.date("History from"),
        "basis": values.text("Based on"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Check every candle closed since the last evaluation against the N-day range."""
        s = self.settings
        step = new_closed_bars(snapshot, state, s.interval, 0)
        if step is None:
            return latched_signals(self, state)
        for bar in step.bars[step.first_new :]:
            day = bucket_start(bar.open_time, DAY_MS)
            if state.get("day") != day:
                self._new_day(snapshot, state, day, bar, first=step.learn)
            self._check(snapshot, state, bar, learn=step.learn)
            state["t"] = bar.open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _new_day(self, snapshot: Snapshot, state: dict[str, Any], day: int, bar: Bar, *, first: bool) -> None:
        s = self.settings
        daily = [b for b in snapshot.candles("1d", since=day - s.days * DAY_MS) if b.open_time < day]
        complete = len(daily) >= s.days and daily[0].open_time == day - s.days * DAY_MS
        state["day"] = day
        state["ref"] = [max(b.h for b in daily), min(b.l for b in daily)] if complete else None
        state["today"] = None
        if first:
            # First evaluation mid-day: today's earlier candles were never processed; read them once.
            earlier = [b for b in snapshot.candles(s.interval, since=day) if b.open_time < bar.open_time]
            if earlier:
                state["today"] = [max(b.h for b in earlier), min(b.l for b in earlier)]

    def _check(self, snapshot: Snapshot, state: dict[str, Any], bar: Bar, *, learn: bool) -> None:
        s = self.settings
        ref, today = state.get("ref"), state.get("today")
        ext: dict[str, dict[str, Any]] = state.setdefault("ext", {})
        for key, high in (("high", True), ("low", False)):
            if s.direction not in ("either", "up" if high else "down"):
                continue
            tested = bar.c if s.close_beyond else (bar.h if high else bar.l)
            level = None
            if ref is not None:
                candidates = [ref[0 if high else 1]] + ([today[0 if high else 1]] if today else [])
                level = max(candidates) if high else min(candidates)
            beyond = level is not None and ((tested > level) if high else (tested < level))
            info = ext.get(key)
            rearm = False
            if info is not None:
                sign = 1.0 if high else -1.0
                back_inside = sign * (bar.c - info["level"]) < -info["level"] * s.hysteresis_pct / 100
                stale = bar.close_time - info["peak_t"] >= s.rearm_days * DAY_MS
                rearm = back_inside or stale
            if beyond and not is_armed(state, key) and info is not None:
                info.update(peak=tested, peak_t=bar.close_time)  # still extending: no new alert
            fired = edge(
                state,
                key,
                active=beyond,
                rearm=rearm and not beyond,
                build=partial(self._payload, snapshot, key, bar, tested, level or 0.0),
                learn=learn,
            )
            if fired or (learn and beyond):
                ext[key] = {"level": level, "peak": tested, "peak_t": bar.close_time}
            elif is_armed(state, key):
                ext.pop(key, None)
        if not ext:
            del state["ext"]
        state["today"] = [max(today[0], bar.h), min(today[1], bar.l)] if today else [bar.h, bar.l]

    def _payload(self, snapshot: Snapshot, key: str, bar: Bar, price: float, level: float) -> dict[str, Any]:
        s = self.settings
        high = key == "high"
        day = bucket_start(bar.open_time, DAY_MS)
        seen = last_seen(snapshot, day, price, high, bar.close_time)
        word = "high" if high else "low"
        asset = short_symbol(self.symbol)
        if seen.date is not None:
            title = (
                f"{asset} at {with_article(format_age(seen.days))} {word}: {format_price(price)} "
                f"({'highest' if high else 'lowest'} since {seen.date})"
            )
        else:
            title = (
                f"{asset} at its {'highest' if high else 'lowest'} in the {seen.days:.0f} days on record: "
                f"{format_price(price)}"
            )
        return {
            "kind": f"new_{word}",
            "severity": "warning" if seen.days >= 90 else "info",
            "title": title,
            "values": {
                "price": price,
                "previous_extreme": level,
                "range_days": s.days,
                "since_date": seen.date,
                "since_price": seen.price,
                "days_since": round(seen.days, 2),
                "history_from": seen.first_date,
                "basis": f"{s.interval} close"
                if s.close_beyond
                else f"{s.interval} {'high' if high else 'low'}",
            },
            "at": bar.close_time,
            "direction": "up" if high else "down",
        }

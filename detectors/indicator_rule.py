"""What the indicator detectors (rsi, ma_cross, macd, bollinger, stoch_rsi) share: settings, stepping, text.

An indicator detector decides on closed candles of its rule's ``interval`` only. ``IndicatorDetector``
keeps its indicators fed through a ``CandleFeed`` (on the instance; the JSON state holds ``t``, the open
time of the newest candle decided on, and the arm/latch flags of ``detectors.latch.edge``), calls
``decide`` once per new closed candle, and is quiet until the next candle of the interval can close. The
first evaluation feeds every closed candle in memory and only learns from the newest, so a rule never
fires on what it was created into. Until ``candles_needed`` closed candles of the interval are known (the
longest warm-up of the rule's indicators, and the candle before it) nothing is decided: a rule without
enough history does not fire.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.bars import quiet_until_next_bar
from detectors.base import Bar, Detector, DetectorSettings, Quiet, Signal, Snapshot
from detectors.indicator_feed import CandleFeed, Fed
from detectors.indicators import Indicator
from detectors.latch import latched_signals, latches_settled
from storage.rows import interval_ms

# How the values every indicator alert carries read (``detectors.values``); each detector adds its own.
COMMON_INDICATOR_VALUES: values.ValueSpecs = {
    "indicator": values.hidden(),  # the title names it
    "interval": values.text("Interval"),
    "close": values.price("Close"),
    "candle_open_time": values.time("Candle opened"),
    # The inputs /why shows: the last closes fed (a list of prices, oldest first) and the warm-up.
    "last_closes": values.price("Last closes"),
    "warmup": values.count("Warm-up candles"),
}

# How many of the newest closes an alert lists among its inputs.
LAST_CLOSES = 5

Interval = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"]
INTERVAL_DESCRIPTION = (
    "Candle interval the indicator is computed on (closed candles only, as TradingView's chart of that "
    "interval); 1h makes live one-minute data and hourly replays agree."
)


class IndicatorSettings(DetectorSettings):
    """Options every indicator rule has."""

    interval: Interval = Field("1h", description=INTERVAL_DESCRIPTION)

    def candles_needed(self) -> int:
        """Return the closed candles of ``interval`` the rule needs before it can fire."""
        raise NotImplementedError

    def history_needed(self) -> Mapping[str, int]:
        """Return the closed candles the rule needs before it can fire, by interval."""
        return {self.interval: self.candles_needed()}

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads candles: its warm-up, and the candle before it."""
        return {"candles": self.candles_needed() * interval_ms(self.interval)}


class Bundle:
    """A detector's indicators, fed together (``CandleFeed``'s tracker)."""

    def __init__(self, *indicators: Indicator, extra: tuple[Fed, ...] = ()) -> None:
        self.indicators = indicators
        self._all: tuple[Fed, ...] = (*indicators, *extra)
        self.extra = extra
        # The inputs an alert shows (``/why``): the last few closes the indicators were fed.
        self.closes: deque[float] = deque(maxlen=LAST_CLOSES)

    def add(self, bar: Bar) -> None:
        """Feed the candle to every indicator."""
        for fed in self._all:
            fed.add(bar)
        self.closes.append(bar.c)

    def inputs(self) -> dict[str, Any]:
        """Return what an alert shows of the indicators' inputs and warm-up."""
        return {
            "last_closes": list(self.closes),
            "warmup": max((i.warmup for i in self.indicators), default=0),
        }


class IndicatorDetector(Detector[Any]):
    """Base of the indicator detectors: feed, step candle by candle, return the latched edges."""

    uses: ClassVar[tuple[str, ...]] = ("candles",)
    # How the indicator is computed, in one line (for ``/why``; docs/indicators.md has the details).
    formula: ClassVar[str]

    @abstractmethod
    def build(self) -> Bundle:
        """Return fresh indicators for this rule."""

    @abstractmethod
    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Advance the edges of ``state`` by the closed candle ``bar`` (already fed to ``bundle``)."""

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Decide on every candle of the interval closed since the last evaluation; return the latches."""
        # Read where _feed() and _needed() keep them (a call each saved, at every candle of every rule).
        feed: CandleFeed[Bundle] = self.__dict__.get("_candle_feed") or self._feed()
        needed: int = self.__dict__.get("_candles_needed") or self._needed()
        last_t = state.get("t")
        if last_t is not None:
            if snapshot.now < last_t + 2 * feed.length_ms:
                return latched_signals(self, state)  # no candle of the interval can have closed since
            if feed.count < needed:
                # Still in its warm-up: older candles of the interval may have arrived since (the spot feed
                # backfills the venue's own klines for this rule), so the history is read again, short as
                # it is.
                feed.last_open_time = None
        bars = feed.new_bars(snapshot, last_t)
        if not bars:
            return latched_signals(self, state)
        learn = last_t is None
        if learn:
            for bar in bars[:-1]:
                feed.feed(bar)  # history before the rule existed: warms the indicators, decides nothing
            bars = bars[-1:]
        tracker = feed.tracker
        for bar in bars:
            feed.feed(bar)
            if feed.count >= needed:  # before that some indicator of the rule is still in its warm-up
                self.decide(bar, tracker, state, learn=learn)
            state["t"] = bar.open_time
        return [] if learn or "latch" not in state else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the interval can close: nothing changes before it.

        ``quiet_until_next_bar``'s answer, without looking the interval's length up again.
        """
        last_t = state.get("t")
        feed: CandleFeed[Bundle] = self.__dict__.get("_candle_feed") or self._feed()
        if last_t is None or ("latch" in state and not latches_settled(state)):
            return quiet_until_next_bar(state, feed.interval)
        return _quiet_until(int(last_t) + 2 * feed.length_ms)

    def lasting_state(self, state: dict[str, Any]) -> object | None:
        """Return the edges' flags and latches: ``t`` is progress a restart redoes from candles it keeps.

        Its indicators are rebuilt from the candles up to a written ``t`` and decide the later ones again,
        from the same flags, to the same decisions; so only a change of the flags or latches needs writing.
        """
        off, latches = state.get("off"), state.get("latch")
        if len(state) > ("t" in state) + (off is not None) + (latches is not None):
            return None  # a key this base does not know: write the state every time
        if not latches:  # the usual case, at every candle: keep it cheap
            return (tuple(off), ()) if off else _NO_FLAGS
        # A latch's payload is never changed in place (detectors.latch): held as it is. (A list, not a
        # generator: this runs at every candle of a latched rule.)
        return (
            tuple(off) if off else (),
            tuple(
                [
                    (key, tuple(latch.items()) if isinstance(latch, dict) else latch)
                    for key, latch in latches.items()
                ]
            ),
        )

    def _needed(self) -> int:
        needed: int | None = self.__dict__.get("_candles_needed")
        if needed is None:
            settings: IndicatorSettings = self.settings
            needed = self.__dict__["_candles_needed"] = settings.candles_needed()
        return needed

    def _feed(self) -> CandleFeed[Bundle]:
        feed: CandleFeed[Bundle] | None = self.__dict__.get("_candle_feed")
        if feed is None:
            settings: IndicatorSettings = self.settings
            feed = self.__dict__["_candle_feed"] = CandleFeed(settings.interval, self.build)
        return feed


# lasting_state of a rule with no flag and no latch.
_NO_FLAGS: tuple[tuple[str, ...], tuple[Any, ...]] = ((), ())


@lru_cache(maxsize=256)
def _quiet_until(until: int) -> Quiet:
    """Return Quiet(until=until), one object per time.

    The rules of an interval all sleep until its next close, and building a NamedTuple from keywords at
    every candle of each cost more than the rest of ``quiet``; it is immutable, so they share it.
    """
    return Quiet(until=until)


def crossed_above(previous: float | None, current: float | None, level: float) -> bool:
    """Return True when a series went from at or below ``level`` to above it."""
    return previous is not None and current is not None and previous <= level < current


def crossed_below(previous: float | None, current: float | None, level: float) -> bool:
    """Return True when a series went from at or above ``level`` to below it."""
    return previous is not None and current is not None and previous >= level > current


def format_level(value: float) -> str:
    """Format an oscillator level or value (0 to 100) with one decimal: 70, 71.3."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_signed(value: float) -> str:
    """Format a signed indicator value in price units: +1,234, +45.21, -0.000123."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:+,.0f}"
    if magnitude >= 1:
        return f"{value:+,.2f}"
    if magnitude == 0:
        return "0"
    # Three significant digits, never an exponent (a cheap coin's MACD is 0.0000123, not 1.23e-05).
    decimals = min(12, 2 - math.floor(math.log10(magnitude)))
    return f"{value:+.{decimals}f}"

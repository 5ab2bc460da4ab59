"""Keep a rule's streaming indicators fed with every closed candle of its interval, once, across evaluations.

Indicator objects cannot live in the persisted detector state (a JSON dict), so they live on the detector
instance, and the state records how far the rule got (``state["t"]``, the open time of the newest candle
it decided on). Each evaluation asks ``CandleFeed.new_bars`` for the candles after that one: when the
instance has fed exactly the candles up to ``state["t"]`` (the usual case) only the new ones are read;
when it has not (a restart, a backtest building its detectors afresh, a state restored from the database)
its indicators are rebuilt from every closed candle in memory up to ``state["t"]`` first. Either way the
caller then passes each new candle to ``feed`` and decides on it, so every candle is fed exactly once.

Candles of another length than the rule's interval (``Snapshot.candles`` returns base candles for an
interval finer than the stored one) are never fed: an hourly RSI is not a 15-minute one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from detectors.base import Bar, Snapshot
from storage.rows import interval_ms


class Fed(Protocol):
    """Anything fed one closed candle at a time (an ``Indicator``, or a detector's bundle of them)."""

    def add(self, bar: Bar) -> None:
        """Feed the next closed candle."""


T = TypeVar("T", bound=Fed)


class CandleFeed(Generic[T]):
    """The indicators (built by ``build``) of one rule on closed candles of ``interval``."""

    def __init__(self, interval: str, build: Callable[[], T]) -> None:
        self.interval = interval
        self.length_ms = interval_ms(interval)
        self._build = build
        self.tracker: T = build()
        self.last_open_time: int | None = None  # the newest candle fed to ``tracker``
        self.count = 0  # candles fed to ``tracker``

    def new_bars(self, snapshot: Snapshot, last_t: int | None) -> Sequence[Bar]:
        """Return the closed candles after ``last_t`` (all closed ones if None), having fed those up to it.

        The tracker is rebuilt from the snapshot when it has not fed exactly the candles up to ``last_t``.
        """
        if last_t is None:
            if self.last_open_time is not None:
                self._reset()
            return self._of_interval(snapshot.candles(self.interval))
        if self.last_open_time != last_t:
            self._reset()
            for bar in self._of_interval(snapshot.candles(self.interval)):
                if bar.open_time > last_t:
                    break
                self.feed(bar)
        return self._since(snapshot, last_t + 1)

    def feed(self, bar: Bar) -> None:
        """Feed one new closed candle."""
        self.tracker.add(bar)
        self.last_open_time = bar.open_time
        self.count += 1

    def _since(self, snapshot: Snapshot, since: int) -> Sequence[Bar]:
        # The rules of one symbol and interval read the same new candle from one view: read it once.
        # Nothing here changes the list returned, so the rules can share it.
        shared: dict[tuple[str, int], Sequence[Bar]] | None = getattr(snapshot, "shared_reads", None)
        if shared is None:
            return self._of_interval(snapshot.candles(self.interval, since=since))
        key = (self.interval, since)
        bars = shared.get(key)
        if bars is None:
            bars = shared[key] = self._of_interval(snapshot.candles(self.interval, since=since))
        return bars

    def _reset(self) -> None:
        self.tracker = self._build()
        self.last_open_time = None
        self.count = 0

    def _of_interval(self, bars: Sequence[Bar]) -> Sequence[Bar]:
        # One call returns one series, so its candles all have one length.
        return bars if not bars or bars[0].interval_ms == self.length_ms else []

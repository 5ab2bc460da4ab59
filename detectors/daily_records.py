"""The candles a bounded series dropped, reduced to what "when was price last this far" needs.

``range_breakout`` says in an alert when price was last as high (low) in all the daily history kept: the
last day before today whose high reached the price. A bounded history keeps only the days the range reads;
the older days it drops are folded here. Of them only the *records* can ever answer: a day whose high is
above every later day's high (a monotonic stack, usually a few dozen days of years), since a later day at
least as high would be found first. So ``last_at_least`` on the records gives what a scan of every dropped
day gives, exactly (tests/detectors/test_daily_records.py checks it against the scan on random data).

The dropped days themselves are kept as runs of consecutive open times: the series, records included,
forgets its oldest days at the very times an unbounded series of the same retention does (the first day
kept is in the alert when no day reached the price).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left


class DailyRecords:
    """The record highs and lows of dropped candles (oldest first), and the open times they covered."""

    __slots__ = ("count", "high_t", "high_v", "low_t", "low_v", "retention_ms", "runs", "step_ms")

    def __init__(self, step_ms: int, retention_ms: int) -> None:
        self.step_ms = step_ms
        # How long the series and its records keep a candle together (an unbounded series' retention).
        self.retention_ms = retention_ms
        self.count = 0
        # [first open time, candles]: open times step_ms apart, usually one run per symbol.
        self.runs: list[list[int]] = []
        # Highs strictly falling with time, lows strictly rising: each above (below) every later one.
        self.high_t = array("q")
        self.high_v = array("d")
        self.low_t = array("q")
        self.low_v = array("d")

    @property
    def first(self) -> int | None:
        """Return the open time of the oldest candle covered, or None when empty."""
        return self.runs[0][0] if self.runs else None

    def clear(self) -> None:
        """Forget every candle (before they are read again from the database)."""
        self.count = 0
        self.runs = []
        for column in (self.high_t, self.high_v, self.low_t, self.low_v):
            del column[:]

    def add(self, open_time: int, high: float, low: float) -> None:
        """Fold in a candle opening after every one folded in so far."""
        runs = self.runs
        if runs and runs[-1][0] + runs[-1][1] * self.step_ms == open_time:
            runs[-1][1] += 1
        else:
            runs.append([open_time, 1])
        self.count += 1
        # A later candle at least as high answers every question an earlier one could: drop those.
        high_t, high_v = self.high_t, self.high_v
        while high_v and high_v[-1] <= high:
            high_v.pop()
            high_t.pop()
        high_t.append(open_time)
        high_v.append(high)
        low_t, low_v = self.low_t, self.low_v
        while low_v and low_v[-1] >= low:
            low_v.pop()
            low_t.pop()
        low_t.append(open_time)
        low_v.append(low)

    def expire(self, cutoff: int) -> None:
        """Forget the candles opening before ``cutoff``."""
        runs, step = self.runs, self.step_ms
        while runs:
            start, n = runs[0]
            if start >= cutoff:
                break
            gone = min(n, -(-(cutoff - start) // step))
            self.count -= gone
            if gone == n:
                runs.pop(0)
            else:
                runs[0] = [start + gone * step, n - gone]
        for times, values in ((self.high_t, self.high_v), (self.low_t, self.low_v)):
            k = bisect_left(times, cutoff)
            del times[:k]
            del values[:k]

    def last_reaching(self, price: float, *, high: bool, before: int) -> tuple[int, float] | None:
        """Return (open time, high) of the last candle opening before ``before`` whose high reached ``price``.

        With ``high`` False: (open time, low) of the last whose low fell to ``price``. Exact for a ``before``
        after every candle folded in (what the history asks: they are older than every candle it holds).
        """
        times, values = (self.high_t, self.high_v) if high else (self.low_t, self.low_v)
        for i in range(bisect_left(times, before) - 1, -1, -1):
            value = values[i]
            if (value >= price) if high else (value <= price):
                return times[i], value
        return None

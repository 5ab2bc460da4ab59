"""Step through the candles closed since a detector's last evaluation, never rescanning history.

Detectors that decide on candle closes keep the open time of the newest candle they processed in
``state["t"]``. Each evaluation asks for the new candles only (plus the few older ones a window needs as
context); when no candle of the interval can have closed since, it answers from arithmetic alone, so an
hourly rule evaluated every few seconds on one-minute data costs almost nothing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, NamedTuple

from detectors.base import Bar, Quiet, Snapshot
from detectors.latch import latches_settled
from storage.rows import interval_ms

# A catch-up after a long outage processes at most this many candles (the newest ones).
MAX_CATCH_UP = 5000


class NewBars(NamedTuple):
    """Candles to process: ``bars[first_new:]`` are new, the ones before them are context."""

    bars: Sequence[Bar]
    first_new: int
    learn: bool  # first evaluation: only learn from the newest candle, never fire


def new_closed_bars(snapshot: Snapshot, state: dict[str, Any], interval: str, context: int) -> NewBars | None:
    """Return the candles of ``interval`` closed since ``state["t"]`` with ``context`` older ones, or None.

    On the first evaluation (no ``state["t"]``) only the newest candle is offered, flagged ``learn``.
    The caller records progress with ``state["t"] = bars[-1].open_time`` once it has processed them.
    """
    last_t = state.get("t")
    if last_t is not None and snapshot.now < last_t + 2 * interval_ms(interval):
        # The next candle opens at last_t + length at the earliest and closes a length later.
        return None
    newest = snapshot.candles(interval, count=1)
    if not newest:
        return None
    top = newest[-1]
    if last_t is None:
        bars = snapshot.candles(interval, count=context + 1)
        return NewBars(bars, len(bars) - 1, True)
    if top.open_time <= last_t:
        return None
    # Without gaps in the data this is exactly the number of new candles; with gaps it over-fetches a
    # little, and the bisect below finds where the new ones start.
    expected = min(MAX_CATCH_UP, (top.open_time - last_t) // top.interval_ms)
    bars = snapshot.candles(interval, count=context + expected)
    first = bisect_right(bars, last_t, key=lambda b: b.open_time)
    return NewBars(bars, first, False)


def quiet_until_next_bar(state: dict[str, Any], interval: str) -> Quiet | None:
    """Return the Quiet of a detector stepping through ``new_closed_bars``: until a new candle can close.

    Before ``state["t"] + 2 * interval`` ``new_closed_bars`` answers None from arithmetic alone, whatever the
    data, and the detector only returns its latches; so nothing can change before then once they settled.
    Before its first candle was processed (too little history to learn from) the detector has only read
    the symbol's candles: the same candles give the same answer.
    """
    if not latches_settled(state):
        return None
    last_t = state.get("t")
    if last_t is None:
        return Quiet(unchanged=("candles",))
    return Quiet(until=int(last_t) + 2 * interval_ms(interval))


def bar_closing_at(bars: Sequence[Bar], hint: int, close_time: int) -> Bar | None:
    """Return the bar of ``bars`` closing exactly at ``close_time`` (looked for at index ``hint`` first)."""
    if 0 <= hint < len(bars) and bars[hint].close_time == close_time:
        return bars[hint]
    i = bisect_left(bars, close_time, key=lambda b: b.close_time)
    if i < len(bars) and bars[i].close_time == close_time:
        return bars[i]
    return None

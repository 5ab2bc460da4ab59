"""Hold a bounded history's series over a gap until the rules have caught up on it (issue 24 review).

A bounded history (``MarketHistory(bounded=True)``, the live bot) keeps of each series what the loaded rules
read when evaluation keeps up: a level rule the last hour of base candles, a percentage move its window and
a few candles. After a gap, though, a rule catches up: its next evaluation reads everything since its last
one (a crossing missed while the bot was down is reported once, marked late; bot.alerts.engine). The
backfill after a restart or a gap repair brings hours of rows in one batch, and the history would drop the
oldest of them as the newest arrive, before any rule has read them: the crossings in them were lost.

So a batch that moves a series more than a couple of its steps past the newest row held holds that
symbol's series longer by that gap (older rows read back from the database as for a new rule), under a
hold id of its own, until the evaluator has evaluated the symbol's rules (``release``).
"""

from __future__ import annotations

from collections.abc import Iterable

from detectors.market_history import MarketHistory
from storage.rows import HOUR_MS, INTERVAL_MS, MINUTE_MS, interval_ms

# A batch spanning more than this many steps of its series is a catch-up, not a poll (a poll brings the
# closed candle and the forming one: one step).
STEPS = 2
# The step of the point kinds: open interest every 5 minutes, funding settled every 8 hours at most.
KIND_STEP_MS = {"open_interest": 5 * MINUTE_MS, "funding": 8 * HOUR_MS}


def hold_id(symbol: str) -> str:
    """Return the rule id under which a catch-up holds ``symbol`` (no rule id starts with NUL)."""
    return f"\0catch-up {symbol}"


class CatchUpHolds:
    """The symbols a bounded history holds longer until their rules are evaluated."""

    def __init__(self, history: MarketHistory) -> None:
        self.history = history
        self._held: dict[str, dict[str, int]] = {}  # symbol -> what its hold keeps (ms per key)

    def candles(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """Hold the symbols of a batch of (symbol, interval, open time) spanning a gap, before it is added."""
        for (symbol, interval), newest in _newest(
            (symbol, interval, t) for symbol, interval, t in rows
        ).items():
            step = interval_ms(interval)
            gap = self._gap(symbol, "candles", newest + step)  # a closed candle is seen from its close
            if gap > STEPS * step:
                # Coarser intervals are aggregated from this one: those with more than a couple of candles in
                # the gap are held too (the others' declared slack covers it, and a daily series grown would
                # rebuild its records from the database for nothing).
                self._hold(
                    symbol, {n: gap for n, ms in INTERVAL_MS.items() if step <= ms and STEPS * ms < gap}
                )

    def points(self, kind: str, rows: Iterable[tuple[str, int]]) -> None:
        """Hold the symbols of a batch of (symbol, time) points of ``kind`` spanning a gap."""
        for (symbol, _), newest in _newest((symbol, kind, t) for symbol, t in rows).items():
            gap = self._gap(symbol, kind, newest)
            if gap > STEPS * KIND_STEP_MS[kind]:
                self._hold(symbol, {kind: gap})

    def _gap(self, symbol: str, kind: str, newest: int) -> int:
        """Return how far a batch moves a symbol's ``kind`` past the newest row held (0: nothing held).

        Nothing held (a cold start, a new symbol) means no rule has read the series yet: nothing to catch
        up on, and a first backfill is not held (bench.memory fills the history that way).
        """
        held = self.history.change_counter(symbol, kind)
        if held is None or not held[0]:
            return 0
        return newest - int(held[1])

    def release(self, symbols: Iterable[str] | None) -> None:
        """Let the history drop what it held for ``symbols`` (all: None), their rules evaluated."""
        if not self._held:
            return
        done = list(self._held) if symbols is None else [s for s in symbols if s in self._held]
        for symbol in done:
            self.history.release(hold_id(symbol))
            del self._held[symbol]

    def _hold(self, symbol: str, spans: dict[str, int]) -> None:
        # What the history keeps now (this symbol's earlier hold included), longer by the span; a second
        # batch before the evaluation adds to the hold, never replaces it.
        history = self.history
        reads = dict(self._held.get(symbol, {}))
        for key, span in spans.items():
            reads[key] = max(reads.get(key, 0), history.kept_ms(symbol, key) + span)
        history.require(hold_id(symbol), [symbol], reads)
        self._held[symbol] = reads


def _newest(rows: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """Return the newest time of each (symbol, series) of a batch."""
    newest: dict[tuple[str, str], int] = {}
    for symbol, key, t in rows:
        k = (symbol, key)
        if t > newest.get(k, t - 1):
            newest[k] = t
    return newest

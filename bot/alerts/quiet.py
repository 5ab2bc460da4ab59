"""Which rules the engine may skip: quiet rules sleep until a time, or until the data they read changes.

A detector says after each evaluation how long evaluating again would change nothing (``Detector.quiet``).
The engine then puts the rule to sleep here and asks, at each tick, which rules woke: the ones whose time
came (a heap of wake times) and the ones whose watched data changed or became visible (the history's live
change counters, compared for the keys the history says moved since the last tick, never for every watch,
and within a key only for the watchers whose USD threshold was reached).
Entries of an older sleep are recognised by their generation and dropped. In a year's replay most rules are
quiet on most ticks (bench.replay), and live a poll of one symbol looks at that symbol's watches only
(bench.live), so a tick costs only the rules that can change.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from detectors.base import Quiet
from detectors.market_history import CloseWatch, MarketHistory
from storage.rows import DAY_MS

# A rule sleeping on its closes staying within a band (Quiet.closes_within) is woken at least this often, so
# the candles it has not read yet are still in memory when it reads them (one-minute ones are kept 2 days).
CLOSES_WATCH_MAX_MS = DAY_MS


@dataclass(slots=True)
class _Watch:
    """The rules waiting for one (symbol, kind) of data to change."""

    mark: list[Any]  # the history's live [changes, newest row time, USD added]
    checked: int  # mark[0] when the watchers were last compared
    # Heap of (USD added at which it wakes: -inf for any change, generation, rule id, changes when it went to
    # sleep): a change looks at the watchers whose threshold it reached only, not at every rule waiting on
    # the symbol's liquidations (issue 24). Entries of an older sleep are dropped when they come up.
    heap: list[tuple[float, int, str, int]] = field(default_factory=list)
    # No watcher wakes before mark[2] reaches this (-inf when one wakes at any change): a cascade waiting for
    # a few million USD is not looked at for each of the thousands of liquidations before.
    usd_threshold: float = math.inf
    compacted: int = 0  # the heap's size after stale entries were last removed


class QuietRules:
    """Sleeping rules with their timers, data watches and the clocks they keep in their state."""

    def __init__(self, history: MarketHistory) -> None:
        self.history = history
        self.asleep: dict[str, int] = {}  # rule id -> generation of its current sleep
        self.clocked: dict[str, tuple[int, str]] = {}  # rule id -> (generation, Quiet.now_key)
        self._generation = 0
        # Timers, by the time they wake at: a heap of those times, and the (generation, rule id) sleeping
        # until each. Rules on one interval's candles all wake at its next close (1,000 one-minute indicator
        # rules every minute, issue 18): one heap entry for them, not a push and a pop of each.
        self._timers: list[int] = []
        self._timed: dict[int, list[tuple[int, str]]] = {}
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._closes: dict[str, tuple[str, CloseWatch]] = {}  # rule id -> (symbol, its close watch)
        # (symbol, kind) -> (its change key, the history's live change counter): looked up once, not at each
        # sleep (an open-interest rule sleeps at every one of its rows). The history never replaces a counter.
        self._counters: dict[tuple[str, str], tuple[tuple[str, str], list[Any]]] = {}

    def clear(self) -> None:
        """Wake every rule (the rule set changed)."""
        self.asleep.clear()
        self.clocked.clear()
        self._timers.clear()
        self._timed.clear()
        self._watches.clear()
        for symbol, watch in self._closes.values():
            self.history.unwatch_closes(symbol, watch)
        self._closes.clear()
        self._counters.clear()

    def forget(self, rule_id: str) -> None:
        """Wake one rule (it was disabled)."""
        self.asleep.pop(rule_id, None)
        self._unwatch(rule_id)

    def _unwatch(self, rule_id: str) -> None:
        entry = self._closes.pop(rule_id, None)
        if entry is not None:
            self.history.unwatch_closes(*entry)

    def wake(self, now: int) -> list[str]:
        """Wake the rules whose time came or whose data changed by ``now``; return their ids."""
        timers = self._timers
        woke = self._wake_timers(now) if timers and timers[0] <= now else []
        # Only the watches of the keys that moved: the usual tick moved none, or a symbol's few.
        changed = self.history.take_changed()
        if changed and self._watches:
            watches = self._watches
            for key in changed:
                watch = watches.get(key)
                if watch is not None and not watch.mark[2] < watch.usd_threshold:
                    self._wake_watchers(watch, woke)
        if self.history.has_tripped():
            self._wake_tripped(woke)
        if self._closes and woke:
            for rule_id in woke:
                self._unwatch(rule_id)
        return woke

    def _wake_timers(self, now: int) -> list[str]:
        """Pop the timers due by ``now``; return the rules they wake (skipping those of older sleeps)."""
        timers, timed = self._timers, self._timed
        asleep = self.asleep
        woke: list[str] = []
        while timers and timers[0] <= now:
            for generation, rule_id in timed.pop(heapq.heappop(timers)):
                if asleep.get(rule_id) == generation:
                    del asleep[rule_id]
                    woke.append(rule_id)
        return woke

    def _wake_watchers(self, watch: _Watch, woke: list[str]) -> None:
        """Wake the watchers of one data key whose data changed (appending to ``woke``); drop stale ones."""
        mark = watch.mark
        changes = mark[0]
        if changes == watch.checked:
            return  # watchers registered since the last check saw this count too
        watch.checked = changes
        asleep = self.asleep
        heap = watch.heap
        added = mark[2]
        kept: list[tuple[float, int, str, int]] = []
        drain = added != added  # not a number: every watcher wakes, whatever its threshold
        # The entries whose threshold the USD added reached, lowest first.
        while heap and (drain or heap[0][0] <= added):
            entry = heapq.heappop(heap)
            _, generation, rule_id, seen = entry
            if asleep.get(rule_id) != generation:
                continue  # from an older sleep
            if seen != changes:
                del asleep[rule_id]
                woke.append(rule_id)
            else:
                kept.append(entry)  # it went to sleep after this very change
        for entry in kept:
            heapq.heappush(heap, entry)
        watch.usd_threshold = heap[0][0] if heap else math.inf

    def _watch(
        self, key: tuple[str, str], mark: list[Any], usd_below: float | None, generation: int, rule_id: str
    ) -> None:
        """Make a sleeping rule wait on one data key (until ``usd_below`` more USD, if given)."""
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(mark, mark[0])
        wake_usd = -math.inf if usd_below is None else mark[2] + usd_below
        if wake_usd != wake_usd:
            wake_usd = -math.inf  # not a number: any change wakes it
        heapq.heappush(watch.heap, (wake_usd, generation, rule_id, mark[0]))
        watch.usd_threshold = min(watch.usd_threshold, wake_usd)
        if len(watch.heap) > 2 * watch.compacted + 64:
            self._compact(watch)

    def _compact(self, watch: _Watch) -> None:
        """Drop the entries of older sleeps (woken by time or another watch, and asleep again since)."""
        asleep = self.asleep
        watch.heap = [entry for entry in watch.heap if asleep.get(entry[2]) == entry[1]]
        heapq.heapify(watch.heap)
        watch.compacted = len(watch.heap)
        watch.usd_threshold = watch.heap[0][0] if watch.heap else math.inf

    def _wake_tripped(self, woke: list[str]) -> None:
        """Wake the rules whose close watches tripped (appending to ``woke``) and forget those watches."""
        asleep = self.asleep
        for tripped in self.history.take_tripped():
            rule_id, generation = tripped.owner
            if asleep.get(rule_id) == generation:
                del asleep[rule_id]
                woke.append(rule_id)
            if rule_id in self._closes and self._closes[rule_id][1] is tripped:
                del self._closes[rule_id]

    def _sleep_until(self, rule_id: str, until: int | None, now: int) -> bool:
        """Put a rule to sleep on a timer alone: ``sleep`` for a Quiet with nothing to watch.

        The one kind of sleep of the rules that wake at every closed candle of their interval (1,000 1m
        indicator rules every minute, issue 18), so it skips the watches' bookkeeping.
        """
        if until is None or until <= now:
            return False  # "quiet for ever" is not a claim to act on; a past time is no sleep
        self._generation += 1
        generation = self._generation
        self.asleep[rule_id] = generation
        self._add_timer(until, generation, rule_id)
        if self._closes:
            self._unwatch(rule_id)
        return True

    def _add_timer(self, until: int, generation: int, rule_id: str) -> None:
        """Wake the rule of this sleep at ``until`` (one heap entry per time, shared by its sleepers)."""
        sleeping = self._timed.get(until)
        if sleeping is None:
            sleeping = self._timed[until] = []
            heapq.heappush(self._timers, until)
        sleeping.append((generation, rule_id))

    def _counter(self, symbol: str, kind: str) -> tuple[tuple[str, str], list[Any]] | None:
        """Look up and keep the change key and live counter of a symbol's kind; None if it is untracked."""
        mark = self.history.change_counter(symbol, kind)
        if mark is None:
            return None
        counter = self._counters[(symbol, kind)] = (self.history.change_key(symbol, kind), mark)
        return counter

    def sleep(self, rule_id: str, quiet: Quiet, symbol: str, expires_at: int | None, now: int) -> bool:
        """Put a rule to sleep as ``quiet`` allows (waking at its expiry at the latest); True if it sleeps."""
        until = quiet.until
        if expires_at is not None:
            until = expires_at if until is None else min(until, expires_at)  # wake to disable it on time
        if not quiet.unchanged and quiet.now_key is None:
            return self._sleep_until(rule_id, until, now)
        watched: list[tuple[tuple[str, str], list[Any], float | None]] = []
        closes = None
        counters = self._counters
        for kind in quiet.unchanged:
            counter = counters.get((symbol, kind)) or self._counter(symbol, kind)
            if counter is None:
                return False  # an untracked kind: stay awake
            key, mark = counter
            if mark[1] > now:
                return False  # rows still to become visible: stay awake
            if kind == "candles" and quiet.closes_within is not None:
                closes = quiet.closes_within
                latest = now + CLOSES_WATCH_MAX_MS
                until = latest if until is None else min(until, latest)
                continue
            watched.append((key, mark, quiet.usd_below if kind == "liquidations" else None))
        if (until is None and not watched) or (until is not None and until <= now):
            return False  # "quiet for ever" is not a claim to act on; a past time is no sleep
        self._generation += 1
        generation = self._generation
        self.asleep[rule_id] = generation
        if quiet.now_key is not None:
            self.clocked[rule_id] = (generation, quiet.now_key)
        if until is not None:
            self._add_timer(until, generation, rule_id)
        for key, mark, usd_below in watched:
            self._watch(key, mark, usd_below, generation, rule_id)
        self._unwatch(rule_id)
        if closes is not None:
            low, high = closes
            owner = (rule_id, generation)
            close_watch = self.history.watch_closes(symbol, low, high, wicks=quiet.wicks, owner=owner)
            self._closes[rule_id] = (symbol, close_watch)
        return True

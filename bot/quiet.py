"""Which rules the engine may skip: quiet rules sleep until a time, or until the data they read changes.

A detector says after each evaluation how long evaluating again would change nothing (``Detector.quiet``).
The engine then puts the rule to sleep here and asks, at each tick, which rules woke: the ones whose time
came (a heap of timers) and the ones whose watched data changed or became visible (the history's live
change counters, compared once per watched key and tick). Entries of an older sleep are recognised by their
generation and dropped. In a year's replay most rules are quiet on most ticks (bench.replay), so a tick
costs only the rules that can change.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from detectors.base import Quiet
from detectors.history import MarketHistory


@dataclass(slots=True)
class _Watch:
    """The rules waiting for one (symbol, kind) of data to change."""

    mark: list[int]  # the history's live [changes, newest row time]
    checked: int  # mark[0] when the watchers were last compared
    rules: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule id -> (generation, changes)


class QuietRules:
    """Sleeping rules with their timers, data watches and the clocks they keep in their state."""

    def __init__(self, history: MarketHistory) -> None:
        self.history = history
        self.asleep: dict[str, int] = {}  # rule id -> generation of its current sleep
        self.clocked: dict[str, tuple[int, str]] = {}  # rule id -> (generation, Quiet.now_key)
        self._generation = 0
        self._timers: list[tuple[int, int, str]] = []  # heap of (wake at, generation, rule id)
        self._watches: dict[tuple[str, str], _Watch] = {}

    def clear(self) -> None:
        """Wake every rule (the rule set changed)."""
        self.asleep.clear()
        self.clocked.clear()
        self._timers.clear()
        self._watches.clear()

    def forget(self, rule_id: str) -> None:
        """Wake one rule (it was disabled)."""
        self.asleep.pop(rule_id, None)

    def wake(self, now: int) -> list[str]:
        """Wake the rules whose time came or whose data changed by ``now``; return their ids."""
        asleep = self.asleep
        woke: list[str] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, generation, rule_id = heapq.heappop(timers)
            if asleep.get(rule_id) == generation:
                del asleep[rule_id]
                woke.append(rule_id)
        for watch in self._watches.values():
            changes = watch.mark[0]
            if changes == watch.checked:
                continue  # watchers registered since the last check saw this count too
            watch.checked = changes
            rules = watch.rules
            for rule_id, (generation, seen) in list(rules.items()):
                if asleep.get(rule_id) != generation:
                    del rules[rule_id]  # from an older sleep
                elif seen != changes:
                    del rules[rule_id], asleep[rule_id]
                    woke.append(rule_id)
        return woke

    def sleep(self, rule_id: str, quiet: Quiet, symbol: str, expires_at: int | None, now: int) -> bool:
        """Put a rule to sleep as ``quiet`` allows (waking at its expiry at the latest); True if it sleeps."""
        until = quiet.until
        if expires_at is not None:
            until = expires_at if until is None else min(until, expires_at)  # wake to disable it on time
        watched: list[tuple[tuple[str, str], list[int]]] = []
        for kind in quiet.unchanged:
            mark = self.history.change_counter(symbol, kind)
            if mark is None or mark[1] > now:
                return False  # an untracked kind, or rows still to become visible: stay awake
            watched.append(((symbol, kind), mark))
        if (until is None and not watched) or (until is not None and until <= now):
            return False  # "quiet for ever" is not a claim to act on; a past time is no sleep
        self._generation += 1
        generation = self._generation
        self.asleep[rule_id] = generation
        if quiet.now_key is not None:
            self.clocked[rule_id] = (generation, quiet.now_key)
        if until is not None:
            heapq.heappush(self._timers, (until, generation, rule_id))
        for key, mark in watched:
            watch = self._watches.get(key)
            if watch is None:
                watch = self._watches[key] = _Watch(mark, mark[0])
            watch.rules[rule_id] = (generation, mark[0])
        return True

"""What the loaded rules read of each symbol's history, so the in-memory history keeps that and no more.

A detector says how far back its evaluation reads each series (``DetectorSettings.history_reads``): candle
intervals by name (``"base"`` for the finest interval the symbol has) and the kinds ``liquidations``,
``funding`` and ``open_interest``. ``ReadBounds`` counts those windows per symbol over the loaded rules, so
adding or removing a rule updates the longest window of what it reads in a few dictionary operations (50k
rules load a batch at a time: bench.rule_loading). A rule whose detector does not say (None) keeps
everything of its symbols.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BASE = "base"
# Kinds bounded by the rules besides candles; the market-wide and positioning kinds are small and kept whole.
BOUNDED_KINDS = frozenset({"liquidations", "funding", "open_interest"})
# A rule that does not say what it reads keeps every series of its symbols.
EVERYTHING = "*"
# The symbol of what a rule reads of every symbol (a liquidation cascade over every market).
EVERY_SYMBOL = "*every*"


class ReadBounds:
    """The longest window each symbol's loaded rules read of each series."""

    def __init__(self) -> None:
        # rule id -> the symbols and the (key, window) pairs it added, each tuple shared by every rule that
        # reads the same (20,000 rules, bench.memory); (symbol, key) -> {window: rules reading it}.
        self._of_rule: dict[str, tuple[tuple[str, ...], tuple[tuple[str, int], ...]]] = {}
        self._shared: dict[Any, Any] = {}
        self._windows: dict[tuple[str, str], dict[int, int]] = {}
        # symbol -> key -> longest window, for the history's retention: read at every new series.
        self._longest: dict[str, dict[str, int]] = {}

    def add(self, rule_id: str, symbols: Iterable[str], reads: Mapping[str, int] | None) -> set[str]:
        """Count what a rule reads of ``symbols``; return the symbols whose longest windows changed."""
        changed = self.remove(rule_id)
        items = ((EVERYTHING, 1),) if reads is None else tuple((k, max(0, int(v))) for k, v in reads.items())
        names = tuple(dict.fromkeys(symbols))
        shared = self._shared
        self._of_rule[rule_id] = (shared.setdefault(names, names), shared.setdefault(items, items))
        for symbol, key, window in ((s, k, w) for s in names for k, w in items):
            counts = self._windows.setdefault((symbol, key), {})
            counts[window] = counts.get(window, 0) + 1
            longest = self._longest.setdefault(symbol, {})
            if window > longest.get(key, -1):
                longest[key] = window
                changed.add(symbol)
        return changed

    def remove(self, rule_id: str) -> set[str]:
        """Forget what a rule reads; return the symbols whose longest windows changed."""
        changed: set[str] = set()
        names, items = self._of_rule.pop(rule_id, ((), ()))
        for symbol, key, window in ((s, k, w) for s in names for k, w in items):
            counts = self._windows[(symbol, key)]
            counts[window] -= 1
            if counts[window]:
                continue
            del counts[window]
            longest = self._longest[symbol]
            if counts:
                if window >= longest[key]:
                    longest[key] = max(counts)
                    changed.add(symbol)
                continue
            del self._windows[(symbol, key)]
            del longest[key]
            if not longest:
                del self._longest[symbol]
            changed.add(symbol)
        return changed

    def clear(self) -> set[str]:
        """Forget every rule; return the symbols that had bounds."""
        symbols = set(self._longest)
        self._of_rule.clear()
        self._shared.clear()
        self._windows.clear()
        self._longest.clear()
        return symbols

    def of(self, symbol: str) -> Mapping[str, int]:
        """Return the longest window per key the rules read of ``symbol`` (empty: no rule reads it)."""
        own = self._longest.get(symbol, {})
        every = self._longest.get(EVERY_SYMBOL)
        if not every:
            return own
        merged = dict(own)
        for key, window in every.items():
            merged[key] = max(merged.get(key, -1), window)
        return merged

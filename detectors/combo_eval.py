"""Bind a parsed combo rule to streaming indicators, step it through closed candles, and say its values.

Every market value of a rule is computed on closed candles of its own interval: a candle field is the last
closed candle's, an indicator is one ``detectors.indicators`` object fed each closed candle once (outputs
of one MACD or one Bollinger share one object). At a time T the rule sees, for each interval, the newest
candle closed at or before T, as a TradingView chart of that interval shows it once the candle closed
(never the forming one, so an alert cannot repaint). A value that is not known at T (its indicator is
still warming up, or its interval's newest candle is missing) makes every comparison reading it unknown;
``and``/``or`` then follow three-valued logic, and an unknown rule neither fires nor re-arms.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache, partial

from detectors.base import Bar, Snapshot
from detectors.combo_grammar import (
    ComboSyntaxError,
    Comparison,
    Junction,
    Node,
    Number,
    Operand,
    Series,
    parse,
    series_in,
)
from detectors.indicator_feed import CandleFeed
from detectors.indicator_rule import format_level
from detectors.indicators import Indicator, make_indicator
from detectors.text import format_amount
from detectors.values import format_number, format_price
from storage.rows import interval_ms

# The grammar's output names (the words members write) and the indicator module's.
_OUTPUT_NAMES = {"line": "macd", "hist": "histogram", "mid": "middle"}
_CANDLE_FIELDS = {
    "close": lambda bar: bar.c,
    "open": lambda bar: bar.o,
    "high": lambda bar: bar.h,
    "low": lambda bar: bar.l,
    "volume": lambda bar: bar.volume,
}
# How values are shown: oscillators with one decimal, prices and their averages like a chart's scale.
_OSCILLATORS = ("rsi", "stoch_rsi")
_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@lru_cache(maxsize=512)
def parsed(text: str) -> Node:
    """Return the tree of a rule's text (cached: every rule instance and settings check reads it)."""
    return parse(text)


def build_indicator(series: Series, text: str) -> Indicator:
    """Return a fresh indicator computing ``series``; raise ComboSyntaxError at its position if refused."""
    # Every parameter is a whole number (the grammar checked it) but Bollinger's standard deviations.
    args: list[float] = [int(p) for p in series.params]
    if series.name == "bollinger":
        args[1] = float(series.params[1])
    try:
        return make_indicator(series.name, *args)
    except ValueError as exc:
        raise ComboSyntaxError(str(exc), series.start, text) from None


def warmups(tree: Node, default_interval: str, text: str) -> dict[str, int]:
    """Return the closed candles each interval needs before every value at it is known (its warm-up)."""
    needed: dict[str, int] = {}
    for series in series_in(tree):
        interval = series.interval or default_interval
        # A candle field needs its one closed candle; an indicator its documented warm-up.
        warm = 1 if series.name in _CANDLE_FIELDS else build_indicator(series, text).warmup
        needed[interval] = max(needed.get(interval, 1), warm)
    return needed


def step_interval(needed: Mapping[str, int]) -> str:
    """Return the finest interval a rule reads: it is checked at every close of it."""
    return min(needed, key=interval_ms)


class Values:
    """The indicators of one interval and its newest closed candle (a ``CandleFeed``'s tracker)."""

    def __init__(self, indicators: dict[tuple[str, tuple[float, ...]], Indicator]) -> None:
        self.indicators = indicators
        self.last: Bar | None = None

    def add(self, bar: Bar) -> None:
        """Feed the candle to every indicator of the interval."""
        for indicator in self.indicators.values():
            indicator.add(bar)
        self.last = bar

    def current(self, at: int) -> Bar | None:
        """Return the newest candle fed if it is the one closed last before ``at`` (else it is missing)."""
        last = self.last
        if last is None or at - last.close_time >= last.interval_ms:
            return None
        return last


class BoundRule:
    """A parsed rule with one ``CandleFeed`` per interval: steps through closed candles, evaluates at each.

    Each interval's feed is ``detectors.indicator_feed.CandleFeed``, as the single-indicator detectors
    use: a new instance (a restart, a backtest) rebuilds its indicators from every closed candle in memory
    up to where the state says the rule got, so it decides as the instance that ran throughout.
    """

    def __init__(self, text: str, default_interval: str) -> None:
        self.text = text
        self.tree = parsed(text)
        self.default_interval = default_interval
        self.needed = warmups(self.tree, default_interval, text)
        self.step = step_interval(self.needed)
        wanted: dict[str, dict[tuple[str, tuple[float, ...]], Series]] = {name: {} for name in self.needed}
        for series in series_in(self.tree):
            if series.name not in _CANDLE_FIELDS:
                wanted[series.interval or default_interval].setdefault((series.name, series.params), series)
        self.feeds = {
            name: CandleFeed(name, partial(self._values, list(of.values()))) for name, of in wanted.items()
        }
        self._pending: dict[str, Sequence[Bar]] = {}
        self._next: dict[str, int] = {}

    def _values(self, series: list[Series]) -> Values:
        return Values({(s.name, s.params): build_indicator(s, self.text) for s in series})

    def load(self, snapshot: Snapshot, fed: Mapping[str, int]) -> None:
        """Read each interval's candles after the one ``fed`` says it got to (rebuilding if need be)."""
        for name, feed in self.feeds.items():
            if fed.get(name) is not None and feed.count < self.needed[name]:
                # Still in its warm-up: older candles of the interval may have arrived since (the spot feed
                # backfills the venue's own klines a new rule reads), so its short history is read again.
                feed.last_open_time = None
            self._pending[name] = feed.new_bars(snapshot, fed.get(name))
            self._next[name] = 0

    def advance(self, until: int) -> None:
        """Feed every interval's loaded candles closing at or before ``until``."""
        for name, feed in self.feeds.items():
            pending, index = self._pending.get(name, ()), self._next.get(name, 0)
            while index < len(pending) and pending[index].close_time <= until:
                feed.feed(pending[index])
                index += 1
            self._next[name] = index

    def fed(self) -> dict[str, int]:
        """Return the open time of the newest candle fed, by interval (what the state records)."""
        return {
            name: feed.last_open_time for name, feed in self.feeds.items() if feed.last_open_time is not None
        }

    def value(self, series: Series, at: int) -> float | None:
        """Return a market value at ``at``, or None when it is not known (warming up, candle missing)."""
        values = self.feeds[series.interval or self.default_interval].tracker
        bar = values.current(at)
        if bar is None:
            return None
        read = _CANDLE_FIELDS.get(series.name)
        if read is not None:
            return float(read(bar))
        indicator = values.indicators[(series.name, series.params)]
        output = _OUTPUT_NAMES.get(series.output or "", series.output)
        return indicator.value(output)

    def holds(self, at: int, node: Node | None = None) -> bool | None:
        """Return whether the rule holds at ``at``: True, False, or None when a value it needs is unknown."""
        node = self.tree if node is None else node
        if isinstance(node, Comparison):
            left, right = self._operand(node.left, at), self._operand(node.right, at)
            if left is None or right is None:
                return None
            return bool(_COMPARE[node.op](left, right))
        results = [self.holds(at, part) for part in node.parts]
        decisive = node.op == "or"  # True decides an `or`, False decides an `and`
        if decisive in results:
            return decisive
        return None if None in results else not decisive

    def _operand(self, operand: Operand, at: int) -> float | None:
        return operand.value if isinstance(operand, Number) else self.value(operand, at)

    def describe(self, at: int, node: Node | None = None) -> str:
        """Return the rule with each value it reads at ``at``: ``RSI(14, 4h) 71.3 > 70 and close ...``."""
        node = self.tree if node is None else node
        if isinstance(node, Comparison):
            return f"{self._shown(node.left, at)} {node.op} {self._shown(node.right, at)}"
        parts = [self.describe(at, part) for part in node.parts]
        shown = [
            f"({text})" if isinstance(part, Junction) else text
            for part, text in zip(node.parts, parts, strict=True)
        ]
        return f" {node.op} ".join(shown)

    def _shown(self, operand: Operand, at: int) -> str:
        if isinstance(operand, Number):
            return operand.text
        value = self.value(operand, at)
        return f"{operand.label(self.default_interval)} {format_value(operand, value)}"

    def values(self, at: int) -> dict[str, float | None]:
        """Return each market value the rule reads at ``at``, by its label (for the alert's values)."""
        return {s.label(self.default_interval): self.value(s, at) for s in self.series()}

    def readings(self, at: int) -> str:
        """Return each market value at ``at`` in words: ``RSI(14, 4h) 71.3 · close 96,120 · ...``."""
        return " · ".join(
            f"{s.label(self.default_interval)} {format_value(s, self.value(s, at))}" for s in self.series()
        )

    def series(self) -> Iterator[Series]:
        """Yield every market value the rule reads, left to right, each once."""
        seen: set[str] = set()
        for series in series_in(self.tree):
            label = series.label(self.default_interval)
            if label not in seen:
                seen.add(label)
                yield series


def format_value(series: Series, value: float | None) -> str:
    """Return a value as a chart shows it: RSI 71.3, a price 96,120 or 3,402.89 or 0.04499, a volume 3,452."""
    if value is None:
        return "(not known yet)"
    if series.name in _OSCILLATORS:
        return format_level(value)
    if series.name == "volume":
        return format_amount(value)
    if series.name == "macd" or series.output == "width":
        return format_number(value)
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    # Prices and their averages as traders write them, without the $ the rule's numbers do not have either.
    return format_price(value).removeprefix("$")

"""In-memory rolling market history that detectors read through point-in-time views.

Feeds (live) and the replay loader write the same observation rows to SQLite and to a MarketHistory; the
engine evaluates detectors on ``history.view(symbol, now)``. Series are columnar (``array``), bounded by a
retention per interval, and higher candle intervals are aggregated incrementally as base candles arrive, so
an evaluation costs a bisect and a short slice, never a rescan of history.
"""

from __future__ import annotations

import copy
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from detectors.base import (
    Bar,
    CandleColumns,
    DailyReach,
    DepthPoint,
    EtfFlowPoint,
    FearGreedPoint,
    FundingPoint,
    ImpliedVolPoint,
    LiquidationWindow,
    LongShortPoint,
    OpenInterestPoint,
    short_symbol,
)
from detectors.daily_records import DailyRecords
from detectors.positioning import closed_at
from detectors.read_bounds import BASE, EVERY_SYMBOL, EVERYTHING, ReadBounds
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    INTERVAL_MS,
    MINUTE_MS,
    Candle,
    DepthBand,
    EtfFlow,
    FearGreed,
    Funding,
    ImpliedVol,
    Liquidation,
    LongShort,
    OpenInterest,
    interval_ms,
)

# Binance (and most venues) open weekly candles on Monday 00:00 UTC; the epoch was a Thursday.
WEEK_OFFSET_MS = 4 * DAY_MS

# How much history each candle interval keeps in memory (the database keeps more).
DEFAULT_RETENTION_MS: dict[str, int] = {
    "1m": 2 * DAY_MS,
    "3m": 3 * DAY_MS,
    "5m": 4 * DAY_MS,
    "15m": 8 * DAY_MS,
    "30m": 15 * DAY_MS,
    "1h": 70 * DAY_MS,
    "2h": 100 * DAY_MS,
    "4h": 200 * DAY_MS,
    "6h": 300 * DAY_MS,
    "8h": 400 * DAY_MS,
    "12h": 500 * DAY_MS,
    "1d": 800 * DAY_MS,
    "1w": 3650 * DAY_MS,
}
LIQUIDATION_RETENTION_MS = 8 * DAY_MS
FUNDING_RETENTION_MS = 120 * DAY_MS
OPEN_INTEREST_RETENTION_MS = 8 * DAY_MS
# Long/short ratios and implied volatility: a month and a bit, what the crowding and dvol detectors compare
# against (Binance serves 30 days of ratio history).
POSITIONING_RETENTION_MS = 35 * DAY_MS
# Data kinds whose changes are counted for rules that wait on them (detectors.base.Quiet.unchanged);
# Fear & Greed is market-wide, so its changes are counted under one key for every symbol.
TRACKED_KINDS = frozenset(
    {
        "candles",
        "liquidations",
        "funding",
        "open_interest",
        "fear_greed",
        "long_short",
        "implied_vol",
        "depth",
        "etf_flow",
    }
)
# Kinds that are not one symbol's: their rows are counted under one key that every symbol's rules read.
_MARKET_KINDS = frozenset({"fear_greed", "implied_vol", "etf_flow"})
# ETF flows: the streaks and thresholds of the etf_flow detector look back days, not months.
ETF_FLOW_RETENTION_MS = 60 * DAY_MS
# Order-book depth: two days, what the thin-liquidity detector compares a day's average with.
DEPTH_RETENTION_MS = 2 * DAY_MS
_MARKET_KEY = "*"
# A bounded history (``MarketHistory(bounded=True)``) keeps at least this much of every series no loaded rule
# reads (two candles of a coarser interval): the newest price, and a little for a rule added next.
FLOOR_MS = HOUR_MS
# The kinds a bounded history keeps as long as the rules read, with what an unbounded one keeps of them.
_KIND_RETENTION_MS = {
    "liquidations": LIQUIDATION_RETENTION_MS,
    "funding": FUNDING_RETENTION_MS,
    "open_interest": OPEN_INTEREST_RETENTION_MS,
}


def bucket_start(ts: int, length_ms: int) -> int:
    """Return the start of the UTC-aligned bucket of ``length_ms`` containing ``ts`` (weeks start Monday)."""
    if length_ms == INTERVAL_MS["1w"]:
        return (ts - WEEK_OFFSET_MS) // length_ms * length_ms + WEEK_OFFSET_MS
    return ts // length_ms * length_ms


class BarSeries:
    """Closed candles of one interval in parallel arrays, sorted by open time."""

    __slots__ = ("c", "h", "interval_ms", "l", "o", "records", "retention_ms", "t", "v")

    def __init__(
        self, interval_length_ms: int, retention_ms: int, records: DailyRecords | None = None
    ) -> None:
        self.interval_ms = interval_length_ms
        self.retention_ms = retention_ms
        # The candles dropped for being older than ``retention_ms`` but within the records' own retention,
        # folded into their record highs and lows (a bounded history's daily series: ``DailyRecords``).
        self.records = records
        self.t = array("q")
        self.o = array("d")
        self.h = array("d")
        self.l = array("d")
        self.c = array("d")
        self.v = array("d")

    def __len__(self) -> int:
        return len(self.t)

    def put(self, open_time: int, o: float, h: float, low: float, c: float, v: float) -> None:
        """Insert or replace the candle opening at ``open_time`` (appending is the common case)."""
        t = self.t
        if not t or open_time > t[-1]:
            t.append(open_time)
            self.o.append(o)
            self.h.append(h)
            self.l.append(low)
            self.c.append(c)
            self.v.append(v)
            self._prune(open_time)
            return
        i = bisect_left(t, open_time)
        if i < len(t) and t[i] == open_time:
            self.o[i], self.h[i], self.l[i], self.c[i], self.v[i] = o, h, low, c, v
            return
        if t and open_time < t[-1] - self.retention_ms:
            return  # older than what we keep in memory
        t.insert(i, open_time)
        self.o.insert(i, o)
        self.h.insert(i, h)
        self.l.insert(i, low)
        self.c.insert(i, c)
        self.v.insert(i, v)

    def prepend(self, rows: Sequence[Candle]) -> None:
        """Add stored candles older than every one held (sorted by open time), in one splice per column.

        With records, the rows are every stored candle of the records' retention: those older than the
        series' own retention become the records (read again whole, as they were first built).
        """
        first = self.t[0] if self.t else None
        # One candle per open time (several sources: the last one read wins, as ``put`` would have it).
        latest = {r.open_time: r for r in rows if first is None or r.open_time < first}
        rows = [latest[t] for t in sorted(latest)]
        records = self.records
        if records is not None and rows:
            records.clear()
            keep_from = (self.t[-1] if self.t else rows[-1].open_time) - self.retention_ms
            older = bisect_left([r.open_time for r in rows], keep_from)
            for r in rows[:older]:
                records.add(r.open_time, r.h, r.l)
            rows = rows[older:]
        if not rows:
            return
        self.t[0:0] = array("q", [r.open_time for r in rows])
        for column, values in (
            (self.o, [r.o for r in rows]),
            (self.h, [r.h for r in rows]),
            (self.l, [r.l for r in rows]),
            (self.c, [r.c for r in rows]),
            (self.v, [r.volume for r in rows]),
        ):
            column[0:0] = array("d", values)

    def _prune(self, newest: int) -> None:
        # Prune in chunks (not on every append) so the cost of deleting from the front stays amortised.
        cutoff = newest - self.retention_ms
        t = self.t
        if len(t) > 64 and t[0] < cutoff - self.retention_ms // 8:
            k = bisect_left(t, cutoff)
            if self.records is not None:
                for i in range(k):
                    self.records.add(t[i], self.h[i], self.l[i])
            self._drop(k)
        if self.records is not None:
            self._prune_records(newest)

    def _prune_records(self, newest: int) -> None:
        """Forget what the series and its records hold beyond the records' retention, as one series would."""
        records, t = self.records, self.t
        assert records is not None
        first = records.first if records.count else (t[0] if t else None)
        keep = records.retention_ms
        cutoff = newest - keep
        # The condition ``_prune`` applies to a series of that retention holding all of them.
        if first is not None and records.count + len(t) > 64 and first < cutoff - keep // 8:
            records.expire(cutoff)
            self._drop(bisect_left(t, cutoff))

    def _drop(self, k: int) -> None:
        """Delete the ``k`` oldest candles."""
        if k:
            for arr in (self.t, self.o, self.h, self.l, self.c, self.v):
                del arr[:k]

    def bar(self, i: int) -> Bar:
        """Return the i-th candle as a Bar."""
        return Bar(self.t[i], self.o[i], self.h[i], self.l[i], self.c[i], self.v[i], self.interval_ms)

    def closed_until(self, now: int) -> int:
        """Return the number of leading candles closed by ``now`` (close time <= now)."""
        return bisect_right(self.t, now - self.interval_ms)

    def slice(self, end: int, count: int | None, since: int | None) -> list[Bar]:
        """Return Bars [start, end) where start honours ``count`` and ``since``."""
        start = 0
        if since is not None:
            start = bisect_left(self.t, since, 0, end)
        if count is not None:
            start = max(start, end - count)
        t, o, h, low, c, v, ms = self.t, self.o, self.h, self.l, self.c, self.v, self.interval_ms
        return [Bar(t[i], o[i], h[i], low[i], c[i], v[i], ms) for i in range(start, end)]


@dataclass(slots=True)
class _Partial:
    """The bucket of an aggregated interval that is still accumulating base candles."""

    start: int
    complete_from_start: bool = False
    empty: bool = True
    o: float = 0.0
    h: float = 0.0
    low: float = 0.0
    c: float = 0.0
    v: float = 0.0

    def add(
        self, open_time: int, bar_open: float, bar_high: float, bar_low: float, bar_close: float, vol: float
    ) -> None:
        """Fold one base candle into the bucket."""
        if self.empty:
            # A bucket is only trustworthy if its first base candle opens at the bucket start: a series
            # that begins mid-day must not produce a daily candle with the wrong open, high and low.
            self.complete_from_start = open_time == self.start
            self.o, self.h, self.low = bar_open, bar_high, bar_low
            self.empty = False
        else:
            self.h = max(self.h, bar_high)
            self.low = min(self.low, bar_low)
        self.c = bar_close
        self.v += vol


class _SourceSeries:
    """A time-sorted sparse series of (ts, a, b) floats for one source, with bounded retention."""

    __slots__ = ("a", "b", "retention_ms", "t")

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self.t = array("q")
        self.a = array("d")
        self.b = array("d")

    def add(self, ts: int, a: float, b: float, *, accumulate: bool) -> None:
        t = self.t
        if not t or ts > t[-1]:
            t.append(ts)
            self.a.append(a)
            self.b.append(b)
            cutoff = ts - self.retention_ms
            if len(t) > 64 and t[0] < cutoff - self.retention_ms // 8:
                k = bisect_left(t, cutoff)
                del t[:k], self.a[:k], self.b[:k]
            return
        i = bisect_left(t, ts)
        if i < len(t) and t[i] == ts:
            if accumulate:
                self.a[i] += a
                self.b[i] += b
            else:
                self.a[i], self.b[i] = a, b
            return
        t.insert(i, ts)
        self.a.insert(i, a)
        self.b.insert(i, b)


@dataclass(slots=True)
class _SymbolHistory:
    """Everything kept in memory for one symbol."""

    name: str = ""
    base_ms: int | None = None
    series: dict[int, BarSeries] = field(default_factory=dict)
    partial: dict[int, _Partial] = field(default_factory=dict)
    # Higher intervals aggregated from the base series for this symbol (initialised on first request).
    aggregated: set[int] = field(default_factory=set)
    forming: Bar | None = None
    # Liquidations per source in per-minute buckets: a = long USD, b = short USD.
    liquidations: dict[str, _SourceSeries] = field(default_factory=dict)
    # Per source, the minute of its earliest liquidation ever added (never pruned): what came before is
    # unknown, not zero, so a baseline reaching back past it is not known (Snapshot.liquidations_known_from).
    liquidations_first: dict[str, int] = field(default_factory=dict)
    # Funding per source: a = rate, b = 1.0 when settled.
    funding: dict[str, _SourceSeries] = field(default_factory=dict)
    # Settled rates only, per source, in the order sources first delivered one: settlement-time detectors
    # read them without wading through the estimates polled in between (one a minute per source).
    funding_settled: dict[str, _SourceSeries] = field(default_factory=dict)
    # Sources that delivered estimates (the rate between settlements), in order of first delivery: a query
    # for every point wants the finest series, not one with a point every 8h.
    funding_estimated: dict[str, None] = field(default_factory=dict)
    # Open interest per source: a = USD (nan if unknown), b = contracts (nan if unknown).
    open_interest: dict[str, _SourceSeries] = field(default_factory=dict)
    # Long/short readings per (metric, source): a = ratio, b = long share (nan if unknown).
    long_short: dict[tuple[str, str], _SourceSeries] = field(default_factory=dict)
    # Order-book depth per (source, band_bp): a = bid USD, b = ask USD; completeness per (source, band, ts).
    depth: dict[tuple[str, int], _SourceSeries] = field(default_factory=dict)
    depth_incomplete: set[tuple[str, int, int]] = field(default_factory=set)
    last_source: str | None = None
    # The newest closed base candle as the base series holds it, [open time, o, h, l, c, volume]: a poll's
    # re-delivery of it is recognised here, not by reading the series' six columns (a cache miss each at
    # 500 symbols, bench.live --instructions). None until one is held, and after a change of base.
    newest: array[float] | None = None


NAN = float("nan")


def _redelivered(sym: _SymbolHistory, row: Candle) -> bool:
    """Take a closed base candle that is the newest one delivered again unchanged; False for any other.

    A poll delivers the last closed candle again on every poll of the minute: unchanged, it is no new row,
    so nothing is written or counted (a rule waiting on the candles has nothing new to read).
    """
    newest = sym.newest
    if (
        newest is None
        or newest[0] != row.open_time
        or newest[4] != row.c
        or newest[2] != row.h
        or newest[3] != row.l
        or newest[1] != row.o
        or newest[5] != row.volume
    ):
        return False
    sym.last_source = row.source
    if sym.forming is not None and sym.forming.open_time <= row.open_time:
        sym.forming = None
    return True


def _hold_newest(sym: _SymbolHistory, row: Candle) -> None:
    """Note ``row`` as the newest closed base candle (``_SymbolHistory.newest``), in place if one is held."""
    newest = sym.newest
    if newest is None:
        sym.newest = array("d", (row.open_time, row.o, row.h, row.l, row.c, row.volume))
        return
    newest[0], newest[1], newest[2], newest[3], newest[4], newest[5] = (
        row.open_time,
        row.o,
        row.h,
        row.l,
        row.c,
        row.volume,
    )


def _band_of(watches: Sequence[CloseWatch]) -> array[float]:
    """Return [low, high, wick low, wick high]: the bands a close and a wick are inside every watch within.

    A candle is inside every watch exactly when its close is inside the intersection of all their bands and
    its high and low inside the intersection of the bands of those watching wicks.
    """
    inf = float("inf")
    if any(not watch.low <= watch.high for watch in watches):
        return array("d", (inf, -inf, inf, -inf))  # an empty (or not a number) band: no candle passes
    wicked = [watch for watch in watches if watch.wicks]
    return array(
        "d",
        (
            max((watch.low for watch in watches), default=-inf),
            min((watch.high for watch in watches), default=inf),
            max((watch.low for watch in wicked), default=-inf),
            min((watch.high for watch in wicked), default=inf),
        ),
    )


@dataclass(slots=True, eq=False)
class CloseWatch:
    """A watch on a symbol's closes (``MarketHistory.watch_closes``); ``owner`` is the watcher's own tag."""

    low: float
    high: float
    wicks: bool
    owner: Any


class MarketHistory:
    """Rolling in-memory history of every watched symbol, fed with observation rows."""

    def __init__(self, retention_ms: dict[str, int] | None = None, *, bounded: bool = False) -> None:
        self._retention = dict(DEFAULT_RETENTION_MS)
        if retention_ms:
            self._retention.update(retention_ms)
        # Bounded (the live bot): each series keeps what the loaded rules read of it (``require``), at
        # most the retention above, at least FLOOR_MS; the database keeps the rest for the commands.
        # Unbounded (replays, backtests, charts): the retention above, whatever the rules.
        self._bounds = ReadBounds() if bounded else None
        # Returns the stored rows of (symbol, interval or kind) in [start, end), for a rule that reads further
        # back than what is held (``Ingest`` sets it: the history never reads the database itself).
        self.reader: Callable[[str, str, int, int], Sequence[Any]] | None = None
        self._symbols: dict[str, _SymbolHistory] = {}
        self._fear_greed: list[FearGreedPoint] = []
        # Volatility-index closes per (currency, source): a = close, b unused.
        self._implied_vol: dict[tuple[str, str], _SourceSeries] = {}
        # Daily ETF net flows per (asset, source), keyed by the end of the trading day (when it can be
        # known): a = net USD, b unused.
        self._etf_flows: dict[tuple[str, str], _SourceSeries] = {}
        # (symbol, kind) -> [rows added or revised, newest row time, USD added] for TRACKED_KINDS: the engine
        # compares them to wake a quiet rule only when what it reads changed or became visible. The third
        # entry bounds how much any liquidation window of the symbol can have grown (a cascade waits on it).
        self._marks: dict[tuple[str, str], list[Any]] = {}
        # The (symbol, kind) keys of the marks moved since ``take_changed``: the engine looks at the watches
        # of these only, not at every watch of every symbol at every evaluation (issue 24).
        self._changed: set[tuple[str, str]] = set()
        # symbol -> watches of its closes (``watch_closes``), and the watches tripped since last taken.
        self._close_watches: dict[str, list[CloseWatch]] = {}
        # symbol -> the intersection of its watches' bands (``_band_of``): a candle inside it is inside every
        # band, found with one comparison instead of reading each watch (a cache miss each at 500 symbols).
        self._close_bands: dict[str, array[float]] = {}
        self._tripped: list[CloseWatch] = []
        # (source, symbol) -> the funding interval the venue's instrument list states, or None. Set by the
        # process that holds the instrument registry (feeds.scheduler); None in a replay.
        self.stated_funding_interval: Callable[[str, str], float | None] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> MarketHistory:
        """Copy the history without its reader: the copy reads nothing back from the original's database."""
        clone = MarketHistory.__new__(MarketHistory)
        memo[id(self)] = clone
        for name, value in vars(self).items():
            setattr(clone, name, None if name == "reader" else copy.deepcopy(value, memo))
        return clone

    # --- writing ---------------------------------------------------------------------------------------

    def _symbol(self, symbol: str) -> _SymbolHistory:
        sym = self._symbols.get(symbol)
        if sym is None:
            sym = self._symbols[symbol] = _SymbolHistory(name=symbol)
        return sym

    # --- what the loaded rules read (bounded history) ------------------------------------------------

    @property
    def bounded(self) -> bool:
        """Return whether each series keeps what the loaded rules read rather than the fixed retention."""
        return self._bounds is not None

    def require(self, rule_id: str, symbols: Iterable[str], reads: Mapping[str, int] | None) -> None:
        """Keep what a rule reads of ``symbols`` (None: everything), loading older rows it now needs."""
        if self._bounds is not None:
            self._rebound_all(self._bounds.add(rule_id, symbols, reads))

    def release(self, rule_id: str) -> None:
        """Stop keeping history for a rule that is no longer loaded (pruned as new rows come)."""
        if self._bounds is not None:
            self._rebound_all(self._bounds.remove(rule_id))

    def release_all(self) -> None:
        """Stop keeping history for every rule (before the rules are loaded again)."""
        if self._bounds is not None:
            self._rebound_all(self._bounds.clear())

    def _rebound_all(self, symbols: set[str]) -> None:
        """Rebound the symbols whose rules' reads changed (every held one for a read of every symbol)."""
        for symbol in list(self._symbols) if EVERY_SYMBOL in symbols else symbols:
            self._rebound(symbol)

    def kept_ms(self, symbol: str, key: str) -> int:
        """Return how far back the history keeps a candle interval or kind of ``symbol`` (ms)."""
        if key in _KIND_RETENTION_MS:
            return self._kind_keep(symbol, key)
        sym = self._symbols.get(symbol) or _SymbolHistory(name=symbol)
        return self._candle_keep(sym, interval_ms(key))

    def _candle_keep(self, sym: _SymbolHistory, ms: int) -> int:
        """Return the retention of a symbol's candle series of interval ``ms``."""
        default = self._retention.get(_interval_name(ms), 70 * DAY_MS)
        reads = self._bounds.of(sym.name) if self._bounds is not None else None
        if reads is None or EVERYTHING in reads:
            return default
        need = max(2 * ms, FLOOR_MS)
        is_base = sym.base_ms is None or ms <= sym.base_ms
        for key, window in reads.items():
            length = INTERVAL_MS.get(key, 0) if key != BASE else 0
            if not is_base:
                if length == ms:
                    need = max(need, window)
            elif key == BASE or (length and length <= ms):
                need = max(need, window)
            # A coarser interval aggregated from this base keeps its own candles; its first read (and the
            # bucket still filling) aggregates the stored base rows it needs (``ensure_aggregated``).
        return min(need, default)

    def _kind_keep(self, symbol: str, kind: str) -> int:
        """Return the retention of a symbol's liquidations, funding or open interest."""
        default = _KIND_RETENTION_MS[kind]
        reads = self._bounds.of(symbol) if self._bounds is not None else None
        if reads is None or EVERYTHING in reads:
            return default
        return min(default, max(FLOOR_MS, reads.get(kind, 0)))

    def _rebound(self, symbol: str) -> None:
        """Set the retention of a symbol's series to what its rules read, reading back what they now miss."""
        sym = self._symbols.get(symbol)
        if sym is None:
            return  # nothing held yet: its series are created with the bounds
        grown: list[tuple[int, int, int]] = []
        for ms, series in sym.series.items():
            keep = self._candle_keep(sym, ms)
            if keep > series.retention_ms and series.t:
                grown.append((ms, _read_back_from(series, keep), series.t[0]))
            series.retention_ms = keep
        kinds: list[tuple[str, int, int]] = []
        for kind, tables in (
            ("liquidations", (sym.liquidations,)),
            ("funding", (sym.funding, sym.funding_settled)),
            ("open_interest", (sym.open_interest,)),
        ):
            keep = self._kind_keep(symbol, kind)
            held = [s for table in tables for s in table.values()]
            times = [s.t for s in held if s.t]
            if times and keep > max(s.retention_ms for s in held):
                kinds.append((kind, max(t[-1] for t in times) - keep, min(t[0] for t in times)))
            for source_series in held:
                source_series.retention_ms = keep
        reader = self.reader
        if reader is None:
            return
        for ms, start, end in grown:
            if start < end:
                self._add_older_candles(sym, ms, reader(symbol, _interval_name(ms), start, end))
            # Aggregated again at its next read, over the longer window the rules now read.
            sym.aggregated.discard(ms)
            sym.partial.pop(ms, None)
        for kind, start, end in kinds:
            if start < end:
                self._add_older(symbol, kind, reader(symbol, kind, start, end))

    def _add_older(self, symbol: str, kind: str, rows: Sequence[Any]) -> None:
        """Add rows of a kind read back from the database (older than every one held)."""
        if kind == "liquidations":
            for source, minute, long_usd, short_usd in rows:
                self.set_liquidation_bucket(symbol, source, minute, long_usd, short_usd)
        elif kind == "funding":
            self.add_funding(rows)
        else:
            self.add_open_interest(rows)

    def _add_older_candles(self, sym: _SymbolHistory, ms: int, rows: Sequence[Candle]) -> None:
        """Add stored closed candles of one series older than its first (what is held wins)."""
        series = sym.series[ms]
        records = series.records
        before = (len(series), records.count if records is not None else 0)
        series.prepend([row for row in rows if row.closed])
        if (len(series), records.count if records is not None else 0) == before:
            return
        self._mark(sym.name, "candles", series.t[0] + ms)
        if sym.name in self._close_watches:
            self._check_closes(sym.name, None)  # any change but a new close trips the watches
        if ms == sym.base_ms:
            # Aggregated intervals are rebuilt from the longer base at their next read, as at their first.
            sym.partial = {}
            sym.aggregated = set()

    def _mark(self, symbol: str, kind: str, ts: int, usd: float = 0.0) -> None:
        key = (symbol, kind)
        self._changed.add(key)
        mark = self._marks.get(key)
        if mark is None:
            self._marks[key] = [1, ts, usd]  # first row of this kind for the symbol
        else:
            mark[0] += 1
            if ts > mark[1]:
                mark[1] = ts
            mark[2] += usd

    def change_counter(self, symbol: str, kind: str) -> list[Any] | None:
        """Return the live [rows added or revised, newest row time, USD added] of a tracked kind, else None.

        A row is visible to views at or after its time (a closed candle at its close, a liquidation bucket
        once its minute began). For liquidations the third entry grows by at least what any sum of the
        symbol's liquidations over a window can have grown by (the absolute USD of every event, the rise of
        every revised bucket; NaN once a row had none); it stays 0.0 for other kinds. The list is updated in
        place as rows come; callers only read it.
        """
        if kind not in TRACKED_KINDS:
            return None
        key = self.change_key(symbol, kind)
        mark = self._marks.get(key)
        if mark is None:
            mark = self._marks[key] = [0, 0, 0.0]
        return mark

    @staticmethod
    def change_key(symbol: str, kind: str) -> tuple[str, str]:
        """Return the key of a symbol's change counter of ``kind`` (as ``take_changed`` names it)."""
        return (_MARKET_KEY if kind in _MARKET_KINDS else symbol, kind)

    def take_changed(self) -> set[tuple[str, str]]:
        """Return the (symbol, kind) keys whose change counters moved since the last call.

        Like ``take_tripped`` it has one reader, the engine watching this history: a second reader would
        take the keys the first one waits for.
        """
        changed = self._changed
        if changed:
            self._changed = set()
        return changed

    def watch_closes(self, symbol: str, low: float, high: float, *, wicks: bool, owner: Any) -> CloseWatch:
        """Watch a symbol's new closed base candles: the watch trips once one closes outside [low, high].

        With ``wicks`` the candle's high and low must stay inside too. The forming base candle trips it the
        same way, when it leaves the band; a closed candle delivered again unchanged does not. Any other
        change to the symbol's candles (a revised or late candle, another interval, a finer base) trips it
        at once.
        A tripped watch is handed out once by ``take_tripped`` and is then gone.
        """
        watch = CloseWatch(low, high, wicks, owner)
        watches = self._close_watches.setdefault(symbol, [])
        watches.append(watch)
        self._close_bands[symbol] = _band_of(watches)
        return watch

    def unwatch_closes(self, symbol: str, watch: CloseWatch) -> None:
        """Drop a watch that has not tripped (its owner no longer waits on it)."""
        watches = self._close_watches.get(symbol)
        if watches is not None and watch in watches:
            watches.remove(watch)
            if watches:
                self._close_bands[symbol] = _band_of(watches)
            else:
                del self._close_watches[symbol], self._close_bands[symbol]

    def has_tripped(self) -> bool:
        """Return True when a watch tripped since ``take_tripped`` was last called."""
        return bool(self._tripped)

    def take_tripped(self) -> list[CloseWatch]:
        """Return the watches tripped since the last call."""
        tripped, self._tripped = self._tripped, []
        return tripped

    def _check_closes(self, symbol: str, row: Candle | None) -> None:
        """Trip the watches of ``symbol`` that a new closed base candle (None: any other change) leaves."""
        if row is not None:
            band = self._close_bands[symbol]
            if band[0] <= row.c <= band[1] and band[2] <= row.l and row.h <= band[3]:
                return  # the usual candle: inside every band
        watches = self._close_watches[symbol]
        inside = [
            watch
            for watch in watches
            if row is not None
            and watch.low <= row.c <= watch.high
            and (not watch.wicks or (watch.low <= row.l and row.h <= watch.high))
        ]
        if len(inside) == len(watches):
            return  # not after the band check failed (max and min are exact), kept as the rule itself
        self._tripped.extend(watch for watch in watches if watch not in inside)
        if inside:
            self._close_watches[symbol] = inside
            self._close_bands[symbol] = _band_of(inside)
        else:
            del self._close_watches[symbol], self._close_bands[symbol]

    def symbols(self) -> list[str]:
        """Return the symbols that have any data."""
        return sorted(self._symbols)

    def add_candles(self, rows: Iterable[Candle]) -> None:
        """Add candles; closed ones extend the series, an open one becomes the forming candle."""
        watched = self._close_watches
        symbols, marks, changed = self._symbols, self._marks, self._changed
        for row in rows:
            sym = symbols.get(row.symbol) or self._symbol(row.symbol)
            ms = INTERVAL_MS.get(row.interval) or interval_ms(row.interval)
            if row.closed and ms == sym.base_ms and _redelivered(sym, row):
                continue
            # A closed candle is visible from its close, the forming one from its open.
            visible = row.open_time + ms if row.closed else row.open_time
            key = (row.symbol, "candles")
            mark = marks.get(key)
            if mark is None:
                self._mark(row.symbol, "candles", visible)
            else:  # _mark inlined (a million calls in a year's replay, bench.replay)
                changed.add(key)
                mark[0] += 1
                if visible > mark[1]:
                    mark[1] = visible
            if sym.base_ms is None or ms < sym.base_ms:
                self._rebase(sym, ms)
                if row.symbol in watched:
                    self._check_closes(row.symbol, None)  # the candles detectors read are another series now
            sym.last_source = row.source
            if not row.closed or ms != sym.base_ms:
                self._add_unaggregated(sym, row, ms)
                continue
            base = self._series(sym, ms)
            is_new = not base.t or row.open_time > base.t[-1]
            if row.symbol in watched:
                self._check_closes(row.symbol, row if is_new else None)
            base.put(row.open_time, row.o, row.h, row.l, row.c, row.volume)
            if base.t[-1] == row.open_time:
                _hold_newest(sym, row)
            if sym.forming is not None and sym.forming.open_time <= row.open_time:
                sym.forming = None
            if is_new:
                self._aggregate(sym, row.open_time, row.o, row.h, row.l, row.c, row.volume)

    def _add_unaggregated(self, sym: _SymbolHistory, row: Candle, ms: int) -> None:
        """Add a candle that is not a closed base candle: a forming one, or a coarser stored one."""
        if row.symbol in self._close_watches:
            # The forming base candle is judged like a close: a poll's forming candle inside every band
            # wakes nobody (each poll woke every level rule of the symbol, issue 24).
            forming_base = not row.closed and ms == sym.base_ms
            self._check_closes(row.symbol, row if forming_base else None)
        if not row.closed:
            if ms == sym.base_ms and (sym.forming is None or row.open_time >= sym.forming.open_time):
                sym.forming = Bar(row.open_time, row.o, row.h, row.l, row.c, row.volume, ms)
            return
        # A stored higher-interval candle (e.g. fetched 1d history): keep it as-is.
        self._series(sym, ms).put(row.open_time, row.o, row.h, row.l, row.c, row.volume)

    def _series(self, sym: _SymbolHistory, ms: int) -> BarSeries:
        series = sym.series.get(ms)
        if series is None:
            # A bounded daily series folds the days it drops into their records: when price was last as
            # far (range_breakout) is answered from all the days an unbounded one keeps.
            retention = self._retention.get(_interval_name(ms), 70 * DAY_MS)
            records = DailyRecords(ms, retention) if self._bounds is not None and ms == DAY_MS else None
            series = sym.series[ms] = BarSeries(ms, self._candle_keep(sym, ms), records)
        return series

    def _rebase(self, sym: _SymbolHistory, ms: int) -> None:
        # A finer interval arrived (e.g. live 1m after a 1h backfill): it becomes the base from now on;
        # already stored coarser candles stay as they are.
        sym.base_ms = ms
        sym.newest = None
        sym.partial = {}
        sym.aggregated = set()
        if self._bounds is not None:
            for length, series in sym.series.items():
                series.retention_ms = self._candle_keep(sym, length)  # another series is the base now

    def _aggregate(
        self, sym: _SymbolHistory, open_time: int, o: float, h: float, low: float, c: float, v: float
    ) -> None:
        assert sym.base_ms is not None
        close_time = open_time + sym.base_ms
        partial = sym.partial
        for ms in sym.aggregated:
            part = partial.get(ms)
            if part is None or open_time < part.start or open_time - part.start >= ms:
                part = partial[ms] = _Partial(bucket_start(open_time, ms))
            # _Partial.add inlined (the same comparisons as its max and min): a call per interval per base
            # candle was a tenth of a year's replay (bench.replay, py-spy).
            if part.empty:
                part.complete_from_start = open_time == part.start
                part.o, part.h, part.low = o, h, low
                part.empty = False
            else:
                if h > part.h:
                    part.h = h
                if low < part.low:
                    part.low = low
            part.c = c
            part.v += v
            if close_time - part.start >= ms:
                if part.complete_from_start:
                    self._series(sym, ms).put(part.start, part.o, part.h, part.low, part.c, part.v)
                del partial[ms]

    def _stored_base(
        self, sym: _SymbolHistory, ms: int, base: BarSeries
    ) -> list[tuple[int, float, float, float, float, float]]:
        """Return the stored base candles a bounded history lacks to aggregate ``ms`` at its first read.

        An unbounded history aggregates from all the base it keeps (its retention); a bounded one keeps
        less base, so it reads from the database the base candles before its first one, as far back as the
        rules read the coarser interval (at most that retention) and at least from the start of the bucket
        still filling: the same candles, aggregated the same way.
        """
        if self._bounds is None or self.reader is None or not base.t:
            return []
        retention = self._retention.get(_interval_name(base.interval_ms), 70 * DAY_MS)
        # An unbounded history prunes in chunks (``BarSeries._prune``): it holds up to an eighth more than its
        # retention, and a first day's bucket it still holds complete must not be missing here.
        reach = retention + retention // 8
        window = min(self._bounds.of(sym.name).get(_interval_name(ms), 0), reach)
        start = min(base.t[-1] - window, bucket_start(base.t[-1], ms))
        if start >= base.t[0]:
            return []
        rows = self.reader(sym.name, _interval_name(base.interval_ms), start, base.t[0])
        # One candle per open time, the last read winning, as ``put`` and ``prepend`` keep them: the database
        # holds every source's, and two sources of a minute folded in twice would double its volume.
        latest = {r.open_time: r for r in rows if r.closed and r.open_time < base.t[0]}
        return [(t, r.o, r.h, r.l, r.c, r.volume) for t, r in sorted(latest.items())]

    def ensure_aggregated(self, symbol: str, ms: int) -> BarSeries | None:
        """Return a symbol's series of interval ``ms``, aggregating it from base candles on first use."""
        sym = self._symbols.get(symbol)
        if sym is None or sym.base_ms is None:
            return None
        if ms <= sym.base_ms:
            return sym.series.get(sym.base_ms)
        if ms in sym.aggregated:
            return sym.series.get(ms) or self._series(sym, ms)
        target = self._series(sym, ms)
        base = sym.series.get(sym.base_ms)
        part: _Partial | None = None
        if base is not None:
            bars: Iterable[tuple[int, float, float, float, float, float]] = zip(
                base.t, base.o, base.h, base.l, base.c, base.v, strict=True
            )
            part = _aggregate_into(target, sym.base_ms, ms, chain(self._stored_base(sym, ms, base), bars))
        if part is not None:
            sym.partial[ms] = part
        sym.aggregated.add(ms)
        return target

    def add_liquidations(self, rows: Iterable[Liquidation]) -> None:
        """Add liquidation events or buckets, summed per source into one-minute buckets."""
        symbols = self._symbols
        for symbol, ts, source, side, _, _, usd in rows:
            sym = symbols.get(symbol)
            if sym is None:
                sym = self._symbol(symbol)
            series = sym.liquidations.get(source)
            if series is None:
                series = sym.liquidations[source] = _SourceSeries(self._kind_keep(symbol, "liquidations"))
            minute = ts - ts % MINUTE_MS
            first = sym.liquidations_first
            if first.get(source, minute + 1) > minute:
                first[source] = minute
            # A bucket is visible once its minute began; no window sum can grow by more than |usd|.
            self._mark(symbol, "liquidations", minute + 1, abs(usd))
            t = series.t
            if t and t[-1] == minute:
                # The minute still filling (most events of a burst): add in place, as ``add`` would (the
                # other side's + 0.0 included, which turns a -0.0 total into 0.0 there too).
                if side == "long":
                    series.a[-1] += usd
                    series.b[-1] += 0.0
                else:
                    series.a[-1] += 0.0
                    series.b[-1] += usd
            elif side == "long":
                series.add(minute, usd, 0.0, accumulate=True)
            else:
                series.add(minute, 0.0, usd, accumulate=True)

    def set_liquidation_bucket(
        self, symbol: str, source: str, ts: int, long_usd: float, short_usd: float
    ) -> None:
        """Set (not add) an aggregated bucket's totals, for sources that revise a bucket in place."""
        sym = self._symbol(symbol)
        series = sym.liquidations.get(source)
        if series is None:
            series = sym.liquidations[source] = _SourceSeries(self._kind_keep(symbol, "liquidations"))
        minute = ts - ts % MINUTE_MS
        if sym.liquidations_first.get(source, minute + 1) > minute:
            sym.liquidations_first[source] = minute
        i = bisect_left(series.t, minute)
        old_long, old_short = (
            (series.a[i], series.b[i]) if i < len(series.t) and series.t[i] == minute else (0, 0)
        )
        # What a window sum can gain from the revision: the rise of each side (NaN if either is not a number).
        rise = 0.0
        for gain in (long_usd - old_long, short_usd - old_short):
            if not gain <= 0:
                rise += gain
        self._mark(symbol, "liquidations", minute + 1, rise)
        series.add(minute, long_usd, short_usd, accumulate=False)

    def add_funding(self, rows: Iterable[Funding]) -> None:
        """Add funding rates."""
        for row in rows:
            self._mark(row.symbol, "funding", row.ts)
            sym = self._symbol(row.symbol)
            series = sym.funding.get(row.source)
            if series is None:
                series = sym.funding[row.source] = _SourceSeries(self._kind_keep(row.symbol, "funding"))
            if row.settled:
                settled = sym.funding_settled.get(row.source)
                if settled is None:
                    keep = self._kind_keep(row.symbol, "funding")
                    settled = sym.funding_settled[row.source] = _SourceSeries(keep)
                settled.add(row.ts, row.rate, 1.0, accumulate=False)
            else:
                sym.funding_estimated.setdefault(row.source, None)
                i = bisect_left(series.t, row.ts)
                if i < len(series.t) and series.t[i] == row.ts and series.b[i] == 1.0:
                    continue  # an estimate never replaces the rate actually settled at that time
            series.add(row.ts, row.rate, 1.0 if row.settled else 0.0, accumulate=False)

    def add_open_interest(self, rows: Iterable[OpenInterest]) -> None:
        """Add open-interest points."""
        for row in rows:
            self._mark(row.symbol, "open_interest", row.ts)
            sym = self._symbol(row.symbol)
            series = sym.open_interest.get(row.source)
            if series is None:
                keep = self._kind_keep(row.symbol, "open_interest")
                series = sym.open_interest[row.source] = _SourceSeries(keep)
            usd = row.usd if row.usd is not None else NAN
            contracts = row.contracts if row.contracts is not None else NAN
            series.add(row.ts, usd, contracts, accumulate=False)

    def add_long_short(self, rows: Iterable[LongShort]) -> None:
        """Add long/short readings."""
        for row in rows:
            self._mark(row.symbol, "long_short", row.ts)
            sym = self._symbol(row.symbol)
            key = (row.metric, row.source)
            series = sym.long_short.get(key)
            if series is None:
                series = sym.long_short[key] = _SourceSeries(POSITIONING_RETENTION_MS)
            share = row.long_share if row.long_share is not None else NAN
            series.add(row.ts, row.ratio, share, accumulate=False)

    def add_depth(self, rows: Iterable[DepthBand]) -> None:
        """Add order-book depth bands."""
        for row in rows:
            self._mark(row.symbol, "depth", row.ts)
            sym = self._symbol(row.symbol)
            key = (row.source, row.band_bp)
            series = sym.depth.get(key)
            if series is None:
                series = sym.depth[key] = _SourceSeries(DEPTH_RETENTION_MS)
            series.add(row.ts, row.bid_usd, row.ask_usd, accumulate=False)
            flag = (row.source, row.band_bp, row.ts)
            if row.bid_complete and row.ask_complete:
                sym.depth_incomplete.discard(flag)
            else:
                sym.depth_incomplete.add(flag)

    def add_implied_vol(self, rows: Iterable[ImpliedVol]) -> None:
        """Add volatility-index candles (kept per currency; every symbol of that base reads them).

        Each close is kept at the time it holds, the candle's end: the series mixes hourly candles (the
        backfill) and minute ones (the live poll), and an hourly candle keyed by its start would give the
        index an hour before it had that value.
        """
        for row in rows:
            at = closed_at(row)
            self._mark(_MARKET_KEY, "implied_vol", at)
            key = (row.currency, row.source)
            series = self._implied_vol.get(key)
            if series is None:
                series = self._implied_vol[key] = _SourceSeries(POSITIONING_RETENTION_MS)
            series.add(at, row.close, 0.0, accumulate=False)

    def add_etf_flows(self, rows: Iterable[EtfFlow]) -> None:
        """Add daily ETF flows (kept per asset; every symbol of that base reads them)."""
        for row in rows:
            known_at = row.ts + DAY_MS
            self._mark(_MARKET_KEY, "etf_flow", known_at)
            key = (row.asset, row.source)
            series = self._etf_flows.get(key)
            if series is None:
                series = self._etf_flows[key] = _SourceSeries(ETF_FLOW_RETENTION_MS)
            series.add(known_at, row.net_usd, 0.0, accumulate=False)

    def add_fear_greed(self, rows: Iterable[FearGreed]) -> None:
        """Add daily Fear & Greed values (kept whole: a few thousand rows)."""
        points = self._fear_greed
        for row in rows:
            self._mark(_MARKET_KEY, "fear_greed", row.ts)
            point = FearGreedPoint(row.ts, row.date, row.value, row.classification)
            if not points or row.ts > points[-1].ts:
                points.append(point)
                continue
            i = bisect_left([p.ts for p in points], row.ts)
            if i < len(points) and points[i].ts == row.ts:
                old = points[i]
                points[i] = (
                    point if point.classification else point._replace(classification=old.classification)
                )
            else:
                points.insert(i, point)

    # --- reading ---------------------------------------------------------------------------------------

    def view(self, symbol: str, now: int) -> SymbolView:
        """Return the point-in-time view of ``symbol`` at ``now``."""
        return SymbolView(self, symbol, now)

    def last_time(self, symbol: str) -> int | None:
        """Return the close time of the newest closed base candle of a symbol."""
        sym = self._symbols.get(symbol)
        if sym is None or sym.base_ms is None:
            return None
        base = sym.series.get(sym.base_ms)
        if base is None or not base.t:
            return None
        return base.t[-1] + sym.base_ms


def _read_back_from(series: BarSeries, keep: int) -> int:
    """Return the open time from which a series grown to ``keep`` reads stored candles back."""
    start = series.t[-1] - keep
    records = series.records
    if records is not None:
        # Records are rebuilt whole: every stored day they cover, or of their retention.
        start = series.t[-1] - records.retention_ms
        if records.first is not None:
            start = min(start, records.first)
    return start


def _interval_name(ms: int) -> str:
    for name, length in INTERVAL_MS.items():
        if length == ms:
            return name
    return f"{ms}ms"


def _aggregate_into(
    target: BarSeries, base_ms: int, ms: int, bars: Iterable[tuple[int, float, float, float, float, float]]
) -> _Partial | None:
    """Put the buckets of ``ms`` that base ``bars`` (oldest first) fill from their start into ``target``.

    Return the bucket still accumulating at the end (None when the last bar closed one).
    """
    part: _Partial | None = None
    for t, o, h, low, c, v in bars:
        start = bucket_start(t, ms)
        if part is None or part.start != start:
            part = _Partial(start)
        part.add(t, o, h, low, c, v)
        if t + base_ms >= start + ms:
            if part.complete_from_start:
                target.put(start, part.o, part.h, part.low, part.c, part.v)
            part = None
    return part


class SymbolView:
    """A read-only view of one symbol's history at ``now`` (implements detectors.base.Snapshot)."""

    __slots__ = ("_history", "_now", "_sym", "_symbol", "shared_reads")

    def __init__(self, history: MarketHistory, symbol: str, now: int) -> None:
        self._history = history
        self._symbol = symbol
        self._now = now
        self._sym = history._symbols.get(symbol)
        # What the rules evaluated on this one view (the engine shares a symbol's view within a pass)
        # read from it and can share: the candles they read, by how they were asked (indicator_feed).
        self.shared_reads: dict[tuple[str, int], Sequence[Bar]] = {}

    @property
    def symbol(self) -> str:
        """Return the symbol this view is for."""
        return self._symbol

    @property
    def now(self) -> int:
        """Return the evaluation time."""
        return self._now

    @property
    def base_interval(self) -> str | None:
        """Return the finest candle interval known for the symbol."""
        if self._sym is None or self._sym.base_ms is None:
            return None
        return _interval_name(self._sym.base_ms)

    def _series_for(self, interval: str | None) -> BarSeries | None:
        sym = self._sym
        if sym is None or sym.base_ms is None:
            return None
        ms = sym.base_ms if interval is None else max(interval_ms(interval), sym.base_ms)
        return self._history.ensure_aggregated(self._symbol, ms)

    def candles(
        self, interval: str | None = None, *, count: int | None = None, since: int | None = None
    ) -> list[Bar]:
        """Return closed candles, oldest first (see Snapshot.candles)."""
        series = self._series_for(interval)
        if series is None:
            return []
        return series.slice(series.closed_until(self._now), count, since)

    def candle_columns(self, interval: str | None = None, *, since: int | None = None) -> CandleColumns:
        """Return closed candles as columns, oldest first (see Snapshot.candle_columns)."""
        series = self._series_for(interval)
        if series is None:
            return CandleColumns((), (), (), ())
        end = series.closed_until(self._now)
        start = bisect_left(series.t, since, 0, end) if since is not None else 0
        return CandleColumns(
            series.t[start:end], series.h[start:end], series.l[start:end], series.c[start:end]
        )

    def daily_reach(self, price: float, *, high: bool, before: int) -> DailyReach:
        """Return when a daily high (low) last reached ``price`` before ``before`` (Snapshot.daily_reach)."""
        series = self._series_for("1d")
        if series is None:
            return DailyReach(None, None, None)
        t = series.t
        end = min(series.closed_until(self._now), bisect_left(t, before))
        records = series.records if series.records is not None and series.records.count else None
        first = records.first if records is not None else (t[0] if end else None)
        values = series.h if high else series.l
        for i in range(end - 1, -1, -1):
            if (values[i] >= price) if high else (values[i] <= price):
                return DailyReach(t[i], values[i], first)
        found = records.last_reaching(price, high=high, before=before) if records is not None else None
        if found is not None:
            return DailyReach(found[0], found[1], first)
        return DailyReach(None, None, first if first is not None and first < before else None)

    def forming(self, interval: str | None = None) -> Bar | None:
        """Return the candle still open at now, aggregated from what is known (see Snapshot.forming)."""
        sym = self._sym
        if sym is None or sym.base_ms is None:
            return None
        live = sym.forming if sym.forming is not None and sym.forming.open_time <= self._now else None
        ms = sym.base_ms if interval is None else max(interval_ms(interval), sym.base_ms)
        if ms == sym.base_ms:
            return live
        start = bucket_start(self._now, ms)
        base = sym.series[sym.base_ms]
        lo = bisect_left(base.t, start)
        hi = base.closed_until(self._now)
        bars = [base.bar(i) for i in range(lo, hi)]
        if live is not None and live.open_time >= start:
            bars.append(live)
        if not bars:
            return None
        return Bar(
            start,
            bars[0].o,
            max(b.h for b in bars),
            min(b.l for b in bars),
            bars[-1].c,
            sum(b.volume for b in bars),
            ms,
        )

    def last_price(self) -> tuple[int, float] | None:
        """Return (time, price) of the newest known price."""
        sym = self._sym
        if sym is None or sym.base_ms is None:
            return None
        if sym.forming is not None and sym.forming.open_time <= self._now:
            return (self._now, sym.forming.c)
        base = sym.series.get(sym.base_ms)
        if base is None:
            return None
        n = base.closed_until(self._now)
        if n == 0:
            return None
        return (base.t[n - 1] + base.interval_ms, base.c[n - 1])

    def liquidations(self, start: int, end: int | None = None) -> LiquidationWindow:
        """Sum liquidated USD by side over [start, min(end, now)) across sources."""
        sym = self._sym
        stop = self._now if end is None else min(end, self._now)
        if sym is None or stop <= start:
            return LiquidationWindow(0.0, 0.0, {})
        long_total = short_total = 0.0
        by_source: dict[str, tuple[float, float]] = {}
        for source, series in sym.liquidations.items():
            lo = bisect_left(series.t, start)
            hi = bisect_left(series.t, stop)
            if hi <= lo:
                continue
            long_usd = sum(series.a[lo:hi])
            short_usd = sum(series.b[lo:hi])
            by_source[source] = (long_usd, short_usd)
            long_total += long_usd
            short_total += short_usd
        return LiquidationWindow(long_total, short_total, by_source)

    def liquidations_known_from(self) -> dict[str, int]:
        """Return, per source that reported the symbol's liquidations by now, the minute of its first one."""
        sym = self._sym
        if sym is None:
            return {}
        return {source: first for source, first in sym.liquidations_first.items() if first <= self._now}

    def liquidation_buckets(self, bucket_ms: int, start: int) -> list[tuple[int, float, float]]:
        """Return (bucket_start, long_usd, short_usd) per bucket from ``start`` to now, zeros included."""
        first = bucket_start(start, bucket_ms)
        count = max(0, (self._now - first + bucket_ms - 1) // bucket_ms)
        longs = [0.0] * count
        shorts = [0.0] * count
        sym = self._sym
        if sym is not None:
            for series in sym.liquidations.values():
                lo = bisect_left(series.t, first)
                hi = bisect_left(series.t, self._now)
                for i in range(lo, hi):
                    k = (series.t[i] - first) // bucket_ms
                    longs[k] += series.a[i]
                    shorts[k] += series.b[i]
        return [(first + k * bucket_ms, longs[k], shorts[k]) for k in range(count)]

    def funding(
        self, *, count: int | None = None, since: int | None = None, settled_only: bool = False
    ) -> list[FundingPoint]:
        """Return funding points of the preferred source with ts <= now, oldest first.

        The preferred source is the first that delivered an estimate (the finest series: a rate every
        poll, settlements included when the same source reports them), else the first that delivered
        anything; with ``settled_only`` it is the first that delivered a settled rate.
        """
        sym = self._sym
        if sym is None:
            return []
        if settled_only:
            if not sym.funding_settled:
                return []
            source, series = next(iter(sym.funding_settled.items()))
        elif sym.funding_estimated:
            source = next(iter(sym.funding_estimated))
            series = sym.funding[source]
        elif sym.funding:
            source, series = next(iter(sym.funding.items()))
        else:
            return []
        hi = bisect_right(series.t, self._now)
        lo = bisect_left(series.t, since, 0, hi) if since is not None else 0
        if count is not None:
            lo = max(lo, hi - count)
        return [FundingPoint(series.t[i], series.a[i], series.b[i] == 1.0, source) for i in range(lo, hi)]

    def open_interest(
        self, *, count: int | None = None, since: int | None = None, until: int | None = None
    ) -> list[OpenInterestPoint]:
        """Return open-interest points of the preferred source with ts <= now (and <= until), oldest first."""
        sym = self._sym
        if sym is None or not sym.open_interest:
            return []
        # The first source that delivered data stays preferred, so a detector never compares one venue's
        # open interest with another's.
        source, series = next(iter(sym.open_interest.items()))
        hi = bisect_right(series.t, self._now if until is None else min(until, self._now))
        lo = bisect_left(series.t, since, 0, hi) if since is not None else 0
        if count is not None:
            lo = max(lo, hi - count)
        return [
            OpenInterestPoint(
                series.t[i],
                None if series.a[i] != series.a[i] else series.a[i],
                None if series.b[i] != series.b[i] else series.b[i],
                source,
            )
            for i in range(lo, hi)
        ]

    def fear_greed(self, *, count: int | None = None, since: int | None = None) -> Sequence[FearGreedPoint]:
        """Return daily Fear & Greed values published at or before now, oldest first."""
        points = self._history._fear_greed
        hi = bisect_right(points, self._now, key=lambda p: p.ts)
        lo = bisect_left(points, since, 0, hi, key=lambda p: p.ts) if since is not None else 0
        if count is not None:
            lo = max(lo, hi - count)
        return points[lo:hi]

    def open_interest_by_source(
        self, *, since: int | None = None, until: int | None = None, count: int | None = None
    ) -> dict[str, list[OpenInterestPoint]]:
        """Return every venue's open-interest points with since <= ts <= min(until, now), per source."""
        sym = self._sym
        if sym is None:
            return {}
        stop = self._now if until is None else min(until, self._now)
        found: dict[str, list[OpenInterestPoint]] = {}
        for source, series in sym.open_interest.items():
            lo, hi = _bounds(series, since, stop)
            if count is not None:
                lo = max(lo, hi - count)
            if hi > lo:
                found[source] = [
                    OpenInterestPoint(series.t[i], _num(series.a[i]), _num(series.b[i]), source)
                    for i in range(lo, hi)
                ]
        return found

    def funding_interval_h(self, source: str) -> float | None:
        """Return the funding interval a venue's instrument list states for this symbol (None if unknown)."""
        stated = self._history.stated_funding_interval
        return stated(source, self._symbol) if stated is not None else None

    def funding_by_source(self, *, since: int | None = None) -> dict[str, list[FundingPoint]]:
        """Return every venue's funding points with since <= ts <= now, per source, oldest first."""
        sym = self._sym
        if sym is None:
            return {}
        found: dict[str, list[FundingPoint]] = {}
        for source, series in sym.funding.items():
            lo, hi = _bounds(series, since, self._now)
            if hi > lo:
                found[source] = [
                    FundingPoint(series.t[i], series.a[i], series.b[i] == 1.0, source) for i in range(lo, hi)
                ]
        return found

    def long_short(self, metric: str, *, since: int | None = None) -> list[LongShortPoint]:
        """Return long/short readings of one metric (every venue) with since <= ts <= now, oldest first."""
        sym = self._sym
        if sym is None:
            return []
        points: list[LongShortPoint] = []
        for (kind, source), series in sym.long_short.items():
            if kind != metric:
                continue
            lo, hi = _bounds(series, since, self._now)
            points.extend(
                LongShortPoint(series.t[i], series.a[i], _num(series.b[i]), source, metric)
                for i in range(lo, hi)
            )
        points.sort(key=lambda p: (p.ts, p.source))
        return points

    def implied_vol(self, *, since: int | None = None) -> list[ImpliedVolPoint]:
        """Return the base currency's volatility index (first source) up to now, oldest first."""
        currency = short_symbol(self._symbol)
        for (code, source), series in self._history._implied_vol.items():
            if code == currency:
                lo, hi = _bounds(series, since, self._now)
                return [ImpliedVolPoint(series.t[i], series.a[i], source) for i in range(lo, hi)]
        return []

    def etf_flows(self, *, since: int | None = None) -> list[EtfFlowPoint]:
        """Return the base currency's daily ETF flows (first source) known by now, oldest first."""
        asset = short_symbol(self._symbol)
        for (code, source), series in self._history._etf_flows.items():
            if code == asset:
                lo, hi = _bounds(series, None if since is None else since + DAY_MS, self._now)
                return [
                    EtfFlowPoint(t - DAY_MS, _day_text(t - DAY_MS), series.a[i], source)
                    for i, t in ((i, series.t[i]) for i in range(lo, hi))
                ]
        return []

    def depth(self, band_bp: int, *, since: int | None = None) -> dict[str, list[DepthPoint]]:
        """Return each venue's order-book sums within ``band_bp`` of the mid up to now, oldest first."""
        sym = self._sym
        if sym is None:
            return {}
        found: dict[str, list[DepthPoint]] = {}
        for (source, bp), series in sym.depth.items():
            if bp != band_bp:
                continue
            lo, hi = _bounds(series, since, self._now)
            if hi > lo:
                found[source] = [
                    DepthPoint(
                        series.t[i],
                        series.a[i],
                        series.b[i],
                        (source, bp, series.t[i]) not in sym.depth_incomplete,
                        source,
                    )
                    for i in range(lo, hi)
                ]
        return found

    def market_symbols(self) -> list[str]:
        """Return every symbol the history holds data of."""
        return self._history.symbols()

    def peer(self, symbol: str) -> SymbolView | None:
        """Return another symbol's view at the same now, or None if it has no data."""
        if symbol not in self._history._symbols:
            return None
        return SymbolView(self._history, symbol, self._now)


def _num(value: float) -> float | None:
    """Return None for the nan that marks an unknown value."""
    return None if value != value else value


def _day_text(ts: int) -> str:
    """Return the UTC date of ``ts`` as YYYY-MM-DD."""
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d")


def _bounds(series: _SourceSeries, since: int | None, until: int) -> tuple[int, int]:
    """Return the index range of a series with since <= ts <= until."""
    hi = bisect_right(series.t, until)
    lo = bisect_left(series.t, since, 0, hi) if since is not None else 0
    return lo, hi

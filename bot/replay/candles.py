"""Choose the stored candles a backtest replays, count them, and read them.

A live bot polls 1m candles and, once they are older than ``candles_1m_days``, folds them into 1h candles;
a backfill or an import may add other intervals and sources. Replaying every stored series would replay
the same hours several times and count them several times against the backtest's limit, so a backtest
replays, at each moment, the finest interval stored there, one candle per open time.

Why the finest and never a coarser one to save time: the live bot evaluates its rules at the close of
every base candle, and a level or percentage rule is decided by those closes. An hourly close hides a
1m close above $95,000 that fell back within the hour, and it moves a firing by up to an hour, so a
backtest on coarser candles would report alerts the live bot would not have posted. A 1m candle costs
about 18 µs to replay (90 days of them, 129,600 candles, about 2.4 s), so the exact series is affordable
within the limits.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from feeds.replay import Batch, recorded_from_repo
from storage.repo import Repo
from storage.rows import HOUR_MS, Candle, interval_ms

# Candles read per query: enough to amortise the query, few enough that a 90-day window of 1m candles is
# never held twice in memory (as rows and again in the timeline).
READ_CHUNK = 10_000
# A hole in the finest candles shorter than this is left as it is: no coarser candle fits in it anyway.
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class CandleSpan:
    """Open times [start, end) of one interval of a symbol that a backtest replays."""

    symbol: str
    interval: str
    start: int
    end: int
    # Sources in order of preference, for an open time stored by more than one.
    sources: tuple[str, ...]


def candle_plan(repo: Repo, symbol: str, start: int, end: int) -> list[CandleSpan]:
    """Return the spans of each stored interval of ``symbol`` to replay over [start, end), oldest first.

    The finest interval is replayed over its whole stored span; a coarser one only where no finer one is
    stored: before the finer span begins (typically the 1h candles that pruned 1m candles were folded into)
    and in a hole of the finer span over an hour long (a bot down for longer than its backfill reaches),
    never a coarser candle that would overlap finer ones. Of several sources of one interval, the one with
    the most rows is preferred where both have a candle.
    """
    spans: dict[str, tuple[int, int]] = {}
    rows: dict[str, dict[str, int]] = {}
    for cover in repo.candle_coverage(symbol, start, end):
        length = interval_ms(cover.interval)
        first, last = spans.get(cover.interval, (cover.first_open, cover.last_open + length))
        spans[cover.interval] = (min(first, cover.first_open), max(last, cover.last_open + length))
        rows.setdefault(cover.interval, {})[cover.source] = cover.rows
    taken: list[tuple[int, int]] = []
    plan: list[CandleSpan] = []
    for interval in sorted(spans, key=interval_ms):
        counts = rows[interval]
        sources = tuple(sorted(counts, key=lambda s: (-counts[s], s)))
        length = interval_ms(interval)
        first = spans[interval][0]
        runs = _split(spans[interval], repo.candle_gaps(symbol, interval, start, end, max(HOUR_MS, length)))
        for lo, hi in _uncovered_all(runs, taken):
            # A candle opening before ``hi`` but closing after it would overlap the finer run that begins
            # there: the piece ends at the last open time on this interval's grid whose candle fits.
            hi -= (hi - first) % length
            if max(lo, start) < min(hi, end):
                plan.append(CandleSpan(symbol, interval, max(lo, start), min(hi, end), sources))
        taken.extend(runs)
    return sorted(plan, key=lambda s: s.start)


def _split(span: tuple[int, int], gaps: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return ``span`` cut into the runs between ``gaps`` (each gap: end of one candle, open of the next)."""
    runs, lo = [], span[0]
    for gap_start, gap_end in gaps:
        runs.append((lo, gap_start))
        lo = gap_end
    runs.append((lo, span[1]))
    return runs


def _uncovered_all(
    runs: Iterable[tuple[int, int]], taken: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the parts of every run of ``runs`` outside every span of ``taken``."""
    taken = list(taken)
    return [piece for run in runs for piece in _uncovered(run, taken)]


def _uncovered(span: tuple[int, int], taken: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the parts of ``span`` outside every span of ``taken``."""
    parts = [span]
    for lo, hi in taken:
        parts = [
            piece for a, b in parts for piece in ((a, min(b, lo)), (max(a, hi), b)) if piece[0] < piece[1]
        ]
    return parts


def count_candles(repo: Repo, plan: Iterable[CandleSpan], start: int, end: int) -> int:
    """Return how many candles of ``plan`` open within [start, end): what the backtest replays there."""
    return sum(
        repo.closed_candle_count(span.symbol, span.interval, max(span.start, start), min(span.end, end))
        for span in plan
        if span.start < end and start < span.end
    )


def read_candles(repo: Repo, span: CandleSpan) -> Iterator[Candle]:
    """Yield the closed candles of ``span`` by open time, one per open time (the preferred source's)."""
    rank = {source: i for i, source in enumerate(span.sources)}
    after = span.start
    while after < span.end:
        rows = repo.candles(span.symbol, span.interval, after, span.end, limit=READ_CHUNK)
        best: Candle | None = None
        for row in rows:
            # A candle still forming is left out, as the CSV loader's rules say: what it looked like at
            # any moment before its close is not stored.
            if not row.closed:
                continue
            if best is not None and row.open_time != best.open_time:
                yield best
                best = None
            if best is None or rank.get(row.source, len(rank)) < rank.get(best.source, len(rank)):
                best = row
        if len(rows) < READ_CHUNK:
            if best is not None:
                yield best
            return
        # The chunk may have cut an open time's sources in two: read that open time again with the next.
        last = rows[-1].open_time
        if best is not None and best.open_time != last:
            yield best
        after = last if rows[0].open_time != last else last + 1


class _Columns:
    """Closed candles of one symbol and interval as columns sorted by open time: about 70 bytes a candle.

    As Candle rows in a Batch each, a 90-day window of 1m candles took about 150 MB and a second of
    garbage-collector passes over a million small objects; as columns it takes 10 MB and none.
    """

    __slots__ = (
        "_index",
        "c",
        "h",
        "interval",
        "l",
        "length",
        "o",
        "q",
        "source",
        "sources",
        "symbol",
        "t",
        "v",
    )

    def __init__(self, symbol: str, interval: str) -> None:
        self.symbol = symbol
        self.interval = interval
        self.length = interval_ms(interval)
        self.t = array("q")
        self.o, self.h, self.l, self.c, self.v, self.q = (array("d") for _ in range(6))
        self.source = array("H")
        self.sources: list[str] = []
        self._index: dict[str, int] = {}

    def append(self, row: Candle) -> None:
        """Add a closed candle opening after every one already held."""
        index = self._index.get(row.source)
        if index is None:
            index = self._index[row.source] = len(self.sources)
            self.sources.append(row.source)
        self.t.append(row.open_time)
        self.o.append(row.o)
        self.h.append(row.h)
        self.l.append(row.l)
        self.c.append(row.c)
        self.v.append(row.volume)
        self.q.append(NAN if row.quote_volume is None else row.quote_volume)
        self.source.append(index)

    def closing_at(self, close_time: int) -> Candle | None:
        """Return the candle closing at ``close_time``, or None."""
        open_time = close_time - self.length
        i = bisect_left(self.t, open_time)
        if i == len(self.t) or self.t[i] != open_time:
            return None
        quote = self.q[i]
        return Candle(
            self.symbol,
            self.interval,
            open_time,
            self.sources[self.source[i]],
            self.o[i],
            self.h[i],
            self.l[i],
            self.c[i],
            self.v[i],
            None if quote != quote else quote,  # NaN stands for a quote volume that was not stored
            True,
        )


class StoredTimeline(Sequence[tuple[int, Batch]]):
    """A backtest's instants in time order, each made into a Batch only when it is read.

    ``run_replay`` reads it like ``RecordedData.timeline()``; the candles stay in columns meanwhile, and
    the other kinds (a few rows an hour, against 60 candles) stay as the Batches they were read into.
    """

    def __init__(self, columns: Sequence[_Columns], others: Mapping[int, Batch], until: int) -> None:
        self._columns = tuple(columns)
        self._others = others
        times = {t for t in others if t <= until}
        for col in columns:
            length = col.length
            times.update(t + length for t in col.t if t + length <= until)
        self.times = array("q", sorted(times))

    def timeline(self) -> Sequence[tuple[int, Batch]]:
        """Return the instants in time order (the timeline itself)."""
        return self

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, index: int) -> tuple[int, Batch]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, Batch]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, Batch] | list[tuple[int, Batch]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        at = self.times[index]
        found = [candle for col in self._columns if (candle := col.closing_at(at)) is not None]
        other = self._others.get(at)
        if other is None:
            return at, Batch(candles=found)
        return at, Batch(
            candles=found,
            liquidations=other.liquidations,
            liquidation_buckets=other.liquidation_buckets,
            funding=other.funding,
            open_interest=other.open_interest,
            fear_greed=other.fear_greed,
            etf_flows=other.etf_flows,
        )

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Return the first and last instants within [start, end], or None when there are none."""
        lo = bisect_left(self.times, start)
        hi = bisect_right(self.times, end)
        return (self.times[lo], self.times[hi - 1]) if lo < hi else None


def stored_timeline(
    repo: Repo,
    plans: Iterable[CandleSpan],
    symbols: Iterable[str],
    start: int,
    end: int,
    fear_greed_since: int,
) -> StoredTimeline:
    """Read what a backtest replays, up to the instant ``end``: the planned candles and every other kind."""
    others = recorded_from_repo(repo, symbols, start, end, fear_greed_since=fear_greed_since, candles=False)
    columns: dict[tuple[str, str], _Columns] = {}
    for span in plans:
        col = columns.get((span.symbol, span.interval))
        if col is None:
            col = columns[(span.symbol, span.interval)] = _Columns(span.symbol, span.interval)
        for candle in read_candles(repo, span):
            col.append(candle)
    return StoredTimeline(list(columns.values()), others.batches, end)

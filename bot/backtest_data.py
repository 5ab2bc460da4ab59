"""Choose the stored candles a backtest replays, count them, and read them.

A live bot polls 1m candles and, once they are older than ``candles_1m_days``, folds them into 1h candles;
a backfill or an import may add other intervals and sources. Replaying every stored series would replay
the same hours several times and count them several times against the backtest's limit, so a backtest
replays, at each moment, the finest interval stored there, one candle per open time.

Why the finest and never a coarser one to save time: the live bot evaluates its rules at the close of
every base candle, and a level or percentage rule is decided by those closes. An hourly close hides a
1m close above $95,000 that fell back within the hour, and it moves a firing by up to an hour, so a
backtest on coarser candles would report alerts the live bot would not have posted. A 1m candle costs
about 13 µs to replay (90 days of them, 129,600 candles, about 2 s), so the exact series is affordable
within the limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from feeds.replay import RecordedData, recorded_from_repo
from storage.repo import Repo
from storage.rows import Candle, interval_ms

# Candles read per query: enough to amortise the query, few enough that a 90-day window of 1m candles is
# never held twice in memory (as rows and again in the timeline).
READ_CHUNK = 10_000


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
    stored (typically the 1h candles that pruned 1m candles were folded into, before the 1m span begins).
    Of several sources of one interval, the one with the most rows is preferred where both have a candle.
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
        for lo, hi in _uncovered(spans[interval], taken):
            plan.append(CandleSpan(symbol, interval, max(lo, start), min(hi, end), sources))
        taken.append(spans[interval])
    return sorted(plan, key=lambda s: s.start)


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


def stored_timeline(
    repo: Repo,
    plans: Iterable[CandleSpan],
    symbols: Iterable[str],
    start: int,
    end: int,
    fear_greed_since: int,
) -> RecordedData:
    """Read what a backtest replays into a timeline: the planned candles and every other stored kind."""
    data = recorded_from_repo(repo, symbols, start, end, fear_greed_since=fear_greed_since, candles=False)
    batches = data.batches
    for span in plans:
        length = interval_ms(span.interval)
        for candle in read_candles(repo, span):
            batches[candle.open_time + length].candles.append(candle)
    return data

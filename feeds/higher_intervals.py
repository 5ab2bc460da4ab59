"""Candles of the intervals above the stored base one that the loaded rules read, from the venue's klines.

A rule on the 4h RSI needs enough closed 4h candles for its warm-up (``DetectorSettings.history_needed``).
Building them from the stored 1m candles would take weeks of minutes; the venue's own klines at that
interval have them at once, and they are the candles charting sites show: Binance opens 4h and 1d candles
at 00:00 UTC and weekly ones on Monday 00:00 UTC, as TradingView's crypto charts do (and as
``detectors.market_history.bucket_start`` aligns them).

Per watched symbol and needed interval, ``HigherIntervals`` remembers the oldest open time fetched (a
backfill reaches back a whole page, or further when the most demanding rule's warm-up needs it, see
``depth``) and when the candle forming at the last fetch closes: the refresh is one request after each
close, not one per poll. A rule added later with a longer warm-up widens the backfill on the next poll.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from detectors.market_history import DEFAULT_RETENTION_MS, bucket_start
from feeds.candles import CandleSource
from feeds.ingest import Ingest
from storage.rows import INTERVAL_MS, interval_ms

CandleNeeds = Callable[[], Mapping[str, Mapping[str, int]]]
"""Return symbol -> interval -> closed candles the loaded rules need before they may fire."""

# One candle more than the rules ask for: the one closing while the backfill runs is not lost.
MARGIN_CANDLES = 1


def depth(count: int, interval: str, page_limit: int) -> int:
    """Return how many candles back a backfill asks for: the rule's need, or a whole page when that is more.

    A Binance request weighs the same for 16 candles as for 1000, and the history before a warm-up is
    what lets an exponential average settle (``Indicator.settle``: 94 more candles for RSI(14), 691 for
    EMA(200)) so its values match a chart's that started long ago. Never more than memory keeps.
    """
    keep = DEFAULT_RETENTION_MS.get(interval, 0) // interval_ms(interval)
    return max(count + MARGIN_CANDLES, min(page_limit, keep))


def no_needs() -> Mapping[str, Mapping[str, int]]:
    """Return no needs (a feed built without rules: tests of the base interval, replay)."""
    return {}


@dataclass(slots=True)
class Coverage:
    """What has been fetched of one (source, symbol, interval)."""

    oldest: int | None = None  # open time the backfill started from
    newest: int | None = None  # open time of the newest closed candle stored
    due: int = 0  # fetch again at or after this time: the close of the candle forming at the last fetch


class HigherIntervals:
    """Fetch, per symbol, the needed intervals above the base one: backfill once, then after each close."""

    def __init__(self, base_interval: str, needs: CandleNeeds, ingest: Ingest) -> None:
        self.base_ms = interval_ms(base_interval)
        self.needs = needs
        self.ingest = ingest
        self.coverage: dict[tuple[str, str, str], Coverage] = {}

    def wanted(self) -> dict[str, dict[str, int]]:
        """Return symbol -> interval -> candles needed, for intervals above the base one only."""
        result: dict[str, dict[str, int]] = {}
        for symbol, by_interval in self.needs().items():
            for interval, count in by_interval.items():
                if interval in INTERVAL_MS and INTERVAL_MS[interval] > self.base_ms and count > 0:
                    result.setdefault(symbol, {})[interval] = count
        return result

    def start_of(self, source: CandleSource, symbol: str, interval: str, count: int, now: int) -> int | None:
        """Return the open time to fetch ``interval`` from now, or None when nothing is due."""
        step = interval_ms(interval)
        forming = bucket_start(now, step)
        need_from = forming - (count + MARGIN_CANDLES) * step
        cov = self.coverage.setdefault((source.source, symbol, interval), Coverage())
        if cov.oldest is None:
            self._from_database(cov, source.source, symbol, interval, need_from, forming)
        if cov.oldest is None or need_from < cov.oldest:
            deep = forming - depth(count, interval, source.page_limit) * step
            # Not older than storage accepts (the guard would refuse those rows, and say so).
            accepted = self.ingest.guard.oldest_accepted("candles")
            if accepted is not None and deep < accepted:
                deep = min(need_from, accepted - accepted % step + step)
            return deep
        if now < cov.due:
            return None
        return cov.oldest if cov.newest is None else cov.newest + step

    def _from_database(
        self, cov: Coverage, source: str, symbol: str, interval: str, need_from: int, forming: int
    ) -> None:
        # After a restart the database may already hold the warm-up: then only what closed since is asked.
        step = interval_ms(interval)
        rows = self.ingest.repo.candles(symbol, interval, need_from, forming, source=source)
        closed = [r for r in rows if r.closed]
        if closed and closed[0].open_time == need_from and len(closed) == (forming - need_from) // step:
            cov.oldest, cov.newest = need_from, closed[-1].open_time

    async def sync(
        self, source: CandleSource, symbol: str, interval: str, count: int, now: int, max_pages: int
    ) -> list[str]:
        """Fetch what is due of one interval; return the items the venue sent that could not be parsed."""
        start = self.start_of(source, symbol, interval, count, now)
        if start is None:
            return []
        cov = self.coverage[(source.source, symbol, interval)]
        step = interval_ms(interval)
        forming = bucket_start(now, step)
        need_from = forming - (count + MARGIN_CANDLES) * step
        skipped: list[str] = []
        for _ in range(max_pages):
            page = await source.fetch(symbol, interval, start, now)
            skipped += page.skipped
            if cov.oldest is None or start < cov.oldest:
                cov.oldest = start
            # The forming candle is not stored: a higher interval is read only once closed.
            rows = sorted(
                (r for r in page.rows if r.open_time >= start and r.closed), key=lambda r: r.open_time
            )
            if rows:
                self.ingest.candles(rows)
                cov.newest = rows[-1].open_time
                start = rows[-1].open_time + step
            elif cov.newest is None and start < need_from:
                # Nothing that far back in a venue paged by time windows (Coinbase): the page of history
                # before the need was a bonus; the need itself is asked next.
                start = need_from
                continue
            if not rows or start >= forming:
                break
        if start >= forming or cov.newest is None:
            # Up to date (or the venue has nothing more): ask again once the forming candle has closed.
            cov.due = forming + step
        else:
            cov.due = 0  # pages left: the next poll goes on
        return skipped

"""Observation tables other than liquidations: candles, funding, open interest, Fear & Greed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage import candle_days
from storage.repo.base import RepoBase, hi, lo
from storage.repo.bulk import INSERT_CANDLES, INSERT_FUNDING, INSERT_OPEN_INTEREST
from storage.repo.mapping import CANDLES, FUNDING
from storage.rows import (
    DAY_MS,
    Candle,
    CandleCoverage,
    CandleSeries,
    FearGreed,
    Funding,
    OpenInterest,
    interval_ms,
)

# Reads that must not walk a symbol's history (issue 24). The candles' primary key is (symbol, interval,
# open_time, source) and the candles_series index (migration 10) is (symbol, interval, source, open_time,
# closed); a question about "which intervals", "which series" or "which symbols" is answered by skipping
# from one distinct value to the next (each step one seek, SQLite has no skip-scan without ANALYZE
# statistics), and a question about one series by a range on the index: a few seeks per series, however
# many years are stored. tests/storage/repo/test_observation_plans.py checks every plan.

# Every symbol with candles, in order: one seek per symbol on the primary key.
SYMBOLS_SQL = (
    "WITH RECURSIVE found(symbol) AS (SELECT MIN(symbol) FROM candles"
    " UNION ALL SELECT (SELECT MIN(symbol) FROM candles WHERE symbol > found.symbol)"
    " FROM found WHERE found.symbol IS NOT NULL)"
    " SELECT symbol FROM found WHERE symbol IS NOT NULL"
)
# A symbol's intervals, in order: one seek per interval on the primary key.
INTERVALS_SQL = (
    "WITH RECURSIVE found(interval) AS (SELECT MIN(interval) FROM candles WHERE symbol = :symbol"
    " UNION ALL SELECT (SELECT MIN(interval) FROM candles"
    " WHERE symbol = :symbol AND interval > found.interval)"
    " FROM found WHERE found.interval IS NOT NULL)"
    " SELECT interval FROM found WHERE interval IS NOT NULL"
)
# A symbol's (interval, source) series, in order: its intervals, then each interval's sources, one seek each
# on candles_series. A row-value step ((interval, source) > (?, ?)) would seek on the interval only and walk
# the rest of it.
SERIES_CTE = (
    "WITH RECURSIVE intervals(interval) AS (SELECT MIN(interval) FROM candles WHERE symbol = :symbol"
    " UNION ALL SELECT (SELECT MIN(interval) FROM candles WHERE symbol = :symbol AND interval > i.interval)"
    " FROM intervals i WHERE i.interval IS NOT NULL),"
    " series(interval, source) AS (SELECT i.interval,"
    " (SELECT MIN(source) FROM candles WHERE symbol = :symbol AND interval = i.interval)"
    " FROM intervals i WHERE i.interval IS NOT NULL"
    " UNION ALL SELECT s.interval, (SELECT MIN(source) FROM candles WHERE symbol = :symbol"
    " AND interval = s.interval AND source > s.source) FROM series s WHERE s.source IS NOT NULL) "
)
_ONE_SERIES = "FROM candles c WHERE c.symbol = :symbol AND c.interval = s.interval AND c.source = s.source"
# Per series: first and last open over the whole history (two seeks each).
SERIES_SQL = (
    SERIES_CTE + f"SELECT s.interval, s.source, (SELECT MIN(c.open_time) {_ONE_SERIES}),"
    f" (SELECT MAX(c.open_time) {_ONE_SERIES}) FROM series s WHERE s.source IS NOT NULL"
    " ORDER BY s.interval, s.source"
)
# Per series: candles, first and last open in [start, end). The count sums the window's whole days from
# candle_days (migration 12) and counts the rows of the partial days at its ends, [start, head_end) and
# [d2, end), on the index: at most two days of rows however long the window (``_window_parts``). First and
# last are a seek each.
_IN_WINDOW = f"{_ONE_SERIES} AND c.open_time >= :start AND c.open_time < :end"
_WINDOW_ROWS = (
    f"(SELECT COUNT(*) {_ONE_SERIES} AND c.open_time >= :start AND c.open_time < :head_end)"
    " + (SELECT COALESCE(SUM(d.rows), 0) FROM candle_days d WHERE d.symbol = :symbol"
    " AND d.interval = s.interval AND d.source = s.source AND d.day >= :d1 AND d.day < :d2)"
    f" + (SELECT COUNT(*) {_ONE_SERIES} AND c.open_time >= :d2 AND c.open_time < :end)"
)
COVERAGE_SQL = (
    SERIES_CTE + "SELECT interval, source, rows, first, last FROM (SELECT s.interval, s.source,"
    f" {_WINDOW_ROWS} AS rows, (SELECT MIN(c.open_time) {_IN_WINDOW}) AS first,"
    f" (SELECT MAX(c.open_time) {_IN_WINDOW}) AS last FROM series s WHERE s.source IS NOT NULL) AS covered"
    " WHERE rows > 0 ORDER BY interval, source"
)
# Open times with a closed candle in [start, end), any source: whole days from candle_closed_days, the
# partial days at the ends from the index (as COVERAGE_SQL).
_CLOSED_IN = (
    "(SELECT COUNT(DISTINCT open_time) FROM candles WHERE symbol = :symbol AND interval = :interval"
    " AND open_time >= {} AND open_time < {} AND closed = 1)"
)
CLOSED_COUNT_SQL = (
    "SELECT " + _CLOSED_IN.format(":start", ":head_end") + " + (SELECT COALESCE(SUM(open_times), 0)"
    " FROM candle_closed_days WHERE symbol = :symbol AND interval = :interval AND day >= :d1"
    " AND day < :d2) + " + _CLOSED_IN.format(":d2", ":end")
)
# Per series: the newest open in [since, until], a seek each.
NEWEST_CANDLES_SQL = (
    SERIES_CTE + "SELECT s.interval, s.source, (SELECT MAX(c.open_time) FROM candles c"
    " WHERE c.symbol = :symbol AND c.interval = s.interval AND c.source = s.source"
    " AND c.open_time >= :since AND c.open_time <= :until) FROM series s WHERE s.source IS NOT NULL"
)
# Holes longer than :reach - interval: from each open time jump to the newest open within :reach after it
# (no hole can hide between them), and only where there is none, to the next open, which ends a hole. One
# or two seeks per :reach of history instead of a row per candle (a 97-day window of 1m with holes over an
# hour: about 2,300 steps instead of 140,000 rows).
GAPS_SQL = (
    "WITH RECURSIVE walk(at, before) AS (SELECT MIN(open_time), MIN(open_time) FROM candles"
    " WHERE symbol = :symbol AND interval = :interval AND open_time >= :start AND open_time < :end"
    " UNION ALL SELECT COALESCE("
    "(SELECT MAX(open_time) FROM candles WHERE symbol = :symbol AND interval = :interval"
    " AND open_time > w.at AND open_time <= w.at + :reach AND open_time < :end),"
    " (SELECT MIN(open_time) FROM candles WHERE symbol = :symbol AND interval = :interval"
    " AND open_time > w.at AND open_time < :end)), w.at FROM walk w WHERE w.at IS NOT NULL)"
    " SELECT before, at FROM walk WHERE at - before > :reach"
)

# A stored candle's values, its closed flag unchanged: candles_series (which carries the flag) is left alone.
UPDATE_CANDLE = (
    "UPDATE candles SET o = ?, h = ?, l = ?, c = ?, volume = ?, quote_volume = ?"
    " WHERE symbol = ? AND interval = ? AND open_time = ? AND source = ?"
)


def _update_parameters(row: Candle) -> tuple[Any, ...]:
    """Return UPDATE_CANDLE's parameters for ``row``."""
    return (row[4], row[5], row[6], row[7], row[8], row[9], row[0], row[1], row[2], row[3])


def _window_parts(start: int, end: int) -> dict[str, int]:
    """Split [start, end) into a partial day [start, head_end), whole days [d1, d2) and a rest [d2, end).

    A window holding no whole day is all head (the days and the rest are empty).
    """
    d1 = -(-start // DAY_MS) * DAY_MS
    d2 = end - end % DAY_MS
    if d1 >= d2:
        return {"start": start, "head_end": end, "d1": end, "d2": end, "end": end}
    return {"start": start, "head_end": d1, "d1": d1, "d2": d2, "end": end}


class ObservationsMixin(RepoBase):
    """Candles, funding, open interest and Fear & Greed: idempotent upserts and range reads."""

    # --- observation writes ------------------------------------------------------------------------

    def upsert_candles(self, rows: Iterable[Candle]) -> int:
        """Insert or update candles on (symbol, interval, open_time, source); return rows written.

        A row equal to the stored one is not written again (nor counted).
        """
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            # Read before writing: only the keys not yet stored are new rows of their day, and only the rows
            # that differ from the stored ones are written.
            plan = candle_days.plan_upsert(self.conn, batch)
            written = INSERT_CANDLES.run(self.conn, plan.upsert) if plan.upsert else 0
            if plan.update:
                written += self.conn.executemany(
                    UPDATE_CANDLE, [_update_parameters(r) for r in plan.update]
                ).rowcount
            candle_days.apply(self.conn, plan.deltas)
            return written

    def upsert_funding(self, rows: Iterable[Funding]) -> int:
        """Insert or update funding rates on (symbol, ts, source)."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return INSERT_FUNDING.run(self.conn, batch)

    def upsert_open_interest(self, rows: Iterable[OpenInterest]) -> int:
        """Insert or update open interest on (symbol, ts, source)."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return INSERT_OPEN_INTEREST.run(self.conn, batch)

    def upsert_fear_greed(self, rows: Iterable[FearGreed]) -> int:
        """Insert or update daily Fear & Greed values on their date."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO fear_greed (date, ts, value, classification, source) VALUES (?,?,?,?,?)"
                " ON CONFLICT (date) DO UPDATE SET value=excluded.value,"
                " classification=COALESCE(excluded.classification, fear_greed.classification),"
                " source=excluded.source",
                rows,
            )
        return cur.rowcount

    # --- observation reads -------------------------------------------------------------------------

    def candles(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        *,
        source: str | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return candles with start <= open_time < end, oldest first (one source, or all if None)."""
        sql = (
            "SELECT symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed"
            " FROM candles WHERE symbol = ? AND interval = ? AND open_time >= ? AND open_time < ?"
        )
        params: list[Any] = [symbol, interval, lo(start), hi(end)]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY open_time"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [CANDLES(r) for r in self.conn.execute(sql, params)]

    def latest_candles(
        self, symbol: str, interval: str, count: int, *, source: str | None = None
    ) -> list[Candle]:
        """Return the newest ``count`` candles, oldest first."""
        sql = (
            "SELECT symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed"
            " FROM candles WHERE symbol = ? AND interval = ?"
        )
        params: list[Any] = [symbol, interval]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY open_time DESC LIMIT ?"
        params.append(count)
        rows = [CANDLES(r) for r in self.conn.execute(sql, params)]
        rows.reverse()
        return rows

    def last_candle_time(
        self, symbol: str, interval: str, source: str, *, closed_only: bool = True
    ) -> int | None:
        """Return the open time of the newest stored candle for a source, or None."""
        sql = "SELECT MAX(open_time) FROM candles WHERE symbol = ? AND interval = ? AND source = ?"
        if closed_only:
            sql += " AND closed = 1"
        value = self.conn.execute(sql, (symbol, interval, source)).fetchone()[0]
        return int(value) if value is not None else None

    def candle_symbols(self) -> list[str]:
        """Return every symbol that has stored candles, sorted."""
        return [r[0] for r in self.conn.execute(SYMBOLS_SQL)]

    def candle_series(self, symbol: str) -> list[CandleSeries]:
        """Return each (interval, source) series of a symbol with its first and last open (a few seeks)."""
        return [
            CandleSeries(interval, source, int(first), int(last))
            for interval, source, first, last in self.conn.execute(SERIES_SQL, {"symbol": symbol})
        ]

    def candle_coverage(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[CandleCoverage]:
        """Count a symbol's candles per (interval, source) with start <= open_time < end.

        Counting sums the window's whole days (candle_days) and reads at most a day of the index at each
        end; for the first and last open of a whole history ``candle_series`` answers without counting.
        """
        params = {"symbol": symbol, **_window_parts(lo(start), hi(end))}
        return [
            CandleCoverage(interval, source, int(rows), int(first), int(last))
            for interval, source, rows, first, last in self.conn.execute(COVERAGE_SQL, params)
        ]

    def candle_gaps(
        self, symbol: str, interval: str, start: int, end: int, longer_than: int
    ) -> list[tuple[int, int]]:
        """Return the holes longer than ``longer_than`` ms in a symbol's candles of ``interval``.

        Only open times in [start, end) count; each hole is (end of the candle before, open of the candle
        after).
        """
        length = interval_ms(interval)
        params = {"symbol": symbol, "interval": interval, "start": start, "end": end}
        return [
            (int(before) + length, int(after))
            for before, after in self.conn.execute(GAPS_SQL, {**params, "reach": length + longer_than})
        ]

    def closed_candle_count(self, symbol: str, interval: str, start: int, end: int) -> int:
        """Count the open times with start <= open_time < end that have a closed candle of ``interval``.

        A minute stored by two sources counts once: it is one candle to whoever reads the series.
        """
        params = {"symbol": symbol, "interval": interval, **_window_parts(start, end)}
        return int(self.conn.execute(CLOSED_COUNT_SQL, params).fetchone()[0])

    def candle_intervals(self, symbol: str) -> list[str]:
        """Return the candle intervals stored for a symbol."""
        return [r[0] for r in self.conn.execute(INTERVALS_SQL, {"symbol": symbol})]

    def funding(self, symbol: str, start: int | None = None, end: int | None = None) -> list[Funding]:
        """Return funding rows with start <= ts < end, oldest first."""
        return [
            FUNDING(r)
            for r in self.conn.execute(
                "SELECT symbol, ts, source, rate, mark_price, next_funding_time, settled FROM funding"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, lo(start), hi(end)),
            )
        ]

    def open_interest(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[OpenInterest]:
        """Return open-interest rows with start <= ts < end, oldest first."""
        return [
            OpenInterest(*r)
            for r in self.conn.execute(
                "SELECT symbol, ts, source, contracts, usd FROM open_interest"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, lo(start), hi(end)),
            )
        ]

    def open_interest_sources(self, symbol: str, start: int, end: int) -> list[str]:
        """Return the sources with open interest (in USD) of a symbol with start <= ts < end, sorted."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT source FROM open_interest WHERE symbol = ? AND ts >= ? AND ts < ?"
                " AND usd > 0 ORDER BY source",
                (symbol, start, end),
            )
        ]

    def fear_greed(self, start: int | None = None, end: int | None = None) -> list[FearGreed]:
        """Return Fear & Greed rows with start <= ts < end, oldest first."""
        return [
            FearGreed(*r)
            for r in self.conn.execute(
                "SELECT date, ts, value, classification, source FROM fear_greed"
                " WHERE ts >= ? AND ts < ? ORDER BY ts",
                (lo(start), hi(end)),
            )
        ]

    def newest_observations(
        self, kind: str, symbol: str, since: int, until: int
    ) -> list[tuple[str, str, int]]:
        """Return (detail, source, newest time) per source of one kind of row with since <= time <= until.

        ``kind`` is candles (detail: the interval; time: the newest open), liquidations (detail "events" or
        "hourly"), funding, open_interest or fear_greed (symbol ignored).
        """
        queries = {
            "candles": NEWEST_CANDLES_SQL,
            "liquidations": "SELECT 'events', source, MAX(ts) FROM liquidations WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source"
            " UNION ALL SELECT 'hourly', source, MAX(hour) FROM liquidation_hourly WHERE symbol = :symbol"
            " AND hour >= :since AND hour <= :until GROUP BY source",
            "funding": "SELECT '', source, MAX(ts) FROM funding WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source",
            "open_interest": "SELECT '', source, MAX(ts) FROM open_interest WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source",
            "fear_greed": "SELECT '', source, MAX(ts) FROM fear_greed"
            " WHERE ts >= :since AND ts <= :until GROUP BY source",
        }
        sql = queries.get(kind)
        if sql is None:
            raise ValueError(f"unknown observation kind {kind!r}; use one of {', '.join(queries)}")
        rows = self.conn.execute(sql, {"symbol": symbol, "since": since, "until": until})
        return sorted((str(d), str(s), int(t)) for d, s, t in rows if t is not None)

    def latest_fear_greed(self) -> FearGreed | None:
        """Return the newest Fear & Greed row."""
        row = self.conn.execute(
            "SELECT date, ts, value, classification, source FROM fear_greed ORDER BY ts DESC LIMIT 1"
        ).fetchone()
        return FearGreed(*row) if row else None

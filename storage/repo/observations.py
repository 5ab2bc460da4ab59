"""Observation tables other than liquidations: candles, funding, open interest, Fear & Greed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.repo.base import RepoBase, hi, lo
from storage.repo.bulk import INSERT_CANDLES, INSERT_FUNDING, INSERT_OPEN_INTEREST
from storage.repo.mapping import CANDLES, FUNDING
from storage.rows import Candle, CandleCoverage, FearGreed, Funding, OpenInterest, interval_ms


class ObservationsMixin(RepoBase):
    """Candles, funding, open interest and Fear & Greed: idempotent upserts and range reads."""

    # --- observation writes ------------------------------------------------------------------------

    def upsert_candles(self, rows: Iterable[Candle]) -> int:
        """Insert or update candles on (symbol, interval, open_time, source); return rows written."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return INSERT_CANDLES.run(self.conn, batch)

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
        return [r[0] for r in self.conn.execute("SELECT DISTINCT symbol FROM candles ORDER BY symbol")]

    def candle_coverage(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[CandleCoverage]:
        """Count a symbol's candles per (interval, source) with start <= open_time < end."""
        return [
            CandleCoverage(interval, source, int(rows), int(first), int(last))
            for interval, source, rows, first, last in self.conn.execute(
                "SELECT interval, source, COUNT(*), MIN(open_time), MAX(open_time) FROM candles"
                " WHERE symbol = ? AND open_time >= ? AND open_time < ? GROUP BY interval, source"
                " ORDER BY interval, source",
                (symbol, lo(start), hi(end)),
            )
        ]

    def candle_gaps(
        self, symbol: str, interval: str, start: int, end: int, longer_than: int
    ) -> list[tuple[int, int]]:
        """Return the holes longer than ``longer_than`` ms in a symbol's candles of ``interval``.

        Only open times in [start, end) count; each hole is (end of the candle before, open of the candle
        after).
        """
        length = interval_ms(interval)
        return [
            (int(before) + length, int(after))
            for before, after in self.conn.execute(
                "SELECT open_time, after FROM (SELECT open_time,"
                " LEAD(open_time) OVER (ORDER BY open_time) AS after FROM candles"
                " WHERE symbol = ? AND interval = ? AND open_time >= ? AND open_time < ?) AS spans"
                " WHERE after - open_time - ? > ?",
                (symbol, interval, start, end, length, longer_than),
            )
        ]

    def closed_candle_count(self, symbol: str, interval: str, start: int, end: int) -> int:
        """Count the open times with start <= open_time < end that have a closed candle of ``interval``.

        A minute stored by two sources counts once: it is one candle to whoever reads the series.
        """
        row = self.conn.execute(
            "SELECT COUNT(DISTINCT open_time) FROM candles WHERE symbol = ? AND interval = ?"
            " AND open_time >= ? AND open_time < ? AND closed = 1",
            (symbol, interval, start, end),
        ).fetchone()
        return int(row[0])

    def candle_intervals(self, symbol: str) -> list[str]:
        """Return the candle intervals stored for a symbol."""
        return [
            r[0]
            for r in self.conn.execute("SELECT DISTINCT interval FROM candles WHERE symbol = ?", (symbol,))
        ]

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
            "candles": "SELECT interval, source, MAX(open_time) FROM candles WHERE symbol = :symbol"
            " AND open_time >= :since AND open_time <= :until GROUP BY interval, source",
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

"""Liquidation events and aggregated buckets; their hourly totals move with them (storage.hourly)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from storage import hourly
from storage.repo.base import RepoBase, hi, lo
from storage.repo.bulk import INSERT_LIQUIDATIONS
from storage.rows import HOUR_MS, MINUTE_MS, Liquidation, LiquidationTotals


class _AlreadyStored(Exception):
    """Some rows of a liquidation batch were stored before (rolls the batch's insert back)."""


class LiquidationsMixin(RepoBase):
    """Liquidation events and buckets, kept in step with their hourly rollup."""

    def insert_liquidations(self, rows: Iterable[Liquidation]) -> int:
        """Insert liquidation events, ignoring exact repeats of an already stored event; return rows stored.

        The hourly totals move with the stored rows in the same transaction (storage.hourly).
        """
        return len(self.store_liquidations(rows))

    def store_liquidations(self, rows: Iterable[Liquidation]) -> list[Liquidation]:
        """Insert liquidation events like ``insert_liquidations``; return the rows that were stored.

        A row is stored unless an event with its primary key is stored already (or comes earlier in the
        batch), or SQLite refuses it (a NULL or NaN column, an unknown side): the database itself says
        which events are new, so callers need no memory of their own to drop repeats.
        """
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return []
        conn = self.conn
        try:
            with self.transaction():
                # Repeats are rare (a re-poll, a replayed frame, a row SQLite refuses), so the batch is
                # inserted as it is and only sorted out when SQLite ignored some of it: checking every row
                # in Python first was a quarter of a stored event's cost (bench.ingest, py-spy). Outside any
                # transaction this one is simply rolled back then: the savepoint a nested attempt needs
                # copies every page it touches to a temporary file first (a fifth of the write's cost).
                before = conn.total_changes
                INSERT_LIQUIDATIONS.run(conn, batch)
                if conn.total_changes - before != len(batch):
                    raise _AlreadyStored  # undone: which rows are new must be known for the totals
                self._count_hourly(batch)
            return batch
        except _stored_or_refused():
            # PostgreSQL raises where SQLite's INSERT OR IGNORE skipped a refused row (NULL, NaN, bad side).
            pass
        with self.transaction():
            fresh = self._new_liquidations(batch)
            INSERT_LIQUIDATIONS.run(conn, fresh)
            self._count_hourly(fresh)
        return fresh

    def _count_hourly(self, stored: list[Liquidation]) -> None:
        totals = hourly.HourlyTotals(self.conn)
        totals.inserted_all(stored)
        totals.save()

    def _new_liquidations(self, batch: list[Liquidation]) -> list[Liquidation]:
        """Return the rows of ``batch`` SQLite would store: storable, first of their key, not yet stored."""
        unique: set[hourly.PrimaryKey] = set()
        candidates: list[Liquidation] = []
        for row in batch:
            key = hourly.primary_key(row)
            if key not in unique and hourly.storable(row):
                unique.add(key)
                candidates.append(row)
        stored = hourly.stored_keys(self.conn, candidates)
        return [row for row in candidates if hourly.primary_key(row) not in stored]

    def upsert_liquidation_buckets(self, rows: Iterable[Liquidation]) -> int:
        """Insert or replace aggregated liquidation buckets (price = qty = 0), whose totals may be revised."""
        written = 0
        with self.transaction():
            totals = hourly.HourlyTotals(self.conn)
            for row in rows:
                old = self.conn.execute(
                    "SELECT usd FROM liquidations WHERE symbol = ? AND ts = ? AND source = ? AND side = ?"
                    " AND price = ? AND qty = ?",
                    hourly.primary_key(row),
                ).fetchone()
                cur = self.conn.execute(
                    "INSERT INTO liquidations (symbol, ts, source, side, price, qty, usd)"
                    " VALUES (?,?,?,?,?,?,?)"
                    " ON CONFLICT (symbol, ts, source, side, price, qty) DO UPDATE SET usd=excluded.usd",
                    row,
                )
                written += cur.rowcount
                if old is None:
                    totals.inserted(row)
                else:
                    totals.revised(row, old[0])
            totals.save()
        return written

    def liquidations(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[Liquidation]:
        """Return liquidation rows of a symbol with start <= ts < end, oldest first."""
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                "SELECT symbol, ts, source, side, price, qty, usd FROM liquidations"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, lo(start), hi(end)),
            )
        ]

    def liquidation_totals(
        self, symbol: str | None, start: int, end: int, *, events_only: bool = False
    ) -> LiquidationTotals:
        """Sum liquidated USD by source and position side over [start, end).

        Whole hours come from the trigger-maintained hourly table; only the partial hours at either end
        read raw rows, so a 7-day window costs the same during a cascade as on a quiet day. ``events_only``
        leaves out aggregated buckets (qty 0: a source's hourly totals) and reads raw rows only: for the
        hour still running, whose bucket is not known until it ends.
        """
        first_hour = -(-start // HOUR_MS) * HOUR_MS
        last_hour = end // HOUR_MS * HOUR_MS
        where, params = ("symbol = ? AND ", [symbol]) if symbol is not None else ("", [])
        if events_only:
            where += "qty > 0 AND "
        raw_sql = (
            "SELECT source, SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
            " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END), COUNT(*)"
            f" FROM liquidations WHERE {where}ts >= ? AND ts < ? GROUP BY source"
        )
        parts: list[tuple[str, float, float, int]] = []
        if first_hour >= last_hour or events_only:
            parts += self.conn.execute(raw_sql, [*params, start, end]).fetchall()
        else:
            parts += self.conn.execute(
                "SELECT source, SUM(long_usd), SUM(short_usd), SUM(events) FROM liquidation_hourly"
                f" WHERE {where}hour >= ? AND hour < ? GROUP BY source",
                [*params, first_hour, last_hour],
            ).fetchall()
            if start < first_hour:
                parts += self.conn.execute(raw_sql, [*params, start, first_hour]).fetchall()
            if last_hour < end:
                parts += self.conn.execute(raw_sql, [*params, last_hour, end]).fetchall()
        by_source: dict[str, list[float]] = {}
        long_usd = short_usd = 0.0
        count = 0
        for source, long_part, short_part, n in parts:
            pair = by_source.setdefault(source, [0.0, 0.0])
            pair[0] += long_part or 0.0
            pair[1] += short_part or 0.0
            long_usd += long_part or 0.0
            short_usd += short_part or 0.0
            count += n or 0
        return LiquidationTotals(long_usd, short_usd, count, {k: (v[0], v[1]) for k, v in by_source.items()})

    def liquidation_buckets(
        self, symbol: str, start: int, end: int, bucket_ms: int, *, phase_ms: int = 0
    ) -> list[tuple[int, float, float]]:
        """Return (bucket_start, long_usd, short_usd) of each non-empty bucket with start <= ts < end.

        Buckets are ``bucket_ms`` long, aligned on multiples of it shifted by ``phase_ms`` (weeks start on
        a Monday, not on the epoch's Thursday). Buckets of whole hours are summed from the hourly rollup
        (a busy week is a few hundred rows, and it outlives pruned raw rows); finer ones from raw rows.
        """
        if bucket_ms % HOUR_MS == 0 and phase_ms % HOUR_MS == 0:
            sql = (
                "SELECT ((hour - :phase) / :b) * :b + :phase AS bucket, SUM(long_usd), SUM(short_usd)"
                " FROM liquidation_hourly WHERE symbol = :symbol AND hour >= :start AND hour < :end"
                " GROUP BY bucket ORDER BY bucket"
            )
        else:
            sql = (
                "SELECT ((ts - :phase) / :b) * :b + :phase AS bucket,"
                " SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
                " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END)"
                " FROM liquidations WHERE symbol = :symbol AND ts >= :start AND ts < :end"
                " GROUP BY bucket ORDER BY bucket"
            )
        rows = self.conn.execute(
            sql, {"phase": phase_ms, "b": bucket_ms, "symbol": symbol, "start": start, "end": end}
        )
        return [(int(b), float(long_usd), float(short_usd)) for b, long_usd, short_usd in rows]

    def liquidation_hours(self, symbol: str | None, start: int, end: int) -> list[tuple[int, float, float]]:
        """Return (hour, long_usd, short_usd) per hour in [start, end) across sources, oldest first."""
        where, params = ("symbol = ? AND ", [symbol]) if symbol is not None else ("", [])
        return [
            (int(r[0]), float(r[1]), float(r[2]))
            for r in self.conn.execute(
                "SELECT hour, SUM(long_usd), SUM(short_usd) FROM liquidation_hourly"
                f" WHERE {where}hour >= ? AND hour < ? GROUP BY hour ORDER BY hour",
                [*params, start, end],
            )
        ]

    def liquidation_minutes(self, symbol: str, start: int, end: int) -> list[tuple[str, int, float, float]]:
        """Return (source, minute, long_usd, short_usd) sums per one-minute bucket, oldest first."""
        return [
            (r[0], int(r[1]), float(r[2]), float(r[3]))
            for r in self.conn.execute(
                f"SELECT source, ts - ts % {MINUTE_MS} AS minute,"
                " SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
                " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END)"
                " FROM liquidations WHERE symbol = ? AND ts >= ? AND ts < ?"
                " GROUP BY source, minute ORDER BY minute",
                (symbol, start, end),
            )
        ]

    def largest_liquidations(
        self, symbol: str | None, start: int, end: int, limit: int = 5
    ) -> list[Liquidation]:
        """Return the biggest single liquidation events in the window (aggregated buckets excluded)."""
        where = "ts >= ? AND ts < ? AND qty > 0"
        params: list[Any] = [start, end]
        if symbol is not None:
            where = "symbol = ? AND " + where
            params.insert(0, symbol)
        params.append(limit)
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                f"SELECT symbol, ts, source, side, price, qty, usd FROM liquidations WHERE {where}"
                " ORDER BY usd DESC LIMIT ?",
                params,
            )
        ]

    def largest_liquidation_buckets(
        self, symbol: str | None, start: int, end: int, limit: int = 5
    ) -> list[Liquidation]:
        """Return the biggest aggregated buckets in the window, for sources that only publish totals.

        Aggregated buckets (price = qty = 0, one per side) come from sources like CoinGlass hourly, so "the
        largest" still means something there.
        """
        where = "ts >= ? AND ts < ? AND qty = 0 AND usd > 0"
        params: list[Any] = [start, end]
        if symbol is not None:
            where = "symbol = ? AND " + where
            params.insert(0, symbol)
        params.append(limit)
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                f"SELECT symbol, ts, source, side, price, qty, usd FROM liquidations WHERE {where}"
                " ORDER BY usd DESC LIMIT ?",
                params,
            )
        ]

    def last_liquidation_time(self, symbol: str | None, before: int) -> int | None:
        """Return the time of the newest liquidation row (of a symbol, or any) before ``before``."""
        if symbol is None:
            value = self.conn.execute("SELECT MAX(ts) FROM liquidations WHERE ts < ?", (before,)).fetchone()[
                0
            ]
        else:
            value = self.conn.execute(
                "SELECT MAX(ts) FROM liquidations WHERE symbol = ? AND ts < ?", (symbol, before)
            ).fetchone()[0]
        return int(value) if value is not None else None


def _stored_or_refused() -> tuple[type[Exception], ...]:
    """Return _AlreadyStored and what PostgreSQL raises for a row it refuses (psycopg, once loaded)."""
    psycopg = sys.modules.get("psycopg")
    return (_AlreadyStored,) if psycopg is None else (_AlreadyStored, psycopg.errors.IntegrityError)

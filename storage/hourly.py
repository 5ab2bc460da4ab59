"""Keep ``liquidation_hourly`` in step with ``liquidations`` per batch, as the schema's triggers did per row.

Migration 0001 kept the hourly totals with a trigger run for every stored liquidation: 6.6 of the 9.4 µs a
stored row cost, two thirds of ingest (bench.ingest: 72k events/s, the trigger-free raw limit 430k rows/s).
Migration 0003 drops the triggers and ``Repo`` calls this module in the same transaction as the rows.

The arithmetic is the triggers' own, in the same order: each stored row adds its USD to its hour's total
for its side (a new hour starts from that row's USD), one event at a time in insertion order; a revised
bucket moves its hour's total by the difference. Python floats are the same IEEE doubles SQLite adds, so
the stored totals are bit for bit what the triggers stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from storage.connection import Connection
from storage.rows import HOUR_MS, Liquidation

Key = tuple[str, int, str]  # (symbol, hour, source)
PrimaryKey = tuple[str, int, str, str, float, float]  # (symbol, ts, source, side, price, qty)


def hour_of(ts: int) -> int:
    """Return the start of the hour ``ts`` lies in (as the schema computes it)."""
    return ts - ts % HOUR_MS


def storable(row: Liquidation) -> bool:
    """Return True when SQLite would store the row: every column set, a real number, a known side.

    ``INSERT OR IGNORE`` skips a row breaking NOT NULL or CHECK (NaN is NULL to SQLite), so it is skipped
    here too rather than counted.
    """
    symbol, ts, source, side, price, qty, usd = row
    # x == x is False for NaN only; None passes it, so it is checked apart.
    return (
        (side == "long" or side == "short")
        and price == price
        and qty == qty
        and usd == usd
        and None not in (symbol, ts, source, price, qty, usd)
        and not (isinstance(ts, float) and math.isnan(ts))
    )


def primary_key(row: Sequence[Any]) -> PrimaryKey:
    """Return the liquidations table's primary key of a row (first six columns)."""
    return (row[0], row[1], row[2], row[3], row[4], row[5])


def stored_keys(conn: Connection, rows: Sequence[Liquidation]) -> set[PrimaryKey]:
    """Return the primary keys already stored among those of ``rows`` (one indexed range read per symbol)."""
    spans: dict[str, list[int]] = {}
    for row in rows:
        span = spans.get(row.symbol)
        if span is None:
            spans[row.symbol] = [row.ts, row.ts]
        elif row.ts < span[0]:
            span[0] = row.ts
        elif row.ts > span[1]:
            span[1] = row.ts
    found: set[PrimaryKey] = set()
    for symbol, (first, last) in spans.items():
        found.update(
            primary_key(r)
            for r in conn.execute(
                "SELECT symbol, ts, source, side, price, qty FROM liquidations"
                " WHERE symbol = ? AND ts >= ? AND ts <= ?",
                (symbol, first, last),
            )
        )
    return found


class HourlyTotals:
    """Hourly totals read once, moved row by row as the triggers did, and written back by ``save``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # None: no row for that hour (yet); else [long_usd, short_usd, events].
        self._totals: dict[Key, list[Any] | None] = {}

    def _get(self, key: Key) -> list[Any] | None:
        if key not in self._totals:
            row = self.conn.execute(
                "SELECT long_usd, short_usd, events FROM liquidation_hourly"
                " WHERE symbol = ? AND hour = ? AND source = ?",
                key,
            ).fetchone()
            self._totals[key] = list(row) if row is not None else None
        return self._totals[key]

    def inserted(self, row: Liquidation) -> None:
        """Count a stored row (the insert trigger: a new hour starts from its USD, else add it)."""
        key = (row.symbol, hour_of(row.ts), row.source)
        totals = self._get(key)
        long_side = row.side == "long"
        if totals is None:
            # The trigger inserted CASE ... ELSE 0 END: the other side's 0 is stored as 0.0 (REAL column).
            self._totals[key] = [row.usd if long_side else 0.0, 0.0 if long_side else row.usd, 1]
            return
        # The other side's "+ 0" leaves its total as it is.
        totals[0 if long_side else 1] += row.usd
        totals[2] += 1

    def inserted_all(self, rows: Sequence[Liquidation]) -> None:
        """Count stored rows in order, as ``inserted`` does one by one (inlined: one call per batch).

        The per-row method call and its lookups were a third of what keeping the totals cost (bench.ingest,
        py-spy); the arithmetic is the same, in the same order.
        """
        totals_of = self._totals
        get = self._get
        for symbol, ts, source, side, _, _, usd in rows:
            key = (symbol, ts - ts % HOUR_MS, source)
            totals = totals_of[key] if key in totals_of else get(key)
            if totals is None:
                if side == "long":
                    totals_of[key] = [usd, 0.0, 1]
                else:
                    totals_of[key] = [0.0, usd, 1]
            else:
                totals[0 if side == "long" else 1] += usd
                totals[2] += 1

    def revised(self, row: Liquidation, old_usd: float) -> None:
        """Move the hour's total by a revised row's difference (the update trigger; no row, no change)."""
        totals = self._get((row.symbol, hour_of(row.ts), row.source))
        if totals is not None:
            totals[0 if row.side == "long" else 1] += row.usd - old_usd

    def save(self) -> None:
        """Write every hour that was read or started back to the table."""
        self.conn.executemany(
            "INSERT INTO liquidation_hourly (symbol, hour, source, long_usd, short_usd, events)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (symbol, hour, source) DO UPDATE SET"
            " long_usd = excluded.long_usd, short_usd = excluded.short_usd, events = excluded.events",
            [(*key, *totals) for key, totals in self._totals.items() if totals is not None],
        )
        self._totals.clear()

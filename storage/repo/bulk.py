"""Multi-row INSERT statements for observation batches (the ingest hot path) and detector states."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

from storage.connection import Connection

# Rows are written with multi-row INSERT statements of power-of-two sizes up to this: a statement per row
# (executemany) cost 40% more (bench.replay's storage floor), and a few fixed sizes keep every statement in
# the connection's cache. 1024 rows x 11 columns stays under the 32766 bound parameters SQLite allows by
# default since 3.32; an older or stricter build (999 before 3.32) gets smaller statements (see ``run``).
ROWS_PER_STATEMENT = 1024


class MultiRowInsert:
    """An INSERT whose VALUES list is repeated for many rows at once, prepared per power-of-two size."""

    def __init__(self, head: str, columns: int, tail: str = "", *, key_columns: int = 0) -> None:
        self.head = head
        # The leading columns forming the conflict key of an upsert (0: not an upsert).
        self.key_columns = key_columns
        self.tail = tail
        self.columns = columns
        self.group = "(" + ",".join("?" * columns) + ")"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        """Return the statement inserting ``rows`` rows."""
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self.head + ",".join([self.group] * rows) + self.tail
        return text

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Insert ``rows`` in order, in as few statements as the fixed sizes allow; return rows changed."""
        changed = 0
        if self.key_columns and not isinstance(conn, sqlite3.Connection):  # PostgreSQL (storage.postgres)
            # SQLite applies a statement's rows in order (the last of a key wins); PostgreSQL refuses to
            # update one row twice in a statement, so the last of each key is kept beforehand.
            last = {tuple(row[: self.key_columns]): row for row in rows}
            rows = list(last.values())
        start, total = 0, len(rows)
        parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        largest = ROWS_PER_STATEMENT
        while largest * self.columns > parameters and largest > 1:
            largest //= 2
        while start < total:
            size = largest
            while size > total - start:
                size //= 2
            chunk = rows[start : start + size]
            changed += conn.execute(self.sql(size), list(chain.from_iterable(chunk))).rowcount
            start += size
        return changed


INSERT_CANDLES = MultiRowInsert(
    "INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed)"
    " VALUES ",
    11,
    " ON CONFLICT (symbol, interval, open_time, source) DO UPDATE SET o=excluded.o, h=excluded.h,"
    " l=excluded.l, c=excluded.c, volume=excluded.volume, quote_volume=excluded.quote_volume,"
    " closed=excluded.closed",
    key_columns=4,
)
INSERT_LIQUIDATIONS = MultiRowInsert(
    "INSERT OR IGNORE INTO liquidations (symbol, ts, source, side, price, qty, usd) VALUES ", 7
)
INSERT_FUNDING = MultiRowInsert(
    "INSERT INTO funding (symbol, ts, source, rate, mark_price, next_funding_time, settled) VALUES ",
    7,
    " ON CONFLICT (symbol, ts, source) DO UPDATE SET rate=excluded.rate, mark_price=excluded.mark_price,"
    " next_funding_time=excluded.next_funding_time, settled=excluded.settled",
    key_columns=3,
)
INSERT_OPEN_INTEREST = MultiRowInsert(
    "INSERT INTO open_interest (symbol, ts, source, contracts, usd) VALUES ",
    5,
    " ON CONFLICT (symbol, ts, source) DO UPDATE SET contracts=excluded.contracts, usd=excluded.usd",
    key_columns=3,
)
# Detector states, written in one statement per flush rather than one per rule (issue 18's indicator rules
# write every rule's state every minute).
INSERT_DETECTOR_STATES = MultiRowInsert(
    "INSERT INTO detector_state (rule_id, state, evaluated_at) VALUES ",
    3,
    " ON CONFLICT (rule_id) DO UPDATE SET state=excluded.state, evaluated_at=excluded.evaluated_at",
    key_columns=1,
)

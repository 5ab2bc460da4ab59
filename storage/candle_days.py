"""Keep ``candle_days`` and ``candle_closed_days`` in step with ``candles``, in the writer's transaction.

Migration 0012 explains the tables: candles counted per UTC day, so counting a window sums its whole days
and reads only the partial days at its ends. Triggers would keep them for any writer but cost three to four
times a candle's own insert; every writer of candles is in ``storage`` (``Repo.upsert_candles`` and the
retention prune), and each calls this module inside the transaction that writes the rows:

- an upsert reads the stored rows in its batch's time range first (one range read per series), so only
  new rows are counted and a candle turning closed (or back) moves the closed count once per open time;
  the same read says which rows need writing at all (``WritePlan``);
- a delete or a fold recounts the days it touched from the rows left (whole days: at most a day's rows at
  each end of the range).

tests/storage/test_candle_days.py checks the counts against ``COUNT(*)`` after random upserts and prunes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.connection import Connection
from storage.rows import DAY_MS, Candle

RowsKey = tuple[str, str, str, int]  # (symbol, interval, source, day)
ClosedKey = tuple[str, str, int]  # (symbol, interval, day)

_STORED = (
    "SELECT open_time, source, closed, o, h, l, c, volume, quote_volume FROM candles"
    " WHERE symbol = ? AND interval = ? AND open_time >= ? AND open_time <= ?"
)
_ADD_ROWS = (
    "INSERT INTO candle_days (symbol, interval, source, day, rows) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (symbol, interval, source, day) DO UPDATE SET rows = candle_days.rows + excluded.rows"
)
_ADD_CLOSED = (
    "INSERT INTO candle_closed_days (symbol, interval, day, open_times) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (symbol, interval, day)"
    " DO UPDATE SET open_times = candle_closed_days.open_times + excluded.open_times"
)
_DROP_EMPTY_CLOSED = (
    "DELETE FROM candle_closed_days WHERE symbol = ? AND interval = ? AND day = ? AND open_times <= 0"
)


def day_of(ts: int) -> int:
    """Return the start of the UTC day ``ts`` lies in (as the schema computes it)."""
    return ts - ts % DAY_MS


@dataclass(slots=True)
class Deltas:
    """How an upsert changes the day counts: new rows per source and day, closed open times per day."""

    rows: dict[RowsKey, int] = field(default_factory=dict)
    closed: dict[ClosedKey, int] = field(default_factory=dict)


@dataclass(slots=True)
class WritePlan:
    """What writing a batch of candles must do, from the rows stored under its keys.

    ``upsert``: rows whose key is new or whose closed flag changes (the upsert, which also rewrites the
    ``candles_series`` entry holding the flag). ``update``: stored rows with the same flag and other values,
    rewritten in place without touching that index. A row equal to the stored one is in neither: a poll
    delivers the last closed candle again on each of its polls, and rewriting it unchanged dirtied two
    B-tree pages per poll that the commit then copied whole into the WAL (issue 24, ``bench.live``).
    """

    deltas: Deltas = field(default_factory=Deltas)
    upsert: list[Candle] = field(default_factory=list)
    update: list[Candle] = field(default_factory=list)


def upsert_deltas(conn: Connection, batch: Sequence[Candle]) -> Deltas:
    """Return the count changes writing ``batch`` will make; call before writing it, in its transaction."""
    return plan_upsert(conn, batch).deltas


def plan_upsert(conn: Connection, batch: Sequence[Candle]) -> WritePlan:
    """Return what writing ``batch`` must do; call before writing it, in its transaction.

    Rows of one key later in the batch overwrite earlier ones, as the multi-row upsert does. Runs on every
    live poll (two candles a symbol): plain dicts and one range read per series keep it to a few µs.
    """
    plan = WritePlan()
    if not batch:
        return plan
    symbol, interval = batch[0][0], batch[0][1]
    if all(row[0] == symbol and row[1] == interval for row in batch):
        _series_plan(conn, symbol, interval, batch, plan)
        return plan
    by_series: dict[tuple[str, str], list[Candle]] = {}
    for row in batch:
        by_series.setdefault((row[0], row[1]), []).append(row)
    for (symbol, interval), rows in by_series.items():
        _series_plan(conn, symbol, interval, rows, plan)
    return plan


def _series_plan(
    conn: Connection, symbol: str, interval: str, rows: Sequence[Candle], plan: WritePlan
) -> None:
    """Add to ``plan`` what writing ``rows`` (all of one series) changes and which rows to write how."""
    times = [row[2] for row in rows]
    # (open_time, source) -> (closed, o, h, l, c, volume, quote_volume), as stored
    stored: dict[tuple[int, str], tuple[Any, ...]] = {
        (found[0], found[1]): found[2:]
        for found in conn.execute(_STORED, (symbol, interval, min(times), max(times)))
    }
    closed_before = {t for (t, _), values in stored.items() if values[0]}
    last: dict[tuple[int, str], Candle] = {}
    for row in rows:
        last[(row[2], row[3])] = row  # a later row of the key replaces an earlier one
    counts = plan.deltas.rows
    for key, row in last.items():
        values = stored.get(key)
        closed = 1 if row[10] else 0
        if values is None:
            day_key = (symbol, interval, key[1], key[0] - key[0] % DAY_MS)
            counts[day_key] = counts.get(day_key, 0) + 1
            plan.upsert.append(row)
        elif values[0] != closed:
            plan.upsert.append(row)
        elif values[1:] != (row[4], row[5], row[6], row[7], row[8], row[9]):
            plan.update.append(row)
        stored[key] = (closed,)
    closed_after = {t for (t, _), values in stored.items() if values[0]}
    if closed_after == closed_before:
        return
    closed_counts = plan.deltas.closed
    for t in closed_after - closed_before:
        day = (symbol, interval, t - t % DAY_MS)
        closed_counts[day] = closed_counts.get(day, 0) + 1
    for t in closed_before - closed_after:
        day = (symbol, interval, t - t % DAY_MS)
        closed_counts[day] = closed_counts.get(day, 0) - 1


def apply(conn: Connection, deltas: Deltas) -> None:
    """Add ``deltas`` to the day counts (in the transaction that wrote the rows)."""
    if deltas.rows:
        conn.executemany(_ADD_ROWS, [(*key, n) for key, n in deltas.rows.items() if n])
    if deltas.closed:
        conn.executemany(_ADD_CLOSED, [(*key, n) for key, n in deltas.closed.items() if n])
        # A day whose last closed candle turned forming again holds no closed open time: drop its row.
        conn.executemany(_DROP_EMPTY_CLOSED, [key for key, n in deltas.closed.items() if n < 0])


def recount(conn: Connection, symbol: str, interval: str, start: int, end: int) -> None:
    """Recount the days overlapping [start, end) of one series from the stored candles (after a delete)."""
    if end <= start:
        return
    first, after = day_of(start), day_of(end - 1) + DAY_MS
    series = (symbol, interval, first, after)
    conn.execute("DELETE FROM candle_days WHERE symbol = ? AND interval = ? AND day >= ? AND day < ?", series)
    conn.execute(
        "DELETE FROM candle_closed_days WHERE symbol = ? AND interval = ? AND day >= ? AND day < ?", series
    )
    day = f"open_time - open_time % {DAY_MS}"
    where = "symbol = ? AND interval = ? AND open_time >= ? AND open_time < ?"
    conn.execute(
        "INSERT INTO candle_days (symbol, interval, source, day, rows)"
        f" SELECT symbol, interval, source, {day}, COUNT(*) FROM candles WHERE {where}"
        f" GROUP BY symbol, interval, source, {day}",
        series,
    )
    conn.execute(
        "INSERT INTO candle_closed_days (symbol, interval, day, open_times)"
        f" SELECT symbol, interval, {day}, COUNT(DISTINCT open_time) FROM candles"
        f" WHERE {where} AND closed = 1 GROUP BY symbol, interval, {day}",
        series,
    )


def recount_deleted(conn: Connection, deleted: Sequence[tuple[str, str, int]]) -> None:
    """Recount the days of the (symbol, interval, open_time) rows just deleted."""
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    for symbol, interval, t in deleted:
        low, high = spans.get((symbol, interval), (t, t))
        spans[(symbol, interval)] = (min(low, t), max(high, t))
    for (symbol, interval), (low, high) in spans.items():
        recount(conn, symbol, interval, low, high + 1)

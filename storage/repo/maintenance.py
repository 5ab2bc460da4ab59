"""Statistics, retention and upkeep of the database file."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from storage import candle_days
from storage.db import is_busy
from storage.repo.base import RepoBase
from storage.rows import DAY_MS, HOUR_MS, DatabaseStats, PruneResult, SpanStat

log = logging.getLogger(__name__)

OBSERVATION_TABLES = (
    "candles",
    "liquidations",
    "liquidation_hourly",
    "funding",
    "open_interest",
    "fear_greed",
)
STATE_TABLES = (
    "rules",
    "detector_state",
    "alert_state",
    "alert_events",
    "outbox",
    "message_groups",
    "silences",
    "guild_settings",
    "digests",
    "member_notices",
    "instruments",
    "webhook_routes",
    "liqmap_grades",
)
# Outbox statuses that are final: such rows are only history and may be pruned.
FINAL_OUTBOX_STATUSES = ("delivered", "failed", "dropped")


class RetentionPolicy(Protocol):
    """How many days each kind of row is kept (``bot.config.RetentionConfig`` is one)."""

    @property
    def liquidations_days(self) -> int:
        """Return how many days liquidation rows are kept."""

    @property
    def liquidations_hourly_days(self) -> int:
        """Return how many days the hourly liquidation totals are kept."""

    @property
    def candles_1m_days(self) -> int:
        """Return how many days 1m candles are kept."""

    @property
    def candles_other_days(self) -> int:
        """Return how many days candles of the other intervals are kept."""

    @property
    def funding_days(self) -> int:
        """Return how many days funding rates are kept."""

    @property
    def open_interest_days(self) -> int:
        """Return how many days open-interest rows are kept."""

    @property
    def alert_events_days(self) -> int:
        """Return how many days alert events are kept."""

    @property
    def delivered_outbox_days(self) -> int:
        """Return how many days final outbox rows and message groups are kept."""

    @property
    def long_short_days(self) -> int:
        """Return how many days long/short readings are kept."""

    @property
    def implied_vol_days(self) -> int:
        """Return how many days volatility-index candles are kept."""

    @property
    def depth_days(self) -> int:
        """Return how many days order-book depth bands are kept."""

    @property
    def predicted_funding_days(self) -> int:
        """Return how many days predicted funding rates are kept."""

    @property
    def downsample(self) -> bool:
        """Return whether 1m candles are folded into 1h candles before they are deleted."""


# Called after every committed chunk with (table, rows deleted in it); the write lock is free then.
ChunkListener = Callable[[str, int], None]


class MaintenanceMixin(RepoBase):
    """Statistics, retention (prune), vacuum and the health ping."""

    # --- statistics ----------------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Return the database size (SQLite: pages in use, not the WAL; PostgreSQL: the schema's tables)."""
        return self._used_bytes()

    def schema_version(self) -> int:
        """Return the schema version of the database."""
        if self.is_postgres:
            return int(self.conn.execute("SELECT version FROM tripwire_schema").fetchone()[0])
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def stats(self) -> DatabaseStats:
        """Count rows per table and the time span per (table, source, symbol) of observations."""
        rows_per_table = {
            table: int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in OBSERVATION_TABLES + STATE_TABLES
        }
        spans: list[SpanStat] = []
        span_queries = {
            "candles": "SELECT source, symbol || ' ' || interval, COUNT(*), MIN(open_time), MAX(open_time)"
            " FROM candles GROUP BY source, symbol, interval",
            "liquidations": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM liquidations"
            " GROUP BY source, symbol",
            "funding": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM funding"
            " GROUP BY source, symbol",
            "open_interest": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM open_interest"
            " GROUP BY source, symbol",
            "fear_greed": "SELECT source, '-', COUNT(*), MIN(ts), MAX(ts) FROM fear_greed GROUP BY source",
        }
        for table, sql in span_queries.items():
            for source, symbol, count, first, last in self.conn.execute(sql):
                spans.append(SpanStat(table, source, symbol, int(count), first, last))
        return DatabaseStats(rows_per_table, spans, self.schema_version(), self._used_bytes())

    # --- retention and maintenance -------------------------------------------------------------------

    def prune(
        self,
        policy: RetentionPolicy,
        now: int,
        *,
        dry_run: bool = False,
        chunk_rows: int = 5000,
        on_chunk: ChunkListener | None = None,
    ) -> PruneResult:
        """Delete rows older than the policy allows, in chunks of about ``chunk_rows`` per transaction.

        Rules, detector and alert state, Fear & Greed values (one row a day) and pending deliveries are
        never touched. Liquidation rows need no folding: the trigger-kept ``liquidation_hourly`` rollup
        already holds their hourly totals and has its own, longer, retention. With ``policy.downsample``,
        1m candles are folded into 1h candles in the same transaction that deletes them, so no moment
        exists where the hour is missing.
        """
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if self._depth:
            # Inside a caller's transaction every chunk would join it and hold the write lock throughout.
            raise RuntimeError("prune() runs its own short transactions; call it outside transaction()")
        pruner = _Pruner(self, now, dry_run, chunk_rows, on_chunk)
        # Whole hours only: liquidation_totals() reads whole hours from the rollup and the partial hours at
        # a window's ends from raw rows, so an hour must never be half pruned.
        pruner.delete_per_symbol(
            "liquidations", "ts < ?", _floor_hour(now - policy.liquidations_days * DAY_MS)
        )
        pruner.delete_per_symbol(
            "liquidation_hourly", "hour < ?", _floor_hour(now - policy.liquidations_hourly_days * DAY_MS)
        )
        pruner.fold_candles(_floor_hour(now - policy.candles_1m_days * DAY_MS), policy.downsample)
        pruner.delete_other_candles(now - policy.candles_other_days * DAY_MS)
        pruner.delete_per_symbol("funding", "ts < ?", now - policy.funding_days * DAY_MS)
        pruner.delete_per_symbol("open_interest", "ts < ?", now - policy.open_interest_days * DAY_MS)
        # The measured map's rounds (the Hyperliquid sample) are kept as long as open interest is.
        for table in ("measured_positions", "measured_samples"):
            pruner.delete_per_symbol(table, "hour < ?", _floor_hour(now - policy.open_interest_days * DAY_MS))
        # Positioning: each table by its own leading key column (implied volatility is per currency).
        pruner.delete_per_symbol("long_short", "ts < ?", now - policy.long_short_days * DAY_MS)
        pruner.delete_per_symbol("implied_vol", "ts < ?", now - policy.implied_vol_days * DAY_MS, "currency")
        pruner.delete_per_symbol("depth_bands", "ts < ?", now - policy.depth_days * DAY_MS)
        pruner.delete_per_symbol("predicted_funding", "ts < ?", now - policy.predicted_funding_days * DAY_MS)
        # Rows stamped in the future (a broken upstream, or stored before the ingest guard refused them)
        # would otherwise never be pruned and keep driving "the newest row": the spot poll's start, the
        # history's retention. A day ahead is past any clock skew the guard lets in.
        future = now + DAY_MS
        pruner.delete_per_symbol("candles", "open_time > ?", future)
        pruner.delete_per_symbol("liquidations", "ts > ?", _floor_hour(future) + HOUR_MS)
        pruner.delete_per_symbol("liquidation_hourly", "hour > ?", _floor_hour(future) + HOUR_MS)
        pruner.delete_per_symbol("funding", "ts > ?", future)
        pruner.delete_per_symbol("open_interest", "ts > ?", future)
        # The outbox goes before the events, so an event's delivery rows are gone before the event is.
        pruner.delete_outbox(now - policy.delivered_outbox_days * DAY_MS)
        pruner.delete_message_groups(now - policy.delivered_outbox_days * DAY_MS)
        pruner.delete_events(now - policy.alert_events_days * DAY_MS)
        if not dry_run and pruner.chunks:
            self._refresh_statistics()
        return PruneResult(pruner.deleted, pruner.downsampled, dry_run, pruner.chunks)

    def _refresh_statistics(self) -> None:
        """Let the planner refresh its statistics after large deletions; on SQLite, skip it while busy.

        The deletions are committed by then, and statistics are an optimisation the next daily run refreshes.
        SQLite's ``PRAGMA optimize`` reads the schema and then writes ``sqlite_stat1``: when the live bot
        commits in between, the upgrade to a write fails at once with "database is locked", whatever the
        busy timeout, and that must not turn a successful prune into a failed one.
        """
        if self.is_postgres:
            self.conn.execute("ANALYZE")  # takes no lock a writer of rows waits for
            return
        try:
            self.conn.execute("PRAGMA optimize")
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            log.info("retention: planner statistics not refreshed (%s); the next run will", exc)

    def vacuum(self) -> tuple[int, int]:
        """Rebuild the database file to return free pages to the disk; return (bytes before, after)."""
        before = self._used_bytes()
        # VACUUM cannot run inside a transaction; Repo.transaction() is never open here.
        self.conn.execute("VACUUM")
        if self.is_postgres:
            return before, self._used_bytes()
        # In WAL mode VACUUM writes the whole new file through the WAL: checkpoint and truncate it, or the
        # -wal file would keep the size that was just freed.
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self._used_bytes()

    def free_bytes(self) -> int:
        """Return the bytes in free pages (reused by new rows; only VACUUM gives them back to the disk)."""
        if self.is_postgres:
            return 0  # PostgreSQL reuses dead rows' space itself (autovacuum); measuring it needs pgstattuple
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        return free * int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def _used_bytes(self) -> int:
        if self.is_postgres:
            return int(
                self.conn.execute(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                ).fetchone()[0]
            )
        pages = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        return pages * int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def ping(self) -> None:
        """Run a trivial read, raising sqlite3.Error when the database cannot be read."""
        self.conn.execute("SELECT 1 FROM rules LIMIT 1").fetchall()


def _floor_hour(ts: int) -> int:
    return ts - ts % HOUR_MS


# Primary-key columns of the tables pruned row by row (WITHOUT ROWID tables have no rowid to delete by).
_KEYS = {
    "candles": "symbol, interval, open_time, source",
    "liquidations": "symbol, ts, source, side, price, qty",
    "liquidation_hourly": "symbol, hour, source",
    "funding": "symbol, ts, source",
    "open_interest": "symbol, ts, source",
    "measured_positions": "venue, symbol, hour, account",
    "measured_samples": "venue, symbol, hour",
    "long_short": "symbol, metric, source, period, ts",
    "implied_vol": "currency, source, resolution, ts",
    "depth_bands": "symbol, source, band_bp, ts",
    "predicted_funding": "symbol, source, venue, ts",
}


class _Pruner:
    """One prune pass: chunked deletes and folds, each chunk its own short write transaction."""

    def __init__(
        self, repo: RepoBase, now: int, dry_run: bool, chunk_rows: int, on_chunk: ChunkListener | None
    ) -> None:
        self.repo = repo
        self.conn = repo.conn
        self.now = now
        self.dry_run = dry_run
        self.chunk_rows = chunk_rows
        self.on_chunk = on_chunk
        self.deleted: dict[str, int] = {
            t: 0
            for t in (
                "candles",
                "liquidations",
                "liquidation_hourly",
                "funding",
                "open_interest",
                "measured_positions",
                "measured_samples",
                "long_short",
                "implied_vol",
                "depth_bands",
                "predicted_funding",
                "outbox",
                "message_groups",
                "alert_events",
            )
        }
        self.downsampled: dict[str, int] = {"candles": 0}
        self.chunks = 0

    def _committed(self, table: str, rows: int) -> None:
        self.chunks += 1
        self.deleted[table] += rows
        if self.on_chunk is not None:
            self.on_chunk(table, rows)

    def _distinct(
        self, table: str, column: str, where: str = "1 = 1", params: Sequence[Any] = ()
    ) -> list[str]:
        """Return the distinct values of a leading key column by index seeks, not a full scan."""
        values: list[str] = []
        last = ""
        while True:
            row = self.conn.execute(
                f"SELECT MIN({column}) FROM {table} WHERE {where} AND {column} > ?", (*params, last)
            ).fetchone()
            if row[0] is None:
                return values
            last = row[0]
            values.append(last)

    def _delete_limited(self, table: str, where: str, params: Sequence[Any]) -> None:
        """Delete matching rows ``chunk_rows`` at a time (SQLite here has no DELETE ... LIMIT)."""
        key = _KEYS.get(table, "id")
        if self.dry_run:
            count = self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0]
            self.deleted[table] += int(count)
            return
        sql = f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {where} LIMIT ?)"
        if table == "candles":
            # The days the chunk touched are recounted in its transaction (storage/candle_days.py).
            sql += " RETURNING symbol, interval, open_time"
        while True:
            with self.repo.transaction():
                if table == "candles":
                    deleted = self.conn.execute(sql, (*params, self.chunk_rows)).fetchall()
                    candle_days.recount_deleted(self.conn, deleted)
                    removed = len(deleted)
                else:
                    removed = self.conn.execute(sql, (*params, self.chunk_rows)).rowcount
            if removed == 0:
                return
            self._committed(table, removed)
            if removed < self.chunk_rows:
                return

    def delete_per_symbol(self, table: str, where: str, cutoff: int, column: str = "symbol") -> None:
        """Delete old rows symbol by symbol (``column``), so each chunk reads one key prefix."""
        for symbol in self._distinct(table, column):
            self._delete_limited(table, f"{column} = ? AND {where}", (symbol, cutoff))

    def delete_other_candles(self, cutoff: int) -> None:
        """Delete candles of every interval but 1m older than ``cutoff``."""
        for symbol in self._distinct("candles", "symbol"):
            for interval in self._distinct("candles", "interval", "symbol = ?", (symbol,)):
                if interval != "1m":
                    self._delete_limited(
                        "candles", "symbol = ? AND interval = ? AND open_time < ?", (symbol, interval, cutoff)
                    )

    def _fold_windows(
        self, table: str, time_col: str, where: str, symbol: str, cutoff: int
    ) -> Iterator[tuple[int, int]]:
        """Yield [start, end) windows of whole hours before ``cutoff`` that hold rows, oldest first."""
        # About chunk_rows one-minute rows per window (more when several sources write the same symbol).
        span = max(1, self.chunk_rows // 60) * HOUR_MS
        start_from = -(2**62)
        while True:
            first = self.conn.execute(
                f"SELECT MIN({time_col}) FROM {table} WHERE symbol = ? AND {where}"
                f" AND {time_col} >= ? AND {time_col} < ?",
                (symbol, start_from, cutoff),
            ).fetchone()[0]
            if first is None:
                return
            start = _floor_hour(int(first))
            end = min(cutoff, start + span)
            yield start, end
            start_from = end

    def fold_candles(self, cutoff: int, downsample: bool) -> None:
        """Delete 1m candles before ``cutoff`` (an hour boundary), first writing their 1h candles."""
        minute = "symbol = ? AND interval = '1m'"
        for symbol in self._distinct("candles", "symbol"):
            if self.dry_run:
                count = self.conn.execute(
                    f"SELECT COUNT(*) FROM candles WHERE {minute} AND open_time < ?", (symbol, cutoff)
                )
                self.deleted["candles"] += int(count.fetchone()[0])
                if downsample:
                    folds = self.conn.execute(_COUNT_CANDLE_FOLDS, (symbol, cutoff)).fetchone()[0]
                    self.downsampled["candles"] += int(folds)
                continue
            delete = f"DELETE FROM candles WHERE {minute} AND open_time >= ? AND open_time < ?"
            for start, end in list(
                self._fold_windows("candles", "open_time", "interval = '1m'", symbol, cutoff)
            ):
                with self.repo.transaction():
                    if downsample:
                        self.downsampled["candles"] += self.conn.execute(
                            _FOLD_CANDLES, (symbol, start, end)
                        ).rowcount
                    removed = self.conn.execute(delete, (symbol, start, end)).rowcount
                    # Whole days around the window are recounted from what is left (1m) and folded (1h).
                    candle_days.recount(self.conn, symbol, "1m", start, end)
                    if downsample:
                        candle_days.recount(self.conn, symbol, "1h", start, end)
                self._committed("candles", removed)

    def delete_outbox(self, cutoff: int) -> None:
        """Delete final deliveries older than ``cutoff``, keeping pending ones and open alerts' messages."""
        statuses = ",".join(f"'{s}'" for s in FINAL_OUTBOX_STATUSES)
        open_alerts = (
            "SELECT last_event_id FROM alert_state WHERE status != 'resolved' AND last_event_id IS NOT NULL"
        )
        self._delete_limited(
            "outbox",
            f"status IN ({statuses}) AND COALESCE(delivered_at, created_at) < ?"
            # A firing alert's message is edited when it resolves: keep the row holding its message id.
            f" AND (event_id IS NULL OR event_id NOT IN ({open_alerts}))"
            # An edit re-renders every row a grouped message holds: keep a group's rows while one is kept.
            " AND (group_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox k WHERE k.group_id = outbox.group_id"
            f" AND (k.status NOT IN ({statuses}) OR COALESCE(k.delivered_at, k.created_at) >= ?"
            f" OR k.event_id IN ({open_alerts}))))",
            (cutoff, cutoff),
        )

    def delete_message_groups(self, cutoff: int) -> None:
        """Delete message groups older than ``cutoff`` that no longer hold any outbox row."""
        self._delete_limited(
            "message_groups",
            "created_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.group_id = message_groups.id)",
            (cutoff,),
        )

    def delete_events(self, cutoff: int) -> None:
        """Delete alert events older than ``cutoff``, keeping each alert's last event and undelivered ones."""
        self._delete_limited(
            "alert_events",
            "at < ? AND id NOT IN (SELECT last_event_id FROM alert_state WHERE last_event_id IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = alert_events.id"
            " AND o.status = 'pending')",
            (cutoff,),
        )


# One 1h candle per (source, hour) from that hour's 1m candles: first open, last close, extremes, summed
# volumes. An hour with missing minutes (the bot was down) is folded from what exists. A 1h candle the
# source already provided is kept as it is (DO NOTHING): the exchange's own bar is the better one.
_FOLD_CANDLES = f"""
INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed)
SELECT g.symbol, '1h', g.hour, g.source,
    (SELECT o FROM candles f WHERE f.symbol = g.symbol AND f.interval = '1m' AND f.open_time = g.first_t
        AND f.source = g.source),
    g.h, g.l,
    (SELECT c FROM candles f WHERE f.symbol = g.symbol AND f.interval = '1m' AND f.open_time = g.last_t
        AND f.source = g.source),
    g.volume, g.quote_volume, 1
FROM (
    SELECT symbol, source, open_time - open_time % {HOUR_MS} AS hour, MIN(open_time) AS first_t,
        MAX(open_time) AS last_t, MAX(h) AS h, MIN(l) AS l, SUM(volume) AS volume,
        SUM(quote_volume) AS quote_volume
    FROM candles
    WHERE symbol = ? AND interval = '1m' AND open_time >= ? AND open_time < ?
    GROUP BY symbol, source, hour
) AS g
WHERE true
ON CONFLICT (symbol, interval, open_time, source) DO NOTHING
"""

# Dry run: the hours a fold would write (candle hours the source has no 1h candle for yet).
_COUNT_CANDLE_FOLDS = f"""
SELECT COUNT(*) FROM (
    SELECT 1 FROM candles m
    WHERE m.symbol = ? AND m.interval = '1m' AND m.open_time < ?
        AND NOT EXISTS (SELECT 1 FROM candles x WHERE x.symbol = m.symbol AND x.interval = '1h'
            AND x.open_time = m.open_time - m.open_time % {HOUR_MS} AND x.source = m.source)
    GROUP BY m.source, m.open_time / {HOUR_MS}
) AS folds
"""

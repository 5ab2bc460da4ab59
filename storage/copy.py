"""Copy a whole Tripwire database to another one, either way between SQLite and PostgreSQL.

Everything is copied as it is, ids included: rules, alert state, the alert history, the outbox with each
row's status, attempts and Discord message id, the message groups (whose id and creation time make the
nonce of their first send, and whose ``attempted_at`` decides whether a re-send looks for the message
first), silences, settings, digests, notices, instruments, webhook routes and the observations (not the
ephemeral ``NOT_COPIED``). A bot started on the copy therefore sees delivered rows as delivered and
pending ones as pending: nothing is posted twice and nothing is lost. The tables share their columns and
order on both backends (a test checks it), so rows go across as tuples.

The source is read in one transaction (a consistent snapshot) and the target written in one (all or
nothing); the target must be empty, at the same schema version. Stop the bot before copying: rows it
writes after the snapshot would not be in the copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from storage.dialect import GENERATED_ID_TABLES
from storage.migration_files import DatabaseError
from storage.postgres import PgConnection
from storage.repo import OBSERVATION_TABLES, STATE_TABLES, Repo

# Parents before children (foreign keys): rules before their state and webhook routes, events before
# the outbox rows naming them, message groups before the outbox rows they hold.
COPY_ORDER = (
    *OBSERVATION_TABLES,
    # The candles' per-day counts, copied as they are (the candles are copied as rows, not re-upserted).
    "candle_days",
    "candle_closed_days",
    "long_short",
    "implied_vol",
    "depth_bands",
    "etf_flows",
    "predicted_funding",
    "rules",
    "detector_state",
    "alert_state",
    "alert_events",
    "message_groups",
    "outbox",
    "silences",
    "guild_settings",
    "digests",
    "member_notices",
    "instruments",
    "webhook_routes",
    "liqmap_grades",
    "measured_positions",
    "measured_samples",
)
# Tables left behind on purpose: what is rewritten every few seconds by a running bot and means nothing to
# another one (the market role's feed-health report: the bot started on the copy writes its own).
NOT_COPIED = ("feed_health",)
BATCH_ROWS = 2000

# Called after each table with (table, rows copied).
TableListener = Callable[[str, int], None]


def _count(repo: Repo, table: str) -> int:
    return int(repo.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@contextmanager
def _snapshot(source: Repo) -> Iterator[None]:
    """Read the source in one transaction that sees one moment (and blocks no one on PostgreSQL)."""
    if isinstance(source.conn, PgConnection):
        with source.conn.raw.transaction():
            source.conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
        return
    source.conn.execute("BEGIN")  # deferred: a SQLite read transaction is a snapshot in WAL mode
    try:
        yield
    finally:
        source.conn.execute("COMMIT")


def _rows(source: Repo, table: str) -> Iterator[list[Any]]:
    """Yield the table's rows in batches, streaming (a server-side cursor on PostgreSQL)."""
    if isinstance(source.conn, PgConnection):
        with source.conn.raw.cursor(name=f"copy_{table}") as cursor:
            cursor.execute(f"SELECT * FROM {table}")
            while fetched := cursor.fetchmany(BATCH_ROWS):
                yield fetched
        return
    batch: list[Any] = []
    for row in source.conn.execute(f"SELECT * FROM {table}"):
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def tables(repo: Repo) -> set[str]:
    """Return the names of Tripwire's tables in ``repo`` (not the schema version's)."""
    if isinstance(repo.conn, PgConnection):
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name <> 'tripwire_schema'"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    return {str(row[0]) for row in repo.conn.execute(sql)}


def _check_copyable(source: Repo, target: Repo) -> None:
    # A table a later migration adds must be named here, or its rows would silently stay behind.
    missing = (tables(source) | set(OBSERVATION_TABLES + STATE_TABLES)) - set(COPY_ORDER + NOT_COPIED)
    if missing:
        raise RuntimeError(f"tables missing from storage.copy.COPY_ORDER: {sorted(missing)}")
    if source.schema_version() != target.schema_version():
        raise DatabaseError(
            f"the source is at schema v{source.schema_version()} and the target at "
            f"v{target.schema_version()}; run `tripwire db migrate` on both first"
        )
    filled = [table for table in COPY_ORDER if _count(target, table)]
    if filled:
        raise DatabaseError(
            f"the target already holds rows ({', '.join(filled)}); copy into an empty database only, "
            "so no alert, rule or delivery is duplicated or mixed with another bot's"
        )


def _reset_id_sequences(target: Repo) -> None:
    """Make PostgreSQL's next generated ids follow the copied ones (SQLite's AUTOINCREMENT does itself)."""
    if not isinstance(target.conn, PgConnection):
        return
    for table in sorted(GENERATED_ID_TABLES):
        target.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )


def copy_database(source: Repo, target: Repo, *, on_table: TableListener | None = None) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; return the rows copied per table."""
    _check_copyable(source, target)
    copied: dict[str, int] = {}
    with _snapshot(source), target.transaction():
        for table in COPY_ORDER:
            copied[table] = 0
            for batch in _rows(source, table):
                marks = ",".join("?" * len(batch[0]))
                target.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)
                copied[table] += len(batch)
            if on_table is not None:
                on_table(table, copied[table])
        _reset_id_sequences(target)
    short = {table: n for table, n in copied.items() if _count(target, table) != n}
    if short:
        raise DatabaseError(f"the copy does not hold what was read: {short}")
    return copied

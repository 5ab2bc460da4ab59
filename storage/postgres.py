"""Open a PostgreSQL database for Tripwire: the same ``Repo`` over psycopg 3, migrated like SQLite.

psycopg 3's synchronous API, not asyncpg: the ``Repo`` is synchronous and is called from worker threads
off the event loop (``asyncio.to_thread``) as with SQLite, so a blocking driver fits it as it is; asyncpg
is async-only and would turn every repository method and its callers into coroutines.

``PgConnection`` gives psycopg the few sqlite3 ``Connection`` manners the repository relies on
(``execute`` returning a cursor with ``rowcount`` and ``lastrowid``, ``executemany``, ``total_changes``),
rewriting each statement's spelling once (``storage.dialect.postgres_sql``). It runs in autocommit mode
and the repository opens its transactions explicitly (``BEGIN``, savepoints), as it does on SQLite.

The schema version is the one row of ``tripwire_schema``; migrations are the files of
``storage/migrations/postgresql``, numbered and named as the SQLite ones (a test checks they match), each
applied in its own transaction under an advisory lock, so two processes starting together migrate once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader

from storage.dialect import POSTGRES, PostgresDialect, postgres_sql
from storage.migration_files import DatabaseError, migration_files
from storage.pg_url import URL_SCHEMES as URL_SCHEMES  # re-exported
from storage.pg_url import is_postgres_url as is_postgres_url
from storage.pg_url import redact as redact

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held while migrating (any constant; "TRIPWIRE" in ASCII).
MIGRATION_LOCK = 0x5452495057495245
# What PostgreSQL raises for a row a constraint refuses (SQLite's INSERT OR IGNORE skips it instead).
REFUSED_ROW = psycopg.errors.IntegrityError
# PostgreSQL's limit on bound parameters in one statement (a 16-bit count in the protocol).
MAX_PARAMETERS = 65535


# Session settings of every Tripwire connection: the server probes an idle peer after 3 s, every 1 s, and
# ends its session after 3 unanswered probes (PostgreSQL's tcp_keepalives_*; a user may set them for a
# session), instead of the two hours of the usual system default. For the lease (storage.lease) it bounds
# a takeover after the leader's host vanished; for the repository's connection it bounds how long such a
# leader's session, caught inside a transaction, keeps the rows it locked from the leader that follows.
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 3, "tcp_keepalives_interval": 1, "tcp_keepalives_count": 3}


def ask_for_short_keepalives(conn: psycopg.Connection[Any]) -> None:
    """Set ``SERVER_KEEPALIVES`` on an autocommit connection's session (no-ops over a Unix socket)."""
    for name, value in SERVER_KEEPALIVES.items():
        conn.execute(f"SET {name} = {int(value):d}")  # SET takes no bound parameters


class _BoolAsIntDumper(Dumper):
    """Send Python bools as 0/1 integers: flag columns are integers, as in SQLite."""

    oid = psycopg.postgres.types["int2"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """Read NUMERIC (what SUM of integers gives) as int when whole, else float, as SQLite returns them."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class PgCursor:
    """The result of one statement, with sqlite3's ``rowcount`` and ``lastrowid``."""

    def __init__(self, cursor: psycopg.Cursor[Any], lastrowid: int | None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Any:
        """Return the next row, or None."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        """Return every remaining row."""
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the remaining rows."""
        return iter(self._cursor)


def _params(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return parameters
    return tuple(parameters)


class PgConnection:
    """A psycopg connection speaking to the repository the way a sqlite3 connection does."""

    dialect: PostgresDialect = POSTGRES

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        # Rows changed by INSERT/UPDATE/DELETE since the connection opened (sqlite3's total_changes).
        self.total_changes = 0

    def execute(self, sql: str, parameters: Any = (), /) -> PgCursor:
        """Run one statement; return its cursor."""
        text, wants_id = postgres_sql(sql)
        cursor = self.raw.execute(text, _params(parameters))
        lastrowid = None
        if wants_id:
            row = cursor.fetchone()
            lastrowid = int(row[0]) if row else None
        if cursor.rowcount > 0 and (cursor.statusmessage or "").startswith(("INSERT", "UPDATE", "DELETE")):
            self.total_changes += cursor.rowcount
        return PgCursor(cursor, lastrowid)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> PgCursor:
        """Run one statement once per parameter set; ``rowcount`` is the total changed."""
        text, _ = postgres_sql(sql)
        batch = [_params(p) for p in seq_of_parameters]
        with self.raw.cursor() as cursor:
            if batch:
                cursor.executemany(text, batch)
            self.total_changes += max(cursor.rowcount, 0)
            return PgCursor(cursor, None)

    def getlimit(self, category: int, /) -> int:
        """Return the most parameters one statement may bind (sqlite3's SQLITE_LIMIT_VARIABLE_NUMBER)."""
        return MAX_PARAMETERS

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


@dataclass
class PgDatabase:
    """An open PostgreSQL database: what ``storage.db.open_database`` returns for a postgresql:// URL."""

    conn: PgConnection
    url: str


@dataclass(frozen=True, slots=True)
class PgMigration:
    """One numbered schema change, in PostgreSQL's dialect."""

    version: int
    name: str
    sql: str


def load_pg_migrations() -> tuple[PgMigration, ...]:
    """Return the PostgreSQL migrations, ordered by version."""
    return tuple(PgMigration(v, n, text) for v, n, text in migration_files("storage.migrations.postgresql"))


def connect(url: str) -> PgConnection:
    """Open an autocommit connection with the adapters that make PostgreSQL's values read like SQLite's."""
    # Prepared from the first use: the repository repeats a few hundred statements (bench.backends).
    raw = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    ask_for_short_keepalives(raw)
    raw.adapters.register_dumper(bool, _BoolAsIntDumper)
    raw.adapters.register_loader("numeric", _NumericLoader)
    return PgConnection(raw)


def schema_version(conn: PgConnection) -> int:
    """Return the schema version of the database (0: Tripwire never migrated it)."""
    exists = conn.raw.execute("SELECT to_regclass('tripwire_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.raw.execute("SELECT version FROM tripwire_schema").fetchone()
    return int(row[0]) if row else 0


def _statements(sql: str) -> Sequence[str]:
    """Return the statements of a migration file (they end with ';' at a line's end; none contain one)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [part.strip() for part in body.split(";\n") if part.strip().strip(";")]


def migrate(conn: PgConnection, where: str) -> list[int]:
    """Apply pending PostgreSQL migrations in order; return the versions applied."""
    applied: list[int] = []
    migrations = load_pg_migrations()
    for migration in migrations:
        with conn.raw.transaction():
            # Two processes starting at once: the second waits here, then finds the work done.
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            current = schema_version(conn)
            if current > len(migrations):
                raise DatabaseError(
                    f"{where} has schema version {current}, newer than this Tripwire understands; "
                    "upgrade Tripwire. The database was not modified."
                )
            if migration.version <= current:
                continue
            for statement in _statements(migration.sql):
                conn.raw.execute(statement.rstrip(";"))
            conn.raw.execute("CREATE TABLE IF NOT EXISTS tripwire_schema (version INTEGER NOT NULL)")
            conn.raw.execute("DELETE FROM tripwire_schema")
            conn.raw.execute("INSERT INTO tripwire_schema (version) VALUES (%s)", (migration.version,))
        applied.append(migration.version)
        log.info("migrated %s to schema v%d (%s)", where, migration.version, migration.name)
    return applied


def open_postgres(url: str, *, migrate_schema: bool = True) -> PgDatabase:
    """Connect to ``url`` and bring its schema up to date (or only check it)."""
    where = redact(url)
    try:
        conn = connect(url)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {where}: {str(exc).strip()}") from exc
    try:
        if migrate_schema:
            migrate(conn, where)
        else:
            version = schema_version(conn)
            if version > len(load_pg_migrations()):
                raise DatabaseError(f"{where} has schema version {version}, newer than this Tripwire")
    except Exception:
        conn.close()
        raise
    return PgDatabase(conn, url)

"""Open Tripwire's SQLite database safely and bring its schema up to date.

The schema version lives in ``PRAGMA user_version``; migrations are the numbered ``NNNN_name.sql`` files
in ``storage/migrations``, applied in order, each in its own transaction. A file that is not a SQLite
database, is corrupt, or was written by a newer Tripwire is refused and never modified.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storage.migration_files import DatabaseError as DatabaseError  # re-exported: callers catch it from here
from storage.migration_files import migration_files
from storage.pg_url import is_postgres_url
from storage.sqlite_utils_lib import sqlite_utils

if TYPE_CHECKING:
    from storage.postgres import PgDatabase

log = logging.getLogger(__name__)


def database_errors() -> tuple[type[Exception], ...]:
    """Return what either database raises for its own trouble, as opposed to a bug in the caller.

    Locks, lost connections, constraints: the engine retries a pass that met one instead of blaming a rule.
    psycopg's errors are among them once psycopg is loaded (it is, by opening a PostgreSQL database):
    a bot on SQLite never imports it (``bench.memory``, issue 24), and then none can be raised.
    """
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error,) if psycopg is None else (sqlite3.Error, psycopg.Error)


SQLITE_HEADER = b"SQLite format 3\x00"
# The database and every copy of it: readable and writable by the bot's user only.
PRIVATE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def is_busy(exc: BaseException) -> bool:
    """Return whether the database failed because another connection holds a lock (it will be free later).

    SQLite: the write lock (``database is locked``); PostgreSQL: a row lock held past ``lock_timeout``.
    """
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.errors.LockNotAvailable):
        return True
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and (
        "database is locked" in text or "database is busy" in text
    )


def load_migrations() -> tuple[Migration, ...]:
    """Return every bundled SQLite migration, ordered by version, checking the numbering has no gaps."""
    return tuple(Migration(v, n, sql) for v, n, sql in migration_files("storage.migrations"))


def latest_version() -> int:
    """Return the schema version this Tripwire writes."""
    return len(load_migrations())


def _check_file_is_sqlite(path: Path) -> None:
    """Refuse a non-empty file that does not start with SQLite's header, before sqlite3 touches it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DatabaseError(
            f"{path} is not a SQLite database (wrong file header); refusing to touch it. "
            "Point storage.path at another file or move this one away."
        )


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a connection with the pragmas Tripwire relies on (WAL, foreign keys, busy timeout)."""
    target = str(path)
    if target != ":memory:":
        _check_file_is_sqlite(Path(target))
    # isolation_level=None: transactions are explicit (BEGIN/COMMIT in Repo.transaction), so a half
    # applied state change can never be committed implicitly by the sqlite3 module.
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
        # Refuse a newer schema before any pragma below rewrites the file header (WAL mode does).
        check_version(conn, target)
        if target != ":memory:":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("SQLite refused WAL mode for %s (got %s); continuing", target, mode)
        # NORMAL is safe in WAL mode: a power cut can lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
    except DatabaseError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(
            f"{target} is corrupt or not a SQLite database ({exc}); refusing to touch it"
        ) from exc
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the database's ``user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection, where: str) -> int:
    """Return the schema version, refusing a database written by a newer Tripwire."""
    version = schema_version(conn)
    newest = latest_version()
    if version > newest:
        raise DatabaseError(
            f"{where} has schema version {version}, newer than this Tripwire understands ({newest}); "
            "upgrade Tripwire or point storage.path at another file. The file was not modified."
        )
    return version


def create_private(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (0600), unless it exists already.

    The database holds member ids and members' personal alerts: it must not be world-readable whatever
    the umask (issue 17, finding 12). SQLite creates the WAL and shared-memory files with the database
    file's own permissions (os_unix.c, findCreateFileMode), so they follow.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, PRIVATE_MODE)  # the umask may have removed bits, never added; this is exact anyway


def check_database_path(path: Path) -> None:
    """Refuse a database path that is a directory or whose directory does not exist, in one line."""
    if path.is_dir():
        raise DatabaseError(
            f"{path} is a directory, not a database file; name a file, e.g. {path / 'tripwire.db'}"
        )
    if not path.parent.is_dir():
        # Creating directories silently would hide a typo in storage.path or --db (issue 17, finding 11).
        raise DatabaseError(f"cannot create {path}: the directory {path.parent} does not exist")


def _backup_before_migrating(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """Copy the database aside before changing an existing schema, so a failed upgrade loses nothing."""
    backup = path.with_name(f"{path.name}.v{version}.bak")
    create_private(backup)
    with sqlite3.connect(str(backup)) as dest:
        conn.backup(dest)
    dest.close()
    return backup


def migrate(
    conn: sqlite3.Connection,
    where: str = "database",
    *,
    backup_path: Path | None = None,
    up_to: int | None = None,
) -> list[int]:
    """Apply pending migrations in order (those up to version ``up_to``, if given); return those applied."""
    recorded = check_version(conn, where)
    current = recorded
    pending = [m for m in load_migrations() if current < m.version and (up_to is None or m.version <= up_to)]
    if pending and recorded > 0 and backup_path is not None:
        saved = _backup_before_migrating(conn, backup_path, recorded)
        log.info("backed up %s (schema v%d) to %s before migrating", where, current, saved)
    applied: list[int] = []
    for migration in pending:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_statements(migration.sql):
                conn.execute(statement)
            # PRAGMA does not accept bound parameters; the version is an int we produced.
            conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
        log.log(
            logging.DEBUG if where == ":memory:" else logging.INFO,
            "migrated %s to schema v%d (%s)",
            where,
            migration.version,
            migration.name,
        )
    return applied


def _split_statements(sql: str) -> list[str]:
    """Split a migration script into statements (executescript would commit the open transaction)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError(f"migration ends with an incomplete statement: {buffer.strip()[:80]!r}")
    return statements


def open_database(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database | PgDatabase:
    """Open (creating if needed) the database at ``path``, migrated to the latest schema.

    ``path`` is a SQLite file (or ":memory:"), or a ``postgresql://`` URL (``storage.postgres``).
    """
    if is_postgres_url(path):
        from storage.postgres import open_postgres  # psycopg, loaded only for PostgreSQL

        return open_postgres(str(path), migrate_schema=migrate_schema)
    return open_sqlite(path, migrate_schema=migrate_schema)


def open_sqlite(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite database at ``path``, migrated to the latest schema."""
    target = Path(path) if str(path) != ":memory:" else None
    if target is not None:
        check_database_path(target)
        create_private(target)
    conn = connect(path)
    where = str(path)
    try:
        if migrate_schema:
            migrate(conn, where, backup_path=target)
        else:
            check_version(conn, where)
    except Exception:
        conn.close()
        raise
    return sqlite_utils.Database(conn)

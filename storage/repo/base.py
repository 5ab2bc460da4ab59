"""The connection and transaction every family of the repository works through, and shared helpers."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from storage.changes import PUBLISH_SQL, channel_name, publish_args
from storage.connection import Connection
from storage.dialect import POSTGRES, SQLITE, Dialect
from storage.sqlite_utils_lib import sqlite_utils

if TYPE_CHECKING:
    from storage.postgres import PgDatabase


def lo(start: int | None) -> int:
    """Return ``start``, or a time before any stored one when None."""
    return start if start is not None else -(2**62)


def hi(end: int | None) -> int:
    """Return ``end``, or a time after any stored one when None."""
    return end if end is not None else 2**62


def event_matchers(
    clauses: list[str],
    params: list[Any],
    equals: Iterable[tuple[str, Any]],
    since: int | None,
    until: int | None,
) -> None:
    """Add to an alert-event query ``column = ?`` for each given value and the bounds since <= at < until."""
    for column, value in equals:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("at < ?")
        params.append(until)


def _main_file(conn: sqlite3.Connection) -> str:
    """Return the path of the connection's main database file ("" in memory)."""
    for _seq, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file or "")
    return ""


def _identity(path: str) -> tuple[int, int] | None:
    """Return (device, inode) of ``path``, or None when there is no file there."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class RepoBase:
    """One database connection and its (nestable) transactions; each table family is a mixin over it."""

    def __init__(self, db: sqlite_utils.Database | PgDatabase) -> None:
        self.db = db
        self.conn: Connection = db.conn
        # What the queries' dialect-specific fragments are written in (storage.dialect).
        # Either a SQLite database or a PostgreSQL one (storage.postgres, not imported on SQLite).
        self.is_postgres = not isinstance(db, sqlite_utils.Database)
        self.dialect: Dialect = POSTGRES if self.is_postgres else SQLITE
        self._depth = 0
        # Called before every outermost COMMIT; raising rolls the transaction back. A market leader sets it
        # to check its lease (bot.ops.leadership), so a process that lost the lease commits nothing more.
        self.fence: Callable[[], None] | None = None
        # Guild settings as stored, by guild (None: none stored). Every alert routed to a guild's default
        # channel and every alert delivery (charts on alerts?) asks for them, and only this Repo writes
        # them: forgotten on every save and on every rollback.
        self._guild_settings_rows: dict[int, tuple[Any, ...] | None] = {}
        # The file this connection opened and its identity (device, inode) then: a file deleted or replaced
        # under a running bot keeps being written through the open descriptor, and is lost at the next
        # start (issue 17, finding 7). Empty for an in-memory database.
        # The NOTIFY channel other processes listen on (storage.changes); None on SQLite (one process).
        self._changes_channel: str | None = None
        if not isinstance(db, sqlite_utils.Database):
            row = self.conn.execute("SELECT current_schema()").fetchone()
            self._changes_channel = channel_name(str(row[0]) if row else "")
            self._busy_timeout_ms = 0
            self.path = ""
            self._identity = None
            return
        self._busy_timeout_ms = int(self.conn.execute("PRAGMA busy_timeout").fetchone()[0])
        self.path = _main_file(db.conn)
        self._identity = _identity(self.path) if self.path else None

    def sqlite_connection(self) -> sqlite3.Connection:
        """Return the SQLite connection, for SQLite-only tools (backup, EXPLAIN QUERY PLAN, migrate)."""
        if not isinstance(self.conn, sqlite3.Connection):
            raise TypeError("this Repo is on PostgreSQL; the operation needs SQLite")
        return self.conn

    def file_problem(self) -> str | None:
        """Return what is wrong with the database file on disk (deleted, replaced), or None if it is ours."""
        if not self.path or self._identity is None:
            return None
        now = _identity(self.path)
        if now is None:
            return f"the database file {self.path} was deleted; what is written now is lost at the next start"
        if now != self._identity:
            return (
                f"the database file {self.path} was replaced by another file; this process writes the old one"
            )
        return None

    def publish_change(self, kind: str, key: str | int | None) -> None:
        """Tell the bot's other processes that a rule, silence or setting changed (storage.changes).

        Inside a transaction PostgreSQL delivers it at commit, and drops it on a rollback. No-op on SQLite.
        """
        if self._changes_channel is not None:
            self.conn.execute(PUBLISH_SQL, publish_args(self._changes_channel, kind, key))

    # --- transactions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically; nested calls join the outer transaction through a savepoint."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
            if self._depth == 1 and self.fence is not None:
                self.fence()
        except BaseException:
            self._depth -= 1
            self._guild_settings_rows.clear()  # they may hold a write that is being undone
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute(f"RELEASE sp{self._depth}")

    def set_busy_timeout(self, ms: int) -> None:
        """Set how long a statement waits for another connection's write lock before failing."""
        if self.is_postgres:
            # PostgreSQL locks rows, not the database: this bounds the wait for one of them.
            self.conn.execute(f"SET lock_timeout = {int(ms):d}")
            self._busy_timeout_ms = int(ms)
            return
        self.conn.execute(f"PRAGMA busy_timeout = {int(ms):d}")  # PRAGMA takes no bound parameters
        self._busy_timeout_ms = int(ms)

    def try_begin_write(self) -> bool:
        """Open a write transaction if no other connection holds the write lock now; never wait for it.

        Returns False when the lock is taken (SQLITE_BUSY), so an async caller can wait for it without
        blocking its event loop (``storage.writegate``). Inside a transaction already, it joins it.
        """
        if self._depth > 0:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
            self._depth += 1
            return True
        if self.is_postgres:
            # No database-wide write lock to wait for: writers only wait for the rows they both change.
            self.conn.execute("BEGIN")
            self._depth = 1
            return True
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "database is locked" in str(exc) or "database is busy" in str(exc):
                return False  # SQLITE_BUSY: another connection holds the write lock
            raise
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
        self._depth = 1
        return True

    def end_write(self, commit: bool) -> None:
        """Commit (or roll back) the transaction ``try_begin_write`` opened."""
        if commit and self._depth == 1 and self.fence is not None:
            try:
                self.fence()
            except BaseException:
                self.end_write(commit=False)
                raise
        self._depth -= 1
        if not commit:
            self._guild_settings_rows.clear()
        if self._depth == 0:
            self.conn.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            self.conn.execute(f"RELEASE sp{self._depth}")
        else:
            self.conn.execute(f"ROLLBACK TO sp{self._depth}")
            self.conn.execute(f"RELEASE sp{self._depth}")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.conn.close()

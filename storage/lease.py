"""A leadership lease on PostgreSQL: a session advisory lock held on a connection of its own.

Whoever holds the lock leads; PostgreSQL releases it by itself when the holder's session ends (the
process dies, its connection drops, the server terminates it), so a standby that keeps trying takes over
without anyone having to notice the death first. The lock is the session's, so it needs a connection that
nothing else uses: the repository's connection runs transactions and may be replaced, the lease's never.

The key is derived from the schema and the lease's name, so two bots sharing one database in two schemas
(and tests running in parallel, one schema each) never take each other's lease. The market role's leader
election (``bot.ops.leadership``) is built on it.

A holder whose host vanishes (power, network) sends no FIN: the server only ends its session once TCP
keepalive gives up on it. The lease's session asks the server for short keepalives (``SERVER_KEEPALIVES``:
about 6 s to notice a silent peer) instead of the server's default of two hours, so a standby can take
over within seconds of the network going, not hours.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from typing import Any

import psycopg

from storage.postgres import ask_for_short_keepalives, redact

log = logging.getLogger(__name__)


def lease_key(schema: str, name: str) -> int:
    """Return the signed 64-bit advisory-lock key of lease ``name`` in ``schema`` (stable across runs)."""
    digest = hashlib.blake2b(f"{schema}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLease:
    """Try to take, check and give back one named lease (``pg_try_advisory_lock``), never waiting."""

    def __init__(self, url: str, name: str, *, connect_timeout: int = 5) -> None:
        self.url = url
        self.name = name
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._key: int | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
            ask_for_short_keepalives(self._conn)
            row = self._conn.execute("SELECT current_schema()").fetchone()
            self._key = lease_key(str(row[0]) if row else "", self.name)
        return self._conn

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it (True also when this lease holds it already)."""
        if self.held():
            return True
        try:
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.OperationalError as exc:
            log.warning("lease %s: cannot reach %s (%s)", self.name, redact(self.url), str(exc).strip())
            self._drop()
            return False
        return bool(row and row[0])

    def held(self) -> bool:
        """Return whether this lease holds the lock now (False once its session is gone)."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objsubid = 1"
                # A bigint key is kept as its high and low 32 bits (pg_locks, advisory locks).
                " AND ((classid::bigint << 32) | objid::bigint) = %s",
                (self._key,),
            ).fetchone()
        except psycopg.OperationalError:
            self._drop()  # the session is gone, and the lock with it
            return False
        return bool(row and row[0])

    def release(self) -> None:
        """Give the lease back (ending the session releases it too) and close the connection."""
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(psycopg.OperationalError):  # the session is gone: so is the lock
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._drop()

    @property
    def key(self) -> int | None:
        """Return the lock's key (None until the lease first reached the server)."""
        return self._key

    def end_sessions_named(self, application_name: str, *, within_s: float = 10.0) -> int:
        """End every other session of this database named ``application_name``; return how many were ended.

        Waits (up to ``within_s``) until they are gone: a transaction of theirs is rolled back, and a
        COMMIT they send afterwards fails.
        """
        conn = self._connection()
        where = " FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"
        ended = conn.execute(
            f"SELECT count(pg_terminate_backend(pid)){where} AND pid <> pg_backend_pid()", (application_name,)
        ).fetchone()
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            left = conn.execute(f"SELECT count(*){where} AND pid <> pg_backend_pid()", (application_name,))
            row = left.fetchone()
            if not row or not row[0]:
                break
            time.sleep(0.02)
        return int(ended[0]) if ended else 0

    def backend_pid(self) -> int | None:
        """Return the server process id of the lease's session (for operators and tests), or None."""
        if self._conn is None or self._conn.closed:
            return None
        return int(self._conn.info.backend_pid)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class SharedCountLease(AdvisoryLease):
    """Hold a shared lock saying "``count`` is in use under ``name``", refused while another count is.

    Discord clusters split the guilds by ``(guild_id >> 22) % shard_count``, and each shard's lease is named
    after its count: clusters started with two different counts (one host relaunched after Discord
    recommended more shards, the others still on the old count) would take different leases and each
    deliver the rows of guilds they both hold. Every cluster holds this lock with its count; shared locks
    never conflict, so the count in use is read from ``pg_locks`` and a cluster with another count waits.

    The lock is the two-key form ``(class, count)``: ``pg_locks`` shows the count itself as ``objid``
    (``objsubid`` 2), which the single 64-bit key's hash would hide.
    """

    def __init__(self, url: str, name: str, count: int, *, connect_timeout: int = 5) -> None:
        if not 0 <= count < 2**31:
            raise ValueError(f"a shared count must fit in 31 bits, not {count}")
        super().__init__(url, name, connect_timeout=connect_timeout)
        self.count = count
        self.other_counts: list[int] = []  # what try_acquire found in use instead, for the caller's message

    def _class_key(self) -> int:
        self._connection()
        assert self._key is not None
        return self._key & 0x7FFFFFFF  # non-negative: pg_locks shows it as an oid (unsigned)

    def try_acquire(self) -> bool:
        """Hold the lock with this count unless another count is held (True also when held already)."""
        if self.held():
            return True
        try:
            conn = self._connection()
            key = self._class_key()
            conn.execute(
                "SELECT pg_advisory_lock_shared(%s::int, %s::int)", (key, self.count)
            )  # only shared: never waits
            self.other_counts = [
                int(row[0])
                for row in conn.execute(
                    "SELECT DISTINCT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objsubid = 2 AND classid = %s::bigint::oid AND objid <> %s::bigint::oid"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    (key, self.count),
                )
            ]
            if self.other_counts:
                conn.execute("SELECT pg_advisory_unlock_shared(%s::int, %s::int)", (key, self.count))
                return False
        except psycopg.OperationalError as exc:
            log.warning("lease %s: cannot reach %s (%s)", self.name, redact(self.url), str(exc).strip())
            self._drop()
            return False
        return True

    def held(self) -> bool:
        """Return whether this lease holds its shared lock now (False once its session is gone)."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
                " AND pid = pg_backend_pid() AND classid = %s::bigint::oid AND objid = %s::bigint::oid",
                (self._class_key(), self.count),
            ).fetchone()
        except psycopg.OperationalError:
            self._drop()
            return False
        return bool(row and row[0])

    def release(self) -> None:
        """Give the shared lock back and close the connection."""
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(psycopg.OperationalError):
                self._conn.execute(
                    "SELECT pg_advisory_unlock_shared(%s::int, %s::int)", (self._class_key(), self.count)
                )
        self._drop()

"""PostgreSQL specifics: migrations that mirror SQLite's, the statement rewriting, SKIP LOCKED, the lease."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from storage.db import DatabaseError, is_busy, load_migrations, open_database
from storage.dialect import postgres_sql
from storage.lease import AdvisoryLease, SharedCountLease, lease_key
from storage.postgres import PgDatabase, load_pg_migrations, redact
from storage.repo import Repo
from storage.rows import Candle
from tests.pg import server_url


def _pg(url: str) -> Repo:
    db = open_database(url)
    assert isinstance(db, PgDatabase)
    return Repo(db)


def test_postgresql_migrations_mirror_sqlites_one_for_one() -> None:
    assert [(m.version, m.name) for m in load_pg_migrations()] == [
        (m.version, m.name) for m in load_migrations()
    ]


def test_every_table_has_the_same_columns_in_the_same_order_on_both_backends(pg_url: str) -> None:
    lite = open_database(":memory:")
    tables = [
        row[0]
        for row in lite.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    repo = _pg(pg_url)
    pg_tables = [
        row[0]
        for row in repo.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name <> 'tripwire_schema' ORDER BY table_name"
        )
    ]
    assert pg_tables == tables
    for table in tables:
        sqlite_columns = [row[1] for row in lite.conn.execute(f"PRAGMA table_info({table})")]
        pg_columns = [
            row[0]
            for row in repo.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]
        assert pg_columns == sqlite_columns, table
    repo.close()


def test_migrating_again_changes_nothing_and_two_processes_migrating_at_once_migrate_once(
    pg_url: str,
) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_database(pg_url).conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    repo = _pg(pg_url)
    assert repo.schema_version() == len(load_migrations())
    assert repo.conn.execute("SELECT COUNT(*) FROM tripwire_schema").fetchone()[0] == 1
    repo.close()


def test_a_schema_written_by_a_newer_tripwire_is_refused(pg_url: str) -> None:
    _pg(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE tripwire_schema SET version = 999")
    with pytest.raises(DatabaseError, match="newer than this Tripwire"):
        open_database(pg_url)
    with pytest.raises(DatabaseError, match="newer than this Tripwire"):
        open_database(pg_url, migrate_schema=False)


def test_an_unreachable_server_is_a_one_line_error_without_the_password() -> None:
    url = "postgresql://bot:s3cret@127.0.0.1:1/tripwire?connect_timeout=2"
    with pytest.raises(DatabaseError) as caught:
        open_database(url)
    assert "s3cret" not in str(caught.value)
    assert "postgresql://bot@127.0.0.1:1/tripwire" in str(caught.value)
    assert redact(url) == "postgresql://bot@127.0.0.1:1/tripwire"


@pytest.mark.parametrize(
    ("sqlite_sql", "postgres", "returns_id"),
    [
        ("SELECT a FROM t WHERE b = ? AND c % ? = 0", "SELECT a FROM t WHERE b = %s AND c %% %s = 0", False),
        ("SELECT '?', 'x%' FROM t WHERE a = :since", "SELECT '?', 'x%%' FROM t WHERE a = %(since)s", False),
        ("SELECT a::jsonb FROM t", "SELECT a::jsonb FROM t", False),
        (
            "INSERT OR IGNORE INTO t (a) VALUES (?)",
            "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING",
            False,
        ),
        (
            "INSERT OR IGNORE INTO alert_events (a) VALUES (?)",
            "INSERT INTO alert_events (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id",
            True,
        ),
        ("INSERT INTO outbox (a) VALUES (?)", "INSERT INTO outbox (a) VALUES (%s) RETURNING id", True),
        ("BEGIN IMMEDIATE", "BEGIN", False),
        ("SELECT CAST(x / 2 AS INTEGER) FROM t", "SELECT CAST(x / 2 AS BIGINT) FROM t", False),
    ],
)
def test_statements_are_rewritten_into_postgresqls_spelling(
    sqlite_sql: str, postgres: str, returns_id: bool
) -> None:
    assert postgres_sql(sqlite_sql) == (postgres, returns_id)
    # The rewritten statements' SQLite originals are valid SQLite (the rewriting changes spelling only).
    if (" t " in sqlite_sql or sqlite_sql.endswith(" t")) and "::" not in sqlite_sql:
        lite = sqlite3.connect(":memory:")
        lite.execute("CREATE TABLE t (a, b, c, x)")
        lite.execute(sqlite_sql, {"since": 1} if ":since" in sqlite_sql else (1,) * sqlite_sql.count("?"))


def _queue(repo: Repo, count: int) -> list[int]:
    return [
        repo.enqueue(event_id=None, sink="discord", target=f"channel:{i}", kind="ops", payload={}, now=1000)
        for i in range(count)
    ]


def test_two_processes_claiming_the_outbox_at_once_never_get_the_same_row(pg_url: str) -> None:
    first, second = _pg(pg_url), _pg(pg_url)
    ids = _queue(first, 6)
    with first.transaction():
        claimed_first = [row.id for row in first.claim_due_outbox("discord", 2000, limit=4)]
        with second.transaction():
            claimed_second = [row.id for row in second.claim_due_outbox("discord", 2000, limit=4)]
        for outbox_id in claimed_first[:2]:
            first.mark_delivered(outbox_id, 2000, "m")
        # The first claimer ends its transaction having delivered two of its four rows.
    assert claimed_first == ids[:4] and claimed_second == ids[4:]
    with second.transaction():
        again = [row.id for row in second.claim_due_outbox("discord", 2000)]
    assert again == ids[2:]  # the two delivered are gone; the two released are claimable again
    first.close()
    second.close()


def test_claiming_outside_a_transaction_is_refused(any_repo: Repo) -> None:
    with pytest.raises(RuntimeError, match="call it in one"):
        any_repo.claim_due_outbox("discord", 0)


def test_claiming_returns_the_due_rows_on_either_backend(repo: Repo) -> None:
    ids = _queue(repo, 3)
    with repo.transaction():
        assert [row.id for row in repo.claim_due_outbox("discord", 2000)] == ids


def test_one_lease_holder_at_a_time_and_a_dead_holders_lease_is_taken_over(pg_url: str) -> None:
    leader, standby = AdvisoryLease(pg_url, "market"), AdvisoryLease(pg_url, "market")
    other_name = AdvisoryLease(pg_url, "discord-0")
    assert leader.try_acquire() and leader.held()
    assert leader.try_acquire()  # holding it already
    assert not standby.try_acquire() and not standby.held()
    assert other_name.try_acquire()  # another lease is another lock
    # The leader's session dies (kill -9 of its process, a dropped connection): the server frees the lock.
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (leader.backend_pid(),))
    assert not leader.held()
    assert standby.try_acquire() and standby.held()
    assert not leader.try_acquire()
    standby.release()
    assert not standby.held()
    assert leader.try_acquire()
    for lease in (leader, standby, other_name):
        lease.release()


def test_one_shared_count_at_a_time_and_a_dead_holders_count_is_forgotten(pg_url: str) -> None:
    four, four_too = SharedCountLease(pg_url, "shards", 4), SharedCountLease(pg_url, "shards", 4)
    eight = SharedCountLease(pg_url, "shards", 8)
    assert four.try_acquire() and four.held()
    assert four_too.try_acquire() and four_too.held()  # the same count: shared
    assert not eight.try_acquire() and not eight.held()
    assert eight.other_counts == [4]
    assert SharedCountLease(pg_url, "other name", 8).try_acquire()  # another name is another lock
    four.release()
    assert not eight.try_acquire()  # four_too still holds 4
    with psycopg.connect(server_url(), autocommit=True) as admin:  # its process is killed
        admin.execute("SELECT pg_terminate_backend(%s)", (four_too.backend_pid(),))
    assert not four_too.held()
    assert eight.try_acquire() and eight.held()
    assert not four.try_acquire() and four.other_counts == [8]
    eight.release()


def test_lease_keys_differ_by_schema_and_name_and_are_stable() -> None:
    assert lease_key("public", "market") == lease_key("public", "market")
    assert len({lease_key("public", "market"), lease_key("other", "market"), lease_key("public", "m")}) == 3
    assert -(2**63) <= lease_key("public", "market") < 2**63


def test_a_lease_on_an_unreachable_server_is_not_held() -> None:
    lease = AdvisoryLease("postgresql://postgres@127.0.0.1:1/test", "market", connect_timeout=2)
    assert not lease.try_acquire()
    assert not lease.held()


def test_a_row_locked_past_the_busy_timeout_is_busy_as_sqlites_write_lock_is(pg_url: str) -> None:
    holder, waiter = _pg(pg_url), _pg(pg_url)
    candle = Candle("BTCUSDT", "1m", 60_000, "binance", 1.0, 1.0, 1.0, 1.0, 1.0)
    holder.upsert_candles([candle])
    waiter.set_busy_timeout(100)
    with holder.transaction():
        holder.upsert_candles([candle._replace(c=2.0)])
        with pytest.raises(psycopg.Error) as caught:
            waiter.upsert_candles([candle._replace(c=3.0)])
    assert is_busy(caught.value)
    assert not is_busy(psycopg.errors.UniqueViolation("duplicate key"))
    waiter.upsert_candles([candle._replace(c=3.0)])  # free again: the write goes through
    assert holder.candles("BTCUSDT", "1m")[0].c == 3.0
    holder.close()
    waiter.close()

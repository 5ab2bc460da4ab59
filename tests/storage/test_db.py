"""Opening, migrating and refusing databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import db as dbmod
from storage.db import DatabaseError, latest_version, load_migrations, open_database, schema_version


def test_fresh_file_is_created_in_wal_mode_at_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "t.db"  # its directory must exist: none is created (issue 17, finding 11)
    db = open_database(path)
    try:
        assert schema_version(db.conn) == latest_version() >= 1
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {
            "candles",
            "liquidations",
            "funding",
            "open_interest",
            "fear_greed",
            "rules",
            "outbox",
        } <= set(db.table_names())
    finally:
        db.conn.close()


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


@pytest.mark.parametrize("start", range(0, len(load_migrations())))
def test_migrates_from_every_earlier_version(
    tmp_path: Path, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    all_migrations = load_migrations()
    # Build a database as an older Tripwire left it, by applying only the first `start` migrations.
    monkeypatch.setattr(dbmod, "load_migrations", lambda: all_migrations[:start])
    if start:
        open_database(path).conn.close()
    monkeypatch.setattr(dbmod, "load_migrations", lambda: all_migrations)
    db = open_database(path)
    try:
        assert schema_version(db.conn) == len(all_migrations)
        tables = set(db.table_names())
        assert "alert_events" in tables and "guild_settings" in tables
    finally:
        db.conn.close()
    if start:
        # An existing database is backed up before its schema changes.
        assert (tmp_path / f"old.db.v{start}.bak").exists()


def test_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (a)")
    conn.execute(f"PRAGMA user_version = {latest_version() + 5}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="newer than this Tripwire"):
        open_database(path)
    assert path.read_bytes() == before


def test_non_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        open_database(path)
    assert path.read_bytes() == before


def test_corrupt_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    open_database(path).conn.close()
    data = bytearray(path.read_bytes())
    # Keep the header magic but destroy the rest of page 1 (the schema table).
    data[16:4096] = b"\xff" * (4096 - 16)
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(DatabaseError, match="corrupt"):
        open_database(path)
    assert path.read_bytes() == bytes(data)  # refused untouched: no migration, no repair attempt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.db"]  # and no backup or journal left


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = (
        *load_migrations(),
        dbmod.Migration(latest_version() + 1, "broken", "CREATE TABLE ok (a);\nNOT SQL;"),
    )
    monkeypatch.setattr(dbmod, "load_migrations", lambda: broken)
    path = tmp_path / "t.db"
    with pytest.raises(sqlite3.OperationalError):
        open_database(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(broken) - 1
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'ok'").fetchone() is None
    finally:
        conn.close()


FAR_AHEAD_MS = 4_070_908_800_000  # 2099-01-01: a row only a broken upstream could have stamped


def _insert_far_ahead_candle(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume)"
        " VALUES ('BTCUSDT', '1m', ?, 'binance', 1, 1, 1, 1, 1)",
        (FAR_AHEAD_MS,),
    )
    conn.commit()


def test_a_v7_database_of_main_gets_the_instrument_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "main.db"
    all_migrations = load_migrations()
    assert [m.name for m in all_migrations[6:8]] == ["poisoned_rows", "instruments"]
    monkeypatch.setattr(dbmod, "load_migrations", lambda: all_migrations[:7])
    open_database(path).conn.close()
    monkeypatch.setattr(dbmod, "load_migrations", lambda: all_migrations)
    db = open_database(path)
    try:
        assert schema_version(db.conn) == len(all_migrations) and "instruments" in db.table_names()
    finally:
        db.conn.close()


def test_a_database_before_the_candle_series_index_gets_it_and_keeps_every_candle(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    index = next(m.version for m in load_migrations() if m.name == "candle_series_index")
    conn = dbmod.connect(path)
    dbmod.migrate(conn, str(path), up_to=index - 1)
    # SYNTHETIC candles: two sources, one still forming.
    rows = [
        ("BTCUSDT", "1m", 1_768_435_200_000 + i * 60_000, source, 1.0, 2.0, 0.5, 1.5, 3.0, None, int(i < 99))
        for i in range(100)
        for source in ("binance", "bybit")
    ]
    conn.executemany("INSERT INTO candles VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()
    db = open_database(path)
    try:
        assert schema_version(db.conn) == latest_version()
        assert (tmp_path / f"before.db.v{index - 1}.bak").exists()  # copied aside before the index was built
        assert db.conn.execute("SELECT * FROM candles ORDER BY 1, 2, 3, 4").fetchall() == sorted(rows)
        indexed = db.conn.execute("PRAGMA index_info(candles_series)").fetchall()
        assert [column[2] for column in indexed] == ["symbol", "interval", "source", "open_time", "closed"]
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.conn.close()

"""What a broken upstream left in the database before the ingest guard: cleaned by migration 7 and prune.

A v6 database is built by applying the first six migrations and writing the rows an unguarded bot
stored (synthetic: usd = inf from an overflowing price x size, an alert payload with Infinity, points
stamped 2099); the tests check that /history's queries work again and nothing of them is left.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from bot.config import RetentionConfig
from storage import db as dbmod
from storage.db import load_migrations, open_database
from storage.repo import Repo
from storage.repo.mapping import dumps
from storage.rows import DAY_MS, HOUR_MS, Candle, Funding, Liquidation, OpenInterest

NOW = 1_768_910_400_000  # 2026-01-20 12:00 UTC
YEAR_2099 = 4_083_955_200_000


def _event(repo: Repo, values: dict[str, float], key: str = "r1") -> int | None:
    return repo.insert_event(
        dedupe_key=key,
        rule_id="r1",
        detector="liquidation_cascade",
        symbol="BTCUSDT",
        guild_id=None,
        state="firing",
        kind="cascade",
        severity="warning",
        title="cascade",
        values=values,
        rule={"owner_id": 7},
        at=NOW,
        recorded_at=NOW,
    )


def test_non_finite_values_are_stored_as_null_so_json_extract_keeps_working(repo: Repo) -> None:
    assert dumps({"usd": math.inf, "n": [1.0, -math.inf, math.nan], "ok": 2.5}) == (
        '{"n":[1.0,null,null],"ok":2.5,"usd":null}'
    )
    event_id = _event(repo, {"usd": math.inf, "price": 95_000.0})
    assert event_id is not None
    repo.conn.execute(
        "INSERT INTO outbox (event_id, sink, target, kind, payload, status, attempts, next_attempt_at,"
        " created_at) VALUES (?, 'discord', 'channel:1', 'alert', ?, 'pending', 0, ?, ?)",
        (event_id, dumps({"guild_id": 1, "values": {"usd": math.inf}}), NOW, NOW),
    )
    # The queries /history and the member purge run over every row: one invalid document failed them all.
    usd = repo.dialect.json_value("values_json", "$.usd")
    assert repo.conn.execute(f"SELECT {usd} FROM alert_events").fetchone() == (None,)
    guild = repo.dialect.json_number("payload", "$.guild_id")
    assert repo.conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {guild} = 1").fetchone()[0] == 1


def _v6_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrations = load_migrations()
    assert migrations[6].name == "poisoned_rows"
    monkeypatch.setattr(dbmod, "load_migrations", lambda: migrations[:6])
    database = open_database(path)
    conn = database.conn
    # What an unguarded v6 bot stored: Python's json.dumps writes Infinity, SQLite keeps inf as REAL.
    conn.execute(
        "INSERT INTO liquidations (symbol, ts, source, side, price, qty, usd) VALUES"
        " ('BTCUSDT', ?, 'bybit', 'long', 1e300, 1e10, 9e999),"
        " ('BTCUSDT', ?, 'bybit', 'long', 95000, 1, 95000)",
        (NOW - 1000, NOW - 2000),
    )
    conn.execute(
        "INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume) VALUES"
        " ('BTCUSDT', '1m', ?, 'binance', 1, 1, 1, 1, 1), ('BTCUSDT', '1m', ?, 'binance', 1, 1, 1, 1, 1)",
        (NOW, YEAR_2099),
    )
    conn.execute(
        "INSERT INTO alert_events (dedupe_key, rule_id, detector, symbol, state, kind, severity, title,"
        " values_json, rule_json, at, recorded_at) VALUES ('k', 'r1', 'liquidation_cascade', 'BTCUSDT',"
        " 'firing', 'cascade', 'warning', 't', '{\"usd\":Infinity,\"low\":-Infinity,\"x\":NaN}', '{}', ?, ?)",
        (NOW, NOW),
    )
    conn.close()
    monkeypatch.setattr(dbmod, "load_migrations", lambda: migrations)


def test_migration_7_removes_infinite_and_future_rows_and_repairs_payloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v6.db"
    _v6_database(path, monkeypatch)
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        sqlite3.connect(path).execute(
            "SELECT json_extract(values_json, '$.usd') FROM alert_events"
        ).fetchall()
    repo = Repo(open_database(path))
    try:
        assert repo.conn.execute("SELECT usd FROM liquidations").fetchall() == [(95_000.0,)]
        assert repo.last_candle_time("BTCUSDT", "1m", "binance") == NOW  # the 2099 candle is gone
        assert repo.conn.execute(
            "SELECT json_extract(values_json, '$.usd'), json_extract(values_json, '$.low'),"
            " json_extract(values_json, '$.x') FROM alert_events"
        ).fetchone() == (None, None, None)
    finally:
        repo.conn.close()


def test_prune_removes_rows_stamped_in_the_future(repo: Repo) -> None:
    repo.upsert_candles(
        [
            Candle("BTCUSDT", "1m", NOW - 60_000, "binance", 1.0, 1.0, 1.0, 1.0, 1.0),
            Candle("BTCUSDT", "1m", YEAR_2099, "binance", 1.0, 1.0, 1.0, 1.0, 1.0),
        ]
    )
    repo.store_liquidations(
        [
            Liquidation("BTCUSDT", NOW - 1000, "bybit", "long", 95_000.0, 1.0, 95_000.0),
            Liquidation("BTCUSDT", YEAR_2099, "bybit", "long", 95_000.0, 1.0, 95_000.0),
        ]
    )
    repo.upsert_funding(
        [Funding("BTCUSDT", NOW - 1000, "binance", 0.0001), Funding("BTCUSDT", YEAR_2099, "binance", 0.5)]
    )
    repo.upsert_open_interest(
        [
            OpenInterest("BTCUSDT", NOW - 1000, "binance", 1.0, 1.0),
            OpenInterest("BTCUSDT", YEAR_2099, "binance", 1.0, 1.0),
        ]
    )
    # Before: the 2099 candle is "the newest", so the spot poll would ask for candles after 2099 for ever.
    assert repo.last_candle_time("BTCUSDT", "1m", "binance") == YEAR_2099
    result = repo.prune(RetentionConfig(), NOW)
    assert repo.last_candle_time("BTCUSDT", "1m", "binance") == NOW - 60_000
    for table, column in (
        ("candles", "open_time"),
        ("liquidations", "ts"),
        ("funding", "ts"),
        ("open_interest", "ts"),
    ):
        assert repo.conn.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0] < NOW, table
    assert repo.conn.execute("SELECT MAX(hour) FROM liquidation_hourly").fetchone()[0] < NOW
    assert result.deleted["candles"] == 1 and result.deleted["liquidations"] == 1
    # A day ahead is kept (a skewed clock's rows are not destroyed): only beyond is "the future".
    repo.upsert_funding([Funding("BTCUSDT", NOW + DAY_MS - HOUR_MS, "binance", 0.0001)])
    repo.prune(RetentionConfig(), NOW)
    assert repo.conn.execute("SELECT COUNT(*) FROM funding").fetchone()[0] == 2
